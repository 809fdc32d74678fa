# Stand up a private single-node Slurm cluster (munged, slurmctld, slurmd)
# from Debian's packages; sourced by slurm_ci.sh.
#
# Everything lives under $SLURM_WORK (config, state, spool, logs, the munge
# socket); nothing of the machine's own Slurm or munge setup is touched or
# reused. The PIDs of the daemons started here are appended to the array
# `started_pids`; `slurm_down` stops exactly those, nothing by name.
# `slurm_up` returns non-zero, with the reason on stderr, when a daemon
# cannot start.

started_pids=()

# A TCP port nobody listens on, from a starting guess.
free_port() {
  local port=$1
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

# Wait up to $2 tenths of a second for command $1 to succeed.
wait_for() {
  local cmd=$1 tries=$2
  while ! eval "$cmd" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.1
  done
}

# Start a daemon in the foreground mode, in the background, and record its
# PID. `setpriv` execs (unlike runuser or su), so $! is the daemon itself.
start_daemon() {
  local name=$1
  shift
  "$@" >"$SLURM_WORK/log/$name.out" 2>&1 &
  started_pids+=("$!")
  echo "slurm test: started $name (pid $!)"
}

slurm_up() {
  local w=$SLURM_WORK host
  mkdir -p "$w"/{log,state,spool,munge}
  # The munge user must reach its folder inside.
  chmod 0755 "$w"
  host=$(hostname -s)

  # munged runs as the munge user with the packaged key, on a private socket.
  if [ ! -r /etc/munge/munge.key ]; then
    echo "no /etc/munge/munge.key (package munge not set up)" >&2
    return 1
  fi
  chown munge:munge "$w/munge"
  chmod 0711 "$w/munge"
  local sock=$w/munge/munge.socket
  start_daemon munged setpriv --reuid=munge --regid=munge --init-groups \
    /usr/sbin/munged --foreground --socket="$sock" --key-file=/etc/munge/munge.key \
    --pid-file="$w/munge/munged.pid" --log-file="$w/munge/munged.log" \
    --seed-file="$w/munge/munged.seed"
  if ! wait_for "munge -n -S '$sock' | unmunge -S '$sock'" 50; then
    echo "munged did not answer on $sock:" >&2
    cat "$w/log/munged.out" "$w/munge/munged.log" >&2 2>/dev/null
    return 1
  fi

  local ctld_port slurmd_port node
  ctld_port=$(free_port 16817)
  slurmd_port=$(free_port $((ctld_port + 1)))
  # The node line as slurmd sees this machine (CPUs, sockets, memory).
  node=$(slurmd -C | head -n 1)
  # Private PID files in a fresh folder: a stale /run/slurmctld.pid from an
  # earlier run (which stops the next start) cannot get in the way.
  export SLURM_CONF=$w/slurm.conf
  cat >"$SLURM_CONF" <<CONF
ClusterName=chloe-ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$w/state
SlurmdSpoolDir=$w/spool
SlurmctldPidFile=$w/slurmctld.pid
SlurmdPidFile=$w/slurmd.pid
SlurmctldLogFile=$w/log/slurmctld.log
SlurmdLogFile=$w/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# A dependent job whose dependency can never be met is cancelled, not left pending.
DependencyParameters=kill_invalid_depend
# Finished jobs stay visible to scontrol for 10 minutes (no accounting here).
MinJobAge=600
SchedulerParameters=sched_interval=1
KillWait=2
# One GPU without a device file: enough to schedule --gres=gpu:1 tasks (chloe
# finds its adapter through Vulkan, lavapipe in CI, not through Slurm).
GresTypes=gpu
$node NodeAddr=127.0.0.1 Gres=gpu:1 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  echo "NodeName=$host Name=gpu File=/dev/null" >"$w/gres.conf"

  # -i: ignore saved state; -D: foreground, so $! is the daemon.
  start_daemon slurmctld /usr/sbin/slurmctld -D -i -f "$SLURM_CONF"
  if ! wait_for "scontrol ping | grep -q UP" 100; then
    echo "slurmctld did not come up:" >&2
    tail -n 20 "$w/log/slurmctld.out" "$w/log/slurmctld.log" >&2 2>/dev/null
    return 1
  fi
  start_daemon slurmd /usr/sbin/slurmd -D -f "$SLURM_CONF"
  if ! wait_for "sinfo -h -N -o %T | grep -Eq '^(idle|mixed|allocated)'" 150; then
    echo "slurmd did not register an idle node:" >&2
    sinfo -N >&2 2>/dev/null
    tail -n 20 "$w/log/slurmd.out" "$w/log/slurmd.log" >&2 2>/dev/null
    return 1
  fi
  echo "slurm test: single-node cluster up ($(sinfo -h -N -o '%N %c CPUs %T'))"
}

# Stop the daemons started above (SIGTERM, then SIGKILL after 5 s), newest first.
slurm_down() {
  local i pid
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    pid=${started_pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  started_pids=()
}
