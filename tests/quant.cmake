# The CPU quantization reference (fp16 GEMM, NF4, LLM.int8) and fidelity metrics.
qs_add_test(NAME test_quant SOURCES test_quant.c LABELS unit TIMEOUT 300)
qs_add_test(NAME test_fidelity SOURCES test_fidelity.c LABELS unit)
# bf16, fp8 (e4m3) and int8dyn: encoders, Linears, bounds against fp32 (quant.h sections 4-6).
qs_add_test(NAME test_quant_hopper SOURCES test_quant_hopper.c LABELS unit TIMEOUT 300)
# The CPU backend's forward in bf16, fp8 and int8dyn on small transformer models.
qs_add_test(NAME test_forward_hopper SOURCES test_forward_hopper.c LABELS unit TIMEOUT 300)
# The NF4 wgmma kernel's byte-permute dequantization (kernels/nf4_lut.h) against the reference.
qs_add_test(NAME test_nf4_lut SOURCES test_nf4_lut.c LABELS unit)
