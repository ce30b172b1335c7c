#!/usr/bin/env bash
# Runs for results/ on a GPU machine in one call: build, `ctest -L gpu`, `qsweep calibrate`,
# and sweeps each written out as a results/ directory (results.h5, run.log, report.md,
# report.html, cells.csv, summary.json, charts/), each step under its own time limit.
#
#   bench/gpu_results.sh STEP...
#     build             configure + build (Release, sm_90, -Werror) into $BUILD
#     ctest             ctest -L gpu (-j${CTEST_J:-4})
#     calibrate         qsweep calibrate -f json
#     sweep:NAME:SPEC[:LIMIT_S[:ARGS]]
#                       mpirun -np ${NP:-1} qsweep run sweep/SPEC.json -o NAME/results.h5 ARGS
#                       (ARGS: qsweep run options, commas for spaces), then qsweep-analyze
#
# Environment: OUT (default ./gpu-results), BUILD (default /tmp/qsweep-build), ANALYZE_ARGS
# (more qsweep-analyze options, e.g. --baseline fp16 for a sweep without fp32). Everything
# lands in $OUT/results.tgz (no .h5 files over 20 MB), the last lines of each step in
# $OUT/summary.txt.
set -u -o pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$PWD/gpu-results}
b=${BUILD:-/tmp/qsweep-build}
logs=$out/logs
mkdir -p "$logs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sum=$out/summary.txt
say() { echo "$*" | tee -a "$sum"; }
stage() { # stage NAME LIMIT_S CMD... : run with a limit, log, say how it ended
  local name=$1 lim=$2 t0 rc
  shift 2
  t0=$(date +%s)
  timeout "$lim" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  say "== $name: exit $rc, $(($(date +%s) - t0)) s"
  return $rc
}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader 2>&1 |
  tee "$logs/gpu.txt" | sed 's/^/gpu: /' | tee -a "$sum"

for s in "$@"; do
  case $s in
    build)
      stage cmake 120 cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DQSWEEP_WERROR=ON -DQSWEEP_GIT_COMMIT="${QSWEEP_GIT_COMMIT:-}" &&
        stage build 400 cmake --build "$b" -j"$(nproc)" || { tail -30 "$logs/build.log" | tee -a "$sum"; break; } ;;
    ctest)
      stage ctest_gpu "${CTEST_LIMIT:-400}" ctest --test-dir "$b" -L gpu --output-on-failure -j"${CTEST_J:-4}"
      grep -E "tests passed|tests failed|\(Failed\)|Not Run|Timeout|\*\*\*" "$logs/ctest_gpu.log" | tee -a "$sum" ;;
    calibrate)
      stage calibrate 120 "$b/qsweep" calibrate -f json -o "$out/calibrate.json"
      tail -12 "$logs/calibrate.log" | tee -a "$sum" ;;
    sweep:*)
      IFS=: read -r _ name spec lim args <<<"$s"
      d=$out/$name
      mkdir -p "$d"
      # shellcheck disable=SC2086
      stage "sweep_$name" "${lim:-420}" mpirun -np "${NP:-1}" "$b/qsweep" run "$root/sweep/$spec.json" --backend cuda \
        -o "$d/results.h5" ${args//,/ }
      cp "$logs/sweep_$name.log" "$d/run.log"
      tail -3 "$d/run.log" | tee -a "$sum"
      # shellcheck disable=SC2086
      "$b/qsweep-analyze" "$d/results.h5" ${ANALYZE_ARGS:-} --report "$d/report.md" --html "$d/report.html" --csv "$d/cells.csv" \
        --json "$d/summary.json" --svg "$d/charts" >"$logs/analyze_$name.log" 2>&1 ||
        say "analyze $name: exit $? ($(tail -1 "$logs/analyze_$name.log"))" ;;
    *) say "unknown step $s" ;;
  esac
done
tar czf "$out/results.tgz" -C "$out" --exclude results.tgz --exclude summary.txt . 2>/dev/null
say "results in $out"
