#!/usr/bin/env bash
# --image-size runs a checkpoint at another resolution than its config.json's:
# tiny/vit-interp, tiny/deit-interp, the two tiny/beit-*-interp and the three tiny/*-crop
# (sides that are no multiple of the patch) without their qsweep_input_size key, run with
# --image-size, match HF's output with interpolate_pos_encoding (rel L2 <= 1e-5);
# sizes a family cannot take are refused with one line saying why.
# usage: image_size.sh QSWEEP FIXTURE_DIR
set -u
q=$1 fix=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if "${@:2}"; then pass=$((pass + 1)); echo "ok: $1"; else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
# rel_l2 A B: relative L2 distance of the f32 tensors "output" of two safetensors files
rel_l2() { python3 "$(dirname "$0")/rel_l2.py" "$1" "$2"; }
# same SRC SIZE: SRC's fixture without its qsweep_input_size, run with --image-size SIZE
same() {
  local d=$tmp/$1
  cp -r "$fix/tiny/$1" "$d"
  python3 - "$d/config.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg.pop("qsweep_input_size")
json.dump(cfg, open(sys.argv[1], "w"), indent=2)
PY
  "$q" forward --model "$d" --image-size "$2" --batch 2 --input "$d/io.safetensors" -o "$d/out.safetensors" >/dev/null ||
    return 1
  local e
  e=$(rel_l2 "$d/out.safetensors" "$d/io.safetensors") || return 1
  echo "  $1 at $2 px: rel L2 $e against HF"
  python3 -c "import sys; sys.exit(0 if float('$e') <= 1e-5 else 1)"
}
check "vit-interp via --image-size 48" same vit-interp 48
check "deit-interp via --image-size 24" same deit-interp 24
refused() { # refused TEXT ARGS...: exit 1 with one line holding TEXT
  local out rc
  out=$("$q" forward "${@:2}" 2>&1 >/dev/null)
  rc=$?
  echo "  exit $rc: $out"
  [ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s' "$out" | grep -q -- "$1"
}
check "beit-shared-interp via --image-size 24" same beit-shared-interp 24
check "beit-per-layer-interp via --image-size 48" same beit-per-layer-interp 48
# sides that are no multiple of the patch: HF reads the first side // patch patches
check "vit-interp-crop via --image-size 44" same vit-interp-crop 44
check "dinov2-crop via --image-size 46" same dinov2-crop 46
check "beit-shared-crop via --image-size 29" same beit-shared-crop 29
check "smaller than the patch: refused" refused "6 is smaller than patch_size 8" \
  --model "$fix/tiny/vit-classifier" --image-size 6
check "MobileViT: a multiple of 32" refused "must be a multiple of 32" --model "$fix/tiny/mobilevit" --image-size 80
echo "image_size: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
