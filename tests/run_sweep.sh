#!/usr/bin/env bash
# run_sweep.sh SCENARIO QSWEEP - multi-step scenarios of `qsweep run` / `qsweep bench`.
# Environment: QSWEEP_MPIEXEC (the MPI launcher with its options, e.g. "mpiexec
# --oversubscribe"), QS_FIXTURE_DIR (tests/fixtures). Scenarios: ranks, inject, kill,
# badspec, files, dryrun, fewcells, bench, extend, seal, reported, sizes, isolate, orphan.
set -u
scenario=$1
QSWEEP=$2
MPIEXEC=${QSWEEP_MPIEXEC:-mpiexec --oversubscribe}
FIX=${QS_FIXTURE_DIR:?QS_FIXTURE_DIR must name tests/fixtures}
ZOO=$FIX/tiny-zoo.json
T=$(mktemp -d "${TMPDIR:-/tmp}/qsweep-run-$scenario.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset QSWEEP_ZOO QSWEEP_INJECT_FAILURE QSWEEP_INJECT_CRASH QSWEEP_INJECT_HANG
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

# The 24 tiny cells (3 models x 4 precisions x 2 batch sizes) on the CPU backend.
spec() { # spec FILE [extra JSON members]
  cat >"$1" <<JSON
{"models": ["tiny-vit", "tiny-deit", "tiny-dinov2"], "precisions": ["fp32", "fp16", "int8", "nf4"],
 "batch_sizes": [1, 2], "zoo": "$ZOO", "warmup": 1, "iterations": 5${2:+, $2}}
JSON
}

# Keys of /cells, one per line, in row order (h5dump, no qsweep code involved).
keys() { h5dump -d /cells "$1" | grep -o '"[^"]*|b[0-9]*|tp[0-9]*"' | tr -d '"'; }
statuses() { h5dump -d /cells "$1" | grep -oE '"(ok|failed|oom|unsupported|timeout|skipped)"' | tr -d '"'; }
status_of() { paste <(keys "$1") <(statuses "$1") | awk -v k="$2" '$1 == k {print $2}' | tr '\n' ' '; } # FILE KEY
rows() { h5dump -H "$1" | awk '/DATASET "cells"/ {c = 1} c && /DATASPACE/ {gsub(/[^0-9 ]/, " "); print $1; exit}'; }
# qsweep's own lines on stderr (mpiexec adds a banner when a rank exits non-zero)
qlines() { grep -c '^qsweep' "$1"; }
expected_keys() {
  for m in tiny-vit tiny-deit tiny-dinov2; do for p in fp32 fp16 int8 nf4; do for b in 1 2; do
    echo "$m|$p|b$b|tp1"
  done; done; done | sort
}

case $scenario in
ranks)
  # 1, 2 and 4 ranks: the same set of cells, each exactly once, all ok
  spec "$T/s.json"
  expected_keys >"$T/want"
  for np in 1 2 4; do
    $MPIEXEC -np $np "$QSWEEP" run "$T/s.json" -o "$T/r$np.h5" --quiet 2>"$T/err$np"
    rc=$?
    check "np $np: exit 0 (got $rc): $(tail -2 "$T/err$np")" test $rc -eq 0
    keys "$T/r$np.h5" | sort >"$T/got$np"
    check "np $np: the cells, each once" diff "$T/want" "$T/got$np"
    check "np $np: every row ok" test "$(statuses "$T/r$np.h5" | sort -u)" = ok
    check "np $np: rows of $np ranks" test "$(h5dump -d /cells "$T/r$np.h5" | grep -c 'rank')" -gt 0
  done
  check "np 4: the world size is recorded" grep -q 'world_size' <(h5dump -a world_size "$T/r4.h5")
  ;;
inject)
  # one injected failure: that cell failed, the others ok, exit 3
  spec "$T/s.json"
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --quiet --inject-failure 'tiny-deit|int8|b2' 2>"$T/err"
  rc=$?
  check "exit 3 with a failed cell (got $rc)" test $rc -eq 3
  check "24 rows" test "$(keys "$T/r.h5" | wc -l)" -eq 24
  check "1 failed" test "$(statuses "$T/r.h5" | grep -c failed)" -eq 1
  check "23 ok" test "$(statuses "$T/r.h5" | grep -c '^ok$')" -eq 23
  check "the message" grep -q 'injected failure' <(h5dump -d /cells "$T/r.h5")
  check "summary line" grep -q '23 ok, 1 failed' "$T/err"
  # the environment switch, and --resume retries only the failed cell
  QSWEEP_INJECT_FAILURE= $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --quiet --resume 2>"$T/err2"
  rc=$?
  check "resume retries the failed cell: exit 0 (got $rc)" test $rc -eq 0
  check "resume ran 1 cell" grep -q '1 cells run: 1 ok' "$T/err2"
  check "25 rows, last row of the retried key ok" test "$(keys "$T/r.h5" | wc -l)" -eq 25
  export QSWEEP_INJECT_FAILURE='|nf4|'
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/e.h5" --quiet 2>/dev/null
  rc=$?
  unset QSWEEP_INJECT_FAILURE
  check "QSWEEP_INJECT_FAILURE: exit 3 (got $rc)" test $rc -eq 3
  check "QSWEEP_INJECT_FAILURE: 6 failed" test "$(statuses "$T/e.h5" | grep -c failed)" -eq 6
  ;;
kill)
  # SIGKILL of the whole job mid-sweep, then --resume: each cell exactly once
  spec "$T/s.json" '"min_time_s": 1.0'
  expected_keys >"$T/want"
  export QSWEEP_SIM_SCALE=1.0 # each sim cell sleeps ~1 s: 24 cells on 2 ranks leave ~12 s to kill mid-sweep
  setsid $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --backend sim --quiet 2>"$T/err" &
  pid=$!
  n=0
  for _ in $(seq 1 300); do
    sleep 0.1
    [ -f "$T/r.h5" ] && n=$(rows "$T/r.h5" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 5 ] && break
  done
  kill -9 -- -"$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  sleep 0.5
  check "rows existed before the kill ($n)" test "${n:-0}" -ge 5
  got=$(keys "$T/r.h5" | wc -l)
  check "the kill left a partial file that opens ($got rows)" test "$got" -ge 5 -a "$got" -lt 24
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --backend sim --quiet 2>"$T/err2"
  rc=$?
  check "without --resume the file is refused (exit 1, got $rc)" test $rc -eq 1
  check "the refusal suggests --resume" grep -q -- '--resume' "$T/err2"
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --backend sim --quiet --resume 2>"$T/err3"
  rc=$?
  check "--resume completes: exit 0 (got $rc): $(tail -1 "$T/err3")" test $rc -eq 0
  keys "$T/r.h5" | sort >"$T/got"
  check "each cell exactly once after resume" diff "$T/want" "$T/got"
  check "h5dump -H reads the file" h5dump -H "$T/r.h5" >/dev/null
  check "sim rows say backend sim" grep -q '"sim"' <(h5dump -d /cells "$T/r.h5")
  ;;
reported)
  # a cell the progress shows as done is in the file: one rank (no launcher between), its
  # progress lines on a pipe to a reader that SIGKILLs it the moment it reads the 5th
  export QSWEEP_SIM_SCALE=0.5
  spec "$T/s.json" '"min_time_s": 1.0'
  bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$T/pid" "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --backend sim \
    2>&1 >/dev/null | {
    n=0
    while IFS= read -r line; do
      case $line in "["*"] ok "*) n=$((n + 1)) ;; esac
      if [ "$n" -eq 5 ]; then kill -9 "$(cat "$T/pid")"; fi
      printf '%s\n' "$line" >>"$T/seen"
    done
  }
  sleep 0.5
  shown=$(sed -nE 's/^\[ *[0-9]+\/[0-9]+\] ok +([^ ]+) .*/\1/p' "$T/seen" | sort)
  check "5 cells shown done before the kill ($(echo "$shown" | grep -c .))" test "$(echo "$shown" | grep -c .)" -ge 5
  keys "$T/r.h5" | sort >"$T/got"
  for k in $shown; do
    check "$k: shown done, so in the file" grep -qx -- "$k" "$T/got"
  done
  check "the kill came mid-sweep ($(wc -l <"$T/got") rows)" test "$(wc -l <"$T/got")" -lt 24
  ;;
badspec)
  # each bad field: exit 1, one line naming the file and the field, nothing written
  spec "$T/good.json"
  try() { # try NAME EXPECTED-SUBSTRING JSON
    printf '%s\n' "$3" >"$T/$1.json"
    $MPIEXEC -np 2 "$QSWEEP" run "$T/$1.json" -o "$T/$1.h5" 2>"$T/$1.err"
    rc=$?
    check "$1: exit 1 (got $rc)" test $rc -eq 1
    check "$1: one line" test "$(qlines "$T/$1.err")" -eq 1
    check "$1: names the file and '$2': $(cat "$T/$1.err")" grep -qF "$T/$1.json: $2" "$T/$1.err"
    check "$1: no output file" test ! -e "$T/$1.h5"
  }
  Z="\"zoo\": \"$ZOO\""
  try unknown_key 'batch_size: unknown key' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"batch_size\": [1], $Z}"
  try unknown_model 'models[1]: unknown model "vit-giant"' "{\"models\": [\"tiny-vit\", \"vit-giant\"], \"precisions\": [\"fp32\"], $Z}"
  try unknown_prec 'precisions[1]: unknown precision "int3"' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\", \"int3\"], $Z}"
  try neg_batch 'batch_sizes[1]: must be positive' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"batch_sizes\": [1, -4], $Z}"
  try zero_batch 'batch_sizes[0]: must be positive' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"batch_sizes\": [0], $Z}"
  try type_models 'models: expected an array' "{\"models\": \"tiny-vit\", \"precisions\": [\"fp32\"], $Z}"
  try type_iters 'iterations: expected an integer' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"iterations\": \"50\", $Z}"
  try type_seed 'seed: expected an integer' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"seed\": 1.5, $Z}"
  try missing_prec 'precisions: missing' "{\"models\": [\"tiny-vit\"], $Z}"
  try bad_exclude 'exclude[0].modle: unknown key' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"exclude\": [{\"modle\": \"tiny-vit\"}], $Z}"
  try bad_override 'overrides.tiny-deit: "tiny-deit" is not one of the sweep' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"overrides\": {\"tiny-deit\": {\"iterations\": 3}}, $Z}"
  try bad_override_key 'overrides.tiny-vit.batch: unknown key' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"overrides\": {\"tiny-vit\": {\"batch\": 3}}, $Z}"
  try bad_tp 'tp[0]: must be positive' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"tp\": [0], $Z}"
  try bad_zoo 'zoo: ' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"zoo\": \"no-such-zoo.json\"}"
  try malformed 'malformed JSON' "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"],"
  # usage errors: exit 2
  $MPIEXEC -np 1 "$QSWEEP" run "$T/good.json" 2>"$T/u1.err"
  rc=$?
  check "no -o: exit 2 (got $rc)" test $rc -eq 2
  check "no -o: says so" grep -q -- '-o/--out: missing' "$T/u1.err"
  $MPIEXEC -np 1 "$QSWEEP" run "$T/good.json" -o "$T/x.h5" --bogus 2>"$T/u2.err"
  rc=$?
  check "unknown option: exit 2 (got $rc)" test $rc -eq 2
  $MPIEXEC -np 1 "$QSWEEP" run "$T/good.json" -o "$T/x.h5" --backend tpu 2>"$T/u3.err"
  rc=$?
  check "unknown backend: exit 2 (got $rc)" test $rc -eq 2
  check "unknown backend: says so" grep -q 'backend: unknown "tpu"' "$T/u3.err"
  "$QSWEEP" run --help >"$T/help" 2>&1
  check "--help: exit 0 and defaults" grep -q 'default' "$T/help"
  ;;
files)
  # the output file: foreign HDF5, not HDF5, another sweep (--force), exists without --resume
  spec "$T/s.json"
  printf 'PATH data\nINPUT-CLASS TEXTIN\nRANK 1\nDIMENSION-SIZES 3\n' >"$T/conf"
  printf '1 2 3\n' >"$T/in.txt"
  h5import "$T/in.txt" -c "$T/conf" -o "$T/foreign.h5" >/dev/null 2>&1
  check "h5import made a foreign HDF5 file" test -s "$T/foreign.h5"
  cp "$T/foreign.h5" "$T/foreign.orig"
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/foreign.h5" --resume 2>"$T/f.err"
  rc=$?
  check "foreign HDF5: exit 1 (got $rc)" test $rc -eq 1
  check "foreign HDF5: one line naming the file: $(cat "$T/f.err")" test "$(qlines "$T/f.err")" -eq 1 -a "$(grep -c "$T/foreign.h5" "$T/f.err")" -eq 1
  check "foreign HDF5: untouched" cmp -s "$T/foreign.h5" "$T/foreign.orig"
  echo "not hdf5" >"$T/text.h5"
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/text.h5" --resume 2>"$T/t.err"
  rc=$?
  check "not HDF5: exit 1 (got $rc): $(cat "$T/t.err")" test $rc -eq 1 -a "$(qlines "$T/t.err")" -eq 1
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/foreign.h5" 2>"$T/e.err"
  rc=$?
  check "existing file without --resume: exit 1 (got $rc)" test $rc -eq 1
  check "suggests --resume" grep -q 'use --resume' "$T/e.err"
  # another sweep: refused with --resume unless --force
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --quiet 2>/dev/null
  spec "$T/s2.json" '"seed": 7'
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s2.json" -o "$T/r.h5" --resume --quiet 2>"$T/h.err"
  rc=$?
  check "another sweep: exit 1 (got $rc)" test $rc -eq 1
  check "another sweep: names sweep_hash and --force: $(cat "$T/h.err")" grep -q 'sweep_hash.*--force' "$T/h.err"
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s2.json" -o "$T/r.h5" --resume --force --quiet 2>"$T/h2.err"
  rc=$?
  check "another sweep with --force: exit 0 (got $rc)" test $rc -eq 0
  # the same sweep: nothing left to run
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --resume --force 2>"$T/same.err"
  rc=$?
  check "resume of a complete sweep: exit 0, 0 cells (got $rc)" test $rc -eq 0
  check "resume of a complete sweep: 24 already ok" grep -q '0 cells run.*(24 already ok)' "$T/same.err"
  check "metadata: sweep_json, mpi_library, hostnames" test "$(h5dump -A "$T/r.h5" | grep -cE 'ATTRIBUTE "(sweep_json|mpi_library|hostnames|gpu_names|git_commit|finished_utc)"')" -eq 6
  ;;
dryrun)
  spec "$T/s.json"
  $MPIEXEC -np 4 "$QSWEEP" run "$T/s.json" --dry-run >"$T/out" 2>"$T/err"
  rc=$?
  check "dry-run: exit 0 (got $rc)" test $rc -eq 0
  check "dry-run: 24 cells listed" test "$(grep -c '|tp1' "$T/out")" -eq 24
  check "dry-run: 4 start ranks" test "$(awk '!/^#/ && $2 ~ /^[0-9]+$/' "$T/out" | wc -l)" -eq 4
  check "dry-run: header with cost" grep -q 'est_cost_s' "$T/out"
  check "dry-run: only rank 0 prints" test "$(grep -c 'dry-run' "$T/out")" -eq 1
  check "dry-run: no file" test ! -e "$T/r.h5"
  # largest first: the costs are non-increasing
  check "dry-run: decreasing cost" bash -c "awk '!/^#/ {print \$3}' '$T/out' | sort -g -r -c"
  # tensor-parallel cells on 2 ranks: tp 2 is planned without start ranks, tp 4 is listed
  # unsupported with the run's own reason, and the real run reports exactly those cells so
  spec "$T/tp.json" '"tp": [1, 2, 4], "batch_sizes": [1], "precisions": ["fp32", "nf4"]'
  $MPIEXEC -np 2 "$QSWEEP" run "$T/tp.json" --dry-run >"$T/tpout" 2>"$T/tperr"
  rc=$?
  check "dry-run tp: exit 0 (got $rc)" test $rc -eq 0
  check "dry-run tp: header counts" grep -q '18 cells, 12 to run (0 already ok, 6 unsupported), 2 ranks' "$T/tpout"
  check "dry-run tp: 12 planned" test "$(awk '!/^#/ && $1 ~ /^[0-9]+$/' "$T/tpout" | wc -l)" -eq 12
  check "dry-run tp: no start ranks" test "$(awk '!/^#/ && $2 ~ /^[0-9]+$/' "$T/tpout" | wc -l)" -eq 0
  check "dry-run tp: tp2 planned" test "$(awk '!/^#/ && $1 ~ /^[0-9]+$/ && $4 ~ /tp2$/' "$T/tpout" | wc -l)" -eq 6
  check "dry-run tp: why" test "$(grep -c 'unsupported, reported at once: tp 4: needs 4 ranks of one node; the most any node has that run cells is 2' "$T/tpout")" -eq 6
  check "dry-run tp: decreasing cost" bash -c "awk '!/^#/ && \$1 ~ /^[0-9]+$/ {print \$3}' '$T/tpout' | sort -g -r -c"
  awk '!/^#/ && /unsupported/ {print $4}' "$T/tpout" | sort >"$T/dry_unsup"
  $MPIEXEC -np 2 "$QSWEEP" run "$T/tp.json" -o "$T/tp.h5" --quiet 2>"$T/tperr2"
  paste <(keys "$T/tp.h5") <(statuses "$T/tp.h5") | awk '$2 == "unsupported" {print $1}' | sort >"$T/run_unsup"
  check "dry-run tp: the run's unsupported cells are the dry run's" cmp -s "$T/dry_unsup" "$T/run_unsup"
  check "dry-run tp: 6 unsupported in the run" test "$(wc -l <"$T/run_unsup")" -eq 6
  QSWEEP_TEST_RANKS_PER_NODE=1 $MPIEXEC -np 2 "$QSWEEP" run "$T/tp.json" --dry-run >"$T/tpout1" 2>&1
  check "dry-run tp: one rank a node leaves tp 2 out too" test "$(grep -c 'needs 2 ranks of one node; the most any node has that run cells is 1' "$T/tpout1")" -eq 6
  $MPIEXEC -np 2 "$QSWEEP" run "$T/tp.json" --dry-run --backend sim >"$T/tpout2" 2>&1
  check "dry-run tp: sim runs no tp cells" test "$(grep -c 'the sim backend does not run tensor-parallel cells' "$T/tpout2")" -eq 12
  ;;
fewcells)
  # more ranks than cells
  cat >"$T/s.json" <<JSON
{"models": ["tiny-vit"], "precisions": ["fp32", "nf4"], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  $MPIEXEC -np 4 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" 2>"$T/err"
  rc=$?
  check "4 ranks, 2 cells: exit 0 (got $rc): $(tail -1 "$T/err")" test $rc -eq 0
  check "2 rows" test "$(keys "$T/r.h5" | sort -u | wc -l)" -eq 2 -a "$(keys "$T/r.h5" | wc -l)" -eq 2
  check "progress lines on rank 0 only" test "$(grep -c '^\[' "$T/err")" -eq 2
  # a tp cell wider than the ranks that run cells is unsupported (exit 3), rank-0-only
  # coordination mode works (tests/run_tp.sh covers tensor parallelism itself)
  cat >"$T/tp.json" <<JSON
{"models": ["tiny-vit"], "precisions": ["fp32"], "tp": [1, 4], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  $MPIEXEC -np 3 "$QSWEEP" run "$T/tp.json" -o "$T/tp.h5" --rank0 coord --quiet 2>"$T/tp.err"
  rc=$?
  check "tp 4: exit 3 (got $rc)" test $rc -eq 3
  check "tp 4: unsupported row" test "$(statuses "$T/tp.h5" | grep -c unsupported)" -eq 1
  ;;
bench)
  "$QSWEEP" bench --zoo "$ZOO" --model tiny-deit --precision nf4 --batch 2 --iters 7 >"$T/out" 2>"$T/err"
  rc=$?
  check "bench: exit 0 (got $rc): $(cat "$T/err")" test $rc -eq 0
  check "bench: '#' header with units" grep -q '^#.*median_ms.*weight_mb.*cosine' "$T/out"
  check "bench: one row" test "$(grep -vc '^#' "$T/out")" -eq 1
  check "bench: ok with 7 iterations" grep -qE 'tiny-deit +nf4 +2 +cpu +ok .* 7 cpu' "$T/out"
  "$QSWEEP" bench --zoo "$ZOO" -m tiny-vit -p int8 --format json --iters 3 >"$T/json"
  check "bench --format json" grep -q '"status": "ok"' "$T/json"
  "$QSWEEP" bench --zoo "$ZOO" -m tiny-vit -p fp16 --format csv --iters 3 >"$T/csv"
  check "bench --format csv: 2 lines" test "$(wc -l <"$T/csv")" -eq 2
  QSWEEP_INJECT_FAILURE=tiny "$QSWEEP" bench --zoo "$ZOO" -m tiny-vit --iters 3 >"$T/f" 2>&1
  rc=$?
  check "bench: a failed cell exits 3 (got $rc)" test $rc -eq 3
  "$QSWEEP" bench --zoo "$ZOO" -m tiny-vit --iters 0 >/dev/null 2>&1
  rc=$?
  check "bench: --iters 0 is a usage error (got $rc)" test $rc -eq 2
  "$QSWEEP" bench --zoo "$ZOO" -m nope >/dev/null 2>"$T/nope"
  rc=$?
  check "bench: unknown model exit 1 (got $rc)" test $rc -eq 1
  ;;
extend)
  # extending a finished sweep with more batch sizes and models: --resume --force with a
  # spec that names them runs only the new cells; the file holds the union, each once
  cat >"$T/a.json" <<JSON
{"models": ["tiny-vit"], "precisions": ["fp32", "int8"], "batch_sizes": [1], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  cat >"$T/b.json" <<JSON
{"models": ["tiny-vit", "tiny-deit"], "precisions": ["fp32", "int8"], "batch_sizes": [1, 2], "zoo": "$ZOO", "warmup": 1, "iterations": 3}
JSON
  $MPIEXEC -np 2 "$QSWEEP" run "$T/a.json" -o "$T/x.h5" --quiet 2>/dev/null
  check "the first sweep: 2 rows" test "$(keys "$T/x.h5" | wc -l)" -eq 2
  $MPIEXEC -np 2 "$QSWEEP" run "$T/b.json" -o "$T/x.h5" --resume --quiet 2>"$T/x1.err"
  rc=$?
  check "another spec without --force: exit 1 (got $rc)" test $rc -eq 1
  $MPIEXEC -np 2 "$QSWEEP" run "$T/b.json" -o "$T/x.h5" --resume --force 2>"$T/x2.err"
  rc=$?
  check "extension with --resume --force: exit 0 (got $rc)" test $rc -eq 0
  check "only the 6 new cells ran: $(grep 'cells run' "$T/x2.err")" grep -q '6 cells run: 6 ok.*(2 already ok)' "$T/x2.err"
  keys "$T/x.h5" | sort >"$T/got"
  printf '%s\n' 'tiny-deit|fp32|b1|tp1' 'tiny-deit|fp32|b2|tp1' 'tiny-deit|int8|b1|tp1' 'tiny-deit|int8|b2|tp1' \
    'tiny-vit|fp32|b1|tp1' 'tiny-vit|fp32|b2|tp1' 'tiny-vit|int8|b1|tp1' 'tiny-vit|int8|b2|tp1' | sort >"$T/want"
  check "the file holds the union, each cell once" diff "$T/want" "$T/got"
  check "the run metadata describes the latest run" grep -q 'tiny-deit' <(h5dump -a /sweep_json "$T/x.h5")
  ;;
seal)
  # qsweep seal: a file edited on purpose outside qsweep is refused until re-sealed
  spec "$T/s.json"
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --quiet 2>/dev/null
  check "seal --check: a fresh file matches" "$QSWEEP" seal --check -- "$T/r.h5" >/dev/null
  cp "$T/r.h5" "$T/fresh.h5"
  out=$("$QSWEEP" seal "$T/r.h5")
  check "seal: an intact file is left as it is: $out" grep -q 'seal already matched; unchanged' <<<"$out"
  check "seal: ... byte for byte" cmp -s "$T/r.h5" "$T/fresh.h5"
  # the edit: one character of the command_line string (in the file's global heap), same length
  cp "$T/r.h5" "$T/before.h5"
  perl -0777 -pi -e 's/--quiet/--QUIET/g' "$T/r.h5"
  check "the edit changed the file" bash -c "! cmp -s '$T/r.h5' '$T/before.h5'"
  "$QSWEEP" seal --check "$T/r.h5" 2>"$T/c.err"
  rc=$?
  check "seal --check after the edit: exit 1 (got $rc)" test $rc -eq 1
  check "seal --check names the mismatch: $(cat "$T/c.err")" grep -q "$T/r.h5: seal: checksum mismatch.*qsweep seal" "$T/c.err"
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --resume --quiet 2>"$T/r.err"
  rc=$?
  check "run --resume refuses the edited file (exit 1, got $rc)" test $rc -eq 1
  check "... naming the mismatch: $(cat "$T/r.err")" grep -q 'checksum mismatch' "$T/r.err"
  out=$("$QSWEEP" seal "$T/r.h5")
  check "seal: re-sealed and read back: $out" grep -q "$T/r.h5: sealed, 24 rows (the old seal: seal: checksum mismatch" <<<"$out"
  check "no temporary file left beside it" test -z "$(ls "$T" | grep 'tmp-')"
  check "seal --check after re-sealing" "$QSWEEP" seal --check -- "$T/r.h5" >/dev/null
  check "the edit is in the file" grep -q -- '--QUIET' <(h5dump -a /command_line "$T/r.h5")
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --resume --quiet 2>"$T/r2.err"
  rc=$?
  check "run --resume accepts the re-sealed file (exit 0, got $rc): $(cat "$T/r2.err")" test $rc -eq 0
  # what seal cannot mend: a truncated image, a file that is not HDF5, a missing file
  head -c 3000 "$T/before.h5" >"$T/cut.h5"
  "$QSWEEP" seal "$T/cut.h5" 2>"$T/cut.err"
  rc=$?
  check "seal of a truncated file: exit 1 (got $rc): $(cat "$T/cut.err")" test $rc -eq 1 -a "$(qlines "$T/cut.err")" -eq 1
  check "... says it left the file unchanged" grep -q "$T/cut.h5: .*left unchanged" "$T/cut.err"
  check "... and did: the truncated file is byte for byte what it was" cmp -s "$T/cut.h5" <(head -c 3000 "$T/before.h5")
  check "... so its seal still does not match" bash -c "! '$QSWEEP' seal --check '$T/cut.h5' 2>/dev/null"
  check "no temporary file left beside it" test -z "$(ls "$T" | grep 'tmp-')"
  "$QSWEEP" seal "$T" 2>"$T/d.err"
  rc=$?
  check "seal of a directory: exit 1 (got $rc): $(cat "$T/d.err")" test $rc -eq 1 -a "$(grep -c 'not a regular file' "$T/d.err")" -eq 1
  echo "not hdf5" >"$T/text.h5"
  "$QSWEEP" seal "$T/text.h5" "$T/missing.h5" "$T/before.h5" >"$T/m.out" 2>"$T/m.err"
  rc=$?
  check "seal of a text and a missing file: exit 1 (got $rc)" test $rc -eq 1
  check "each bad file named once: $(cat "$T/m.err")" test "$(grep -c "$T/text.h5" "$T/m.err")" -eq 1 -a "$(grep -c "$T/missing.h5" "$T/m.err")" -eq 1
  check "the good file among them is still handled" grep -q "$T/before.h5: seal already matched" "$T/m.out"
  "$QSWEEP" seal 2>/dev/null
  rc=$?
  check "seal without a file: exit 2 (got $rc)" test $rc -eq 2
  ;;
sizes)
  # image_sizes: tiny-vit at its own 32 px, at 48 (position table resized) and at 6
  # (smaller than its patch: unsupported with why), each cell once; --resume runs only
  # the cells not ok
  cat >"$T/s.json" <<JSON
{"models": ["tiny-vit"], "precisions": ["fp32", "fp16"], "image_sizes": [32, 48, 6], "zoo": "$ZOO",
 "warmup": 1, "iterations": 3}
JSON
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --quiet 2>"$T/err"
  rc=$?
  check "exit 3, some cells not ok (got $rc): $(tail -2 "$T/err")" test $rc -eq 3
  printf '%s\n' "tiny-vit|fp16|b1|tp1" "tiny-vit|fp32|b1|tp1" "tiny-vit@6|fp16|b1|tp1" "tiny-vit@6|fp32|b1|tp1" \
    "tiny-vit@48|fp16|b1|tp1" "tiny-vit@48|fp32|b1|tp1" | sort >"$T/want"
  check "the six cells, each once" diff "$T/want" <(keys "$T/r.h5" | sort)
  check "four ok, two unsupported" test "$(statuses "$T/r.h5" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" = " 4 ok; 2 unsupported;"
  check "the reason is in the file" grep -q "image size 6: 6 is smaller than patch_size 8" <(h5dump -d /cells "$T/r.h5")
  $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --resume 2>"$T/err2"
  check "--resume runs only the two: $(grep -o '[0-9]* cells, [0-9]* to run[^)]*)' "$T/err2")" grep -q "6 cells, 2 to run" "$T/err2"
  check "the ok cells still once, the two retried a second row" test \
    "$(keys "$T/r.h5" | sort | uniq -c | awk '{print $1}' | sort -n | tr '\n' ' ')" = "1 1 1 1 2 2 "
  ;;
isolate)
  # A cell that crashes its worker (a real SIGSEGV) and one that hangs (killed at the
  # time limit) on 2 ranks: every other cell ok, those two failed / timeout, each cell
  # once, and --resume retries only the two. Then one rank (inline) on the sim backend:
  # the cell after each fault runs ok in the fresh worker.
  spec "$T/s.json" '"cell_timeout_s": 600'
  expected_keys >"$T/want"
  crash='tiny-deit|int8|b2|tp1'
  hang='tiny-vit|fp16|b1|tp1'
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --inject-crash "$crash" --inject-hang "$hang" \
    --cell-timeout 5 2>"$T/err"
  rc=$?
  check "exit 3 (got $rc): $(tail -2 "$T/err")" test $rc -eq 3
  check "the 24 cells, each once" diff "$T/want" <(keys "$T/r.h5" | sort)
  check "22 ok, 1 failed, 1 timeout: $(statuses "$T/r.h5" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
    test "$(statuses "$T/r.h5" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" = " 1 failed; 22 ok; 1 timeout;"
  check "the crashing cell failed ($(status_of "$T/r.h5" "$crash"))" test "$(status_of "$T/r.h5" "$crash")" = "failed "
  check "the hanging cell timed out ($(status_of "$T/r.h5" "$hang"))" test "$(status_of "$T/r.h5" "$hang")" = "timeout "
  check "the signal is named" grep -q 'worker killed by SIGSEGV (Segmentation fault) during the cell' \
    <(h5dump -d /cells "$T/r.h5")
  check "the limit is named" grep -q 'cell time limit of 5 s exceeded' <(h5dump -d /cells "$T/r.h5")
  check "the option's limit, not the spec's" grep -q 'time limit 5 s a cell' "$T/err"
  check "summary line" grep -q '24 cells run: 22 ok, 1 failed, 0 oom, 0 unsupported, 1 timeout' "$T/err"
  check "both ranks ran cells" test "$(sed -nE 's/.* rank ([0-9]+) .*/\1/p' "$T/err" | sort -u | tr '\n' ' ')" = "0 1 "
  ANALYZE=$(dirname "$QSWEEP")/qsweep-analyze
  if [ -x "$ANALYZE" ]; then
    "$ANALYZE" "$T/r.h5" --report "$T/r.md" --csv "$T/r.csv" --json "$T/r.json" 2>"$T/aerr"
    check "qsweep-analyze reads it: $(tail -1 "$T/aerr")" test -s "$T/r.md"
    check "the report lists the timeout" grep -q '| tiny-vit | fp16 | 1 | 1 | timeout |' "$T/r.md"
    check "the report lists the crash" grep -q '| tiny-deit | int8 | 2 | 1 | failed |' "$T/r.md"
    check "the CSV row" grep -q '^tiny-vit|fp16|b1|tp1,tiny-vit,fp16,1,1,cpu,timeout,' "$T/r.csv"
    check "the JSON counts" grep -qE '"timeout":[[:space:]]*1,' "$T/r.json"
  fi
  $MPIEXEC -np 2 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --resume 2>"$T/err2"
  rc=$?
  check "--resume: exit 0 (got $rc): $(tail -1 "$T/err2")" test $rc -eq 0
  check "--resume runs only the two" grep -q '24 cells, 2 to run (22 already ok)' "$T/err2"
  check "--resume: both ok" grep -q '2 cells run: 2 ok' "$T/err2"
  check "the two have a second row, every other cell one" test \
    "$(keys "$T/r.h5" | sort | uniq -c | awk '$1 == 2 {print $2}' | tr '\n' ' ')" = "$(printf '%s\n' "$crash" "$hang" | sort | tr '\n' ' ')"
  check "26 rows" test "$(keys "$T/r.h5" | wc -l)" -eq 26
  # one rank, sim backend, the switches from the environment and the time limit from the spec
  spec "$T/one.json" '"cell_timeout_s": 2'
  QSWEEP_INJECT_CRASH='tiny-vit|int8|b2' QSWEEP_INJECT_HANG='tiny-deit|fp16|b1' \
    $MPIEXEC -np 1 "$QSWEEP" run "$T/one.json" -o "$T/one.h5" --backend sim 2>"$T/err3"
  rc=$?
  check "one rank: exit 3 (got $rc): $(tail -1 "$T/err3")" test $rc -eq 3
  check "one rank: 22 ok, 1 failed, 1 timeout" grep -q '24 cells run: 22 ok, 1 failed, 0 oom, 0 unsupported, 1 timeout' "$T/err3"
  check "one rank: the spec's limit" grep -q 'time limit 2 s a cell' "$T/err3"
  sed -nE 's/^\[ *[0-9]+\/[0-9]+\] ([a-z]+) .*/\1/p' "$T/err3" >"$T/order"
  for bad in failed timeout; do
    next=$(awk -v b=$bad 'f {print; exit} $1 == b {f = 1}' "$T/order")
    check "one rank: the cell after the $bad one is ok in a fresh worker (got '$next')" test "$next" = ok
  done
  check "one rank: each cell once" diff "$T/want" <(keys "$T/one.h5" | sort)
  # --no-worker: the switches refuse to fault the rank itself
  $MPIEXEC -np 1 "$QSWEEP" run "$T/one.json" -o "$T/nw.h5" --backend sim --no-worker --inject-crash 'tiny-vit|int8|b2' \
    2>"$T/err4"
  rc=$?
  check "--no-worker: exit 3 (got $rc)" test $rc -eq 3
  check "--no-worker: said so" grep -q 'injected crash: not run, the cell runs in the rank.s process (--no-worker)' "$T/err4"
  check "--no-worker: 23 ok" grep -q '24 cells run: 23 ok, 1 failed' "$T/err4"
  ;;
orphan)
  # the rank dies (SIGKILL) while its worker hangs in a cell without a time limit: the
  # worker sees its socket hang up and exits, it does not outlive the job
  spec "$T/s.json"
  setsid $MPIEXEC -np 1 "$QSWEEP" run "$T/s.json" -o "$T/r.h5" --backend sim --cell-timeout 0 --quiet \
    --inject-hang 'tiny-dinov2|fp32|b1' 2>"$T/err" &
  mpi=$!
  n=0
  for _ in $(seq 1 300); do # the hanging cell is the last of the 24: the others are in the file first
    sleep 0.1
    [ -f "$T/r.h5" ] && n=$(rows "$T/r.h5" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 23 ] && break
  done
  rank=$(pgrep -P "$mpi" -f 'qsweep run' | head -1)
  worker=
  [ -n "$rank" ] && worker=$(pgrep -P "$rank" -f 'qsweep worker' | head -1)
  check "23 cells done, then the rank ($rank) and its worker ($worker) in the hanging cell" \
    test "${n:-0}" -ge 23 -a -n "$rank" -a -n "$worker"
  if [ -n "$worker" ]; then
    kill -9 "$rank"
    gone=0
    for _ in $(seq 1 50); do
      sleep 0.1
      if ! kill -0 "$worker" 2>/dev/null; then gone=1; break; fi
    done
    check "the worker exited within 5 s of its rank's death" test $gone -eq 1
    [ $gone -eq 1 ] || kill -9 "$worker" 2>/dev/null
  fi
  kill -9 -- -"$mpi" 2>/dev/null
  wait "$mpi" 2>/dev/null
  ;;
*)
  echo "unknown scenario $scenario" >&2
  exit 2
  ;;
esac
echo "run_sweep.sh $scenario: $pass passed, $fails failed"
[ $fails -eq 0 ]
