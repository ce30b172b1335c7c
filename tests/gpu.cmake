# The CUDA backend (label gpu): every kernel against a CPU reference, every
# model of the zoo end to end against the CPU reference backend, and
# graph replay against plain launches. Each test exits 77 (skipped) without a GPU.
if(TARGET qsweep_cuda)
  qs_add_test(NAME test_gpu_kernels SOURCES test_gpu_kernels.c LABELS gpu TIMEOUT 300)
  # One test per zoo model (the CPU reference dominates the run time).
  foreach(m vit-huge-patch14-2020 vit-large-patch16-2020 vit-base-224-production vit-base-384-production
            vit-base-patch32-specialized deit-tiny-ultra-efficient deit-small-distilled-224-edge
            deit-base-distilled-384-edge dino-vits16-production dino-vitb16-production
            dinov2-base-2023 dinov2-large-2023 beit-base-pt22k-2021 beit-large-2021
            mobilevit-small-edge mobilevit-xxs-edge)
    if(NOT TARGET test_gpu_models)
      qs_add_test(NAME test_gpu_models SOURCES test_gpu_models.c LABELS gpu ARGS tiny TIMEOUT 300)
    endif()
    add_test(NAME test_gpu_model_${m} COMMAND test_gpu_models ${m})
    set_tests_properties(test_gpu_model_${m} PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 900)
  endforeach()
  add_test(NAME test_gpu_model_batch2 COMMAND test_gpu_models batch2)
  set_tests_properties(test_gpu_model_batch2 PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 600)
  # MobileViT's tiny HF checkpoints (tests/fixtures/tiny) at batch 2, and its kernels
  add_test(NAME test_gpu_model_fixtures COMMAND test_gpu_models fixtures)
  set_tests_properties(test_gpu_model_fixtures PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 300)
  qs_add_test(NAME test_gpu_mobilevit SOURCES test_gpu_mobilevit.c LABELS gpu TIMEOUT 300)
  # qsweep calibrate's measurement: every entry, plausible rates, fp8 where the GPU has it,
  # and its /calibration group through a results file
  qs_add_test(NAME test_gpu_calibrate SOURCES test_gpu_calibrate.c LABELS gpu TIMEOUT 300)

  # Tensor parallelism over NCCL: tp = 2 and 4 against tp = 1 (and int8 / nf4 against the
  # CPU reference's tp forward), one GPU per MPI rank; skipped (77) with fewer GPUs than ranks.
  add_executable(test_gpu_tp ${QS_TEST_DIR}/test_gpu_tp.c)
  target_link_libraries(test_gpu_tp PRIVATE qsweep_core)
  target_include_directories(test_gpu_tp PRIVATE ${QS_TEST_DIR})
  target_compile_definitions(test_gpu_tp PRIVATE QS_FIXTURE_DIR="${QS_FIXTURE_DIR}")
  foreach(np 2 4)
    add_test(NAME test_gpu_tp_np${np} COMMAND ${QS_MPIEXEC} -np ${np} $<TARGET_FILE:test_gpu_tp>)
    set_tests_properties(test_gpu_tp_np${np} PROPERTIES LABELS "gpu;tp" ENVIRONMENT "${QS_MPI_ENV}" TIMEOUT 1800
                         SKIP_RETURN_CODE 77)
  endforeach()

  # A device fault (illegal address) and a spinning kernel cost one cell each: the worker
  # processes of `qsweep run` on the CUDA backend (tests/gpu_isolate.sh; exits 77 without a GPU).
  string(REPLACE ";" " " _qs_mpiexec_str "${QS_MPIEXEC}")
  add_test(NAME gpu_isolate COMMAND bash ${QS_TEST_DIR}/gpu_isolate.sh $<TARGET_FILE:qsweep> $<TARGET_FILE:qs_h5_keys>)
  set_tests_properties(gpu_isolate PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 600
                       ENVIRONMENT "${QS_MPI_ENV};QSWEEP_MPIEXEC=${_qs_mpiexec_str};QS_FIXTURE_DIR=${QS_FIXTURE_DIR}")

  # `qsweep forward --backend cuda` on every HF golden fixture against transformers' output
  # (tests/gpu_forward.sh; exits 77 without a GPU).
  add_test(NAME gpu_forward COMMAND bash ${QS_TEST_DIR}/gpu_forward.sh $<TARGET_FILE:qsweep> ${QS_FIXTURE_DIR})
  set_tests_properties(gpu_forward PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 300)

  # Standalone driver of the vtable's timed loop (bench/peer_pytorch.py falls back to it).
  add_executable(qsweep_gpu_bench ${CMAKE_SOURCE_DIR}/bench/gpu_bench.c)
  target_link_libraries(qsweep_gpu_bench PRIVATE qsweep_core)
endif()
