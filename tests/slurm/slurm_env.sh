#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for tests: munge, slurmctld and slurmd from
# Debian's packages, configuration and state in a temporary directory, no cgroups. It
# runs its own munged on a private socket and key; nothing outside the directory changes.
#   source tests/slurm/slurm_env.sh; slurm_up; ...; slurm_down   (slurm_down also runs on EXIT)
# Needs root (the daemons run as root here) and the packages slurmctld slurmd slurm-client munge.

slurm_up() {
  QS_SLURM_DIR=$(mktemp -d /tmp/qsweep-slurm-XXXXXX)
  export QS_SLURM_DIR
  local node cpus mem
  node=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2/1024) - 512}' /proc/meminfo)
  mkdir -p "$QS_SLURM_DIR"/{spool/ctld,spool/d,log,run}
  # a port pair of our own (two test runs on one host must not meet on one controller)
  : "${QS_SLURM_PORT:=$(( 16817 + ($$ % 400) * 2 ))}"
  cat > "$QS_SLURM_DIR/slurm.conf" <<CONF
ClusterName=qsweep-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$QS_SLURM_DIR/munge/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmctldPidFile=$QS_SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$QS_SLURM_DIR/run/slurmd.pid
SlurmdSpoolDir=$QS_SLURM_DIR/spool/d
StateSaveLocation=$QS_SLURM_DIR/spool/ctld
SlurmctldLogFile=$QS_SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$QS_SLURM_DIR/log/slurmd.log
SlurmctldPort=$QS_SLURM_PORT
SlurmdPort=$(( QS_SLURM_PORT + 1 ))
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$QS_SLURM_DIR/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmdTimeout=60
Waittime=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  export SLURM_CONF=$QS_SLURM_DIR/slurm.conf
  # munge: a daemon of our own on a private socket, with its own key, pid, log and seed
  # files, so a machine's munged (or a second test run's) is neither used nor disturbed
  local m=$QS_SLURM_DIR/munge
  mkdir -p "$m"
  chmod 700 "$m"
  if command -v mungekey >/dev/null; then mungekey --create --keyfile="$m/munge.key" --force 2>/dev/null; else
    dd if=/dev/urandom of="$m/munge.key" bs=1 count=1024 2>/dev/null; fi
  chmod 400 "$m/munge.key"
  QS_MUNGE_SOCKET=$m/munge.socket
  export QS_MUNGE_SOCKET
  munged --force --socket="$QS_MUNGE_SOCKET" --key-file="$m/munge.key" --pid-file="$m/munged.pid" </dev/null \
    --log-file="$m/munged.log" --seed-file="$m/munged.seed" 2>"$m/munged.err" ||
    { echo "slurm_env: munged failed:" >&2; cat "$m/munged.err" "$m/munged.log" >&2; return 1; }
  for i in $(seq 50); do munge -n --socket="$QS_MUNGE_SOCKET" >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n --socket="$QS_MUNGE_SOCKET" | unmunge --socket="$QS_MUNGE_SOCKET" >/dev/null ||
    { echo "slurm_env: munge does not work" >&2; return 1; }
  slurmctld -f "$SLURM_CONF" </dev/null || { echo "slurm_env: slurmctld failed:"; cat "$QS_SLURM_DIR/log/slurmctld.log"; return 1; }
  slurmd -f "$SLURM_CONF" -N "$node" </dev/null || { echo "slurm_env: slurmd failed:"; cat "$QS_SLURM_DIR/log/slurmd.log"; return 1; }
  for i in $(seq 120); do
    if sinfo -h -o "%t" 2>/dev/null | grep -q -E "^(idle|mix|alloc)"; then
      echo "slurm_env: cluster up ($node, $cpus CPUs, ports $QS_SLURM_PORT-$((QS_SLURM_PORT + 1)), conf $SLURM_CONF)"
      return 0
    fi
    sleep 0.5
  done
  echo "slurm_env: node never became idle:" >&2
  sinfo >&2 || true
  tail -20 "$QS_SLURM_DIR/log/slurmctld.log" "$QS_SLURM_DIR/log/slurmd.log" >&2
  return 1
}

slurm_down() {
  [ -n "${QS_SLURM_DIR:-}" ] || return 0
  scancel --quiet --user=root 2>/dev/null || true
  for f in slurmd slurmctld; do
    if [ -s "$QS_SLURM_DIR/run/$f.pid" ]; then kill "$(cat "$QS_SLURM_DIR/run/$f.pid")" 2>/dev/null || true; fi
  done
  sleep 1
  pkill -f "slurm[ctl]*d -f $QS_SLURM_DIR" 2>/dev/null || true
  if [ -s "$QS_SLURM_DIR/munge/munged.pid" ]; then kill "$(cat "$QS_SLURM_DIR/munge/munged.pid")" 2>/dev/null || true; fi
  rm -rf "$QS_SLURM_DIR"
  unset QS_SLURM_DIR
}
