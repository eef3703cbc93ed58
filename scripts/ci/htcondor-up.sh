#!/usr/bin/env bash
# Create (once) and start a real single-node HTCondor personal pool for CI and developers.
#
# Debian bookworm has no HTCondor package, so the pool lives in a Debian trixie
# debootstrap chroot (see shared/CLUSTERS.md, "HTCondor 23.9.6"). The script is idempotent:
# every step is skipped when already done, so a second run takes about a second.
#
# What it does:
#   1. apt-get install debootstrap on the host (if missing);
#      debootstrap --variant=minbase trixie into $HTCONDOR_CHROOT (once: marker file);
#   2. mounts proc, sysfs, /dev, /dev/pts, a tmpfs on /dev/shm (each only if not mounted);
#   3. policy-rc.d inside; apt-get install condor + the shared libraries the project's
#      Python interpreter needs (each only if missing);
#   4. the personal-pool config (fast polling, MOUNT_UNDER_SCRATCH empty, ...) and its limits:
#      a job over its request_memory is held (code 21), JOB_DEFAULT_REQUESTMEMORY = 1024,
#      SIGKILL 5 s after the SIGTERM of a hold or condor_rm (MachineMaxVacateTime); a changed
#      config is applied with condor_reconfig;
#   5. an ordinary submit user ($HTCONDOR_USER, default condoruser) with the SAME uid/gid
#      on the host and in the chroot, home /home/<user> (bind-mounted, so it is one folder);
#   6. bind-mounts at the SAME path inside the chroot what jobs need: $HTCONDOR_BIND_PATHS
#      (default "/work /tmp"), the repository this script belongs to (if not under those),
#      and, read-only, the base prefix of the venv's interpreter (e.g. /root/.pyenv/versions/
#      3.11.7: the venv's bin/python is a symlink into it). Only the chroot's own /root is
#      opened (0711) for that; the host's /root stays 0700.
#   7. starts condor_master in the chroot unless it already runs (pid in $HTCONDOR_STATE_DIR/
#      condor.pid), waits (bounded, $HTCONDOR_WAIT s) for slots and a schedd that answers;
#   8. installs host wrapper commands (condor_submit, condor_q, condor_history, condor_rm,
#      condor_status, condor_wait, condor_hold, condor_release, condor_version) into
#      $HTCONDOR_WRAPPER_DIR (default /usr/local/bin).
#
# The wrappers run the chroot's tool as the submit user, in the caller's current directory,
# with arguments passed verbatim, stdin/stdout/stderr and the exit code preserved. They must
# be called by root (they use chroot(8)). Root itself cannot submit to HTCondor, which is why
# everything runs as the submit user. Consequences for callers:
#   - the current directory and every path handed to a tool (submit file, user log, initialdir,
#     executable, output/error files) must exist inside the chroot at the same path, i.e. lie
#     under a bind-mounted folder (/work, /tmp, ...), and be readable -- for outputs, writable --
#     by the submit user. pytest's /tmp/pytest-of-root is 0700: chmod the job folders (and
#     their parents) o+rx / 0777 as needed;
#   - jobs run inside the chroot as that user, so the same applies to everything a job reads.
#   A wrapper called from a folder that is not visible in the chroot runs in / instead
#   (condor_submit and condor_wait refuse, since relative paths would resolve wrongly).
#
# Settings (environment variables, all optional):
#   HTCONDOR_CHROOT       chroot folder          (default /var/lib/thesis-sweep-ci/condor-root)
#   HTCONDOR_STATE_DIR    pid/env files           (default /run/thesis-sweep-ci)
#   HTCONDOR_USER         submit user             (default condoruser)
#   HTCONDOR_UID          uid=gid for a new user  (default: first id >= 1500 free on both sides)
#   HTCONDOR_WRAPPER_DIR  where wrappers go       (default /usr/local/bin)
#   HTCONDOR_BIND_PATHS   extra same-path binds   (default "/work /tmp")
#   HTCONDOR_VENV         venv whose interpreter jobs use (default <repo>/.venv; if it does
#                         not exist yet, the base install of $PYTHON or python3 is opened)
#   HTCONDOR_NUM_CPUS     slots                   (default: nproc)
#   HTCONDOR_WAIT         seconds to wait for the pool (default 60)
#   HTCONDOR_MIRROR       Debian mirror for debootstrap (default: the host's apt mirror)
#   HTCONDOR_EXTRA_PACKAGES  more trixie packages for jobs (space separated)
# After a successful run, $HTCONDOR_STATE_DIR/env holds these values (shell syntax).
# Stop with scripts/ci/htcondor-down.sh (add --purge to delete the chroot too).
set -euo pipefail

ROOT=${HTCONDOR_CHROOT:-/var/lib/thesis-sweep-ci/condor-root}
STATE=${HTCONDOR_STATE_DIR:-/run/thesis-sweep-ci}
JOB_USER=${HTCONDOR_USER:-condoruser}
WRAPPER_DIR=${HTCONDOR_WRAPPER_DIR:-/usr/local/bin}
BIND_PATHS=${HTCONDOR_BIND_PATHS:-/work /tmp}
WAIT=${HTCONDOR_WAIT:-60}
NUM_CPUS=${HTCONDOR_NUM_CPUS:-$(nproc)}
SUITE=trixie
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
VENV=${HTCONDOR_VENV:-$REPO/.venv}
WRAPPER_MARK='thesis-sweep-htcondor-wrapper'
WRAPPED_TOOLS='condor_submit condor_q condor_history condor_rm condor_status condor_wait condor_hold condor_release condor_version'
# Shared libraries the stdlib extension modules and common wheels link against
# (zlib, ssl, ffi, sqlite, bz2, lzma, uuid, readline/ncurses, crypt, expat, libgcc/libstdc++).
JOB_PACKAGES="zlib1g libssl3t64 libffi8 libsqlite3-0 libbz2-1.0 liblzma5 libuuid1 libreadline8t64 libncursesw6 libtinfo6 libcrypt1 libexpat1 libgcc-s1 libstdc++6 ${HTCONDOR_EXTRA_PACKAGES:-}"
CONF_NAME=50-thesis-sweep-personal.conf

SECONDS=0
log() { printf 'htcondor-up [%3ds]: %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'htcondor-up: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, mount, chroot)"

mkdir -p "$(dirname "$ROOT")" "$STATE"
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd -P)
[ "$ROOT" != / ] || die "HTCONDOR_CHROOT must not be /"
MARKER=$ROOT/.thesis-sweep-debootstrap-done

# --- helpers ---------------------------------------------------------------------------
# Mount points from /proc/self/mountinfo (field 5, octal escapes decoded).
mounted_targets() {
    local target
    awk '{print $5}' /proc/self/mountinfo | while IFS= read -r target; do printf '%b\n' "$target"; done
}
# (no grep -q: an early exit would SIGPIPE the producer and fail under pipefail)
is_mounted() { mounted_targets | grep -Fx -- "$1" >/dev/null; }
mounts_under_root() { mounted_targets | grep -F -- "$ROOT/" || true; }
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

# mount_once <what> <target-inside-root> [mount options...]
mount_once() {
    local target=$ROOT$2 what=$1
    shift 2
    if is_mounted "$target"; then return 0; fi
    mkdir -p "$target"
    mount "$@" "$what" "$target"
    log "mounted $what on $target"
}

# bind_once <host-path> [ro]: bind-mount a host folder at the same path inside the chroot.
# A bind whose host folder was deleted and made again (a fresh clone at the same path) still
# shows the deleted folder; it is stale, so it is unmounted and bound anew.
bind_once() {
    local src=$1 mode=${2:-rw} target=$ROOT$1
    [ -d "$src" ] || { log "skip bind of $src (not a folder on the host)"; return 0; }
    if is_mounted "$target"; then
        if [ "$(stat -c %d:%i -- "$src")" = "$(stat -c %d:%i -- "$target" 2>/dev/null)" ]; then
            return 0
        fi
        umount -l "$target"
        log "unmounted a stale bind of $src (its folder was made again)"
    fi
    mkdir -p "$target"
    mount --bind "$src" "$target"
    mount --make-private "$target" 2>/dev/null || true
    if [ "$mode" = ro ]; then mount -o remount,bind,ro "$target"; fi
    log "bound $src into the chroot ($mode)"
}

# Host's Debian mirror (first URI of the main archive), so nothing here names a host.
host_mirror() {
    # One awk per source file kind, no pipelines (an early `head` exit would trip pipefail).
    local uri
    uri=$(awk '/^[[:space:]]*URIs:/ && $2 !~ /-security/ {print $2; exit}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '/^[[:space:]]*deb[[:space:]]/ && $2 !~ /-security/ {print $2; exit}' \
            /etc/apt/sources.list 2>/dev/null || true)
    fi
    printf '%s' "$uri"
}

pid_is_our_master() {
    local pid=$1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = condor_master ] || return 1
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ]
}

# --- 1. debootstrap ----------------------------------------------------------------------
if [ ! -e "$MARKER" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap on the host"
        # Wait for a concurrent apt/dpkg run instead of failing on its lock.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 --no-install-recommends debootstrap >/dev/null \
            || { apt-get update -qq -o DPkg::Lock::Timeout=300 \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 --no-install-recommends debootstrap >/dev/null; }
    fi
    # A half-finished earlier attempt: start over (only if nothing is mounted inside).
    if [ -n "$(ls -A "$ROOT")" ]; then
        [ -z "$(mounts_under_root)" ] || die "$ROOT has mounts but no debootstrap marker; run htcondor-down.sh first"
        log "removing an unfinished chroot in $ROOT"
        rm -rf --one-file-system "$ROOT"
        mkdir -p "$ROOT"
    fi
    MIRROR=${HTCONDOR_MIRROR:-$(host_mirror)}
    log "debootstrap --variant=minbase $SUITE $ROOT ${MIRROR:-(debootstrap default mirror)}"
    debootstrap --variant=minbase "$SUITE" "$ROOT" ${MIRROR:+"$MIRROR"} >"$STATE/debootstrap.log" 2>&1 \
        || { tail -n 30 "$STATE/debootstrap.log" >&2; die "debootstrap failed (log: $STATE/debootstrap.log)"; }
    touch "$MARKER"
    log "debootstrap done"
fi

# --- 2. mounts ---------------------------------------------------------------------------
mount_once proc /proc -t proc
mount_once sysfs /sys -t sysfs
bind_once /dev
mount_once /dev/pts /dev/pts --bind
mount_once tmpfs /dev/shm -t tmpfs -o mode=1777,nosuid,nodev

cmp -s /etc/hosts "$ROOT/etc/hosts" || cp /etc/hosts "$ROOT/etc/hosts"
cmp -s /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

# --- 3. packages inside ------------------------------------------------------------------
if [ ! -x "$ROOT/usr/sbin/policy-rc.d" ]; then
    printf '#!/bin/sh\n# no services start inside this chroot (thesis-sweep CI)\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
fi
missing=()
for pkg in condor $JOB_PACKAGES; do
    # shellcheck disable=SC2016  # ${...} is dpkg-query's format, not the shell's
    status=$(in_root dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install inside the chroot: ${missing[*]}"
    in_root apt-get update -qq >"$STATE/apt.log" 2>&1 \
        || { tail -n 30 "$STATE/apt.log" >&2; die "apt-get update in the chroot failed"; }
    in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
        >>"$STATE/apt.log" 2>&1 \
        || { tail -n 30 "$STATE/apt.log" >&2; die "apt-get install in the chroot failed (log: $STATE/apt.log)"; }
    in_root apt-get clean
    log "packages installed"
fi

# --- 4. condor folders and config -------------------------------------------------------
for d in /run/condor /run/lock/condor /var/lock/condor /var/spool/condor /var/lib/condor/execute /var/log/condor; do
    mkdir -p "$ROOT$d"
    in_root chown condor:condor "$d"
done
CONF=$ROOT/etc/condor/config.d/$CONF_NAME
NEW_CONF=$(cat <<EOF
# Personal pool for thesis-sweep CI (written by scripts/ci/htcondor-up.sh).
DAEMON_LIST = MASTER COLLECTOR NEGOTIATOR SCHEDD STARTD
CONDOR_HOST = 127.0.0.1
NETWORK_INTERFACE = 127.0.0.1
BIND_ALL_INTERFACES = False
ENABLE_IPV6 = False
NUM_CPUS = $NUM_CPUS
use security:host_based
ALLOW_READ = *
ALLOW_WRITE = *
ALLOW_ADMINISTRATOR = *
ALLOW_DAEMON = *
ALLOW_NEGOTIATOR = *
# Empty: otherwise every job is held with errno 22 "Failed to unshare the mount namespace".
MOUNT_UNDER_SCRATCH =
MAIL = /bin/true
# Fast polling so that small test jobs finish in seconds.
SCHEDD_INTERVAL = 5
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_CYCLE_DELAY = 5
STARTER_UPDATE_INTERVAL = 5
SHADOW_QUEUE_UPDATE_INTERVAL = 10
UPDATE_INTERVAL = 5
RUNBENCHMARKS = 0
# Limits, as on a real pool (no cgroups in the chroot: the starter measures the job's
# processes, MemoryUsage = their resident size, updated every STARTER_UPDATE_INTERVAL).
# The procd measures them every PID_SNAPSHOT_INTERVAL (default 15 s) and the startd checks
# its policy every POLLING_INTERVAL (default 5 s): with the defaults a job far over its
# memory runs on for up to 25 s, long enough to meet a short allowed_job_duration, and
# the two holds at one instant leave the job disconnected for its whole lease (40 min).
PID_SNAPSHOT_INTERVAL = 2
POLLING_INTERVAL = 2
STARTER_INITIAL_UPDATE_INTERVAL = 2
# Memory: a job using more than its request_memory is held, HoldReasonCode 21, subcode 102
# "memory usage exceeded request_memory" (startd WANT_HOLD; job events 021, 004, 012).
use POLICY : HOLD_IF_MEMORY_EXCEEDED
# The policy compares MemoryUsage with the slot's Memory, which is not the request: slots
# are rounded up to 128 MB (MODIFY_REQUEST_EXPR_REQUESTMEMORY) and the schedd reuses a
# claimed slot for the submitter's next jobs (CLAIM_WORKLIFE), so a job asking 64 MB may run
# in a 1 GB slot left by an earlier job and never be held. Compare with the request instead.
MEMORY_EXCEEDED = (JobUniverse != 13 && MemoryUsage =!= UNDEFINED && MemoryUsage > TARGET.RequestMemory)
# A job without request_memory gets 1 GB, held above that, like Slurm's DefMemPerCPU=1024
# here. (The default request follows the job's own MemoryUsage, so it would never be held.)
JOB_DEFAULT_REQUESTMEMORY = 1024
# Seconds between SIGTERM and SIGKILL when a running job is held or removed (default
# 10 min: a job over its memory that ignores SIGTERM would run on that long after its hold).
MachineMaxVacateTime = 5
# Time: nothing here; a job's allowed_job_duration holds it (code 46). Its
# allowed_execute_duration only works with file transfer (code 47), not with a shared
# file system (should_transfer_files = NO), as in this pool and on Stoomboot.
EOF
)
CONF_CHANGED=0
if [ "$(cat "$CONF" 2>/dev/null)" != "$NEW_CONF" ]; then
    printf '%s\n' "$NEW_CONF" >"$CONF"
    CONF_CHANGED=1
    log "wrote $CONF"
fi

# --- 5. submit user (same uid/gid on host and in the chroot) ---------------------------
id_free() {  # id_free <n>: unused as uid and gid on the host and in the chroot
    ! getent passwd "$1" >/dev/null && ! getent group "$1" >/dev/null \
        && ! awk -F: -v n="$1" '$3==n{f=1} END{exit !f}' "$ROOT/etc/passwd" "$ROOT/etc/group"
}
if getent passwd "$JOB_USER" >/dev/null; then
    JOB_UID=$(id -u "$JOB_USER")
    JOB_GID=$(id -g "$JOB_USER")
else
    JOB_UID=${HTCONDOR_UID:-1500}
    if [ -z "${HTCONDOR_UID:-}" ]; then
        while ! id_free "$JOB_UID"; do JOB_UID=$((JOB_UID + 1)); done
    fi
    JOB_GID=$JOB_UID
    getent group "$JOB_USER" >/dev/null || groupadd -g "$JOB_GID" "$JOB_USER"
    JOB_GID=$(getent group "$JOB_USER" | cut -d: -f3)
    useradd -u "$JOB_UID" -g "$JOB_GID" -m -d "/home/$JOB_USER" -s /bin/bash "$JOB_USER"
    log "created host user $JOB_USER ($JOB_UID:$JOB_GID)"
fi
JOB_HOME=$(getent passwd "$JOB_USER" | cut -d: -f6)
mkdir -p "$JOB_HOME"
chown "$JOB_UID:$JOB_GID" "$JOB_HOME"
if ! in_root getent group "$JOB_USER" >/dev/null; then
    in_root groupadd -g "$JOB_GID" "$JOB_USER"
elif [ "$(in_root getent group "$JOB_USER" | cut -d: -f3)" != "$JOB_GID" ]; then
    in_root groupmod -g "$JOB_GID" "$JOB_USER"
fi
if ! in_root getent passwd "$JOB_USER" >/dev/null; then
    in_root useradd -u "$JOB_UID" -g "$JOB_GID" -M -d "$JOB_HOME" -s /bin/bash "$JOB_USER"
    log "created chroot user $JOB_USER ($JOB_UID:$JOB_GID)"
elif [ "$(in_root id -u "$JOB_USER")" != "$JOB_UID" ]; then
    in_root usermod -u "$JOB_UID" -g "$JOB_GID" "$JOB_USER"
fi

# --- 6. same-path binds for jobs ---------------------------------------------------------
binds=()
for p in $BIND_PATHS "$REPO" "$JOB_HOME"; do
    [ -d "$p" ] || continue
    p=$(cd "$p" && pwd -P)
    covered=0
    for b in "${binds[@]+"${binds[@]}"}"; do
        case "$p/" in "$b"/*) covered=1 ;; esac
    done
    [ $covered -eq 1 ] || binds+=("$p")
done
for p in "${binds[@]}"; do bind_once "$p"; done

# The venv's interpreter: its bin/python links to a base install (pyenv under /root here).
# Without a venv yet (e.g. created later by `make install`), use the base of $PYTHON/python3,
# which is what the venv will be made from.
if [ -x "$VENV/bin/python" ]; then
    JOB_PYTHON=$VENV/bin/python
else
    JOB_PYTHON=$(command -v "${PYTHON:-python3}" || true)
    log "no venv at $VENV yet: opening the base of ${JOB_PYTHON:-(no python3)} instead"
fi
if [ -n "$JOB_PYTHON" ]; then
    BASE_PREFIX=$("$JOB_PYTHON" -c 'import sys; print(sys.base_prefix)')
    case "$BASE_PREFIX" in
        /usr | /usr/* | /)
            log "WARNING: $JOB_PYTHON is the host's system Python ($BASE_PREFIX); it does not exist" \
                "inside the trixie chroot, so jobs cannot use it" ;;
        *)
            covered=0
            for b in "${binds[@]}"; do case "$BASE_PREFIX/" in "$b"/*) covered=1 ;; esac; done
            if [ $covered -eq 0 ]; then
                # Open the path components inside the chroot only (the chroot's own /root etc.).
                d=$BASE_PREFIX
                mkdir -p "$ROOT$d"
                while [ "$d" != / ]; do
                    d=$(dirname "$d")
                    chmod o+x "$ROOT$d"
                done
                bind_once "$BASE_PREFIX" ro
            fi
            if [ -x "$VENV/bin/python" ] && ! in_root setpriv --reuid="$JOB_UID" --regid="$JOB_GID" --clear-groups \
                "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
                die "$JOB_USER cannot run $VENV/bin/python inside the chroot (is $VENV bound, are the folders above it and $BASE_PREFIX readable?)"
            fi ;;
    esac
fi

# --- 7. condor_master ----------------------------------------------------------------------
PIDFILE=$STATE/condor.pid
pid=$(cat "$PIDFILE" 2>/dev/null || true)
if pid_is_our_master "$pid"; then
    if [ $CONF_CHANGED -eq 1 ]; then
        in_root condor_reconfig >/dev/null 2>&1 || true
        log "condor_master already running (pid $pid); reconfigured"
    else
        log "condor_master already running (pid $pid)"
    fi
else
    # A master that runs without our pid file (state dir wiped): adopt it.
    pid=$(cat "$ROOT/run/condor/condor_master.pid" 2>/dev/null || true)
    if pid_is_our_master "$pid"; then
        log "adopting running condor_master (pid $pid)"
    else
        rm -f "$ROOT/run/condor/condor_master.pid"
        in_root /usr/sbin/condor_master -pidfile /run/condor/condor_master.pid
        pid=
        for _ in $(seq 1 100); do
            pid=$(cat "$ROOT/run/condor/condor_master.pid" 2>/dev/null || true)
            pid_is_our_master "$pid" && break
            sleep 0.1
        done
        pid_is_our_master "$pid" || die "condor_master did not start (see $ROOT/var/log/condor/MasterLog)"
        log "started condor_master (pid $pid)"
    fi
    echo "$pid" >"$PIDFILE"
fi

# --- 8. host wrappers ----------------------------------------------------------------------
mkdir -p "$WRAPPER_DIR"
for tool in $WRAPPED_TOOLS; do
    case $tool in condor_submit | condor_wait) strict=1 ;; *) strict=0 ;; esac
    target=$WRAPPER_DIR/$tool
    if [ -e "$target" ] && ! grep -q "$WRAPPER_MARK" "$target" 2>/dev/null; then
        log "WARNING: $target exists and is not ours; left alone"
        continue
    fi
    content=$(cat <<EOF
#!/bin/sh
# $WRAPPER_MARK: generated by scripts/ci/htcondor-up.sh, removed by htcondor-down.sh.
# Runs $tool inside the HTCondor chroot $ROOT as $JOB_USER ($JOB_UID:$JOB_GID),
# in the caller's directory; arguments verbatim, exit code and streams preserved.
# Paths handed to it must exist at the same path inside the chroot, readable by $JOB_USER.
cwd=\$(pwd -P 2>/dev/null) || cwd=/
id=\$(stat -c %d:%i . 2>/dev/null) || id=none
exec /usr/sbin/chroot --userspec=$JOB_UID:$JOB_GID --groups=$JOB_GID $(printf '%q' "$ROOT") \\
    /usr/bin/env HOME=$(printf '%q' "$JOB_HOME") USER=$JOB_USER LOGNAME=$JOB_USER PATH=/usr/bin:/bin:/usr/sbin:/sbin \\
    /bin/sh -c 'if ! cd "\$1" 2>/dev/null || [ "\$(stat -c %d:%i . 2>/dev/null)" != "\$2" ]; then
        if [ "\$3" = 1 ]; then
            echo "$tool: \$1 is not the same folder inside the HTCondor chroot (not bind-mounted, or not readable by $JOB_USER)" >&2
            exit 1
        fi
        cd /
    fi
    shift 3
    exec "\$@"' sh "\$cwd" "\$id" $strict $tool "\$@"
EOF
)
    if [ "$(cat "$target" 2>/dev/null)" != "$content" ]; then
        printf '%s\n' "$content" >"$target.tmp.$$"
        chmod 0755 "$target.tmp.$$"
        mv -f "$target.tmp.$$" "$target"
    fi
done

# --- wait for the pool ------------------------------------------------------------------
deadline=$(($(date +%s) + WAIT))
while :; do
    slots=$(in_root condor_status -af Name 2>/dev/null | grep -c . || true)
    if [ "${slots:-0}" -gt 0 ] && (cd / && "$WRAPPER_DIR/condor_q" -totals >/dev/null 2>&1); then
        break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        tail -n 20 "$ROOT/var/log/condor/MasterLog" >&2 2>/dev/null || true
        die "pool not ready after ${WAIT}s (slots: ${slots:-0}); logs in $ROOT/var/log/condor"
    fi
    sleep 0.5
done

cat >"$STATE/env" <<EOF
HTCONDOR_CHROOT=$(printf '%q' "$ROOT")
HTCONDOR_STATE_DIR=$(printf '%q' "$STATE")
HTCONDOR_USER=$JOB_USER
HTCONDOR_UID=$JOB_UID
HTCONDOR_GID=$JOB_GID
HTCONDOR_WRAPPER_DIR=$(printf '%q' "$WRAPPER_DIR")
HTCONDOR_VERSION=$(printf '%q' "$(in_root condor_version | head -n1)")
EOF
log "pool up: $slots slot(s), master pid $(cat "$PIDFILE"), submit user $JOB_USER, wrappers in $WRAPPER_DIR"
echo "$WRAPPER_DIR"
