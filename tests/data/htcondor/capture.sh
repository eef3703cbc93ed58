#!/usr/bin/env bash
# shellcheck disable=SC2016  # backticks for Markdown; wait_for conditions are eval'd later
# Re-capture the recorded HTCondor CLI output in this folder from a real pool.
# Needs the pool and its host wrappers: `bash scripts/ci/htcondor-up.sh` first (as root).
# Usage: bash tests/data/htcondor/capture.sh [work-folder, default /tmp/htcondor-capture]
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
WORK=${1:-/tmp/htcondor-capture}
PY=${HTCONDOR_CAPTURE_PYTHON:-/work/main/.venv/bin/python}
command -v condor_submit >/dev/null || { echo "no condor_submit on PATH: run scripts/ci/htcondor-up.sh" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/runs/r0" "$WORK/runs/r1" "$WORK/runs/r2" "$WORK/logs"
chmod -R 0777 "$WORK"          # jobs and tools run as the pool's submit user
cd "$WORK"
rm -f "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.json
INDEX=$(mktemp)

# run <name> <command...>: stdout to <name>.txt, stderr (if any) to <name>.stderr.txt,
# and a line "name | exit code | command" for the README.
run() {
    local name=$1 rc=0
    shift
    "$@" >"$OUT/$name.txt" 2>"$OUT/$name.stderr.txt" || rc=$?
    [ -s "$OUT/$name.stderr.txt" ] || rm -f "$OUT/$name.stderr.txt"
    printf '| `%s.txt` | %s | `%s` |\n' "$name" "$rc" "$*" >>"$INDEX"
    return 0
}
af_snapshots() {  # af_snapshots <suffix> <cluster>
    run "q_af_j_$1" condor_q -allusers "$2" -af:j ProcId JobStatus HoldReason ExitCode
    run "q_af_$1" condor_q -allusers "$2" -af ClusterId ProcId JobStatus ExitCode HoldReason
}
status_of() {  # status_of <cluster> <proc>: JobStatus while in the queue, else empty
    condor_q -allusers "$1.$2" -af JobStatus 2>/dev/null || true
}
wait_for() {  # wait_for <seconds> <shell test>
    local deadline=$(($(date +%s) + $1))
    until eval "$2"; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for: $2" >&2; exit 1; }
        sleep 0.2
    done
}

# --- cluster A: three jobs from an item list, all succeed ---------------------------------
printf '%s\n' "1, $WORK/runs/r0" "2, $WORK/runs/r1" "3, $WORK/runs/r2" >items.txt
cat >ok.sub <<EOF
executable = $PY
arguments  = "-c 'import os,sys; print(os.getcwd(), sys.argv)' \$(num)"
initialdir = \$(rundir)
output     = $WORK/logs/ok.\$(Cluster).\$(Process).out
error      = $WORK/logs/ok.\$(Cluster).\$(Process).err
log        = $WORK/logs/ok.\$(Cluster).log
should_transfer_files = NO
request_cpus   = 1
request_memory = 64MB
queue num,rundir from items.txt
EOF
run submit_terse condor_submit -terse ok.sub
A=$(cut -d. -f1 "$OUT/submit_terse.txt")
run wait_done condor_wait -wait 120 "$WORK/logs/ok.$A.log"
cp "$WORK/logs/ok.$A.log" "$OUT/userlog_ok.log"
for p in 0 1 2; do cat "$WORK/logs/ok.$A.$p.out"; done >"$OUT/job_stdout_ok.txt"
run history_af_ok condor_history "$A" -af ClusterId ProcId JobStatus ExitCode ExitBySignal ExitSignal RemoveReason

# --- cluster B: exit 0, exit 3, killed by a signal, removed while running, held -------------
cat >job.py <<'EOF'
import os, signal, sys, time
mode = sys.argv[1]
print("mode", mode, "cwd", os.getcwd(), flush=True)
if mode == "ok":
    time.sleep(3)
elif mode == "exit3":
    time.sleep(3)
    sys.exit(3)
elif mode == "signal":
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "sleep":
    time.sleep(600)
EOF
printf '%s\n' "ok, /dev/null" "exit3, /dev/null" "signal, /dev/null" "sleep, /dev/null" \
    "ok, $WORK/no-such-input.txt" >mixed_items.txt
cat >mixed.sub <<EOF
executable = $PY
arguments  = "$WORK/job.py \$(mode)"
input      = \$(infile)
output     = $WORK/logs/mixed.\$(Cluster).\$(Process).out
error      = $WORK/logs/mixed.\$(Cluster).\$(Process).err
log        = $WORK/logs/mixed.\$(Cluster).log
should_transfer_files = NO
request_cpus   = 1
request_memory = 64MB
queue mode,infile from mixed_items.txt
EOF
chmod 0644 ./*.sub ./*.txt job.py
run submit_terse_mixed condor_submit -terse mixed.sub
B=$(cut -d. -f1 "$OUT/submit_terse_mixed.txt")
af_snapshots idle "$B"
wait_for 60 '[ "$(status_of "$B" 0)" = 2 ]'
af_snapshots running "$B"
run wait_timeout condor_wait -wait 1 "$WORK/logs/mixed.$B.log"
wait_for 90 '[ "$(status_of "$B" 3)" = 2 ] && [ "$(status_of "$B" 4)" = 5 ]'
af_snapshots held "$B"
run q_json_held condor_q -allusers "$B" -json -attributes ClusterId,ProcId,JobStatus,ExitCode,HoldReason,HoldReasonCode,HoldReasonSubCode
run q_hold_held condor_q -allusers -hold "$B"
run rm_proc condor_rm "$B.3"
run rm_held_proc condor_rm "$B.4"
wait_for 30 '[ -z "$(condor_q -allusers "$B" -af ProcId)" ]'
run wait_done_mixed condor_wait -wait 30 "$WORK/logs/mixed.$B.log"
cp "$WORK/logs/mixed.$B.log" "$OUT/userlog_mixed.log"
run history_af_mixed condor_history "$B" -af ClusterId ProcId JobStatus ExitCode ExitBySignal ExitSignal RemoveReason
run history_af_mixed_more condor_history "$B" -af:j JobStatus ExitCode ExitBySignal ExitSignal HoldReasonCode RemoveReason
run q_af_after_done condor_q -allusers "$B" -af ClusterId ProcId JobStatus ExitCode HoldReason

# --- errors and unknown ids ---------------------------------------------------------------
printf '%s\n' 'executable = /nonexistent/prog' "log = $WORK/logs/bad.log" 'queue' >bad.sub
chmod 0644 bad.sub
run submit_missing_executable condor_submit -terse bad.sub
run q_unknown_cluster condor_q -allusers 999999
run q_af_unknown_cluster condor_q -allusers 999999 -af ClusterId ProcId JobStatus
run history_unknown_cluster condor_history 999999 -af ClusterId ProcId JobStatus
run rm_unknown_proc condor_rm 999999.0
run rm_finished_proc condor_rm "$A.0"
run version condor_version

{
    cat <<EOF
# Recorded HTCondor CLI output (for parser tests)

Real output of HTCondor $(condor_version | head -n1 | awk '{print $2}') (Debian trixie package
\`$(condor_version | head -n1 | sed 's/.*PackageID: \([^ ]*\).*/\1/')\`) in the single-node personal pool that
\`scripts/ci/htcondor-up.sh\` starts, captured by \`capture.sh\` in this folder (run it again, as
root with the pool up, to refresh everything here). The tools ran through the host wrappers,
i.e. as the pool's submit user, in \`$WORK\`. Paths in the files point there.

Jobs:
- cluster $A (\`ok.sub\`, see \`capture.sh\`): \`queue num,rundir from items.txt\`, 3 jobs that print
  \`os.getcwd()\` and \`sys.argv\`; all exit 0.
- cluster $B (\`mixed.sub\`): \`queue mode,infile from mixed_items.txt\`, 5 jobs:
  $B.0 exits 0 after 3 s, $B.1 exits 3 after 3 s, $B.2 kills itself with SIGKILL,
  $B.3 sleeps and is removed with \`condor_rm $B.3\` while running, $B.4 has a missing
  \`input\` file so it goes on hold, and is then removed with \`condor_rm $B.4\`.

JobStatus codes: 1 idle, 2 running, 3 removed, 4 completed, 5 held, 6 transferring output,
7 suspended. \`-af\` prints \`undefined\` for a missing attribute and separates values by one
space (a HoldReason contains spaces: keep it last); \`-af:j\` puts \`Cluster.Proc\` first.
Snapshots: \`idle\` right after submit, \`running\` once $B.0 runs, \`held\` once $B.3 runs and
$B.4 is held. \`userlog_*.log\` are the job event logs (\`log =\`): 000 submit, 001 execute,
005 terminate (normal with return value, or abnormal with signal), 009 abort (condor_rm),
012 held, 021 remote error, 004 evicted, ...

Each \`NAME.txt\` is the command's stdout; \`NAME.stderr.txt\`, where present, its stderr.

| file | exit code | command |
| --- | --- | --- |
EOF
    cat "$INDEX"
    cat <<EOF
| \`userlog_ok.log\` | | job event log of cluster $A |
| \`userlog_mixed.log\` | | job event log of cluster $B |
| \`job_stdout_ok.txt\` | | the 3 jobs' stdout of cluster $A, concatenated |
EOF
} >"$OUT/README.md"
rm -f "$INDEX"
echo "captured into $OUT (clusters $A and $B)"
