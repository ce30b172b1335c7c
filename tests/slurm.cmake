# Slurm: sbatch slurm/sweep.sh against real slurmctld/slurmd daemons on localhost
# (tests/slurm/test_slurm.sh starts and always stops them). Skips without root or Slurm.
add_test(NAME slurm_sweep
         COMMAND bash ${QS_TEST_DIR}/slurm/test_slurm.sh $<TARGET_FILE:qsweep> $<TARGET_FILE:qs_h5_keys>)
set_tests_properties(slurm_sweep PROPERTIES LABELS "slurm;mpi" TIMEOUT 900 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
