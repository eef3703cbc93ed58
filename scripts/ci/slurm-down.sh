#!/usr/bin/env bash
# Stop the Slurm daemons that scripts/ci/slurm-up.sh started (and only those):
# slurmd, slurmctld, slurmdbd, its MariaDB server (mariadbd) and munged.
# Reads $SLURM_CI_STATE_DIR/slurm.pids (default /run/thesis-sweep-ci/slurm.pids);
# a pid is signalled only if it is still alive, runs the recorded binary and has
# the recorded start time (so a reused pid is never hit). Idempotent.
set -euo pipefail

STATE_DIR=${SLURM_CI_STATE_DIR:-/run/thesis-sweep-ci}
PIDS_FILE=$STATE_DIR/slurm.pids
log() { echo "slurm-down: $*" >&2; }

pid_starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo "${20}"
}

# True if <pid> is alive, runs <binary> and (if known) started at <starttime>.
still_ours() {
    local pid=$1 bin=$2 st=$3 exe
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe% (deleted)}
    [ "$exe" = "$bin" ] || [ "$exe" = "$(readlink -f "$bin")" ] || return 1
    [ "$st" = 0 ] || [ "$(pid_starttime "$pid" || true)" = "$st" ]
}

if [ ! -s "$PIDS_FILE" ]; then
    echo "slurm-down: nothing recorded in $PIDS_FILE; nothing to stop"
    exit 0
fi

stopped=()
# Stop in reverse dependency order: slurmd, slurmctld, slurmdbd, mariadbd, munged.
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    line=$(grep "^$name " "$PIDS_FILE" | tail -1 || true)
    [ -n "$line" ] || continue
    read -r _ pid bin st <<<"$line"
    st=${st:-0}
    # MariaDB flushes InnoDB on SIGTERM: give it longer than the Slurm daemons.
    case $name in mariadbd) grace=60 ;; *) grace=10 ;; esac
    if still_ours "$pid" "$bin" "$st"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((grace * 10))); do
            still_ours "$pid" "$bin" "$st" || break
            sleep 0.1
        done
        if still_ours "$pid" "$bin" "$st"; then
            log "$name ($pid) ignored SIGTERM for $grace s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        stopped+=("$name=$pid")
    fi
    # slurmctld (and slurmdbd) drop root before exiting and cannot unlink their pid file in /run;
    # a stale /run/slurmctld.pid makes the Debian prerm call scancel (and fail).
    case $name in
        slurmctld) pidfile=/run/slurmctld.pid ;;
        slurmd)    pidfile=/run/slurmd.pid ;;
        slurmdbd)  pidfile=/run/slurmdbd.pid ;;
        mariadbd)  pidfile=/run/mysqld/mysqld.pid ;;
        munged)    pidfile=/run/munge/munged.pid ;;
    esac
    if [ -f "$pidfile" ] && [ "$(tr -dc '0-9' <"$pidfile")" = "$pid" ] \
        && ! still_ours "$pid" "$bin" "$st"; then
        rm -f "$pidfile"
    fi
done
rm -f "$PIDS_FILE"
echo "slurm-down: stopped [${stopped[*]:-none}]"
