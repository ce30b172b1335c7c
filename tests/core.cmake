qs_add_test(NAME test_model SOURCES test_model.c LABELS unit TIMEOUT 300)
qs_add_test(NAME test_badinput SOURCES test_badinput.c LABELS unit bad-input TIMEOUT 300)
add_test(NAME cli_errors COMMAND ${CMAKE_COMMAND} -E env QSWEEP=$<TARGET_FILE:qsweep> bash ${QS_TEST_DIR}/cli_errors.sh)
set_tests_properties(cli_errors PROPERTIES LABELS "unit;bad-input" TIMEOUT 300)
