#!/usr/bin/env bash
# The quantized-speed work on a GPU machine in one call: build, the quantized-kernel
# test, the disassembly check of the Hopper kernels, the layer bench, the ViT sweep
# (sweep/vit-quant.json) with its report, the seed sweep, the gpu tests and the peer
# table, each stage under its own time limit.
#
#   bench/gpu_quant_speed.sh [build] [test] [sass] [layer] [ncu] [sweep] [seed] [ctest] [peer] [cells]
#
# Default stages: build test sass layer sweep. Environment: OUT (logs and results,
# default ./gpu-quant-speed), BUILD (build folder, default /tmp/qsweep-build, kept by a
# warm machine), PEER_ARGS (extra arguments of bench/peer_pytorch.py), LAYER_ARGS (of the
# layer bench), CELLS / OLD_BUILD / CELL_MIN_TIME (the cells stage). Everything lands
# in $OUT/quant-speed.tgz (remade after each stage), the last lines of each stage in
# $OUT/summary.txt.
set -u -o pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$PWD/gpu-quant-speed}
b=${BUILD:-/tmp/qsweep-build}
logs=$out/logs
mkdir -p "$logs"
steps=${*:-build test sass layer sweep}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sum=$out/summary.txt
say() { echo "$*" | tee -a "$sum"; }
stage() { # stage NAME LIMIT_S CMD... : run with a limit, log, keep the tail in the summary
  local name=$1 lim=$2 t0 rc
  shift 2
  t0=$(date +%s)
  timeout "$lim" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  say "== $name: exit $rc, $(($(date +%s) - t0)) s"
  return $rc
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv,noheader 2>&1 |
  tee "$logs/gpu.txt" | sed 's/^/gpu: /' | tee -a "$sum"

# the tarball is remade after every stage, so a call cut short by its time limit still
# brings back what had finished
pack() { tar czf "$out/quant-speed.tgz" -C "$out" --exclude quant-speed.tgz --exclude '*.h5' . 2>/dev/null; }
for s in $steps; do
  case $s in
    build)
      stage cmake 120 cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DQSWEEP_WERROR=ON -DQSWEEP_GIT_COMMIT="${QSWEEP_GIT_COMMIT:-}" &&
        stage build 400 cmake --build "$b" -j"$(nproc)" || { tail -30 "$logs/build.log" | tee -a "$sum"; break; }
      grep -c -i "warning" "$logs/build.log" | sed 's/^/build warnings: /' | tee -a "$sum" ;;
    test)
      stage test_gpu_quant 240 stdbuf -oL "$b/tests/test_gpu_quant"
      grep -E "FAIL|sm_90a|wgmma|passed|failed" "$logs/test_gpu_quant.log" | tail -25 | tee -a "$sum" ;;
    sass)
      obj=$(find "$b" -name "int8_gemm_sm90.cu.o" | head -1)
      if [ -n "$obj" ]; then
        cuobjdump --dump-sass "$obj" >"$logs/sass.txt" 2>&1
        grep -o -E "\b(IGMMA|HGMMA|QGMMA)[A-Z0-9._]*|\bUTMALDG[A-Z0-9._]*|\b(LDL|STL)\b" "$logs/sass.txt" | sort | uniq -c |
          sed 's/^/sass: /' | tee -a "$sum"
      fi ;;
    layer)
      stage layer_bench 300 "$b/tests/quant_gemm_bench" ${LAYER_ARGS:-}
      tail -60 "$logs/layer_bench.log" | tee -a "$sum" ;;
    sweep)
      mkdir -p "$out/vit-quant"
      stage sweep_vit 420 mpirun -np 1 "$b/qsweep" run "$root/sweep/vit-quant.json" --backend cuda \
        -o "$out/vit-quant/results.h5"
      tail -3 "$logs/sweep_vit.log" | tee -a "$sum"
      "$b/qsweep-analyze" "$out/vit-quant/results.h5" --report "$out/vit-quant/report.md" \
        --csv "$out/vit-quant/cells.csv" --json "$out/vit-quant/summary.json" --svg "$out/vit-quant/charts" \
        >"$logs/analyze_vit.log" 2>&1
      awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        { printf "%-28s %-5s b%-4s %-8s %10s ms  cos %s\n", $h["model"], $h["precision"], $h["batch"], $h["status"], $h["lat_median_ms"], $h["fid_cosine"] }' \
        "$out/vit-quant/cells.csv" | tee -a "$sum" ;;
    seed)
      mkdir -p "$out/seed64"
      stage sweep_seed 420 mpirun -np 1 "$b/qsweep" run "$root/sweep/seed64.json" --backend cuda \
        -o "$out/seed64/results.h5"
      tail -3 "$logs/sweep_seed.log" | tee -a "$sum"
      "$b/qsweep-analyze" "$out/seed64/results.h5" --report "$out/seed64/report.md" --csv "$out/seed64/cells.csv" \
        --json "$out/seed64/summary.json" --svg "$out/seed64/charts" >"$logs/analyze_seed.log" 2>&1 ;;
    ncu) # per-kernel profile of the int8 GEMMs at ViT-B batch 128 (NCU_ARGS: more ncu options)
      stage ncu 180 ncu --kernel-name regex:"${NCU_KERNELS:-int8_gemm}" --launch-count "${NCU_COUNT:-4}" \
        --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis \
        ${NCU_ARGS:-} "$b/tests/quant_gemm_bench" --models B --batches 128 --quick
      grep -E "^  [a-z_]*int8|Duration|Compute \(SM\) Throughput|Memory Throughput|Stall|Issued Warp|No Eligible|L2 Hit|DRAM Throughput" \
        "$logs/ncu.log" | head -60 | tee -a "$sum" ;;
    ctest)
      stage ctest_gpu 560 ctest --test-dir "$b" -L gpu --output-on-failure -j4
      grep -E "tests passed|tests failed|\(Failed\)|Not Run|Timeout" "$logs/ctest_gpu.log" | tee -a "$sum" ;;
    peer) # the quantization peers need .peers/site (bench/peers_fetch.sh, carried)
      [ -d "$root/.peers/site" ] && export PYTHONPATH="$root/.peers/site${PYTHONPATH:+:$PYTHONPATH}"
      stage peer 420 env PYTHONUNBUFFERED=1 python3 "$root/bench/peer_pytorch.py" --build "$b" \
        --json "$out/peer.json" ${PEER_ARGS:-}
      tail -40 "$logs/peer.log" | tee -a "$sum" ;;
    cells) # qsweep bench on CELLS (model:precision:batch ...), side by side with OLD_BUILD's qsweep
      # when set (the two binaries alternate cell by cell); one CSV row per run in cells.csv
      for c in ${CELLS:-vit-base-224-production:fp16:32 vit-base-224-production:int8:32 vit-base-224-production:nf4:32}; do
        IFS=: read -r m p n <<<"$c"
        for v in new old; do
          bin=$b/qsweep
          if [ $v = old ]; then [ -n "${OLD_BUILD:-}" ] || continue; bin=$OLD_BUILD/qsweep; fi
          row=$(timeout 90 "$bin" bench -m "$m" -p "$p" -n "$n" --min-time "${CELL_MIN_TIME:-0.5}" -f csv 2>&1 | tail -1)
          echo "$v,$row" >>"$out/cells.csv"
          say "cell $v $m $p b$n: $(echo "$row" | cut -d, -f5,6)"
        done
      done ;;
    *) say "unknown stage $s" ;;
  esac
  pack
done
pack
say "results in $out"
