"""Slurm: one `sbatch --array` per launch, one query per status, one `scancel` per cancel.

Facts this relies on (Slurm 22.05, `man sbatch`, `man squeue`, `man sacct`, and the
recordings in tests/data/slurm):
- `sbatch --parsable` prints the job id (`id` or `id;cluster`).
- With accounting (slurmdbd), `sacct -X -P -n -j <ids>` knows every task for good: its
  latest run's state (`CANCELLED by <uid>` carries the canceller), `ExitCode` as
  `code:signal`, and pending tasks not started yet folded as `<id>_[2-5%1]`. Without it,
  sacct exits 1 at once and `squeue -r -t all` knows ended tasks only for MinJobAge
  (300 s by default); after that, or for an unknown id, squeue exits 1 ("Invalid job id").
- End states: TIMEOUT (time limit; SIGTERM then SIGKILL after KillWait), OUT_OF_MEMORY
  (the cgroup's memory limit), PREEMPTED, NODE_FAIL, BOOT_FAIL, DEADLINE, CANCELLED; a
  requeued task (scontrol requeue, preemption with requeue) is PENDING again with the same
  id and SLURM_RESTART_COUNT set.
- A pending task cancelled with scancel vanishes from squeue instead of showing CANCELLED.
- Slurm does not create the folder of `--output`: it must exist before submission.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from sweeper_cli.errors import BackendFailure
from sweeper_cli.launch.backends.base import Observation, Submission
from sweeper_cli.launch.backends.cluster import ClusterBackend, compress
from sweeper_cli.launch.backends.commands import SUBMIT_TIMEOUT, first_line, run_scheduler
from sweeper_cli.launch.backends.jobscript import unit
from sweeper_cli.project.profiles import Profile
from sweeper_cli.states import Cause, State

SQUEUE_FORMAT = "%i|%F|%K|%T|%r"
SACCT_FORMAT = "JobIDRaw,JobID,State,ExitCode,Reason,Elapsed,Timelimit,ReqMem,MaxRSS"
_QUEUED = {
    "PENDING",
    "CONFIGURING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESV_DEL_HOLD",
    "SUSPENDED",
    "STOPPED",
    "SPECIAL_EXIT",
    "RESIZING",
}
_RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}
# End states that say why: (cause, words).
_ENDS = {
    "TIMEOUT": (Cause.TIME_LIMIT, "time limit: Slurm stopped it at its --time (TIMEOUT)"),
    "DEADLINE": (Cause.TIME_LIMIT, "deadline: Slurm stopped it at its --deadline"),
    "OUT_OF_MEMORY": (
        Cause.OUT_OF_MEMORY,
        "out of memory: killed at its --mem limit (Slurm OUT_OF_MEMORY)",
    ),
    "PREEMPTED": (Cause.PREEMPTED, "preempted by Slurm (PREEMPTED)"),
    "NODE_FAIL": (Cause.NODE_FAILURE, "node failure (Slurm NODE_FAIL)"),
    "BOOT_FAIL": (Cause.NODE_FAILURE, "node failure: its node did not boot (Slurm BOOT_FAIL)"),
}
_NO_ACCOUNTING = ("accounting storage is disabled", "Connection refused", "database")


def render_sbatch(
    sweep_name: str,
    logs: Path,
    job_script: Path,
    nums: Sequence[int],
    profile: Profile,
    max_parallel: int | None,
) -> str:
    """The batch script of one array submission (re-submittable with `sbatch FILE`); the
    scheduler's output files go to `logs` (the sweep's submit folder by default)."""
    array = compress(nums) + (f"%{max_parallel}" if max_parallel else "")
    out = logs / "slurm-%A_%a.out"
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=ts-{sweep_name}",
        f"#SBATCH --array={array}",
        f'#SBATCH --output="{out}"',
    ]
    options = {
        "--cpus-per-task": profile.cpus,
        "--mem": profile.memory,
        "--gres": f"gpu:{profile.gpus}" if profile.gpus else None,
        "--time": profile.time,
        "--partition": profile.partition,
        "--account": profile.account,
    }
    lines += [f"#SBATCH {flag}={value}" for flag, value in options.items() if value]
    lines += [line if line.startswith("#SBATCH") else f"#SBATCH {line}" for line in profile.extra]
    lines += [
        f"# Each array task runs one {unit(job_script)} of the sweep: the task id is the "
        f"{unit(job_script)} number.",
        'export THESIS_SWEEP_SCHEDULER_ID="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
        f'exec /bin/bash {shlex.quote(str(job_script))} "$SLURM_ARRAY_TASK_ID"',
    ]
    return "\n".join(lines) + "\n"


def parse_sbatch(stdout: str) -> str:
    text = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job_id = text.split(";")[0].strip()
    if not job_id.isdigit():
        raise BackendFailure(f"sbatch printed no job id: {first_line(stdout)}")
    return job_id


def parse_squeue(text: str) -> dict[str, tuple[str, str]]:
    """`squeue -h -r -o '%i|%F|%K|%T|%r'` -> {'<array id>_<task>': (STATE, reason)}."""
    found: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5 or not parts[2].isdigit():
            continue  # a folded pending range (without -r) or noise
        found[f"{parts[1]}_{parts[2]}"] = (parts[3], parts[4])
    return found


_FOLDED = re.compile(r"^(\d+)_\[([\d,\-]+)(?:%\d+)?\]$")


def parse_sacct(text: str) -> dict[str, tuple[str, str, str]]:
    """`sacct -X -P -n --format=<SACCT_FORMAT>` -> {'<array>_<task>': (STATE, exit code
    'code:signal', reason)}; folded pending tasks are expanded."""
    found: dict[str, tuple[str, str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5:
            continue
        job_id, state, code, reason = parts[1:5]
        folded = _FOLDED.match(job_id)
        if folded:
            for part in folded.group(2).split(","):
                low, _, high = part.partition("-")
                for task in range(int(low), int(high or low) + 1):
                    found[f"{folded.group(1)}_{task}"] = (state, code, reason)
        elif re.fullmatch(r"\d+_\d+", job_id):
            found[job_id] = (state, code, reason)
    return found


def observation(state: str, reason: str, where: str, exit_code: str = "") -> Observation:
    """What a Slurm state (from squeue or sacct) says of a job its files do not explain."""
    word, _, by = state.partition(" by ")
    why = "" if reason in ("None", "") else f": {reason}"
    if word in _QUEUED:
        return Observation(State.QUEUED, f"slurm {word.lower()}{why}")
    if word in _RUNNING:
        return Observation(State.RUNNING, "running in Slurm; its runner has not reported yet")
    if word in _ENDS:
        cause, words = _ENDS[word]
        return Observation(State.FAILED, words, cause)
    if word == "CANCELLED":
        who = f" by uid {by}" if by else ""
        return Observation(
            State.FAILED, f"removed outside thesis-sweep (scancel{who})", Cause.REMOVED
        )
    code = exit_code.split(":")[0] if exit_code else ""
    how = f" (exit {code})" if code and code != "0" else ""
    return Observation(State.FAILED, f"slurm {word}{how} before its runner reported (see {where})")


class SlurmBackend(ClusterBackend):
    name = "slurm"
    # Quoted in an #SBATCH line: no `"` or `\`; `%` is a file-name pattern there.
    forbidden_in_paths = ('"', "%", "\\")

    def render(
        self, submit_dir: Path, job_script: Path, nums: Sequence[int], tag: int, logs: Path
    ) -> dict[str, str]:
        text = render_sbatch(
            submit_dir.parent.name, logs, job_script, nums, self.profile, self.max_parallel
        )
        return {f"sweep-{tag}.sbatch": text}

    def submit(self, submit_dir: Path, files: Mapping[str, str], nums: Sequence[int]) -> Submission:
        [name] = files
        done = run_scheduler(
            ["sbatch", "--parsable", str(submit_dir / name)], timeout=SUBMIT_TIMEOUT, cwd=submit_dir
        )
        if done.returncode != 0:
            raise BackendFailure(f"sbatch refused the sweep: {first_line(done.stderr)}")
        array_id = parse_sbatch(done.stdout)
        return Submission(array_id, {n: f"{array_id}_{n}" for n in nums}, [name])

    def observe(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        """One call for the whole sweep: sacct where accounting exists, else squeue."""
        arrays = ",".join(sorted({sid.split("_")[0] for sid in job_ids.values()}))
        tasks = self._sacct(arrays)
        if tasks is None:
            tasks = self._squeue(arrays)
        seen: dict[int, Observation] = {}
        for num, sid in job_ids.items():
            if sid in tasks:
                state, code, reason = tasks[sid]
                seen[num] = observation(state, reason, "thesis-sweep logs --scheduler", code)
        return seen

    @staticmethod
    def _sacct(arrays: str) -> dict[str, tuple[str, str, str]] | None:
        """The tasks as accounting knows them; None where there is no accounting."""
        done = run_scheduler(["sacct", "-X", "-P", "-n", f"--format={SACCT_FORMAT}", "-j", arrays])
        if done.returncode != 0:
            if any(sign in done.stderr for sign in _NO_ACCOUNTING):
                return None
            raise BackendFailure(f"sacct failed: {first_line(done.stderr)}")
        return parse_sacct(done.stdout)

    @staticmethod
    def _squeue(arrays: str) -> dict[str, tuple[str, str, str]]:
        done = run_scheduler(["squeue", "-h", "-r", "-t", "all", "-j", arrays, "-o", SQUEUE_FORMAT])
        if done.returncode != 0 and "Invalid job id" not in done.stderr:
            raise BackendFailure(f"squeue failed: {first_line(done.stderr)}")
        rows = parse_squeue(done.stdout) if done.returncode == 0 else {}
        return {sid: (state, "", reason) for sid, (state, reason) in rows.items()}

    def remove(self, job_ids: Sequence[str]) -> None:
        done = run_scheduler(["scancel", *job_ids])
        if done.returncode != 0:
            raise BackendFailure(f"scancel failed: {first_line(done.stderr)}")
