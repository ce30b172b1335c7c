#!/usr/bin/env bash
# gpu_isolate.sh QSWEEP H5KEYS - a device fault and a hang cost one cell on the CUDA backend:
# a cell whose worker launches a kernel storing to an illegal address (a sticky error: the
# worker's context is lost and it is replaced) and one whose kernel spins forever (killed
# at the time limit), on 2 ranks (sharing the GPU if there is one): every other cell ok,
# those two failed / timeout, each cell once, --resume retries only them; then on one
# rank the cell after each fault is ok in a fresh worker. Exits 77 (skipped) where no
# CUDA device is visible. H5KEYS: tests/h5_keys.c's qs_h5_keys, which reads the results
# file back (so the test needs no hdf5-tools on the GPU machine). Environment:
# QSWEEP_MPIEXEC, QS_FIXTURE_DIR (tests/fixtures).
set -u
QSWEEP=$1
H5KEYS=${2:?usage: gpu_isolate.sh QSWEEP H5KEYS}
MPIEXEC=${QSWEEP_MPIEXEC:-mpiexec --oversubscribe}
FIX=${QS_FIXTURE_DIR:?QS_FIXTURE_DIR must name tests/fixtures}
T=$(mktemp -d "${TMPDIR:-/tmp}/qsweep-gpu-isolate.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset QSWEEP_INJECT_FAILURE QSWEEP_INJECT_CRASH QSWEEP_INJECT_HANG
export QSWEEP_ZOO=$FIX/tiny-zoo.json
if ! "$QSWEEP" forward --backend cuda --model tiny-vit >"$T/probe" 2>&1; then
  if grep -q 'no CUDA device\|not built in' "$T/probe"; then
    echo "gpu_isolate: no CUDA device: skipping ($(tail -1 "$T/probe"))"
    exit 77
  fi
  echo "gpu_isolate: the probe forward failed: $(tail -3 "$T/probe")" >&2
  exit 1
fi
fails=0
pass=0
check() { # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $d" >&2; fails=$((fails + 1)); fi
}
# the rows of a results file, in row order: "key status backend", and their messages
keys() { "$H5KEYS" "$1" | awk '{print $1}'; }
statuses() { "$H5KEYS" "$1" | awk '{print $2}'; }
messages() { "$H5KEYS" --tp "$1" | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* [^ ]* | //'; }
status_of() { paste <(keys "$1") <(statuses "$1") | awk -v k="$2" '$1 == k {print $2}' | tr '\n' ' '; }

# 3 tiny models x fp32, fp16 x batch 1, 2: 12 cells the CUDA kernels take
cat >"$T/s.json" <<JSON
{"models": ["tiny-vit", "tiny-deit", "tiny-dinov2"], "precisions": ["fp32", "fp16"], "batch_sizes": [1, 2],
 "warmup": 2, "iterations": 10, "cell_timeout_s": 60}
JSON
for m in tiny-vit tiny-deit tiny-dinov2; do for p in fp32 fp16; do for b in 1 2; do
  echo "$m|$p|b$b|tp1"
done; done; done | sort >"$T/want"
crash='tiny-deit|fp16|b2|tp1'
hang='tiny-vit|fp32|b1|tp1'
t0=$(date +%s)
$MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --backend cuda --share-gpu --cell-timeout 20 \
  --inject-crash "$crash" --inject-hang "$hang" 2>"$T/err"
rc=$?
echo "gpu_isolate: 2 ranks, 12 cells in $(($(date +%s) - t0)) s"
grep -E '^\[' "$T/err" | grep -v ' ok ' # the two faults, for the log
check "exit 3 (got $rc): $(tail -2 "$T/err")" test $rc -eq 3
check "the 12 cells, each once" diff "$T/want" <(keys "$T/r.h5" | sort)
check "10 ok, 1 failed, 1 timeout: $(statuses "$T/r.h5" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
  test "$(statuses "$T/r.h5" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" = " 1 failed; 10 ok; 1 timeout;"
check "the faulting cell failed ($(status_of "$T/r.h5" "$crash"))" test "$(status_of "$T/r.h5" "$crash")" = "failed "
check "the spinning cell timed out ($(status_of "$T/r.h5" "$hang"))" test "$(status_of "$T/r.h5" "$hang")" = "timeout "
check "the CUDA error text" grep -q 'injected crash: .*illegal memory access.*cudaErrorIllegalAddress.*the device context is lost' \
  <(messages "$T/r.h5")
check "the limit is named" grep -q 'cell time limit of 20 s exceeded' <(messages "$T/r.h5")
check "summary line" grep -q '12 cells run: 10 ok, 1 failed, 0 oom, 0 unsupported, 1 timeout' "$T/err"
$MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --backend cuda --share-gpu --resume 2>"$T/err2"
rc=$?
check "--resume: exit 0 (got $rc): $(tail -1 "$T/err2")" test $rc -eq 0
check "--resume runs only the two" grep -q '12 cells, 2 to run (10 already ok)' "$T/err2"
check "the two have a second row, every other cell one" test \
  "$(keys "$T/r.h5" | sort | uniq -c | awk '$1 == 2 {print $2}' | tr '\n' ' ')" = "$(printf '%s\n' "$crash" "$hang" | sort | tr '\n' ' ')"

# one rank: the cells in a fixed order, so the cell after each fault ran in a fresh worker
$MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/one.h5" --backend cuda --cell-timeout 20 \
  --inject-crash "$crash" --inject-hang "$hang" 2>"$T/err3"
rc=$?
check "one rank: exit 3 (got $rc)" test $rc -eq 3
check "one rank: 10 ok, 1 failed, 1 timeout" grep -q '12 cells run: 10 ok, 1 failed, 0 oom, 0 unsupported, 1 timeout' "$T/err3"
sed -nE 's/^\[ *[0-9]+\/[0-9]+\] ([a-z]+) .*/\1/p' "$T/err3" >"$T/order"
for bad in failed timeout; do
  next=$(awk -v b=$bad 'f {print; exit} $1 == b {f = 1}' "$T/order")
  [ -z "$next" ] && continue # the fault was the last cell
  check "one rank: the cell after the $bad one is ok in a fresh worker (got '$next')" test "$next" = ok
done
echo "gpu_isolate: $pass passed, $fails failed"
[ $fails -eq 0 ]
