#!/usr/bin/env bash
# bench/gpu_check.sh - on a GPU machine, from the repository root: build, run the gpu
# tests, and the PyTorch peer comparison. Logs go to $OUT (default /tmp/qsweep-gpu).
#   bench/gpu_check.sh quick   kernels, tiny configs, a few zoo models, peer cells of two models
#   bench/gpu_check.sh full    every gpu test and the full peer table
#   bench/gpu_check.sh tests   every gpu test only
#   bench/gpu_check.sh peer    the peer table only (after a build)
set -uo pipefail
MODE=${1:-full}
OUT=${OUT:-/tmp/qsweep-gpu}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv,noheader

if [ "$MODE" != peer ]; then
  t0=$(date +%s)
  cmake -S . -B build-gpu -DCMAKE_CUDA_ARCHITECTURES=90 -DQSWEEP_NATIVE=ON >"$OUT/cmake.log" 2>&1 ||
    { tail -40 "$OUT/cmake.log"; exit 1; }
  cmake --build build-gpu -j16 --target test_gpu_kernels test_gpu_models qsweep_gpu_bench >"$OUT/build.log" 2>&1 ||
    { grep -E "error|Error" -A4 "$OUT/build.log" | head -80; exit 1; }
  # the rest of the tree (qsweep bench, other tests); the gpu checks do not depend on it
  cmake --build build-gpu -j16 >>"$OUT/build.log" 2>&1 || echo "note: the full build failed; peer_pytorch.py falls back to qsweep_gpu_bench"
  echo "build: $(( $(date +%s) - t0 )) s, warnings: $(grep -c 'warning' "$OUT/build.log")"
fi

# this backend's tests (other gpu-labelled suites have their own scripts)
run_tests() {
  ctest --test-dir build-gpu -L gpu -V -R "${1:-^test_gpu_(kernels|models|model_)}" >"$OUT/ctest.log" 2>&1
  local rc=$?
  grep -E "^[0-9]+: (device|.* b[0-9]+ +rel_l2|layernorm|attention|gemm|gelu|im2col|tokens|gather|mean|pooler|DeiT|test_gpu)|CHECK failed|^[0-9]+: +\[" "$OUT/ctest.log" |
    sed -E 's/^[0-9]+: //' | cut -c1-240
  grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|Not Run|Total Test time" "$OUT/ctest.log"
  return $rc
}

# per-kernel device times of one plain forward (Nsight Compute), where asked
if [ "${PROFILE:-0}" = 1 ]; then
  for m in vit-base-224-production vit-huge-patch14-2020; do
    ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
      build-gpu/tests/qsweep_gpu_bench --model $m --precision fp16 --batch 1 --warmup 0 --iterations 1 --plain \
      >"$OUT/ncu-$m.log" 2>&1
    echo "== $m fp16 b1: per-kernel device times in $OUT/ncu-$m.log ($(grep -c gpu__time_duration "$OUT/ncu-$m.log") kernels)"
  done
fi

case "$MODE" in
  quick)
    run_tests "test_gpu_kernels|test_gpu_models$|vit-base-224|deit-small|beit-base|dinov2-base|vit-huge"
    PYTHONUNBUFFERED=1 python3 bench/peer_pytorch.py --models vit-base-224-production,beit-base-pt22k-2021 \
      --batches 1,32 --json "$OUT/peer.json" 2>&1 | tee "$OUT/peer.log" | grep -v "^# done"
    ;;
  tests) run_tests ;;
  full)
    run_tests
    PYTHONUNBUFFERED=1 python3 bench/peer_pytorch.py --json "$OUT/peer.json" 2>&1 | tee "$OUT/peer.log" | grep -v "^# done"
    ;;
  peer)
    PYTHONUNBUFFERED=1 python3 bench/peer_pytorch.py --json "$OUT/peer.json" 2>&1 | tee "$OUT/peer.log" | grep -v "^# done"
    ;;
esac

