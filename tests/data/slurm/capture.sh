#!/usr/bin/env bash
# shellcheck disable=SC2016  # backticks for Markdown; wait_for conditions are eval'd later
# Re-capture the recorded Slurm *accounting* output in this folder (files acct_*) from the
# real cluster of scripts/ci/slurm-up.sh (slurmdbd, cgroup memory limits). Run as root with
# the cluster up; takes about 2 minutes (one task waits for its time limit). Rewrites the
# README section between the "capture.sh" markers. It stops slurmdbd and then slurmctld
# once each (by pid) and starts them again with slurm-up.sh (running jobs carry on).
# The older files here (no acct_ prefix) were captured by hand before accounting existed.
# Usage: bash tests/data/slurm/capture.sh [work-folder, default /tmp/slurm-capture]
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$OUT/../../.." && pwd -P)
WORK=${1:-/tmp/slurm-capture}
SACCT_FMT=JobIDRaw,JobID,State,ExitCode,Reason,Elapsed,Timelimit,ReqMem,MaxRSS
SQ_FMT='%i|%F|%K|%T|%r'
[ "$(id -u)" = 0 ] || { echo "run as root (the tests submit as root)" >&2; exit 1; }
command -v sbatch >/dev/null || { echo "no sbatch: run scripts/ci/slurm-up.sh" >&2; exit 1; }
timeout 10 sacct -n -X -j 1 >/dev/null || { echo "sacct does not answer: run scripts/ci/slurm-up.sh" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/out"
cd "$WORK"
cp "$OUT/acct_array_task.sh" task.sh
rm -f "$OUT"/acct_*.txt
INDEX=$(mktemp)

# run <name> <scenario> <command...>: stdout to <name>.txt, stderr (if any) to
# <name>.stderr.txt, a README row "file | command (rc) | scenario" (| escaped for tables).
run() {
    local name=$1 note=$2 rc=0 cmd
    shift 2
    "$@" >"$OUT/$name.txt" 2>"$OUT/$name.stderr.txt" || rc=$?
    if [ -s "$OUT/$name.stderr.txt" ]; then
        note="$note; stderr in \`$name.stderr.txt\`"
    else
        rm -f "$OUT/$name.stderr.txt"
    fi
    cmd=$(shown "$@")
    printf '| `%s.txt` | `%s` (%s) | %s |\n' "$name" "${cmd//|/\\|}" "$rc" "$note" >>"$INDEX"
    return 0
}
shown() {  # the command as one would type it: arguments with special characters in '...'
    local a out=()
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./=,:%@+-]+$ ]]; then out+=("$a"); else out+=("'$a'"); fi
    done
    echo "${out[*]}"
}
note_file() {  # note_file <name> <scenario>: a README row for a file written otherwise
    printf '| `%s` | | %s |\n' "$1" "$2" >>"$INDEX"
}
state_of() {  # state_of <task>: long state while slurmctld keeps the task, else empty
    squeue -h -r -t all -j "${A}_$1" -o %T 2>/dev/null || true
}
field_of() {  # field_of <task> <Field>: one field of `scontrol show job`
    scontrol show job "${A}_$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}
wait_for() {  # wait_for <seconds> <shell test>
    local deadline=$(($(date +%s) + $1))
    until eval "$2"; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for: $2" >&2; exit 1; }
        sleep 0.2
    done
}
sacct_final() {  # sacct has all six tasks in a final state (it lags squeue by ~2 s)
    local rows
    rows=$(sacct -X -P -n --format=JobID,State -j "$A" 2>/dev/null) || return 1
    [ "$(grep -c . <<<"$rows")" = 6 ] && ! grep -qE 'RUNNING|PENDING|REQUEUED|COMPLETING' <<<"$rows"
}

# --- one array: COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, CANCELLED, requeued -------------
run acct_sbatch_parsable "submit; \`task.sh\` is \`acct_array_task.sh\`" \
    sbatch --parsable --array=0-5 --time=1 --mem=200M --output="$WORK/out/slurm-%A_%a.out" task.sh
A=$(tr -dc '0-9' <"$OUT/acct_sbatch_parsable.txt")

# Two CPUs: 0 and 1 run first, then 2 (holds a CPU until its limit) next to 3, 4, 5.
wait_for 60 '[ "$(state_of 4)" = RUNNING ]'
sleep 1
run acct_scancel_task4 "task 4 running: cancel it" scancel "${A}_4"
wait_for 60 '[ "$(state_of 5)" = RUNNING ]'
sleep 1
run acct_scontrol_requeue_task5 "task 5 running: requeue it" scontrol requeue "${A}_5"
wait_for 60 '[ "$(state_of 5)" = PENDING ]'
run acct_squeue_requeued_pending "task 5 pending again after the requeue (\`Reason=BeginTime\`)" \
    squeue -h -r -t all -j "${A}_5" -o "$SQ_FMT"
run acct_scontrol_show_job_requeued_pending "the same moment: \`Restarts=1\`, \`EligibleTime\` ~2 min after the requeue" \
    scontrol show job "${A}_5"
sleep 3
run acct_sacct_x_midway "task 2 running, task 5 pending after its requeue" \
    sacct -X -P -n --format="$SACCT_FMT" -j "$A"
run acct_sacct_x_duplicates_midway "the same with \`--duplicates\`: the first run of task 5 is a \`REQUEUED\` row" \
    sacct -X -P -n --duplicates --format="$SACCT_FMT" -j "$A"
run acct_scontrol_update_starttime "start task 5 now instead of at its EligibleTime" \
    scontrol update JobId="${A}_5" StartTime=now
wait_for 60 '[ "$(state_of 5)" = COMPLETED ]'
# Task 2: SIGTERM some seconds after --time=1 (the limit is checked every ~30 s).
wait_for 150 '[ "$(state_of 2)" = TIMEOUT ]'
wait_for 30 sacct_final
run acct_sacct_x_done "all tasks ended: 0 COMPLETED, 1 FAILED, 2 TIMEOUT, 3 OUT_OF_MEMORY, 4 CANCELLED, 5 COMPLETED (after a requeue)" \
    sacct -X -P -n --format="$SACCT_FMT" -j "$A"
run acct_sacct_x_duplicates_done "the same with \`--duplicates\`: plus the \`REQUEUED\` first run of task 5" \
    sacct -X -P -n --duplicates --format="$SACCT_FMT" -j "$A"
run acct_sacct_steps_oom "task 3 without \`-X\`: the job row and its \`batch\` step row (MaxRSS on the step only)" \
    sacct -P -n --format="$SACCT_FMT" -j "${A}_3"
run acct_sacct_steps_timeout "task 2 without \`-X\`" \
    sacct -P -n --format="$SACCT_FMT" -j "${A}_2"
run acct_scontrol_show_job_timeout "task 2 after its end (\`JobState=TIMEOUT Reason=TimeLimit\`)" \
    scontrol show job "${A}_2"
run acct_scontrol_show_job_oom "task 3 after its end (\`JobState=OUT_OF_MEMORY Reason=OutOfMemory\`)" \
    scontrol show job "${A}_3"
run acct_scontrol_show_job_requeued_done "task 5 after its second run" \
    scontrol show job "${A}_5"
for t in 2 3 4 5; do
    cp "$WORK/out/slurm-${A}_$t.out" "$OUT/acct_job_stdout_task$t.txt"
done
note_file acct_job_stdout_task2.txt "output file of task 2 (timeout): slurmstepd's \`CANCELLED ... DUE TO TIME LIMIT\` line"
note_file acct_job_stdout_task3.txt "output file of task 3 (out of memory): \`Killed\` and slurmstepd's oom-kill line"
note_file acct_job_stdout_task4.txt "output file of task 4 (scancel)"
note_file acct_job_stdout_task5.txt "output file of task 5 (requeued): the second run only (the requeue truncated it)"

# --- sacct while slurmdbd is down ----------------------------------------------------------
dbd=$(tr -dc '0-9' </run/slurmdbd.pid)
[ "$(readlink -f "/proc/$dbd/exe")" = "$(readlink -f /usr/sbin/slurmdbd)" ] \
    || { echo "no slurmdbd at pid $dbd" >&2; exit 1; }
kill -TERM "$dbd"
wait_for 20 '[ -z "$(readlink "/proc/$dbd/exe" 2>/dev/null)" ]'  # gone (or a zombie)
run acct_sacct_no_dbd "slurmdbd stopped (the cluster still runs)" \
    sacct -X -P -n --format="$SACCT_FMT" -j "$A"
bash "$REPO/scripts/ci/slurm-up.sh" >/dev/null     # starts slurmdbd again
run acct_sacct_x_after_dbd_restart "slurmdbd started again: the same answer as before" \
    sacct -X -P -n --format="$SACCT_FMT" -j "$A"

# --- slurmctld restarted while it still holds the ended tasks (MinJobAge) ---------------
# It sends their records to slurmdbd again, with the final exit code and no canceller.
ctld=$(tr -dc '0-9' </run/slurmctld.pid)
[ "$(readlink -f "/proc/$ctld/exe")" = "$(readlink -f /usr/sbin/slurmctld)" ] \
    || { echo "no slurmctld at pid $ctld" >&2; exit 1; }
kill -TERM "$ctld"
wait_for 20 '[ -z "$(readlink "/proc/$ctld/exe" 2>/dev/null)" ]'
bash "$REPO/scripts/ci/slurm-up.sh" >/dev/null     # starts slurmctld again
for _ in $(seq 1 100); do       # the records arrive within a few seconds
    sacct -X -P -n --format=JobID,State,ExitCode -j "${A}_2" | grep -q 'TIMEOUT|0:15' && break
    sleep 0.2
done
run acct_sacct_x_after_ctld_restart "slurmctld restarted (tasks still in its memory): ExitCode and the CANCELLED state change" \
    sacct -X -P -n --format="$SACCT_FMT" -j "$A"
run acct_sacct_x_duplicates_after_ctld_restart "the same with \`--duplicates\`" \
    sacct -X -P -n --duplicates --format="$SACCT_FMT" -j "$A"

# --- README section ------------------------------------------------------------------------
section=$(mktemp)
{
    echo '<!-- capture.sh: begin (this section is rewritten by capture.sh) -->'
    cat <<EOF
## Scenario C: accounting (slurmdbd) and limits, array job $A (files \`acct_*\`)

Captured by \`capture.sh\` in this folder ($(sinfo -V), cluster of
\`scripts/ci/slurm-up.sh\` with slurmdbd on MariaDB, \`proctrack/cgroup\` + \`task/cgroup\`
with \`ConstrainRAMSpace=yes\`, \`SelectTypeParameters=CR_Core_Memory\`, \`KillWait=5\`,
\`JobAcctGatherFrequency=task=1\`), as root in \`$WORK\`.
\`sbatch --array=0-5 --time=1 --mem=200M\` of \`acct_array_task.sh\`: task 0 ends ok, 1 exits 3,
2 sleeps past its 1-minute limit, 3 allocates 10 MiB every 0.2 s past its 200 MB limit,
4 is cancelled with \`scancel\` while running, 5 is requeued with \`scontrol requeue\` while
running, goes back to PENDING (\`Reason=BeginTime\`; without the \`scontrol update ...
StartTime=now\` it would wait until its \`EligibleTime\`) and ends ok in its second run
(\`SLURM_RESTART_COUNT=1\`, same JobId). \`sacct\` lags \`squeue\` by a second or two.
Each \`NAME.txt\` is the command's stdout; \`NAME.stderr.txt\`, where present, its stderr.

| file | command (rc) | scenario |
| --- | --- | --- |
EOF
    cat "$INDEX"
    cat <<'EOF'

What these show (Slurm 22.05 with slurmdbd and cgroup v1):
- `sacct -X` end states with ExitCode: `COMPLETED 0:0`; exit 3 `FAILED 3:0`; time limit
  `TIMEOUT 0:0` (its `batch` step `CANCELLED 0:15`, `scontrol` `ExitCode=0:15`
  `Reason=TimeLimit`, SIGTERM 0-30 s after the limit); memory `OUT_OF_MEMORY 0:125` on the
  job and its step (`scontrol` `Reason=OutOfMemory`); scancel `CANCELLED by 0` (the state
  field holds the canceller's uid after a space). The `Reason` column is the scheduling
  reason (`None`), not why the job ended.
- A requeued task keeps its JobIDRaw; plain `sacct` shows only its latest run (`PENDING`,
  then `COMPLETED`), `--duplicates` adds a `REQUEUED` row for the first run. Its output file
  is truncated at the restart. `EligibleTime` is the requeue time + 120 s.
- MaxRSS is empty on job rows (`-X`) and filled (in K) on step rows only; `ReqMem` is `200M`.
- Each task gets its own JobIDRaw when it starts; the task that starts last keeps the
  array's own id (here task 5), also across its requeue.
- With slurmdbd stopped, `sacct` fails at once: rc 1, empty stdout, three `sacct: error:`
  lines; jobs still run, and once slurmdbd is back `sacct` answers as before.
- A slurmctld restart while it still holds the ended tasks (`MinJobAge=300`) rewrites their
  records: the TIMEOUT task's ExitCode becomes `0:15`, `CANCELLED by 0` becomes
  `CANCELLED` with `0:15`. The same job can thus show either form.
EOF
    echo '<!-- capture.sh: end -->'
} >"$section"
readme=$OUT/README.md
if grep -q '^<!-- capture.sh: begin' "$readme"; then
    awk -v f="$section" '
        /^<!-- capture.sh: begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /^<!-- capture.sh: end/   { skip = 0; next }
        !skip' "$readme" >"$readme.tmp"
else
    { cat "$readme"; echo; cat "$section"; } >"$readme.tmp"
fi
mv "$readme.tmp" "$readme"
rm -f "$INDEX" "$section"
echo "captured into $OUT (array job $A)"
