#!/usr/bin/env bash
# sim_scale.sh - the scheduler at scale: 10,000 sim cells on 32 ranks.
#
#   bench/sim_scale.sh [QSWEEP] [NP] [TARGET_S] [RANK0_MODE]
#
# Builds a spec of the 16 zoo models x fp32/fp16/int8/nf4 x batch sizes 1..157 (fp32
# alone at 157): 10,000 cells whose estimated costs span ~4 orders of magnitude. The
# sim backend sleeps each cell's estimated cost times QSWEEP_SIM_SCALE, chosen so that
# the ideal makespan is about TARGET_S seconds (default 60). Oversubscribing is fine:
# sim ranks sleep. Prints the makespan against the lower bound
# max(longest cell, total cell time / ranks), the idle (coordination) time per cell,
# and how long the writer needed after the last result (the results file is
# rewritten whole on every append, so that part grows with the square of the rows).
set -eu
QSWEEP=${1:-build/qsweep}
NP=${2:-32}
TARGET_S=${3:-60}
MODE=${4:-thread}
MPIEXEC=${QSWEEP_MPIEXEC:-mpiexec --oversubscribe}
export OMPI_MCA_rmaps_base_oversubscribe=1
D=$(mktemp -d "${TMPDIR:-/tmp}/qsweep-sim-scale.XXXXXX")
trap 'rm -rf "$D"' EXIT

batches=$(seq -s, 1 157)
models=$(grep -o '"name": *"[^"]*"' "$(dirname "$0")/../sweep/models.json" | sed 's/.*: *//' | paste -sd,)
cat >"$D/spec.json" <<JSON
{"description": "sim scale: 10,000 cells", "models": [$models],
 "precisions": ["fp32", "fp16", "int8", "nf4"], "batch_sizes": [$batches],
 "exclude": [{"batch": 157, "precision": "fp16"}, {"batch": 157, "precision": "int8"},
             {"batch": 157, "precision": "nf4"}],
 "warmup": 2, "iterations": 10}
JSON
# the estimated total (seconds on the reference GPU) sets the sleep scale
"$QSWEEP" run "$D/spec.json" --dry-run >"$D/dry"
cells=$(grep -c '|tp1' "$D/dry")
total=$(awk '/^# total/ {print $3}' "$D/dry")
longest=$(awk '!/^#/ {print $3}' "$D/dry" | sort -g | tail -1)
scale=$(awk -v t="$total" -v n="$NP" -v s="$TARGET_S" 'BEGIN {printf "%.6g", s * n / t}')
echo "sim_scale: $cells cells, estimated total ${total} s (longest ${longest} s) on the reference GPU;"
echo "sim_scale: $NP ranks, rank0 mode $MODE, QSWEEP_SIM_SCALE=$scale (ideal makespan ~${TARGET_S} s)"
t0=$(date +%s.%N)
QSWEEP_SIM_SCALE=$scale $MPIEXEC -np "$NP" "$QSWEEP" run "$D/spec.json" -o "$D/r.h5" --backend sim --quiet \
  --rank0 "$MODE" 2>"$D/err" || { cat "$D/err" >&2; exit 1; }
t1=$(date +%s.%N)
grep 'schedule:' "$D/err" | sed 's/^qsweep run: /sim_scale: /'
grep 'cells run' "$D/err" | sed 's/^qsweep run: /sim_scale: /'
awk -v a="$t0" -v b="$t1" 'BEGIN {printf "sim_scale: wall time of mpiexec %.1f s (start-up, schedule, writer, shutdown)\n", b - a}'
rows=$(h5dump -H "$D/r.h5" | awk '/DATASET "cells"/ {c = 1} c && /DATASPACE/ {gsub(/[^0-9 ]/, " "); print $1; exit}')
echo "sim_scale: $rows rows in the results file ($(du -h "$D/r.h5" | cut -f1))"
