# The results file (h5/): writer, reader, resume index, durability under SIGKILL.
qs_add_test(NAME test_results SOURCES test_results.c LABELS unit h5 TIMEOUT 180)
