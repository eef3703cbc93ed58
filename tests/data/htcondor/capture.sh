#!/usr/bin/env bash
# shellcheck disable=SC2016  # backticks for Markdown; wait_for conditions are eval'd later
# Re-capture the recorded HTCondor CLI output in this folder from a real pool.
# Needs the pool and its host wrappers: `bash scripts/ci/htcondor-up.sh` first (as root).
# Usage: bash tests/data/htcondor/capture.sh [work-folder] [basic] [policies]
#   basic      clusters of jobs that end, fail, are removed or held (files without prefix)
#   policies   the pool's limits and retries (files policy_*, about 90 s)
#   nodes      a job whose execute node fails under it (files node_*, about 40 s)
# Without a section name both run. Each rewrites only its own files and its own section of
# README.md (between its "capture.sh" markers). Work folder default /tmp/htcondor-capture.
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
WORK=/tmp/htcondor-capture
SECTIONS=()
for arg in "$@"; do
    case $arg in
        basic | policies | nodes) SECTIONS+=("$arg") ;;
        */*) WORK=$arg ;;
        *) echo "unknown section: $arg (basic, policies, nodes)" >&2; exit 2 ;;
    esac
done
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(basic policies nodes)
PY=${HTCONDOR_CAPTURE_PYTHON:-/work/main/.venv/bin/python}
command -v condor_submit >/dev/null || { echo "no condor_submit on PATH: run scripts/ci/htcondor-up.sh" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/runs/r0" "$WORK/runs/r1" "$WORK/runs/r2" "$WORK/logs"
chmod -R 0777 "$WORK"          # jobs and tools run as the pool's submit user
cd "$WORK"
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

# replace_section <name> <file>: put <file> between README.md's markers for <name>
# (appended at the end the first time).
replace_section() {
    local readme=$OUT/README.md begin="<!-- capture.sh $1: begin" end="<!-- capture.sh $1: end -->"
    if grep -qF -- "$begin" "$readme" 2>/dev/null; then
        awk -v f="$2" -v b="$begin" -v e="$end" '
            index($0, b) == 1 { while ((getline l < f) > 0) print l; skip = 1; next }
            index($0, e) == 1 { skip = 0; next }
            !skip' "$readme" >"$readme.tmp"
    else
        { cat "$readme" 2>/dev/null && echo; cat "$2"; } >"$readme.tmp"
    fi
    mv "$readme.tmp" "$readme"
}

capture_basic() {
for f in "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.json; do
    case ${f##*/} in policy_* | node_*) ;; *) rm -f "$f" ;; esac
done
: >"$INDEX"

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

section=$(mktemp)
{
    echo '<!-- capture.sh basic: begin (this section is rewritten by capture.sh basic) -->'
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
    echo '<!-- capture.sh basic: end -->'
} >"$section"
replace_section basic "$section"
rm -f "$section"
echo "captured into $OUT (clusters $A and $B)"
}

# --- policies: memory and duration holds, hold + release, condor_rm, retries, checkpoint ---
AF_POLICY="ClusterId ProcId JobStatus ExitCode ExitBySignal ExitSignal NumJobStarts HoldReasonCode HoldReasonSubCode LastHoldReasonCode LastHoldReason RemoveReason HoldReason"

# submit_policy <name> <arguments> [submit lines...]: one job of policy.py, its own event log.
submit_policy() {
    local name=$1 args=$2 line
    shift 2
    write_policy_py
    {
        echo "executable = $PY"
        echo "arguments  = \"$WORK/policy.py $args\""
        echo "output     = $WORK/logs/policy_$name.\$(Cluster).out"
        echo "error      = $WORK/logs/policy_$name.\$(Cluster).err"
        echo "log        = $WORK/logs/policy_$name.log"
        echo "should_transfer_files = NO"
        echo "request_cpus = 1"
        for line in "$@"; do echo "$line"; done
        echo "queue"
    } >"policy_$name.sub"
    chmod 0644 "policy_$name.sub"
    run "policy_${name}_submit" condor_submit -terse "policy_$name.sub"
    cut -d. -f1 "$OUT/policy_${name}_submit.txt"
}
q_snapshot() {  # q_snapshot <name> <when> <cluster>: condor_q -af, plain and tab-separated
    run "policy_$1_q_af_$2" condor_q -allusers "$3" -af $AF_POLICY
    run "policy_$1_q_aft_$2" condor_q -allusers "$3" -af:t $AF_POLICY
}
history_of() {  # history_of <name> <cluster>, once the job has left the queue
    local cl=$2    # (wait_for evals its test in its own scope: no $2 there)
    wait_for 90 '[ -z "$(condor_q -allusers "$cl" -af ProcId)" ]'
    run "policy_$1_history_af" condor_history "$2" -af $AF_POLICY
    run "policy_$1_history_aft" condor_history "$2" -af:t $AF_POLICY
    cp "$WORK/logs/policy_$1.log" "$OUT/policy_$1_userlog.log"
}

write_policy_py() {  # the job of every policy scenario
cat >policy.py <<'EOF'
import os, sys, time
mode = sys.argv[1]
print("mode", mode, "pid", os.getpid(), flush=True)
if mode == "memory":        # ~300 MB for two minutes
    blocks = [bytearray(10 << 20) for _ in range(30)]
    time.sleep(120)
elif mode == "sleep":
    time.sleep(float(sys.argv[2]))
elif mode == "exit":
    time.sleep(1)
    sys.exit(int(sys.argv[2]))
elif mode == "checkpoint":  # exit 85 (the checkpoint_exit_code) the first time, then 0
    marker = sys.argv[2]
    time.sleep(2)
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.exit(85)
EOF
chmod 0644 policy.py
}

capture_policies() {
rm -f "$OUT"/policy_*
: >"$INDEX"

# Memory over request_memory, and a run longer than allowed_job_duration: both held.
M=$(submit_policy memory memory "request_memory = 64")
D=$(submit_policy duration "sleep 60" "request_memory = 128" "allowed_job_duration = 10")
wait_for 120 '[ "$(status_of "$M" 0)" = 5 ] && [ "$(status_of "$D" 0)" = 5 ]'
q_snapshot memory held "$M"
q_snapshot duration held "$D"
run policy_memory_rm condor_rm "$M"
run policy_duration_rm condor_rm "$D"
history_of memory "$M"
history_of duration "$D"

# condor_hold of a running job, condor_release: it starts again from scratch and ends ok.
H=$(submit_policy hold_release "sleep 15" "request_memory = 128")
R=$(submit_policy rm_running "sleep 600" "request_memory = 128")
wait_for 60 '[ "$(status_of "$H" 0)" = 2 ] && [ "$(status_of "$R" 0)" = 2 ]'
sleep 3
run policy_hold_release_hold condor_hold "$H"
run policy_rm_running_rm condor_rm "$R"
wait_for 60 '[ "$(status_of "$H" 0)" = 5 ]'
q_snapshot hold_release held "$H"
run policy_hold_release_release condor_release "$H"
wait_for 60 '[ "$(status_of "$H" 0)" = 2 ]'
q_snapshot hold_release running_again "$H"
history_of rm_running "$R"
history_of hold_release "$H"

# max_retries = 2 with exit 1: three runs. checkpoint_exit_code = 85: exits 85, runs again.
T=$(submit_policy retries "exit 1" "request_memory = 128" "max_retries = 2")
C=$(submit_policy checkpoint "checkpoint $WORK/logs/checkpoint.marker" "request_memory = 128" \
    "checkpoint_exit_code = 85")
# allowed_execute_duration needs file transfer: with a shared file system it does nothing.
E=$(submit_policy execute_duration "sleep 20" "request_memory = 128" "allowed_execute_duration = 5")
history_of retries "$T"
history_of checkpoint "$C"
history_of execute_duration "$E"
for n in memory duration hold_release rm_running retries checkpoint execute_duration; do
    cp "$WORK"/logs/policy_$n.*.out "$OUT/policy_${n}_job_stdout.txt"
done

section=$(mktemp)
{
    echo '<!-- capture.sh policies: begin (this section is rewritten by capture.sh policies) -->'
    cat <<EOF

## Policies: limits, holds, retries (files \`policy_*\`)

The pool's policies from \`scripts/ci/htcondor-up.sh\`: \`use POLICY : HOLD_IF_MEMORY_EXCEEDED\`,
with \`MEMORY_EXCEEDED\` comparing MemoryUsage with the job's \`RequestMemory\` (not the slot's),
\`JOB_DEFAULT_REQUESTMEMORY = 1024\`, \`MachineMaxVacateTime = 5\`. One cluster per scenario,
each a single job of \`policy.py\` (see \`capture.sh\`) with \`should_transfer_files = NO\` and
its own event log \`policy_<scenario>_userlog.log\`:

| scenario | cluster | submit lines | what happens |
| --- | --- | --- | --- |
| \`memory\` | $M | \`request_memory = 64\` | allocates ~300 MB: held, then \`condor_rm\` |
| \`duration\` | $D | \`allowed_job_duration = 10\` | sleeps 60 s: held, then \`condor_rm\` |
| \`hold_release\` | $H | | sleeps 15 s; \`condor_hold\` while running, \`condor_release\`, runs again, exits 0 |
| \`rm_running\` | $R | | sleeps 600 s; \`condor_rm\` while running |
| \`retries\` | $T | \`max_retries = 2\` | exits 1 each run |
| \`checkpoint\` | $C | \`checkpoint_exit_code = 85\` | exits 85 the first time, 0 the second |
| \`execute_duration\` | $E | \`allowed_execute_duration = 5\` | sleeps 20 s and ends ok: not held |

The attributes are \`$AF_POLICY\`.
Not only HoldReason has spaces: so do LastHoldReason and RemoveReason, so a plain \`-af\` line
cannot be split reliably; the \`*_aft\` files (\`-af:t\`) separate the values by tabs instead.
\`policy_<scenario>_userlog.log\` is each job's event log, \`policy_<scenario>_job_stdout.txt\`
its \`output\` file (each run prints its pid).

| file | exit code | command |
| --- | --- | --- |
EOF
    cat "$INDEX"
    cat <<'EOF'

What these show (HTCondor 23.9, no cgroups, shared file system):
- Memory: held with HoldReasonCode 21, HoldReasonSubCode 102, HoldReason `Error from
  <slot>: memory usage exceeded request_memory`, once the starter reports MemoryUsage
  above the request (it reports every 5 s here; held 10-20 s after the start). Event log: 006 with
  the MemoryUsage, then 021 (remote error, code 21 subcode 102), 004 (evicted, with the
  usage/request/allocated table), 012 (held). The slot was 128 MB (rounded up) for 64 MB.
- Duration: `allowed_job_duration = 10` holds at 10 s, code 46 subcode 0, `The job exceeded
  allowed job duration of 00:10`; the event log has 012 only (no 004).
- After `condor_rm` of a held job: JobStatus 3, HoldReasonCode/HoldReason `undefined`,
  the hold moved to LastHoldReasonCode/LastHoldReason, RemoveReason `via condor_rm (by
  user <user>)`, event 009. A job stopped by SIGTERM (`condor_hold`, the duration hold,
  `condor_rm` while running) shows ExitBySignal true, ExitSignal 15, ExitCode undefined;
  the memory hold shows ExitBySignal false. ExitSignal 15 stays after a later normal end
  (`hold_release`: ExitBySignal false, ExitCode 0, ExitSignal 15).
- `condor_hold` of a running job: SIGTERM, events 004 + 012, code 1 subcode 0, `via
  condor_hold (by user <user>)`; `condor_release` (013) starts it again from scratch (001
  again, its output file truncated), it ends JobStatus 4, ExitCode 0, NumJobStarts 2,
  LastHoldReasonCode 1.
- `max_retries = 2`, exit 1: three runs (001 and 004 `Job terminated and was requeued`
  twice, then 005), JobStatus 4 with ExitCode 1 and NumJobStarts 3: JobStatus 4 is not
  success, ExitCode says it.
- `checkpoint_exit_code = 85`: the job ran twice (two pids in its output file, appended)
  in one start: the event log shows one 001 and one 005 (return value 0), NumJobStarts 1.
- `allowed_execute_duration = 5` with `should_transfer_files = NO`: no hold, the job runs its
  20 s and ends ok (that limit only counts with file transfer, then code 47); on a shared
  file system only `allowed_job_duration` limits the run time.
EOF
    echo '<!-- capture.sh policies: end -->'
} >"$section"
replace_section policies "$section"
rm -f "$section"
echo "captured into $OUT (policy clusters $M $D $H $R $T $C $E)"
}

# --- nodes: the execute node fails under a running job ------------------------------------
capture_nodes() {
rm -f "$OUT"/node_*
: >"$INDEX"
# kill -9 of the job's condor_starter is what a crashed execute node looks like to the
# submit side: the shadow loses its starter (022), cannot reconnect (024), the job is
# evicted (004) and runs again from scratch on the next match (001 again).
N=$(submit_policy starter_killed "sleep 15" "request_memory = 128")
mv "$OUT/policy_starter_killed_submit.txt" "$OUT/node_starter_killed_submit.txt"
sed -i 's/`policy_starter_killed_submit.txt`/`node_starter_killed_submit.txt`/' "$INDEX"
wait_for 60 '[ "$(status_of "$N" 0)" = 2 ]'
sleep 2
starters=$(pgrep -x condor_starter | tr '\n' ' ')
# shellcheck disable=SC2086  # one pid per word
kill -9 $starters
wait_for 60 'grep -q "^024 " "$WORK/logs/policy_starter_killed.log"'
wait_for 60 '[ "$(status_of "$N" 0)" = 2 ]'
run node_starter_killed_q_aft_running_again condor_q -allusers "$N" -af:t $AF_POLICY
wait_for 90 '[ -z "$(condor_q -allusers "$N" -af ProcId)" ]'
run node_starter_killed_history_aft condor_history "$N" -af:t $AF_POLICY
cp "$WORK/logs/policy_starter_killed.log" "$OUT/node_starter_killed_userlog.log"
cp "$WORK"/logs/policy_starter_killed.*.out "$OUT/node_starter_killed_job_stdout.txt"

section=$(mktemp)
{
    echo '<!-- capture.sh nodes: begin (this section is rewritten by capture.sh nodes) -->'
    cat <<EOF

## A failing execute node (files \`node_*\`)

Cluster $N: one job of \`policy.py\` sleeping 15 s (as in the policies section); 2 s after it
started, \`kill -9\` of its \`condor_starter\` (pid ${starters% }), as when its execute node
crashes or loses the network for good. The attributes are those of the policies section.

| file | exit code | command |
| --- | --- | --- |
EOF
    cat "$INDEX"
    cat <<'EOF'

What these show: the event log has 022 (`Job disconnected, attempting to reconnect`,
`Socket between submit and execute hosts closed unexpectedly`), at once 024 (`Job
reconnection failed`, `Job not found at execution machine`), 004 (evicted), then 001 on the
next match and 005 (return value 0): NumJobStarts 2, the job's output file holds the second
run only. Had the starter lived on unreachable, the shadow would wait up to the job lease
(JobLeaseDuration, 2400 s) after 022 with the job still JobStatus 2.
EOF
    echo '<!-- capture.sh nodes: end -->'
} >"$section"
replace_section nodes "$section"
rm -f "$section"
echo "captured into $OUT (node cluster $N)"
}

for section in "${SECTIONS[@]}"; do
    "capture_$section"
done
rm -f "$INDEX"
