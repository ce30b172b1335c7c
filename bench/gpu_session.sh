#!/usr/bin/env bash
# One call on a GPU machine: build, the gpu tests, the seed sweep on every GPU, the
# report; optionally the batch-size sweep and the PyTorch peer table. Everything lands
# in $OUT (default ./gpu-session) and in one archive $OUT/session.tgz.
#
#   bench/gpu_session.sh [tests] [seed] [batches] [peer]     (default: tests seed)
#
# Environment: OUT, RANKS (default: number of GPUs), QSWEEP_GIT_COMMIT (recorded in the
# results when the sources carry no git metadata), CMAKE_ARGS.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$PWD/gpu-session}
mkdir -p "$out"
steps=${*:-tests seed}
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
ranks=${RANKS:-$gpus}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit --format=csv; } > "$out/gpu.txt" 2>&1
echo "gpu_session: $gpus GPU(s), $ranks rank(s), steps: $steps"

build=$root/build-gpu
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DQSWEEP_GIT_COMMIT="${QSWEEP_GIT_COMMIT:-}" ${CMAKE_ARGS:-} > "$out/cmake.log" 2>&1 &&
  cmake --build "$build" -j"$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }

sweep() { # sweep NAME SPEC
  local name=$1 spec=$2 t0
  mkdir -p "$out/$name"
  t0=$(date +%s)
  mpirun -np "$ranks" "$build/qsweep" run "$spec" --backend cuda -o "$out/$name/results.h5" --resume \
    > "$out/$name/run.log" 2>&1
  echo "exit $? wall $(( $(date +%s) - t0 )) s, command: mpirun -np $ranks qsweep run $spec --backend cuda" >> "$out/$name/run.log"
  "$build/qsweep-analyze" "$out/$name/results.h5" --report "$out/$name/report.md" --csv "$out/$name/cells.csv" \
    --json "$out/$name/summary.json" --svg "$out/$name/charts" > "$out/$name/analyze.log" 2>&1
  tail -3 "$out/$name/run.log"
}

for s in $steps; do
  case $s in
    tests) ctest --test-dir "$build" -L gpu --output-on-failure -j2 > "$out/ctest-gpu.log" 2>&1
           grep -E "tests passed|tests failed" "$out/ctest-gpu.log" ;;
    seed) sweep seed64 "$root/sweep/seed64.json" ;;
    batches) sweep batch-sizes "$root/sweep/batch-sizes.json" ;;
    peer) PYTHONUNBUFFERED=1 python3 "$root/bench/peer_pytorch.py" --quant --build "$build" --json "$out/peer.json" > "$out/peer.log" 2>&1
          tail -45 "$out/peer.log" ;;
    *) echo "gpu_session: unknown step $s" >&2 ;;
  esac
done
tar czf "$out/session.tgz" -C "$out" --exclude session.tgz . 2>/dev/null
echo "gpu_session: results in $out (archive $out/session.tgz)"
