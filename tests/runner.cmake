# The sweep runner: spec parser, schedule, stats, cell runner; `qsweep run` over MPI
# ranks and `qsweep bench` (tests/run_sweep.sh drives the multi-step scenarios).
qs_add_test(NAME test_stats SOURCES test_stats.c LABELS unit)
qs_add_test(NAME test_spec SOURCES test_spec.c LABELS unit TIMEOUT 120)

string(REPLACE ";" " " QS_MPIEXEC_STR "${QS_MPIEXEC}")
set(QS_RUN_ENV ${QS_MPI_ENV} "QSWEEP_MPIEXEC=${QS_MPIEXEC_STR}" "QS_FIXTURE_DIR=${QS_FIXTURE_DIR}")
foreach(scenario ranks inject kill reported badspec files dryrun fewcells bench extend seal sizes isolate orphan)
  add_test(NAME run_${scenario}
           COMMAND bash ${QS_TEST_DIR}/run_sweep.sh ${scenario} $<TARGET_FILE:qsweep>)
  set_tests_properties(run_${scenario} PROPERTIES LABELS "mpi" ENVIRONMENT "${QS_RUN_ENV}" TIMEOUT 300)
endforeach()
# The kill lands mid-sweep only if the test's poll of the file gets the CPU while the sweep
# runs: no other test beside it (under a parallel ctest of sanitizer builds the poll once
# saw the file only after all 24 cells were in).
set_tests_properties(run_kill PROPERTIES RUN_SERIAL TRUE)

# The launcher straight, as a user types it: --dry-run over 4 ranks (writes nothing).
add_test(NAME run_dry_np4
         COMMAND ${QS_MPIEXEC} -np 4 $<TARGET_FILE:qsweep> run ${CMAKE_SOURCE_DIR}/sweep/seed64.json --dry-run)
set_tests_properties(run_dry_np4 PROPERTIES LABELS "mpi" ENVIRONMENT "${QS_MPI_ENV}"
                     PASS_REGULAR_EXPRESSION "64 cells, 64 to run.*vit-huge-patch14-2020")

# bf16 / fp8 / int8dyn at the command line, and sweep/hopper.json's dry run.
add_test(NAME hopper_cli COMMAND bash ${QS_TEST_DIR}/hopper_cli.sh $<TARGET_FILE:qsweep> ${CMAKE_SOURCE_DIR}/sweep)
set_tests_properties(hopper_cli PROPERTIES LABELS "mpi" ENVIRONMENT "${QS_MPI_ENV}" TIMEOUT 300)
