#!/usr/bin/env bash
# sbatch slurm/sweep.sh on a real one-node Slurm cluster (CPU backend, tiny models):
#  1. `sbatch --wait` runs a tiny sweep into a valid results file with every cell;
#  2. a job cancelled mid-sweep and resubmitted completes it, each cell exactly once.
# usage: test_slurm.sh QSWEEP_BIN H5_KEYS_BIN
set -euo pipefail
qsweep=$1 keys=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "$(id -u)" -ne 0 ] || ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "test_slurm: needs root and the slurmctld, slurmd, munge packages; skipping"
  exit 77
fi
source "$here/slurm_env.sh"
work=$(mktemp -d /tmp/qsweep-slurm-test-XXXXXX)
cleanup() { slurm_down; rm -rf "$work"; }
trap cleanup EXIT
slurm_up
pass=0 fail=0
ok() { pass=$((pass+1)); echo "ok: $*"; }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }

spec() { # spec FILE ITERATIONS MIN_TIME
  cat > "$1" <<SPEC
{"zoo": "$root/tests/fixtures/tiny-zoo.json",
 "models": ["tiny-vit", "tiny-deit", "tiny-dinov2"], "precisions": ["fp32", "fp16", "int8", "nf4"],
 "batch_sizes": [1], "warmup": 1, "iterations": $2, "min_time_s": $3, "seed": 7}
SPEC
}
count_ok() { "$keys" "$1" 2>/dev/null | awk '$2 == "ok"' | wc -l; }
dupes() { "$keys" "$1" 2>/dev/null | awk '{print $1}' | sort | uniq -d | wc -l; }

export QSWEEP_BIN=$qsweep QSWEEP_BACKEND=cpu QSWEEP_LAUNCHER=${QSWEEP_LAUNCHER:-mpirun}
sb() { sbatch --gpus-per-task=0 --ntasks-per-node=2 --cpus-per-task=1 --time=00:10:00 "$@"; }
cd "$root"

echo "== 1. sbatch --wait: a tiny sweep"
spec "$work/tiny.json" 3 0
out1=$work/tiny.h5
if sb --wait --output="$work/job1-%j.out" slurm/sweep.sh "$work/tiny.json" "$out1"; then ok "sbatch --wait exit 0"; else bad "sbatch --wait exit $?"; fi
cat "$work"/job1-*.out
n=$(count_ok "$out1"); [ "$n" -eq 12 ] && ok "12 cells ok" || bad "$n ok cells, expected 12"
[ "$(dupes "$out1")" -eq 0 ] && ok "no duplicate cells" || bad "duplicate cells"
h5dump -H "$out1" >/dev/null && ok "h5dump reads the file" || bad "h5dump"

echo "== 2. cancel mid-sweep, resubmit"
# Cells of ~3 s each (12 cells on 2 ranks: ~18 s of work), cancelled once the job log
# shows 3 cells done (and the file has their rows). The log is a plain file that slurmd
# appends to, so watching it costs nothing; the cancel point is read from the results file
# once the job is gone, and the margin (~12 s of cells left) covers a slow scancel. Every
# observation is traced, so a failure says what was seen when.
spec "$work/slow.json" 1 3.0
out2=$work/slow.h5
jid=$(sb --parsable --output="$work/job2-%j.out" slurm/sweep.sh "$work/slow.json" "$out2")
echo "submitted $jid"
t0=$(date +%s.%N)
seen=0 gone=0
for i in $(seq 600); do
  seen=$(cat "$work"/job2-*.out 2>/dev/null | grep -c '^\[ *[0-9]*/[0-9]*\] ok' || true)
  [ "$seen" -ge 3 ] && break
  state=$(squeue -h -j "$jid" -o %T 2>/dev/null || true)
  [ $((i % 10)) -eq 0 ] && echo "  t+$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s: job $jid ${state:-gone}, $seen cells in the log"
  # the job ended early (twice in a row, so one slow squeue answer is not taken for it)
  if [ -z "$state" ] && [ "$i" -gt 25 ]; then gone=$((gone+1)); [ "$gone" -ge 2 ] && break; else gone=0; fi
  sleep 0.2
done
# rank 0 prints a cell's line, then its writer thread makes the row durable: give the
# file the rows the log shows (milliseconds; 5 s at most) before cancelling
for i in $(seq 25); do [ "$(count_ok "$out2")" -ge 3 ] && break; sleep 0.2; done
echo "  t+$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s: $seen cells in the log; cancelling"
scancel "$jid"
for i in $(seq 150); do squeue -h -j "$jid" 2>/dev/null | grep -q . || break; sleep 0.2; done
sleep 1
done_before=$(count_ok "$out2")
echo "cancelled $jid with $done_before cells in the file"
if [ "$done_before" -ge 3 ] && [ "$done_before" -lt 12 ]; then
  ok "cancelled mid-sweep ($done_before of 12 done)"
else
  bad "cancel point: $done_before cells in the file (log showed $seen)"
  cat "$work"/job2-*.out || true
fi
jid2=$(sb --parsable --wait --output="$work/job3-%j.out" slurm/sweep.sh "$work/slow.json" "$out2") && ok "resubmitted job completed" || bad "resubmitted job failed"
cat "$work"/job3-*.out
n=$(count_ok "$out2"); [ "$n" -eq 12 ] && ok "12 cells ok after resubmission" || bad "$n ok cells after resubmission"
[ "$(dupes "$out2")" -eq 0 ] && ok "each cell exactly once" || { bad "duplicate cells"; "$keys" "$out2"; }
h5dump -H "$out2" >/dev/null && ok "h5dump reads the resumed file" || bad "h5dump after resume"

echo "== accounting"
sacct -c -o JobID,JobName,Partition,NNodes,State,Start,End 2>&1 | tail -n +1
echo "test_slurm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
