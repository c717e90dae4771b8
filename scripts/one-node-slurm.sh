#!/usr/bin/env bash
# A one-node Slurm cluster for tests and trials (root, Debian's slurmctld, slurmd, slurm-client
# and munge): a private munge daemon and key, and slurmctld and slurmd with a configuration in DIR,
# so nothing of the machine's own is used or changed.
#
#   scripts/one-node-slurm.sh up DIR [CPUS]    then: SLURM_CONF=DIR/slurm.conf srun -n 4 PROGRAM
#   scripts/one-node-slurm.sh down DIR
set -euo pipefail

action=${1:?usage: $0 up DIR [CPUS] | down DIR}
dir=${2:?missing DIR}

down() {
    for daemon in slurmd slurmctld munged; do
        if [ -f "$dir/$daemon.pid" ]; then
            pid=$(cat "$dir/$daemon.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/$daemon.pid"
        fi
    done
}

case "$action" in
down)
    down
    ;;
up)
    cpus=${3:-$(nproc)}
    for tool in munged slurmctld slurmd srun sinfo; do
        command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool is missing (Debian: munge slurmctld slurmd slurm-client)" >&2; exit 3; }
    done
    [ "$(id -u)" = 0 ] || { echo "$0: needs root" >&2; exit 3; }
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
    down
    trap 'down' ERR
    host=$(hostname -s)
    dd if=/dev/urandom of="$dir/munge/key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/key"
    munged --force --socket="$dir/munge/socket" --key-file="$dir/munge/key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=collectives-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
SlurmctldPort=$((6817 + RANDOM % 1000))
SlurmdPort=$((7817 + RANDOM % 1000))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$dir/slurm.conf"
    slurmd -f "$dir/slurm.conf" -N "$host"
    for _ in $(seq 1 100); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^idle'; then echo "$dir/slurm.conf"; exit 0; fi
        sleep 0.2
    done
    echo "$0: the node did not become idle; see $dir/*.log" >&2
    sinfo >&2 || true
    down
    exit 1
    ;;
*)
    echo "usage: $0 up DIR [CPUS] | down DIR" >&2
    exit 2
    ;;
esac
