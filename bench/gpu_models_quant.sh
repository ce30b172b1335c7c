#!/usr/bin/env bash
# Build qsweep and the GPU tests, time every zoo model in fp32 / fp16 / int8 / nf4 at
# batch 1 (and the three ViTs in fp16 / int8 at batch 32) with `qsweep bench`, then
# run the int8 / nf4 end-to-end tests and the quantized-kernel test.
# Usage: bench/gpu_models_quant.sh [SRC_DIR] [stages: b=bench t=model tests q=quant test]
# Logs go to $OUT when set (else ./gpu_models_logs). Prints a compact table last.
set -u -o pipefail
src=${1:-.}
stages=${2:-btq}
out=${OUT:-./gpu_models_logs}
mkdir -p "$out"
jobs=$(nproc 2>/dev/null || echo 4)
bd="$src/build-mq"
t0=$(date +%s)
cmake -S "$src" -B "$bd" -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release >"$out/cmake.log" 2>&1 &&
  cmake --build "$bd" -j"$jobs" --target qsweep test_gpu_models test_gpu_quant >"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }
echo "build: $(($(date +%s) - t0)) s"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
models="vit-huge-patch14-2020 vit-large-patch16-2020 vit-base-224-production vit-base-384-production
 vit-base-patch32-specialized deit-tiny-ultra-efficient deit-small-distilled-224-edge deit-base-distilled-384-edge
 dino-vits16-production dino-vitb16-production dinov2-base-2023 dinov2-large-2023 beit-base-pt22k-2021
 beit-large-2021 mobilevit-small-edge mobilevit-xxs-edge"
csv="$out/bench.csv"
cell() { # model precision batch
  timeout 120 "$bd/qsweep" bench --backend cuda --model "$1" --precision "$2" --batch "$3" --format csv \
    --warmup 5 --iters 30 2>>"$out/bench_err.log" | grep -v '^model,' >>"$csv" ||
    echo "\"$1\",\"$2\",$3,\"cuda\",\"failed\"" >>"$csv"
}
if [[ $stages == *b* ]]; then
  : >"$csv"
  t1=$(date +%s)
  for m in $models; do for p in fp32 fp16 int8 nf4; do cell "$m" "$p" 1; done; done
  for m in vit-base-224-production vit-large-patch16-2020 vit-huge-patch14-2020; do
    for p in fp16 int8; do cell "$m" "$p" 32; done
  done
  echo "bench: $(($(date +%s) - t1)) s"
fi
rc=0
if [[ $stages == *t* ]]; then
  t1=$(date +%s)
  for m in $models; do
    timeout 100 "$bd/tests/test_gpu_models" "$m" int8,nf4 >>"$out/models.log" 2>&1 || { echo "FAIL $m"; rc=1; }
  done
  grep -E "rel_l2|fidelity|FAIL|error" "$out/models.log" | cut -c1-200
  echo "model tests: $(($(date +%s) - t1)) s"
fi
if [[ $stages == *q* ]]; then
  timeout 120 "$bd/tests/test_gpu_quant" >"$out/quant.log" 2>&1 || { echo "FAIL test_gpu_quant"; rc=1; }
  tail -4 "$out/quant.log"
fi
if [[ -s $csv ]]; then
  echo "model,batch: fp32 fp16 int8 nf4 (median ms); int8<fp32 nf4<fp32 | weights MB int8 nf4; qbits int8 nf4"
  awk -F, '{gsub(/"/,""); k=$1","$3; st[k","$2]=$5; ms[k","$2]=$6; wb[k","$2]=$14; qb[k","$2]=$17; if(!(k in seen)){seen[k]=1; ord[n++]=k}}
    END{for(i=0;i<n;i++){k=ord[i]; f32=ms[k",fp32"]; f16=ms[k",fp16"]; i8=ms[k",int8"]; n4=ms[k",nf4"];
      a=(i8!=""&&f32!="")?(i8+0<f32+0?"yes":"NO"):"-"; b=(n4!=""&&f32!="")?(n4+0<f32+0?"yes":"NO"):"-";
      c=(i8!=""&&f16!="")?(i8+0<f16+0?"yes":"NO"):"-";
      printf "%-31s %s  %8s %8s %8s %8s  i8<32 %-3s nf4<32 %-3s i8<16 %-3s | %7s %7s | %s %s %s\n", k, "", f32, f16, i8, n4, a, b, c, wb[k",int8"], wb[k",nf4"], qb[k",int8"], qb[k",nf4"], (st[k",int8"] st[k",nf4"] ~ /fail|unsup|oom/)?"FAILED":""}}' "$csv"
fi
exit $rc
