#!/usr/bin/env bash
# Build the quantized-kernel test and benchmark (only those targets), run the
# test, then the benchmark. Usage: bench/gpu_quant.sh [SRC_DIR] [bench args...]
# (bench args: --models B,L,H --batches 1,8,32,128 --quick --configs --csv FILE).
# Logs go to $OUT when set (else ./gpu_quant_logs); with OUT set the benchmark's
# rows also go to $OUT/quant_gemm_bench.csv (a --csv among the bench args wins).
set -u -o pipefail
src=${1:-.}
shift || true
out=${OUT:-./gpu_quant_logs}
mkdir -p "$out"
jobs=$(nproc 2>/dev/null || echo 4)
build() {
  cmake -S "$1" -B "$1/build-q8" -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release >"$out/cmake.log" 2>&1 &&
    cmake --build "$1/build-q8" -j"$jobs" --target test_gpu_quant quant_gemm_bench >"$out/build.log" 2>&1
}
t0=$(date +%s)
if build "$src"; then
  b="$src/build-q8"
elif [ -d "$src/.snapq" ] && { echo "build of $src failed (see build.log); trying the snapshot .snapq"; tail -15 "$out/build.log"; build "$src/.snapq"; }; then
  b="$src/.snapq/build-q8"
else
  tail -40 "$out/build.log"
  exit 1
fi
echo "build: $(($(date +%s) - t0)) s"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv 2>&1 | tee "$out/gpu.txt"
rc=0
"$b/tests/test_gpu_quant" 2>&1 | tee "$out/test.log" || rc=1
csv=()
[ -n "${OUT:-}" ] && csv=(--csv "$out/quant_gemm_bench.csv")
"$b/tests/quant_gemm_bench" ${csv[@]+"${csv[@]}"} "$@" 2>"$out/bench_err.log" | tee "$out/bench.log" || rc=1
tail -5 "$out/bench_err.log"
exit $rc
