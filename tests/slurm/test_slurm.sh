#!/usr/bin/env bash
# sbatch slurm/sweep.sh on a real one-node Slurm cluster (CPU backend, tiny models):
#  1. `sbatch --wait` runs a tiny sweep into a valid results file with every cell;
#  2. a job cancelled mid-sweep and resubmitted completes it, each cell exactly once;
#  3. where Slurm offers PMIx, the script's default launcher (srun --mpi=pmix) runs the
#     tiny sweep as one MPI world.
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

spec() { # spec FILE ITERATIONS MIN_TIME [BATCH_SIZES]
  cat > "$1" <<SPEC
{"zoo": "$root/tests/fixtures/tiny-zoo.json",
 "models": ["tiny-vit", "tiny-deit", "tiny-dinov2"], "precisions": ["fp32", "fp16", "int8", "nf4"],
 "batch_sizes": ${4:-[1]}, "warmup": 1, "iterations": $2, "min_time_s": $3, "seed": 7}
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
# 24 cells of ~3 s each on 2 ranks (~36 s of work), cancelled once the job log shows 2
# cells done (and the file has their rows). The ranks run under `nice`, so that on a
# small machine the compute does not starve this loop, slurmctld and scancel; and the
# ~30 s of cells left after the cancel point cover a slow poll or a slow scancel. The log
# is a plain file that slurmd appends to; squeue is asked every 2 s only. The cancel point
# is read from the results file once the job is gone. Every observation is traced with
# its time, so a failure says what was seen when.
spec "$work/slow.json" 1 3.0 "[1, 2]"
out2=$work/slow.h5
printf '#!/bin/sh\nexec nice -n 10 "%s" "$@"\n' "$qsweep" > "$work/qsweep-nice"
chmod +x "$work/qsweep-nice"
jid=$(QSWEEP_BIN=$work/qsweep-nice sb --parsable --output="$work/job2-%j.out" slurm/sweep.sh "$work/slow.json" "$out2")
echo "submitted $jid"
t0=$(date +%s.%N)
since() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
seen=0 gone=0 last_q=-10 state=PENDING
while :; do
  seen=$(cat "$work"/job2-*.out 2>/dev/null | grep -c '^\[ *[0-9]*/[0-9]*\] ok' || true)
  [ "$seen" -ge 2 ] && break
  t=$(since)
  if awk -v t="$t" -v q="$last_q" 'BEGIN{exit !(t - q >= 2)}'; then
    last_q=$t
    state=$(squeue -h -j "$jid" -o %T 2>/dev/null || true)
    echo "  t+$t s: job $jid ${state:-gone}, $seen cells in the log"
    # the job ended early (twice in a row, so one slow squeue answer is not taken for it)
    if [ -z "$state" ] && awk -v t="$t" 'BEGIN{exit !(t > 5)}'; then gone=$((gone+1)); [ "$gone" -ge 2 ] && break; else gone=0; fi
    awk -v t="$t" 'BEGIN{exit !(t > 300)}' && { echo "  no progress in 300 s"; break; }
  fi
  sleep 0.2
done
# rank 0 prints a cell's line, then its writer thread makes the row durable: give the
# file the rows the log shows (milliseconds; 5 s at most) before cancelling
for i in $(seq 25); do [ "$(count_ok "$out2")" -ge 2 ] && break; sleep 0.2; done
echo "  t+$(since) s: $seen cells in the log; cancelling"
scancel "$jid"
for i in $(seq 150); do squeue -h -j "$jid" 2>/dev/null | grep -q . || break; sleep 0.2; done
sleep 1
done_before=$(count_ok "$out2")
echo "  t+$(since) s: job $jid gone; cancelled with $done_before cells in the file"
if [ "$done_before" -ge 2 ] && [ "$done_before" -lt 24 ]; then
  ok "cancelled mid-sweep ($done_before of 24 done)"
else
  bad "cancel point: $done_before cells in the file (log showed $seen)"
  cat "$work"/job2-*.out || true
fi
jid2=$(sb --parsable --wait --output="$work/job3-%j.out" slurm/sweep.sh "$work/slow.json" "$out2") && ok "resubmitted job completed" || bad "resubmitted job failed"
cat "$work"/job3-*.out
n=$(count_ok "$out2"); [ "$n" -eq 24 ] && ok "24 cells ok after resubmission" || bad "$n ok cells after resubmission"
[ "$(dupes "$out2")" -eq 0 ] && ok "each cell exactly once" || { bad "duplicate cells"; "$keys" "$out2"; }
h5dump -H "$out2" >/dev/null && ok "h5dump reads the resumed file" || bad "h5dump after resume"

echo "== 3. the srun launcher (sweep.sh's default where Slurm offers PMIx)"
if srun --mpi=list 2>&1 | grep -q pmix; then
  out3=$work/srun.h5
  if (unset QSWEEP_LAUNCHER; sb --wait --output="$work/job4-%j.out" slurm/sweep.sh "$work/tiny.json" "$out3"); then
    ok "sbatch --wait with srun exit 0"; else bad "sbatch --wait with srun exit $?"; fi
  cat "$work"/job4-*.out
  grep -q 'launcher srun --mpi=pmix' "$work"/job4-*.out && ok "launched with srun --mpi=pmix" || bad "not launched with srun --mpi=pmix"
  # one MPI world of 2 ranks (not two singletons of 1 rank each)
  [ "$(grep -c '12 cells, 12 to run (0 already ok), 2 ranks' "$work"/job4-*.out)" -eq 1 ] &&
    ok "one world of 2 ranks" || bad "srun did not make one world of 2 ranks"
  n=$(count_ok "$out3"); [ "$n" -eq 12 ] && ok "12 cells ok through srun" || bad "$n ok cells through srun, expected 12"
else
  echo "srun offers no PMIx here (srun --mpi=list); this part does not apply"
fi

echo "== accounting"
sacct -c -o JobID,JobName,Partition,NNodes,State,Start,End 2>&1 | tail -n +1
echo "test_slurm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
