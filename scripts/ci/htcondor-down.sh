#!/usr/bin/env bash
# Stop the HTCondor personal pool that scripts/ci/htcondor-up.sh started; idempotent.
#
#   htcondor-down.sh            stop condor_master (SIGTERM by its recorded pid, bounded wait,
#                               then SIGQUIT/SIGKILL), end what is left running inside the
#                               chroot (processes whose root is the chroot), remove the host
#                               wrappers, unmount everything under the chroot in reverse
#                               order. The chroot stays on disk, so the next up takes ~3 s.
#   htcondor-down.sh --purge    the same, then delete the chroot and the state folder
#                               (only once nothing is mounted under it any more).
# The host's submit user and its home are left alone.
# Settings: HTCONDOR_CHROOT, HTCONDOR_STATE_DIR, HTCONDOR_WRAPPER_DIR (as for htcondor-up.sh).
set -euo pipefail

ROOT=${HTCONDOR_CHROOT:-/var/lib/thesis-sweep-ci/condor-root}
STATE=${HTCONDOR_STATE_DIR:-/run/thesis-sweep-ci}
WRAPPER_DIR=${HTCONDOR_WRAPPER_DIR:-/usr/local/bin}
WRAPPER_MARK='thesis-sweep-htcondor-wrapper'
PURGE=0
for arg in "$@"; do
    case $arg in
        --purge) PURGE=1 ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "htcondor-down: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

log() { printf 'htcondor-down: %s\n' "$*" >&2; }
die() { printf 'htcondor-down: ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root"

# Wrappers first: from now on `command -v condor_q` says "no pool".
for f in "$WRAPPER_DIR"/condor_*; do
    [ -f "$f" ] && grep -q "$WRAPPER_MARK" "$f" 2>/dev/null && rm -f "$f"
done

if [ ! -d "$ROOT" ]; then
    log "no chroot at $ROOT: nothing to stop"
    [ $PURGE -eq 0 ] || rm -f "$STATE/condor.pid" "$STATE/env" "$STATE/debootstrap.log" "$STATE/apt.log"
    exit 0
fi
ROOT=$(cd "$ROOT" && pwd -P)
[ "$ROOT" != / ] || die "HTCONDOR_CHROOT must not be /"

pids_in_root() {  # every process whose root directory is the chroot
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && echo "${p#/proc/}"
    done
    return 0
}
wait_gone() {  # wait_gone <seconds> <pid>...: 0 once all are gone
    local deadline=$(($(date +%s) + $1)) p alive
    shift
    while :; do
        alive=0
        for p in "$@"; do [ -d "/proc/$p" ] && alive=1; done
        [ $alive -eq 1 ] || return 0
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# --- stop condor_master ------------------------------------------------------------------
for pidfile in "$STATE/condor.pid" "$ROOT/run/condor/condor_master.pid"; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then continue; fi
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = condor_master ] || continue
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] || continue
    log "stopping condor_master (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true          # graceful: daemons and jobs shut down
    if ! wait_gone 30 "$pid"; then
        kill -QUIT "$pid" 2>/dev/null || true      # fast shutdown
        wait_gone 10 "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
done
rm -f "$STATE/condor.pid" "$ROOT/run/condor/condor_master.pid"

# Anything still running inside the chroot (daemons of a lost master, stray jobs).
left=$(pids_in_root)
if [ -n "$left" ]; then
    log "ending processes left in the chroot: ${left//$'\n'/ }"
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    # shellcheck disable=SC2086
    wait_gone 10 $left || { kill -KILL $left 2>/dev/null || true; wait_gone 5 $left || true; }
fi

# --- unmount, newest first ---------------------------------------------------------------------
mounts_under_root() {  # mount points under the chroot, in mount order (mountinfo field 5)
    local t
    awk '{print $5}' /proc/self/mountinfo | while IFS= read -r t; do
        t=$(printf '%b' "$t")
        case $t in "$ROOT"/*) printf '%s\n' "$t" ;; esac
    done
}
for _ in 1 2 3; do
    targets=$(mounts_under_root | tac)
    [ -n "$targets" ] || break
    while IFS= read -r t; do
        if umount "$t" 2>/dev/null; then log "unmounted $t"; fi
    done <<<"$targets"
done
targets=$(mounts_under_root | tac)
if [ -n "$targets" ]; then
    while IFS= read -r t; do
        if umount -l "$t" 2>/dev/null; then log "lazily unmounted $t"; fi
    done <<<"$targets"
fi
[ -z "$(mounts_under_root)" ] || die "still mounted under $ROOT: $(mounts_under_root | tr '\n' ' ')"

if [ $PURGE -eq 1 ]; then
    log "deleting $ROOT"
    rm -rf --one-file-system "$ROOT"
    rm -f "$STATE/condor.pid" "$STATE/env" "$STATE/debootstrap.log" "$STATE/apt.log"  # the folder is shared with slurm-up.sh
fi
log "pool down"
