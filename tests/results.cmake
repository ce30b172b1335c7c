# The results file (h5/): writer, reader, resume index, durability under SIGKILL.
# qs_h5_keys prints a file's rows for the shell tests (Slurm, tensor parallel, corpus).
add_executable(qs_h5_keys ${QS_TEST_DIR}/h5_keys.c)
target_link_libraries(qs_h5_keys PRIVATE qsweep_core)
qs_add_test(NAME test_results SOURCES test_results.c LABELS unit h5 TIMEOUT 180)
# The fuzz corpus's seed file is a valid results file (seal, HDF5, two rows), so the
# fuzzer's mutations start from the whole read path.
add_test(NAME results_corpus_seed_valid COMMAND qs_h5_keys ${QS_TEST_DIR}/fuzz/corpus/results/two-cells.h5)
set_tests_properties(results_corpus_seed_valid PROPERTIES LABELS "unit;h5"
                     PASS_REGULAR_EXPRESSION "tiny-vit\\|fp32\\|b1\\|tp1 ok.*tiny-vit\\|int8|tiny-vit\\|int8\\|b1\\|tp1 ok.*tiny-vit\\|fp32")
