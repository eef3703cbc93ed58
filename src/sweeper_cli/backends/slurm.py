"""Slurm: one `sbatch --array` per launch, one `squeue` per status, one `scancel` per cancel.

Facts this relies on (Slurm 22.05, `man sbatch`, `man squeue`):
- `sbatch --parsable` prints the job id (`id` or `id;cluster`).
- `squeue -r` prints one line per array task; `%F` is the array job id, `%K` the task id.
  `-t all` keeps finished tasks while slurmctld remembers them (MinJobAge, 300 s by
  default); after that, or for an unknown id, squeue exits 1 ("Invalid job id").
- A pending task cancelled with scancel vanishes from squeue instead of showing CANCELLED.
- `sacct` needs slurmdbd, which not every cluster runs: the run's own status.json comes
  first, squeue second.
- Slurm does not create the folder of `--output`: it must exist before submission.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from sweeper_cli import store
from sweeper_cli.backends.base import Observation, Submission
from sweeper_cli.backends.cluster import ClusterBackend, compress
from sweeper_cli.backends.commands import SUBMIT_TIMEOUT, first_line, run_scheduler
from sweeper_cli.errors import BackendFailure
from sweeper_cli.profiles import Profile
from sweeper_cli.states import State

SQUEUE_FORMAT = "%i|%F|%K|%T|%r"
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
_CANCELLED = {"CANCELLED", "REVOKED"}


def render_sbatch(
    sweep_name: str,
    submit_dir: Path,
    job_script: Path,
    nums: Sequence[int],
    profile: Profile,
    max_parallel: int | None,
) -> str:
    """The batch script of one array submission (re-submittable with `sbatch FILE`)."""
    array = compress(nums) + (f"%{max_parallel}" if max_parallel else "")
    out = submit_dir / "slurm-%A_%a.out"
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
        "# Each array task runs one job of the sweep: the task id is the job number.",
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


def observation(state: str, reason: str, where: str) -> Observation:
    if state in _QUEUED:
        why = "" if reason in ("None", "") else f": {reason}"
        return Observation(State.QUEUED, f"slurm {state.lower()}{why}")
    if state in _RUNNING:
        return Observation(State.RUNNING, "started; its runner has not reported yet")
    if state in _CANCELLED:
        return Observation(State.CANCELLED, f"slurm {state.lower()} before the job reported")
    return Observation(State.FAILED, f"slurm {state} before the job reported (see {where})")


class SlurmBackend(ClusterBackend):
    name = "slurm"
    # Quoted in an #SBATCH line: no `"` or `\`; `%` is a file-name pattern there.
    forbidden_in_paths = ('"', "%", "\\")

    def submit(
        self, submit_dir: Path, job_script: Path, nums: Sequence[int], tag: int
    ) -> Submission:
        script = submit_dir / f"sweep-{tag}.sbatch"
        store.atomic_write_text(
            script,
            render_sbatch(
                submit_dir.parent.name,
                submit_dir,
                job_script,
                nums,
                self.profile,
                self.max_parallel,
            ),
        )
        done = run_scheduler(
            ["sbatch", "--parsable", str(script)], timeout=SUBMIT_TIMEOUT, cwd=submit_dir
        )
        if done.returncode != 0:
            raise BackendFailure(f"sbatch refused the sweep: {first_line(done.stderr)}")
        array_id = parse_sbatch(done.stdout)
        return Submission(array_id, {n: f"{array_id}_{n}" for n in nums}, [script.name])

    def observe(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        arrays = sorted({sid.split("_")[0] for sid in job_ids.values()})
        done = run_scheduler(
            ["squeue", "-h", "-r", "-t", "all", "-j", ",".join(arrays), "-o", SQUEUE_FORMAT]
        )
        if done.returncode != 0 and "Invalid job id" not in done.stderr:
            raise BackendFailure(f"squeue failed: {first_line(done.stderr)}")
        tasks = parse_squeue(done.stdout) if done.returncode == 0 else {}
        seen: dict[int, Observation] = {}
        for num, sid in job_ids.items():
            if sid in tasks:
                where = f"submit/slurm-{sid}.out"
                seen[num] = observation(*tasks[sid], where)
        return seen

    def remove(self, job_ids: Sequence[str]) -> None:
        done = run_scheduler(["scancel", *job_ids])
        if done.returncode != 0:
            raise BackendFailure(f"scancel failed: {first_line(done.stderr)}")
