#!/bin/bash
# A job array over sweep specs: task i runs the i-th spec argument into its own file.
#   sbatch --array=0-2 slurm/array.sh sweep/a.json sweep/b.json sweep/c.json
# The #SBATCH defaults are sweep.sh's; override them on the command line.
#SBATCH --job-name=qsweep-array
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
#SBATCH --output=qsweep-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
specs=("$@")
i=${SLURM_ARRAY_TASK_ID:?submit with --array}
if [ "$i" -ge "${#specs[@]}" ]; then
  echo "array.sh: task $i but only ${#specs[@]} specs given" >&2
  exit 2
fi
spec=${specs[$i]}
exec bash slurm/sweep.sh "$spec" "${QSWEEP_OUT_DIR:-results}/$(basename "$spec" .json).h5"
