#!/usr/bin/env bash
# The command line answers bad input with one line and a non-zero exit.
set -u
q=${QSWEEP:?set QSWEEP to the qsweep binary}
pass=0 fail=0
expect() { # expect EXIT_CODE PATTERN -- command...
  local want=$1 pat=$2; shift 3
  local out rc
  out=$("$@" 2>&1 >/dev/null); rc=$?
  # the first line says what is wrong; bad input (exit 1) is that one line alone,
  # a usage error (exit 2) may add the usage text after it
  local first lines; first=$(printf '%s\n' "$out" | head -n 1); lines=$(printf '%s' "$out" | grep -c '' || true)
  if [ "$rc" -eq "$want" ] && printf '%s' "$first" | grep -q -- "$pat" && { [ "$want" -ne 1 ] || [ "$lines" -eq 1 ]; }; then
    pass=$((pass+1))
  else
    fail=$((fail+1)); echo "FAIL: $* -> exit $rc (want $want), stderr: $out"
  fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect 1 'unknown "no-such-model"' -- "$q" forward --model no-such-model
expect 2 'precision: unknown "int3"' -- "$q" forward --model deit-tiny-ultra-efficient --precision int3
expect 2 '\-\-batch' -- "$q" forward --model deit-tiny-ultra-efficient --batch 0
expect 2 'required' -- "$q" forward
expect 2 'unknown command' -- "$q" frobnicate
# the worker process of qsweep run, not a command to type: refused without its socket
expect 2 'the cell process of qsweep run' -- "$q" worker
expect 2 'the cell process of qsweep run' -- "$q" worker --fd 7 --backend cpu
# (qsweep run initialises MPI, whose own allocations a leak check of a sanitizer build would report)
expect 2 '\-\-cell-timeout: "-3" is not a number of seconds' -- env ASAN_OPTIONS=detect_leaks=0 "$q" run x.json -o x.h5 --cell-timeout -3
expect 2 'not a backend that computes' -- "$q" forward --model deit-tiny-ultra-efficient --backend sim
expect 2 'required' -- "$q" export-weights --model deit-tiny-ultra-efficient
mkdir -p "$tmp/ck"; printf '{"model_type": "vit",' > "$tmp/ck/config.json"
expect 1 "$tmp/ck/config.json: malformed JSON" -- "$q" forward --model "$tmp/ck"
printf 'not a tensor file' > "$tmp/in.safetensors"
expect 1 "$tmp/in.safetensors" -- "$q" forward --model deit-tiny-ultra-efficient --input "$tmp/in.safetensors"
# a wrong input shape names the shape expected and the shape given
head -c $((1 * 3 * 112 * 112 * 4)) /dev/zero > "$tmp/in.raw"
expect 1 "\[1, 3, 112, 112\]), expected \[1, 3, 224, 224\]" -- "$q" forward --model deit-tiny-ultra-efficient --input "$tmp/in.raw"
head -c $((2 * 3 * 448 * 448 * 4)) /dev/zero > "$tmp/in2.raw"
expect 1 "\[2, 3, 448, 448\]), expected \[2, 3, 224, 224\]" -- "$q" forward --model deit-tiny-ultra-efficient --batch 2 --input "$tmp/in2.raw"
fx=$(cd "$(dirname "$0")" && pwd)/fixtures/tiny/vit-pooler/io.safetensors
expect 1 "pixel_values: shape \[2, 3, 32, 32\], expected \[1, 3, 224, 224\]" -- "$q" forward --model deit-tiny-ultra-efficient --input "$fx"
# calibrate: no GPU (none visible, or a build without CUDA) is one clear line and exit 1
expect 1 'calibrate: .*there is no GPU to measure' -- env CUDA_VISIBLE_DEVICES= "$q" calibrate
expect 1 'the sim backend measures nothing' -- "$q" calibrate --backend sim
expect 2 '\-\-size: 3 is out of range' -- "$q" calibrate --size 3
expect 2 '\-\-format: unknown "xml"' -- "$q" calibrate --format xml
expect 2 'unexpected argument "extra"' -- "$q" calibrate --backend cpu extra
expect 2 'backend: unknown "tpu"' -- "$q" calibrate --backend tpu
"$q" calibrate --backend cpu --size 64 --reps 2 --copy-mb 1 -f json | grep -q '"name":.*"gemm_fp32"' &&
  pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: calibrate --backend cpu -f json"; }
"$q" --help | grep -q "^  calibrate " && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: --help lists calibrate"; }
"$q" --help | grep -q "export-weights" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: --help"; }
"$q" models | grep -q "vit-huge-patch14-2020 .* 632.40" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: models"; }
echo "cli_errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
