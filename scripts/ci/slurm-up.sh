#!/usr/bin/env bash
# Install (if missing) and start (if not running) a single-node Slurm cluster
# from Debian packages (bookworm: Slurm 22.05.8), for CI and developers.
#
# Idempotent: a second run on a running cluster only checks and exits (~0.1-1 s).
# Daemons started by this script are recorded in $SLURM_CI_STATE_DIR/slurm.pids
# so that scripts/ci/slurm-down.sh stops only those, by pid.
# See /work/shared/CLUSTERS.md ("Slurm 22.05.8") for the facts behind each choice.
#
# Environment knobs:
#   SLURM_CI_STATE_DIR   state dir for recorded pids (default /run/thesis-sweep-ci)
#   SLURM_CI_WAIT        seconds to wait for the node to become idle (default 30)
set -euo pipefail

STATE_DIR=${SLURM_CI_STATE_DIR:-/run/thesis-sweep-ci}
PIDS_FILE=$STATE_DIR/slurm.pids
WAIT_S=${SLURM_CI_WAIT:-30}
CONF=/etc/slurm/slurm.conf
PKGS=(slurmctld slurmd slurm-client munge)
MUNGED=/usr/sbin/munged
SLURMCTLD=/usr/sbin/slurmctld
SLURMD=/usr/sbin/slurmd
MUNGED_PID=/run/munge/munged.pid
SLURMCTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid

t0=$(date +%s.%N)
log() { echo "slurm-up: $*" >&2; }
die() { echo "slurm-up: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---------------------------------------------------------------- helpers
# Start time of a pid (field 22 of /proc/<pid>/stat), guards against pid reuse.
pid_starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }              # drop "pid (comm) " (comm may contain spaces)
    # shellcheck disable=SC2086
    set -- $stat                   # now $1 is field 3 (state); field 22 is $20
    echo "${20}"
}

# True if <pid> is alive and runs <binary>.
pid_is() {
    local pid=$1 bin=$2 exe
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe% (deleted)}
    # Debian installs /usr/sbin/slurmctld etc. as alternatives symlinks
    # (-> /usr/sbin/slurmctld-wlm): compare the resolved paths.
    [ "$exe" = "$bin" ] || [ "$exe" = "$(readlink -f "$bin")" ]
}

# Pid of a running <binary>: from its pid file if valid, else pgrep on the exact path.
running_pid() {
    local bin=$1 pidfile=$2 pid
    if [ -r "$pidfile" ]; then
        pid=$(tr -dc '0-9' <"$pidfile" || true)
        if [ -n "$pid" ] && pid_is "$pid" "$bin"; then echo "$pid"; return 0; fi
    fi
    for pid in $(pgrep -f "^$bin( |\$)" || true); do
        if pid_is "$pid" "$bin"; then echo "$pid"; return 0; fi
    done
    return 1
}

# Wait (bounded) for a daemon's pid file to name a live <binary>; print the pid.
wait_pid() {
    local bin=$1 pidfile=$2 pid
    for _ in $(seq 1 100); do
        if pid=$(running_pid "$bin" "$pidfile"); then echo "$pid"; return 0; fi
        sleep 0.1
    done
    return 1
}

record_pid() {   # name pid binary  (records the resolved binary the pid runs)
    local st exe
    st=$(pid_starttime "$2") || st=0
    exe=$(readlink "/proc/$2/exe" 2>/dev/null) || exe=$(readlink -f "$3")
    set -- "$1" "$2" "${exe% (deleted)}"
    mkdir -p "$STATE_DIR"
    # Drop any stale line for this name, then append.
    if [ -f "$PIDS_FILE" ]; then
        grep -v "^$1 " "$PIDS_FILE" >"$PIDS_FILE.tmp" || true
        mv "$PIDS_FILE.tmp" "$PIDS_FILE"
    fi
    echo "$1 $2 $3 $st" >>"$PIDS_FILE"
}

# ---------------------------------------------------------------- install
missing=()
for p in "${PKGS[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Keep package scripts from starting services (invoke-rc.d honours exit 101).
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    rc=0
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/slurm-up-apt.log 2>&1; }
    if ! apt_install; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update >>/tmp/slurm-up-apt.log 2>&1 || true
        apt_install || rc=$?
    fi
    if [ "$created_policy" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    if [ "$rc" != 0 ]; then
        tail -20 /tmp/slurm-up-apt.log >&2
        die "apt-get install ${missing[*]} failed (rc $rc), see /tmp/slurm-up-apt.log"
    fi
fi

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key

# ---------------------------------------------------------------- dirs
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d -o root -g root -m 0755 /var/lib/slurm/slurmd /etc/slurm

# ---------------------------------------------------------------- slurm.conf
hw=$("$SLURMD" -C 2>/dev/null | head -1) || true
cpus=$(sed -n 's/.*\bCPUs=\([0-9]\+\).*/\1/p' <<<"$hw")
mem=$(sed -n 's/.*\bRealMemory=\([0-9]\+\).*/\1/p' <<<"$hw")
{ [ -n "$cpus" ] && [ -n "$mem" ]; } || die "cannot parse 'slurmd -C' output: $hw"

new_conf=$(cat <<CONF
# Written by thesis-sweep scripts/ci/slurm-up.sh: single-node CI cluster.
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$SLURMCTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Finished jobs stay visible in squeue for MinJobAge seconds (300 is Slurm's default).
MinJobAge=300
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
)
conf_changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$new_conf" ]; then
    printf '%s\n' "$new_conf" >"$CONF.tmp.$$"
    chmod 644 "$CONF.tmp.$$"
    mv "$CONF.tmp.$$" "$CONF"
    conf_changed=1
fi

# ---------------------------------------------------------------- daemons
started=()
if ! pid=$(running_pid "$MUNGED" "$MUNGED_PID"); then
    runuser -u munge -- "$MUNGED"
    pid=$(wait_pid "$MUNGED" "$MUNGED_PID") || die "munged did not start (see /var/log/munge/munged.log)"
    record_pid munged "$pid" "$MUNGED"
    started+=("munged=$pid")
fi
munge -n | unmunge >/dev/null 2>&1 || die "munge -n | unmunge fails"

if pid=$(running_pid "$SLURMCTLD" "$SLURMCTLD_PID"); then
    if [ "$conf_changed" = 1 ]; then
        log "slurm.conf changed; scontrol reconfigure (restart with slurm-down/up if node hardware changed)"
        scontrol reconfigure || true
    fi
else
    "$SLURMCTLD"
    pid=$(wait_pid "$SLURMCTLD" "$SLURMCTLD_PID") || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
    record_pid slurmctld "$pid" "$SLURMCTLD"
    started+=("slurmctld=$pid")
fi

if ! pid=$(running_pid "$SLURMD" "$SLURMD_PID"); then
    "$SLURMD" -N localhost
    pid=$(wait_pid "$SLURMD" "$SLURMD_PID") || die "slurmd did not start (see /var/log/slurm/slurmd.log)"
    record_pid slurmd "$pid" "$SLURMD"
    started+=("slurmd=$pid")
fi

# ---------------------------------------------------------------- wait for idle
deadline=$(( $(date +%s) + WAIT_S ))
state=""
resumed=0
while :; do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null | head -1 || true)
    case "$state" in
        idle|mixed|allocated|completing) break ;;     # usable ("idle" when empty)
        down*|drain*|fail*)
            if [ "$resumed" = 0 ]; then
                log "node state '$state'; resuming"
                scontrol update nodename=localhost state=resume || true
                resumed=1
            fi ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
        sinfo -N -l >&2 || true
        die "node not idle after ${WAIT_S}s (state '$state'); see /var/log/slurm/"
    fi
    sleep 0.2
done

t1=$(date +%s.%N)
echo "slurm-up: OK $(sinfo -V 2>/dev/null || echo slurm) node=localhost cpus=$cpus mem=${mem}M state=$state" \
     "started=[${started[*]:-none}] in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s"
