#!/usr/bin/env bash
# gpu_forward.sh QSWEEP FIXTURE_DIR - `qsweep forward --backend cuda` on the HF golden
# fixtures: every tests/fixtures/tiny checkpoint (every family, at its fixture's
# resolution, the interpolated and resized ones included) run in fp32 on the CUDA plan
# with the fixture's own input matches transformers' CPU float32 output within rel L2
# 1e-4; fp16 within 1e-2. Exits 77 (skipped) where no CUDA device is visible.
set -u
q=$1 fix=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsweep-gpu-forward.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! "$q" forward --backend cuda --model "$fix/tiny/vit-nohead" --batch 2 -i "$fix/tiny/vit-nohead/io.safetensors" \
  >"$tmp/probe" 2>&1; then
  if grep -q 'no CUDA device\|not built in' "$tmp/probe"; then
    echo "gpu_forward: no CUDA device: skipping ($(tail -1 "$tmp/probe"))"
    exit 77
  fi
  echo "gpu_forward: the probe forward failed: $(tail -3 "$tmp/probe")" >&2
  exit 1
fi
# rel_l2 A B: relative L2 distance of the f32 tensors "output" of two safetensors files
rel_l2() { python3 "$(dirname "$0")/rel_l2.py" "$1" "$2"; }
pass=0 fail=0
for d in "$fix"/tiny/*/; do
  d=${d%/}
  name=$(basename "$d")
  batch=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['batch'])" "$d/fixture.json")
  for p in fp32:1e-4 fp16:1e-2; do
    prec=${p%%:*} tol=${p#*:}
    if ! "$q" forward --backend cuda --precision "$prec" --model "$d" --batch "$batch" -i "$d/io.safetensors" \
      -o "$tmp/$name.$prec.safetensors" >"$tmp/log" 2>&1; then
      echo "FAIL: $name $prec: $(tail -2 "$tmp/log")"
      fail=$((fail + 1))
      continue
    fi
    e=$(rel_l2 "$tmp/$name.$prec.safetensors" "$d/io.safetensors") || e=nan
    if python3 -c "import sys; sys.exit(0 if float('$e') <= $tol else 1)"; then
      pass=$((pass + 1))
      printf 'ok:   %-24s %s b%s  rel L2 %s against HF (tol %s)\n' "$name" "$prec" "$batch" "$e" "$tol"
    else
      fail=$((fail + 1))
      printf 'FAIL: %-24s %s b%s  rel L2 %s against HF (tol %s)\n' "$name" "$prec" "$batch" "$e" "$tol"
    fi
  done
done
echo "gpu_forward: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
