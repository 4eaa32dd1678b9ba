#!/usr/bin/env bash
# The system pieces that two tests use for real, from Debian's packages: headless Chromium (the report
# screenshot test in tests/test_report.py) and a one-node SLURM cluster, slurm-wlm + munge
# (tests/test_slurm.py). The one copy of this set-up: `make test` calls it, and CI calls `make test`.
#
#   .ci/system.sh run CMD...  set up what this machine allows, run CMD, then stop the cluster if this
#                             call started it (only the daemons it started); exits with CMD's status
#                             (what `make test` does)
#   .ci/system.sh up          install what is missing and start the cluster; leave it running
#   .ci/system.sh down        stop the cluster and munged
#
# Installing and starting daemons needs root and apt-get. Without them nothing is changed: the tests
# that need a missing piece skip, naming the command that enables them (under CI=true they fail).
# Fast when all is present: nothing is looked up in apt when the programs are on PATH, and a running
# cluster is reused and left running.
#
# The cluster: this host with all its CPUs and 90% of its memory, one partition "ci", no accounting daemon
# (so tests/profiles/slurm-ci uses `status-command: squeue` and `no-account: true`).
set -euo pipefail

SLURM_CONF=/etc/slurm/slurm.conf
CLUSTER_NAME=gemsflow-ci

log() { echo "system.sh: $*" >&2; }

have_chromium() { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null
have_slurm() { command -v slurmctld && command -v slurmd && command -v munged && command -v sinfo; } >/dev/null
cluster_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_ready() { sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

install_missing() {
    local missing=()
    have_chromium || missing+=(chromium)
    have_slurm || missing+=(slurm-wlm munge)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        log "not installing ${missing[*]}: not root (run: sudo bash .ci/system.sh up)"
        return 1
    elif ! command -v apt-get >/dev/null; then
        log "not installing ${missing[*]}: no apt-get here (install them with this system's package manager)"
        return 1
    fi
    log "installing ${missing[*]} from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

write_slurm_conf() {
    # Never overwrite a cluster configuration that this script did not write.
    if [[ -e $SLURM_CONF ]] && ! grep -q "^ClusterName=${CLUSTER_NAME}$" "$SLURM_CONF"; then
        log "$SLURM_CONF belongs to another cluster; not replacing it"
        return 1
    fi
    local host cpus mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat >"$SLURM_CONF.tmp" <<EOF
ClusterName=${CLUSTER_NAME}
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=ci Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$SLURM_CONF.tmp" "$SLURM_CONF"
}

start_munge() {
    # munged refuses to start unless its directories belong to the munge user and the key is private.
    mkdir -p /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
    chmod 0700 /etc/munge /var/lib/munge /var/log/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    pid_alive /run/munge/munged.pid munged || runuser -u munge -- /usr/sbin/munged
}

wait_node_ready() {
    for _ in $(seq 1 60); do
        node_ready && return 0
        sleep 0.5
    done
    log "the SLURM node did not become idle; see /var/log/slurm/"
    sinfo -N -l >&2 || true
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    return 1
}

start_cluster() {
    if cluster_up; then
        wait_node_ready
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        log "not starting the SLURM cluster: needs root (run: sudo bash .ci/system.sh up)"
        return 1
    fi
    write_slurm_conf
    start_munge
    pid_alive /run/slurmctld.pid slurmctld || slurmctld
    pid_alive /run/slurmd.pid slurmd || slurmd
    wait_node_ready
    log "one-node SLURM cluster up (partition ci, $(nproc) CPUs)"
}

# The daemons of the cluster, in the order they are stopped: pid file and process name.
DAEMONS=(/run/slurmd.pid:slurmd /run/slurmctld.pid:slurmctld /run/munge/munged.pid:munged)

pid_alive() {
    # True when the pid file $1 names a running process called $2 (a stale file may name another one).
    [[ -s $1 ]] && [[ $(cat "/proc/$(cat "$1")/comm" 2>/dev/null) == "$2" ]]
}

stop_daemon() {
    # Stops the daemon of pid file $1 named $2 (only that process), waiting up to 10 s for it to exit.
    local pid
    pid=$(cat "$1")
    kill "$pid"
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    log "$2 ($pid) did not stop"
    return 1
}

withdraw_conf() {
    # With a slurm.conf but no controller, every SLURM client waits ~9 s for it, and Snakemake's SLURM
    # plugin asks one (`scontrol show config`) at import: every `snakemake` call would start 9 s late.
    # Without the file the client fails at once. Only the configuration this script wrote goes; the
    # next start writes it again.
    if [[ -e $SLURM_CONF ]] && grep -q "^ClusterName=${CLUSTER_NAME}$" "$SLURM_CONF"; then
        rm -f "$SLURM_CONF"
        log "removed $SLURM_CONF (this script's), so SLURM clients do not wait for the stopped controller"
    fi
}

stop_daemons() {
    # Stops the cluster's daemons that run, except those named in $1 (running before this call).
    local daemon name stopped=""
    for daemon in "${DAEMONS[@]}"; do
        name=${daemon#*:}
        [[ " $1 " == *" $name "* ]] && continue
        pid_alive "${daemon%%:*}" "$name" || continue
        stop_daemon "${daemon%%:*}" "$name" && stopped+=" $name"
    done
    [[ -z $stopped ]] || log "stopped${stopped}${1:+ (left running, as found: $1)}"
    pid_alive /run/slurmctld.pid slurmctld || withdraw_conf
}

up() {
    local status=0
    install_missing || status=1
    if have_slurm; then
        start_cluster || status=1
    fi
    return $status
}

run() {
    local before="" daemon status
    for daemon in "${DAEMONS[@]}"; do
        pid_alive "${daemon%%:*}" "${daemon#*:}" && before+=" ${daemon#*:}"
    done
    # A piece that cannot be set up is reported here and by the tests that need it (skip, or fail
    # under CI=true); it does not stop the rest of the suite from running.
    up || log "continuing without the missing pieces; the tests that need them will say so"
    if [[ $before != " slurmd slurmctld munged" ]] && [[ $(id -u) -eq 0 ]]; then
        trap 'stop_daemons "'"${before# }"'"' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
    set +e # also for the EXIT trap: stopping the cluster must not change CMD's status
    "$@"
    status=$?
    exit $status
}

case "${1:-}" in
    run)
        shift
        [[ $# -gt 0 ]] || { log "usage: $0 run CMD..."; exit 2; }
        run "$@"
        ;;
    up) up ;;
    down) stop_daemons "" ;;
    *)
        log "usage: $0 run CMD... | up | down"
        exit 2
        ;;
esac
