# The quantized CUDA kernels (LLM.int8, NF4) against the CPU reference, and their
# benchmark (built here because bench/ has no CMake file of its own; not a test).
if(TARGET qsweep_cuda)
  qs_add_test(NAME test_gpu_quant SOURCES test_gpu_quant.c LABELS gpu TIMEOUT 900)
  # alone: its check that the NF4 launcher allocates nothing reads the device's free memory,
  # which another test's allocations change (seen under ctest -j8 on an H200)
  set_tests_properties(test_gpu_quant PROPERTIES RUN_SERIAL TRUE)
  add_executable(quant_gemm_bench ${CMAKE_SOURCE_DIR}/bench/quant_gemm_bench.c)
  target_link_libraries(quant_gemm_bench PRIVATE qsweep_core)
endif()
