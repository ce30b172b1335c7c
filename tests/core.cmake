qs_add_test(NAME test_model SOURCES test_model.c LABELS unit TIMEOUT 300)
qs_add_test(NAME test_badinput SOURCES test_badinput.c LABELS unit bad-input TIMEOUT 300)
add_test(NAME cli_errors COMMAND ${CMAKE_COMMAND} -E env QSWEEP=$<TARGET_FILE:qsweep> bash ${QS_TEST_DIR}/cli_errors.sh)
set_tests_properties(cli_errors PROPERTIES LABELS "unit;bad-input" TIMEOUT 300)
# `cmake --install` into a temporary prefix, moved: a working, relocatable tree.
string(REPLACE ";" " " QS_INSTALL_MPIEXEC "${QS_MPIEXEC}")
add_test(NAME install_tree COMMAND bash ${QS_TEST_DIR}/install_tree.sh ${CMAKE_BINARY_DIR})
set_tests_properties(install_tree PROPERTIES LABELS "unit;mpi" TIMEOUT 300
                     ENVIRONMENT "${QS_MPI_ENV};QSWEEP_MPIEXEC=${QS_INSTALL_MPIEXEC}")
