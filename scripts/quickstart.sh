#!/usr/bin/env bash
# Install what is missing, build, and run the default job:
#   on a machine with NVIDIA GPUs: the seed's 64 cells (sweep/seed64.json), one MPI rank
#   per GPU, on the CUDA backend; without a GPU: a small CPU sweep (sweep/cpu-demo.json).
# Then the report: results/latest/report.md, report.html and charts/*.svg.
#   OUT=dir SPEC=sweep/x.json RANKS=n scripts/quickstart.sh   to choose
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${OUT:-$root/results/latest}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)"

gpus=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpus=$(nvidia-smi -L | grep -c '^GPU')
fi
if [ "$gpus" -gt 0 ] && [ -f "$build/CMakeCache.txt" ] && grep -q "QSWEEP_HAVE_CUDA:INTERNAL=ON" "$build/CMakeCache.txt" 2>/dev/null; then
  spec=${SPEC:-$root/sweep/seed64.json}; backend=cuda; ranks=${RANKS:-$gpus}
else
  spec=${SPEC:-$root/sweep/cpu-demo.json}; backend=cpu; ranks=${RANKS:-1}
  echo "quickstart: no GPU (or no CUDA build) here: running the CPU demo sweep"
fi
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpirun -np "$ranks" --oversubscribe "$build/qsweep" run "$spec" --backend "$backend" -o "$out/results.h5" --resume
"$build/qsweep-analyze" "$out/results.h5" --report "$out/report.md" --html "$out/report.html" --csv "$out/cells.csv" --json "$out/summary.json" --svg "$out/charts"
echo "quickstart: report in $out/report.md and $out/report.html, charts in $out/charts/"
