#!/usr/bin/env bash
# Install (if missing) and start (if not running) a single-node Slurm cluster
# from Debian packages (bookworm: Slurm 22.05.8), for CI and developers, with real
# accounting (slurmdbd on a local MariaDB, so `sacct` works) and cgroup enforcement
# of memory (--mem, DefMemPerCPU) besides Slurm's own time limits (--time).
#
# Idempotent: a second run on a running cluster only checks and exits (~0.4 s).
# Daemons started by this script (munged, mariadbd, slurmdbd, slurmctld, slurmd) are
# recorded in $SLURM_CI_STATE_DIR/slurm.pids so that scripts/ci/slurm-down.sh stops
# only those, by pid. A changed slurm.conf or cgroup.conf restarts slurmctld and slurmd
# (plugin changes need a restart; `scontrol reconfigure` is not enough).
# See /work/shared/CLUSTERS.md ("Slurm 22.05.8" and "Slurm accounting and limits")
# for the facts behind each choice.
#
# Enforcement, as verified on the CI machine (Debian 12, kernel with cgroup v1 hybrid:
# /sys/fs/cgroup is a tmpfs with one v1 hierarchy per controller plus an unused
# cgroup2 at /sys/fs/cgroup/unified). CgroupPlugin=autodetect picks cgroup/v1 there;
# proctrack/cgroup needs the v1 freezer controller, task/cgroup's ConstrainRAMSpace
# the v1 memory controller (both mounted by the machine; the script checks).
#   - memory: a job over its allocation is killed by the kernel OOM killer inside its
#     cgroup and ends OUT_OF_MEMORY (ExitCode 0:125, Reason=OutOfMemory);
#   - time: a job over --time gets SIGTERM (0-30 s late: the time-limit check runs
#     about every 30 s), SIGKILL KillWait=5 s later, and ends TIMEOUT (Reason=TimeLimit).
# Associations are not enforced (no AccountingStorageEnforce): root and any other user
# submit without an account; jobs are recorded in accounting all the same.
#
# Environment knobs:
#   SLURM_CI_STATE_DIR   state dir for recorded pids (default /run/thesis-sweep-ci)
#   SLURM_CI_WAIT        seconds to wait for the node to become idle (default 30)
#   SLURM_CI_DB_WAIT     seconds to wait for MariaDB and slurmdbd each (default 60)
set -euo pipefail

STATE_DIR=${SLURM_CI_STATE_DIR:-/run/thesis-sweep-ci}
PIDS_FILE=$STATE_DIR/slurm.pids
WAIT_S=${SLURM_CI_WAIT:-30}
DB_WAIT_S=${SLURM_CI_DB_WAIT:-60}
CONF=/etc/slurm/slurm.conf
CGROUP_CONF=/etc/slurm/cgroup.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
PKGS=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
MUNGED=/usr/sbin/munged
MARIADBD=/usr/sbin/mariadbd
SLURMDBD=/usr/sbin/slurmdbd
SLURMCTLD=/usr/sbin/slurmctld
SLURMD=/usr/sbin/slurmd
MUNGED_PID=/run/munge/munged.pid
MARIADBD_PID=/run/mysqld/mysqld.pid
SLURMDBD_PID=/run/slurmdbd.pid
SLURMCTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
DB_NAME=slurm_acct_db
DB_USER=slurm

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

# Stop a running daemon by pid (SIGTERM, bounded wait, then SIGKILL), for restarts.
stop_pid() {   # name pid binary
    local name=$1 pid=$2 bin=$3
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do          # up to 10 s
        pid_is "$pid" "$bin" || return 0
        sleep 0.1
    done
    log "$name ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
}

# Write <file> (mode, owner) only if its content differs; return 0 if it changed.
write_if_changed() {   # file mode owner content
    local file=$1 mode=$2 owner=$3 content=$4
    if [ -f "$file" ] && [ "$(cat "$file")" = "$content" ] \
        && [ "$(stat -c '%a %U' "$file")" = "$mode ${owner%%:*}" ]; then
        return 1
    fi
    ( umask 077; printf '%s\n' "$content" >"$file.tmp.$$" )
    chown "$owner" "$file.tmp.$$"
    chmod "$mode" "$file.tmp.$$"
    mv "$file.tmp.$$" "$file"
    return 0
}

# True once something listens on 127.0.0.1:<port> (bash's /dev/tcp, no extra tools).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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
    apt_install() {
        apt-get install -y -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" \
            >/tmp/slurm-up-apt.log 2>&1
    }
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
install -d -o mysql -g mysql -m 0755 /run/mysqld
install -d -o mysql -g adm -m 2750 /var/log/mysql

# cgroup enforcement needs the v1 memory and freezer hierarchies (see the header).
for ctl in memory freezer; do
    [ -f "/sys/fs/cgroup/$ctl/cgroup.procs" ] || [ -f /sys/fs/cgroup/cgroup.controllers ] \
        || die "no cgroup $ctl controller at /sys/fs/cgroup/$ctl (needed by proctrack/task cgroup)"
done

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
# cgroups: jobs are tracked (and killed) by cgroup; memory is limited to the allocation
# (ConstrainRAMSpace in cgroup.conf), so a job over --mem ends OUT_OF_MEMORY.
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
ReturnToService=2
SlurmctldPidFile=$SLURMCTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
# Memory is a consumable resource: a job without --mem/--mem-per-cpu gets 1 GB per CPU.
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
# SIGTERM at the time limit (or scancel), SIGKILL KillWait seconds later.
KillWait=5
# Finished jobs stay visible in squeue for MinJobAge seconds (300 is Slurm's default).
MinJobAge=300
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
# Accounting in slurmdbd (sacct), usage sampled every second (MaxRSS of short jobs).
# No AccountingStorageEnforce: users need no association to submit.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
)
# CgroupPlugin=autodetect resolves to cgroup/v1 on the CI machine (hybrid layout).
new_cgroup_conf=$(cat <<CONF
# Written by thesis-sweep scripts/ci/slurm-up.sh.
CgroupPlugin=autodetect
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
CONF
)

# slurmdbd.conf holds the database password: owner slurm, mode 600 (slurmdbd refuses
# anything else). The password is made once and kept in the file.
db_pass=$(sed -n 's/^StoragePass=//p' "$DBD_CONF" 2>/dev/null || true)
[ -n "$db_pass" ] || db_pass=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
new_dbd_conf=$(cat <<CONF
# Written by thesis-sweep scripts/ci/slurm-up.sh: accounting for the CI cluster.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=$DB_NAME
StorageUser=$DB_USER
StoragePass=$db_pass
LogFile=/var/log/slurm/slurmdbd.log
PidFile=$SLURMDBD_PID
CONF
)

conf_changed=0
if write_if_changed "$CONF" 644 root:root "$new_conf"; then conf_changed=1; fi
if write_if_changed "$CGROUP_CONF" 644 root:root "$new_cgroup_conf"; then conf_changed=1; fi
dbd_conf_changed=0
if write_if_changed "$DBD_CONF" 600 slurm:slurm "$new_dbd_conf"; then dbd_conf_changed=1; fi

# ---------------------------------------------------------------- daemons
started=()
if ! pid=$(running_pid "$MUNGED" "$MUNGED_PID"); then
    runuser -u munge -- "$MUNGED"
    pid=$(wait_pid "$MUNGED" "$MUNGED_PID") || die "munged did not start (see /var/log/munge/munged.log)"
    record_pid munged "$pid" "$MUNGED"
    started+=("munged=$pid")
fi
munge -n | unmunge >/dev/null 2>&1 || die "munge -n | unmunge fails"

# MariaDB, run directly (no systemd; the init script's mysqld_safe would be a second
# process to track). Debian's postinst creates the data folder; make it if missing.
if ! pid=$(running_pid "$MARIADBD" "$MARIADBD_PID"); then
    if [ ! -d /var/lib/mysql/mysql ]; then
        log "initialising /var/lib/mysql"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/tmp/slurm-up-mariadb-install.log 2>&1 \
            || die "mariadb-install-db failed, see /tmp/slurm-up-mariadb-install.log"
    fi
    # innodb settings: the values slurmdbd recommends (it warns at startup otherwise).
    setsid -f "$MARIADBD" --user=mysql --pid-file="$MARIADBD_PID" \
        --log-error=/var/log/mysql/error.log \
        --innodb-buffer-pool-size=512M --innodb-lock-wait-timeout=900 \
        </dev/null >/dev/null 2>&1
    pid=$(wait_pid "$MARIADBD" "$MARIADBD_PID") || die "mariadbd did not start (see /var/log/mysql/error.log)"
    record_pid mariadbd "$pid" "$MARIADBD"
    started+=("mariadbd=$pid")
fi
deadline=$(( $(date +%s) + DB_WAIT_S ))
until mariadb-admin --connect-timeout=2 ping >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "MariaDB does not answer after ${DB_WAIT_S}s (see /var/log/mysql/error.log)"
    sleep 0.2
done
# Database and user, idempotent (root connects through the unix socket).
mariadb <<SQL || die "cannot create the accounting database $DB_NAME"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$db_pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
SQL

if pid=$(running_pid "$SLURMDBD" "$SLURMDBD_PID") && [ "$dbd_conf_changed" = 1 ]; then
    log "slurmdbd.conf changed; restarting slurmdbd ($pid)"
    stop_pid slurmdbd "$pid" "$SLURMDBD"
fi
if ! pid=$(running_pid "$SLURMDBD" "$SLURMDBD_PID"); then
    "$SLURMDBD"
    pid=$(wait_pid "$SLURMDBD" "$SLURMDBD_PID") || die "slurmdbd did not start (see /var/log/slurm/slurmdbd.log)"
    record_pid slurmdbd "$pid" "$SLURMDBD"
    started+=("slurmdbd=$pid")
fi
# On its first start slurmdbd creates its tables before it listens on port 6819.
deadline=$(( $(date +%s) + DB_WAIT_S ))
until port_open 6819; do
    running_pid "$SLURMDBD" "$SLURMDBD_PID" >/dev/null || die "slurmdbd exited (see /var/log/slurm/slurmdbd.log)"
    [ "$(date +%s)" -lt "$deadline" ] || die "slurmdbd not listening on 6819 after ${DB_WAIT_S}s (see /var/log/slurm/slurmdbd.log)"
    sleep 0.2
done

# Plugin changes (accounting, proctrack, task, select) need a restart, not a reconfigure.
# Running jobs survive it (their slurmstepd processes carry on).
if [ "$conf_changed" = 1 ]; then
    for name in slurmd slurmctld; do
        case $name in
            slurmd)    bin=$SLURMD;    pidfile=$SLURMD_PID ;;
            slurmctld) bin=$SLURMCTLD; pidfile=$SLURMCTLD_PID ;;
        esac
        if pid=$(running_pid "$bin" "$pidfile"); then
            log "slurm.conf or cgroup.conf changed; restarting $name ($pid)"
            stop_pid "$name" "$pid" "$bin"
        fi
    done
fi

# slurmctld registers the cluster in slurmdbd itself when it starts.
if ! pid=$(running_pid "$SLURMCTLD" "$SLURMCTLD_PID"); then
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

# ---------------------------------------------------------------- accounting answers
# The cluster is in slurmdbd once slurmctld has registered; then sacct answers (~0.1 s).
while ! sacctmgr -n -P list cluster format=Cluster 2>/dev/null | grep -x ci >/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        die "cluster 'ci' not registered in slurmdbd after ${WAIT_S}s; see /var/log/slurm/slurmctld.log"
    fi
    sleep 0.2
done
out=$(timeout 10 sacct -n -X -j 1 2>&1) || die "sacct does not answer: $out"

t1=$(date +%s.%N)
echo "slurm-up: OK $(sinfo -V 2>/dev/null || echo slurm) node=localhost cpus=$cpus mem=${mem}M state=$state" \
     "started=[${started[*]:-none}] in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s"
