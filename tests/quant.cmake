# The CPU quantization reference (fp16 GEMM, NF4, LLM.int8) and fidelity metrics.
qs_add_test(NAME test_quant SOURCES test_quant.c LABELS unit TIMEOUT 300)
qs_add_test(NAME test_fidelity SOURCES test_fidelity.c LABELS unit)
