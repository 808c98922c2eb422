#!/usr/bin/env bash
# A real single-node SLURM cluster for the `slurm`-marked tests (Debian's slurm-wlm + munge).
#
#   tests/slurm/cluster.sh install        # apt-get install slurm-wlm munge (root; Debian/Ubuntu)
#   tests/slurm/cluster.sh start DIR      # munged + slurmctld + slurmd, all state under DIR
#   tests/slurm/cluster.sh stop DIR       # stop the daemons started in DIR
#   source DIR/env                        # SLURM_CONF=DIR/slurm.conf for sbatch/squeue/scontrol
#
# Everything (munge key and socket, slurm.conf, spool, state, logs, pid files) lives in DIR and
# a system munge or slurm is not touched. The one thing outside DIR is a symlink
# /etc/slurm/slurm.conf -> DIR/slurm.conf while the cluster runs (only where no real config
# exists; removed by `stop`). The ports are SLURM_TEST_PORT and SLURM_TEST_PORT+1 (default
# 16817/16818), away from slurm's defaults.
#
# The node is declared with 16 CPUs, 32 GB and one GPU (an empty stand-in device file) whatever the machine has
# (SlurmdParameters=config_overrides), so the shipped Snakemake profile, which asks for 8 threads
# and a `gpu` partition with gres gpu:1, is submitted unchanged. No job here uses a GPU.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }
SYSTEM_CONF=/etc/slurm/slurm.conf

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        echo "slurm-wlm and munge already installed"
        return
    fi
    [ "$(id -u)" = 0 ] || die "installing needs root: sudo apt-get install slurm-wlm munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.5
    done
}

start() {
    local dir
    dir=$(realpath -m "$1")
    for exe in munged mungekey slurmctld slurmd sinfo; do
        command -v "$exe" >/dev/null || die "$exe not found: run '$0 install' (apt-get install slurm-wlm munge)"
    done
    [ "$(id -u)" = 0 ] || die "slurmd must run as root (it starts jobs as their users)"
    local port=${SLURM_TEST_PORT:-16817}
    local host
    host=$(hostname -s)
    mkdir -p "$dir"/{munge,state,spool,log}
    chmod 700 "$dir/munge"

    # munge: own key and socket; --force because the socket dir is not the packaged one.
    [ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
    chmod 600 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket.2" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed"

    # A GPU entry needs a device file; an empty stand-in is enough for scheduling (no cgroups).
    mkdir -p "$dir/dev" && touch "$dir/dev/nvidia0"
    cat >"$dir/gres.conf" <<EOF
NodeName=$host Name=gpu File=$dir/dev/nvidia0
EOF
    cat >"$dir/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh: one node, root daemons, no cgroups, no accounting database.
ClusterName=genomamba
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket.2,cred_expire=10
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Look at pending jobs every few seconds (a requeued job waits for the next pass).
SchedulerParameters=sched_interval=2,bf_interval=2
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
# Seconds between SIGTERM and SIGKILL when a job is cancelled, requeued or pre-empted.
KillWait=30
# Finished jobs stay visible to squeue for 10 minutes (there is no sacct without slurmdbd).
MinJobAge=600
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=16 RealMemory=32000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
EOF
    echo "export SLURM_CONF=$dir/slurm.conf" >"$dir/env"
    export SLURM_CONF="$dir/slurm.conf"
    # Commands that drop SLURM_* from their environment (snakemake's slurm-jobstep executor
    # does, before its nested srun) read the compiled-in default /etc/slurm/slurm.conf: point it
    # here, unless it belongs to a real cluster (a regular file), which is left alone.
    if [ ! -e "$SYSTEM_CONF" ] || [ -L "$SYSTEM_CONF" ]; then
        mkdir -p "$(dirname "$SYSTEM_CONF")"
        ln -sfn "$dir/slurm.conf" "$SYSTEM_CONF"
    else
        echo "cluster.sh: $SYSTEM_CONF is a real cluster's config; jobs that drop SLURM_CONF will use it" >&2
    fi

    slurmctld -f "$dir/slurm.conf"
    slurmd -f "$dir/slurm.conf" -N "$host"
    if ! wait_for 60 "node idle" bash -c "sinfo -h -N -o %T | grep -qx idle"; then
        tail -n 20 "$dir"/log/*.log >&2 || true
        die "the node did not become idle within 60 s (logs above, all in $dir/log)"
    fi
    echo "SLURM cluster up: SLURM_CONF=$dir/slurm.conf (source $dir/env)"
}

stop() {
    local dir
    dir=$(realpath -m "$1")
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$dir/slurm.conf" ]; then
        rm -f "$SYSTEM_CONF"
    fi
    # Daemons are stopped by the pids they wrote, never by name (other clusters may run here).
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

case "${1:-}" in
    install) install_packages ;;
    start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
