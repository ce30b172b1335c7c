#!/usr/bin/env bash
# The precisions bf16, fp8 and int8dyn at the command line: sweep/hopper.json's dry run
# (16 models x 7 precisions x batch 1 and 32), `qsweep models --precision` with the real
# bits per quantized weight, `qsweep forward` with fidelity against fp32, and typos refused.
#   hopper_cli.sh QSWEEP SWEEP_DIR
set -u
qsweep=$1
sweep=$2
fails=0
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$qsweep" run "$sweep/hopper.json" --dry-run --backend cpu >"$T/dry" 2>"$T/err"
check "hopper dry-run: exit 0 ($(cat "$T/err"))" test $? -eq 0
check "hopper dry-run: 224 cells" grep -q ': 224 cells, 224 to run' "$T/dry"
for p in fp32 fp16 bf16 int8 int8dyn fp8 nf4; do
  for b in 1 32; do
    n=$(grep -c "|$p|b$b|tp1\$" "$T/dry")
    check "hopper dry-run: 16 cells of $p at batch $b (got $n)" test "$n" -eq 16
  done
done

for p in bf16 fp8 int8dyn; do
  "$qsweep" models --precision $p --model deit-tiny-ultra-efficient >"$T/m" 2>&1
  check "models --precision $p: exit 0" test $? -eq 0
  bits=$(awk '!/^#/ {print $NF}' "$T/m")
  case $p in
    bf16) check "models --precision bf16: 16 bits (got $bits)" test "$bits" = 16.000 ;;
    *) check "models --precision $p: 8 + 32/K bits (got $bits)" awk -v b="$bits" 'BEGIN { exit !(b > 8.0 && b < 8.2) }' ;;
  esac
done

for p in bf16 fp8 int8dyn; do
  "$qsweep" forward --model deit-tiny-ultra-efficient --precision $p >"$T/f" 2>&1
  check "forward --precision $p: exit 0" test $? -eq 0
  cos=$(sed -n 's/.*fidelity vs fp32: cosine \([0-9.]*\) .*/\1/p' "$T/f")
  check "forward --precision $p: cosine vs fp32 > 0.99 (got '$cos')" awk -v c="$cos" 'BEGIN { exit !(c != "" && c > 0.99 && c <= 1) }'
done

for bad in fp-8 BF16 int8_dyn e4m3; do
  "$qsweep" forward --model deit-tiny-ultra-efficient --precision $bad >"$T/f" 2>&1
  rc=$?
  check "forward --precision $bad: refused (exit $rc)" test $rc -ne 0
  check "forward --precision $bad: message lists the names" grep -q 'unknown "'"$bad"'" (fp32, fp16, bf16, int8, int8dyn, fp8, nf4)' "$T/f"
done

echo "hopper_cli: $fails failed"
[ "$fails" -eq 0 ]
