# Tensor parallelism (the sweep's `tp` axis) on the CPU backend: the sharded forward
# over threads (unit), over MPI ranks (a C test under mpiexec), and the gang
# scheduling of tp cells by `qsweep run` (tests/run_tp.sh).
qs_add_test(NAME test_tp_unit SOURCES test_tp_unit.c LABELS "unit;tp" TIMEOUT 300)
find_package(Threads REQUIRED)
target_link_libraries(test_tp_unit PRIVATE Threads::Threads)

# The sharded forward and the cell runner over 4 MPI ranks.
add_executable(test_tp_mpi ${QS_TEST_DIR}/test_tp_mpi.c)
target_link_libraries(test_tp_mpi PRIVATE qsweep_core)
target_include_directories(test_tp_mpi PRIVATE ${QS_TEST_DIR})
target_compile_definitions(test_tp_mpi PRIVATE QS_FIXTURE_DIR="${QS_FIXTURE_DIR}")
add_test(NAME test_tp_mpi COMMAND ${QS_MPIEXEC} -np 4 $<TARGET_FILE:test_tp_mpi>)
set_tests_properties(test_tp_mpi PROPERTIES LABELS "mpi;tp" ENVIRONMENT "${QS_MPI_ENV}" TIMEOUT 300
                     SKIP_RETURN_CODE 77)

# `qsweep run` with tp cells: gang scheduling, unsupported cases, the rank-0 modes.
string(REPLACE ";" " " QS_TP_MPIEXEC_STR "${QS_MPIEXEC}")
foreach(scenario gang unsupported nodes modes)
  add_test(NAME run_tp_${scenario}
           COMMAND bash ${QS_TEST_DIR}/run_tp.sh ${scenario} $<TARGET_FILE:qsweep> $<TARGET_FILE:qs_h5_keys>)
  set_tests_properties(run_tp_${scenario} PROPERTIES LABELS "mpi;tp" TIMEOUT 300
                       ENVIRONMENT "${QS_MPI_ENV};QSWEEP_MPIEXEC=${QS_TP_MPIEXEC_STR};QS_FIXTURE_DIR=${QS_FIXTURE_DIR}")
endforeach()
