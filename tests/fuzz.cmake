# libFuzzer targets (configure with CC=clang -DQSWEEP_FUZZ=ON -DQSWEEP_CUDA=OFF).
# Each runs for QSWEEP_FUZZ_SECONDS from its committed seed corpus (tests/fuzz/corpus/<name>);
# new inputs go to the build tree, never into the source tree.
if(QSWEEP_FUZZ)
  set(QSWEEP_FUZZ_SECONDS 60 CACHE STRING "seconds each fuzz test runs")
  foreach(t safetensors config spec results)
    if(EXISTS ${QS_TEST_DIR}/fuzz/fuzz_${t}.c)
      add_executable(fuzz_${t} ${QS_TEST_DIR}/fuzz/fuzz_${t}.c)
      target_link_libraries(fuzz_${t} PRIVATE qsweep_core)
      target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
      file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-corpus/${t})
      set(seed_corpus "")
      if(IS_DIRECTORY ${QS_TEST_DIR}/fuzz/corpus/${t})
        set(seed_corpus ${QS_TEST_DIR}/fuzz/corpus/${t})
      endif()
      add_test(NAME fuzz_${t}
               COMMAND fuzz_${t} -max_total_time=${QSWEEP_FUZZ_SECONDS} -print_final_stats=1 -rss_limit_mb=4096
                       -max_len=65536 ${CMAKE_BINARY_DIR}/fuzz-corpus/${t} ${seed_corpus})
      set_tests_properties(fuzz_${t} PROPERTIES LABELS fuzz TIMEOUT 900
                           ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
    endif()
  endforeach()
endif()
