#!/bin/bash
# qsweep on a Slurm cluster: one MPI rank per GPU of one node (raise --nodes for more).
#
#   sbatch slurm/sweep.sh [SPEC] [OUTPUT.h5]
#   sbatch --nodes=2 --time=04:00:00 slurm/sweep.sh sweep/batch-sizes.json runs/batches.h5
#   QSWEEP_BACKEND=cpu sbatch --gpus-per-task=0 --ntasks-per-node=4 slurm/sweep.sh   # CPU mode
#
# Every #SBATCH line below is a default that the sbatch command line overrides.
# The job always passes --resume: a requeued, preempted, timed-out or resubmitted job
# continues the same results file and runs each cell exactly once.
#
# Variables (environment at submission; sbatch exports it by default):
#   QSWEEP_SPEC      sweep spec (default sweep/seed64.json, or the first argument)
#   QSWEEP_OUT       results file (default results/<spec name>.h5, or the second argument)
#   QSWEEP_BACKEND   cuda (default) or cpu
#   QSWEEP_BIN       qsweep binary (default <submit dir>/build/qsweep, else qsweep on PATH,
#                    e.g. an installed tree: cmake --install build --prefix /opt/qsweep)
#   QSWEEP_LAUNCHER  srun (default where srun supports PMIx or PMI2) or mpirun
#   QSWEEP_ARGS      extra arguments for `qsweep run` (e.g. "--quiet")
#SBATCH --job-name=qsweep
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
#SBATCH --output=qsweep-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-$PWD}"
spec=${1:-${QSWEEP_SPEC:-sweep/seed64.json}}
name=$(basename "$spec" .json)
out=${2:-${QSWEEP_OUT:-results/$name.h5}}
backend=${QSWEEP_BACKEND:-cuda}
bin=${QSWEEP_BIN:-}
if [ -z "$bin" ]; then
  bin=$PWD/build/qsweep
  [ -x "$bin" ] || bin=$(command -v qsweep || echo "$PWD/build/qsweep")
fi
mkdir -p "$(dirname "$out")"

if [ ! -x "$bin" ]; then
  echo "sweep.sh: no qsweep at $bin and none on PATH (build it first: cmake -S . -B build && cmake --build build -j, or set QSWEEP_BIN)" >&2
  exit 2
fi
if [ ! -f "$spec" ]; then
  echo "sweep.sh: $spec: no such sweep spec" >&2
  exit 2
fi

# srun starts the ranks where it can wire them up for MPI (PMIx, else PMI2);
# otherwise mpirun, which reads the allocation from Slurm's environment.
launcher=${QSWEEP_LAUNCHER:-}
if [ -z "$launcher" ]; then
  launcher=mpirun
  if command -v srun >/dev/null; then
    mpis=$(srun --mpi=list 2>&1 || true)
    if echo "$mpis" | grep -q pmix; then launcher="srun --mpi=pmix"
    elif echo "$mpis" | grep -q pmi2 && ompi_info 2>/dev/null | grep -q "pmi"; then launcher="srun --mpi=pmi2"
    fi
  fi
fi
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

echo "sweep.sh: job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST:-$(hostname)}:" \
     "${SLURM_NTASKS:-1} ranks, backend $backend, spec $spec -> $out, launcher $launcher"
set +e
case "$launcher" in
  mpirun*) $launcher -np "${SLURM_NTASKS:-1}" "$bin" run "$spec" -o "$out" --backend "$backend" --resume ${QSWEEP_ARGS:-} ;;
  *) $launcher "$bin" run "$spec" -o "$out" --backend "$backend" --resume ${QSWEEP_ARGS:-} ;;
esac
rc=$?
set -e
echo "sweep.sh: qsweep run exited $rc (0: every cell ok; 3: some cells failed, see the file)"
exit $rc
