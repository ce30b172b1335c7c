#!/usr/bin/env bash
# run_tp.sh SCENARIO QSWEEP ROWS - `qsweep run` with tensor-parallel cells on the CPU backend.
# ROWS is qs_h5_keys (with --tp: "key status tp allreduce_share rank | message" per row).
# Environment: QSWEEP_MPIEXEC (e.g. "mpiexec --oversubscribe"), QS_FIXTURE_DIR (tests/fixtures).
# Scenarios: gang (tp 1 and tp 2 cells mixed on 4 ranks), unsupported (indivisible heads,
# more ranks than a node has), nodes (QSWEEP_TEST_RANKS_PER_NODE), modes (--rank0 coord / inline).
set -u
scenario=$1
QSWEEP=$2
ROWS=$3
MPIEXEC=${QSWEEP_MPIEXEC:-mpiexec --oversubscribe}
FIX=${QS_FIXTURE_DIR:?QS_FIXTURE_DIR must name tests/fixtures}
ZOO=$FIX/tiny-zoo.json
BEIT4=$FIX/tiny/beit-shared # 4 heads, MLP 128
T=$(mktemp -d "${TMPDIR:-/tmp}/qsweep-tp-$scenario.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset QSWEEP_ZOO QSWEEP_INJECT_FAILURE QSWEEP_TEST_RANKS_PER_NODE
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}
check() { # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@"; then ok; else bad "$d"; fi
}
# every row of FILE whose key matches REGEX satisfies the awk CONDITION on
# $1 key, $2 status, $3 tp, $4 allreduce_share, $5 rank; and there is at least one
rows_all() { # rows_all FILE REGEX CONDITION
  "$ROWS" --tp "$1" | awk -v re="$2" 'BEGIN {n = 0; bad = 0} $1 ~ re {n++; if (!('"$3"')) {bad++; print "  row: " $0 > "/dev/stderr"}}
    END {exit !(n > 0 && bad == 0)}'
}
count() { "$ROWS" --tp "$1" | awk -v re="$2" '$1 ~ re' | wc -l; }

case $scenario in
gang)
  # 3 models x 2 precisions x 2 batch sizes x tp {1, 2} = 24 cells on 4 ranks
  cat >"$T/s.json" <<JSON
{"models": ["tiny-vit", "tiny-deit", "tiny-dinov2"], "precisions": ["fp32", "int8"], "batch_sizes": [1, 2],
 "tp": [1, 2], "zoo": "$ZOO", "warmup": 1, "iterations": 4}
JSON
  $MPIEXEC -np 4 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" 2>"$T/err"
  rc=$?
  check "exit 0 (got $rc): $(tail -3 "$T/err")" test $rc -eq 0
  for m in tiny-vit tiny-deit tiny-dinov2; do for p in fp32 int8; do for b in 1 2; do for t in 1 2; do
    echo "$m|$p|b$b|tp$t"
  done; done; done; done | sort >"$T/want"
  "$ROWS" --tp "$T/r.h5" | awk '{print $1}' | sort >"$T/got"
  check "each cell exactly once" diff "$T/want" "$T/got"
  check "every row ok" rows_all "$T/r.h5" '.' '$2 == "ok"'
  check "tp recorded as in the key" rows_all "$T/r.h5" '.' '($1 ~ /\|tp2$/ && $3 == 2) || ($1 ~ /\|tp1$/ && $3 == 1)'
  check "tp 2 rows: allreduce_share in (0, 1)" rows_all "$T/r.h5" '\|tp2$' '$4 > 0 && $4 < 1'
  check "tp 1 rows: no allreduce_share" rows_all "$T/r.h5" '\|tp1$' '$4 == "nan" || $4 == "-nan"'
  check "tp 2 rows come from a block's tp rank 0 (rank 0 or 2)" rows_all "$T/r.h5" '\|tp2$' '$5 == 0 || $5 == 2'
  check "12 tp 2 rows" test "$(count "$T/r.h5" '\|tp2$')" -eq 12
  check "summary" grep -q '24 cells run: 24 ok' "$T/err"
  # nothing is left to run on --resume
  $MPIEXEC -np 4 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --resume --quiet 2>"$T/err2"
  rc=$?
  check "resume: exit 0, nothing to run (got $rc)" test $rc -eq 0
  check "resume: 0 cells" grep -q '0 cells run.*(24 already ok)' "$T/err2"
  # tp cells only, more of them than blocks: every block busy, each cell once
  cat >"$T/t.json" <<JSON
{"models": ["tiny-vit", "$BEIT4"], "precisions": ["fp32", "fp16", "nf4"], "batch_sizes": [1, 3],
 "tp": [2], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  $MPIEXEC -np 4 "$QSWEEP" run "$T/t.json" -o "$T/t.h5" --quiet 2>"$T/err3"
  rc=$?
  check "tp 2 only: exit 0 (got $rc): $(tail -2 "$T/err3")" test $rc -eq 0
  check "tp 2 only: 12 rows, each once" test "$(count "$T/t.h5" '\|tp2$')" -eq 12 -a \
    "$("$ROWS" --tp "$T/t.h5" | awk '{print $1}' | sort -u | wc -l)" -eq 12
  check "tp 2 only: both blocks used" test "$("$ROWS" --tp "$T/t.h5" | awk '{print $5}' | sort -u | tr '\n' ' ')" = "0 2 "
  ;;
unsupported)
  # tiny-vit has 2 heads: tp 4 does not split; tp 8 needs more ranks than the node has
  cat >"$T/s.json" <<JSON
{"models": ["tiny-vit", "$BEIT4"], "precisions": ["fp32"], "tp": [1, 4, 8], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  $MPIEXEC -np 4 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" 2>"$T/err"
  rc=$?
  check "exit 3 with unsupported cells (got $rc): $(tail -2 "$T/err")" test $rc -eq 3
  check "6 rows" test "$(count "$T/r.h5" '.')" -eq 6
  check "tp 1 ok" rows_all "$T/r.h5" '\|tp1$' '$2 == "ok"'
  check "tiny-vit tp 4: unsupported, heads named" rows_all "$T/r.h5" '^tiny-vit\|.*\|tp4$' '$2 == "unsupported" && $0 ~ /2 attention heads, not divisible by 4/'
  check "beit (4 heads) tp 4: ok over 4 ranks" rows_all "$T/r.h5" '^beit-shared\|.*\|tp4$' '$2 == "ok" && $3 == 4 && $4 > 0 && $4 < 1 && $5 == 0'
  check "tp 8: unsupported, ranks named" rows_all "$T/r.h5" '\|tp8$' '$2 == "unsupported" && $0 ~ /needs 8 ranks of one node/'
  check "summary" grep -q '3 ok, 0 failed, 0 oom, 3 unsupported' "$T/err"
  ;;
nodes)
  # 4 ranks as 2 nodes of 2: tp 2 runs within a node, tp 4 fits no node
  cat >"$T/s.json" <<JSON
{"models": ["tiny-vit", "$BEIT4"], "precisions": ["fp32", "int8"], "tp": [1, 2, 4], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  QSWEEP_TEST_RANKS_PER_NODE=2 $MPIEXEC -np 4 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" 2>"$T/err"
  rc=$?
  check "exit 3 (got $rc): $(tail -2 "$T/err")" test $rc -eq 3
  check "12 rows" test "$(count "$T/r.h5" '.')" -eq 12
  check "tp 1 and tp 2 ok" rows_all "$T/r.h5" '\|tp[12]$' '$2 == "ok"'
  check "tp 2 on one node's tp rank 0 (rank 0 or 2)" rows_all "$T/r.h5" '\|tp2$' '$5 == 0 || $5 == 2'
  check "tp 4: unsupported, no node has 4 ranks" rows_all "$T/r.h5" '^beit-shared\|.*\|tp4$' '$2 == "unsupported" && $0 ~ /needs 4 ranks of one node; the most any node has that run cells is 2/'
  ;;
modes)
  cat >"$T/s.json" <<JSON
{"models": ["tiny-vit", "tiny-deit"], "precisions": ["fp32", "nf4"], "tp": [1, 2], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  # rank 0 only coordinates: 2 ranks run cells, one block {1, 2}
  $MPIEXEC -np 3 "$QSWEEP" run "$T/s.json" -o "$T/c.h5" --rank0 coord --quiet 2>"$T/err"
  rc=$?
  check "coord: exit 0 (got $rc): $(tail -2 "$T/err")" test $rc -eq 0
  check "coord: 8 rows ok" test "$(count "$T/c.h5" '.')" -eq 8 -a "$("$ROWS" --tp "$T/c.h5" | awk '$2 != "ok"' | wc -l)" -eq 0
  check "coord: tp 2 reported by rank 1" rows_all "$T/c.h5" '\|tp2$' '$5 == 1 && $4 > 0 && $4 < 1'
  # rank 0 runs its cells inline, in groups too
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/i.h5" --rank0 inline --quiet 2>"$T/err2"
  rc=$?
  check "inline: exit 0 (got $rc): $(tail -2 "$T/err2")" test $rc -eq 0
  check "inline: tp 2 on ranks {0, 1}" rows_all "$T/i.h5" '\|tp2$' '$2 == "ok" && $5 == 0 && $4 > 0 && $4 < 1'
  # the default (thread) mode on 2 ranks: rank 0's group operations through its main thread
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/t.h5" --quiet 2>"$T/err3"
  rc=$?
  check "thread: exit 0 (got $rc): $(tail -2 "$T/err3")" test $rc -eq 0
  check "thread: tp 2 on ranks {0, 1}" rows_all "$T/t.h5" '\|tp2$' '$2 == "ok" && $5 == 0 && $4 > 0 && $4 < 1'
  # one rank: no group can form
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/one.h5" --quiet 2>"$T/err4"
  rc=$?
  check "1 rank: exit 3 (got $rc)" test $rc -eq 3
  check "1 rank: tp 2 unsupported" rows_all "$T/one.h5" '\|tp2$' '$2 == "unsupported"'
  # the sim backend has no tensor parallelism: unsupported, not a hang
  QSWEEP_SIM_SCALE=0.01 $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/sim.h5" --backend sim --quiet 2>"$T/err5"
  rc=$?
  check "sim: exit 3 (got $rc)" test $rc -eq 3
  check "sim: tp 2 unsupported, backend named" rows_all "$T/sim.h5" '\|tp2$' '$2 == "unsupported" && $0 ~ /sim backend/'
  ;;
*)
  echo "unknown scenario $scenario" >&2
  exit 2
  ;;
esac
echo "run_tp.sh $scenario: $pass passed, $fails failed"
[ $fails -eq 0 ]
