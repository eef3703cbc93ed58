"""What HTCondor and Slurm share: the submit folder, the job script and the runner copy,
recording each submission in its own file, and turning scheduler answers into job states."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from sweeper_cli.errors import BadInput
from sweeper_cli.launch import pack as pack_runner
from sweeper_cli.launch import runner
from sweeper_cli.launch.backends.base import JobRef, Observation, Submission
from sweeper_cli.launch.backends.jobscript import (
    JOB_SCRIPT,
    PACK_COPY,
    PROTOCOL_COPY,
    RUNNER_COPY,
    check_setup,
    render_job_script,
    write_job_script,
)
from sweeper_cli.project.profiles import Profile
from sweeper_cli.states import State
from sweeper_cli.store import jobfiles, layout, run_files, submissions

SUBMIT_DIR = layout.SUBMIT_DIR
# A job the scheduler does not know and that never reported is lost only after this many
# seconds since its submission: schedulers take a moment to list a fresh submission.
LOST_GRACE = float(os.environ.get("THESIS_SWEEP_LOST_GRACE", "120"))


def compress(nums: Iterable[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (Slurm's --array syntax)."""
    ordered = sorted(set(nums))
    parts: list[str] = []
    start = prev = None
    for num in [*ordered, None]:
        if num is not None and prev is not None and num == prev + 1:
            prev = num
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = num
    return ",".join(parts)


def check_submit_path(path: Path, forbidden: Sequence[str]) -> None:
    """BadInput if `path` holds a character the scheduler's files cannot hold literally,
    a line break, or blanks or a backslash at an end (submit files strip and continue)."""
    text = str(path)
    bad = [token for token in ("\n", "\r", "\0", *forbidden) if token in text]
    if text != text.strip() or text.endswith("\\"):
        bad.append("a blank or backslash at its end")
    if bad:
        raise BadInput(
            f"the sweep folder {text!r} contains {bad[0]!r}, which the scheduler's "
            "files cannot hold literally; choose another output root"
        )


def scheduler_logs(
    sweep_dir: Path, backend: str, logs: str | None, job_id: str, num: int
) -> list[Path]:
    """The scheduler's own output files of job `num` (scheduler id `job_id`) in the
    submission's logs folder: Slurm's `slurm-<array>_<task>.out`, HTCondor's
    `condor-<cluster>_<num>.out` and `.err`."""
    folder = Path(logs) if logs else sweep_dir / SUBMIT_DIR
    if backend == "slurm":
        return [folder / f"slurm-{job_id}.out"]
    cluster = job_id.partition(".")[0]
    return [folder / f"condor-{cluster}_{num}.{kind}" for kind in ("out", "err")]


class ClusterBackend:
    """Base of the scheduler backends: `launch` submits and records; subclasses render,
    submit, query and cancel."""

    name = "cluster"
    forbidden_in_paths: tuple[str, ...] = ()

    def __init__(
        self,
        profile: Profile | None = None,
        python: str | None = None,
        max_parallel: int | None = None,
        pack: int | None = None,
        **_ignored: object,
    ) -> None:
        self.profile = profile or Profile(backend=self.name)
        # The interpreter that runs the app runs the runner too: the one the sweep's jobs
        # record (the profile's, resolved by the settings), else the profile's as written.
        self.python = python or self.profile.python or sys.executable
        self.max_parallel = max_parallel or self.profile.max_parallel
        self.pack = pack or 1  # jobs one after another in one scheduler job
        check_setup(self.profile)

    # -- subclass interface ---------------------------------------------------------------
    def render(
        self, submit_dir: Path, job_script: Path, nums: Sequence[int], tag: int, logs: Path
    ) -> dict[str, str]:
        """The files of the `tag`-th submission (name in the submit folder -> text)."""
        raise NotImplementedError

    def submit(self, submit_dir: Path, files: Mapping[str, str], nums: Sequence[int]) -> Submission:
        """Submit the rendered files (already written) as one array/cluster."""
        raise NotImplementedError

    def observe(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        raise NotImplementedError

    def remove(self, job_ids: Sequence[str]) -> None:
        raise NotImplementedError

    # -- the protocol -----------------------------------------------------------------------
    def check_paths(self, paths: Sequence[Path]) -> None:
        for path in paths:
            check_submit_path(path, self.forbidden_in_paths)
        for path in paths:
            check_submit_path(self.logs_dir(path), self.forbidden_in_paths)

    def logs_dir(self, sweep_dir: Path) -> Path:
        """Where the scheduler's own .out/.err files go: the profile's `logs` folder (one
        folder per sweep in it), else the sweep's submit folder."""
        if self.profile.logs:
            return Path(self.profile.logs) / sweep_dir.name
        return sweep_dir / SUBMIT_DIR

    def preview(self, sweep_dir: Path, nums: Sequence[int]) -> dict[str, str]:
        """What the first submission of a new sweep would write: its files and job.sh."""
        if self.pack > 1:
            from sweeper_cli.launch.backends import packs

            return packs.preview_packs(self, sweep_dir, nums, self.pack)
        submit_dir = sweep_dir / SUBMIT_DIR
        script = render_job_script(self.profile, self.python, sweep_dir)
        files = self.render(submit_dir, submit_dir / JOB_SCRIPT, nums, 1, self.logs_dir(sweep_dir))
        return {**files, JOB_SCRIPT: script}

    def launch(self, sweep_dir: Path, jobs: Sequence[JobRef], on_event: object) -> Submission:
        if self.pack > 1:
            from sweeper_cli.launch.backends import packs

            return packs.submit_packs(
                self, sweep_dir / SUBMIT_DIR, [packs.SweepJobs(sweep_dir, jobs)], self.pack
            )
        self.check_paths([sweep_dir])
        submit_dir = sweep_dir / SUBMIT_DIR
        logs = self.prepare_submit_dir(submit_dir, self.logs_dir(sweep_dir))
        script = write_job_script(
            submit_dir, render_job_script(self.profile, self.python, sweep_dir)
        )
        tag = len(submissions.read_submissions(sweep_dir)) + 1
        nums = [job.num for job in jobs]
        submission = self.submit_files(submit_dir, script, nums, tag, logs, jobs)
        submissions.record_submission(
            sweep_dir,
            {
                "scheduler_id": submission.scheduler_id,
                "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "job_ids": {str(n): sid for n, sid in submission.job_ids.items()},
                "files": list(submission.files),
                "logs": str(logs),
                "backend": self.name,
                "profile": self.profile.as_json(),
                "python": self.python,
                "max_parallel": self.max_parallel,
            },
        )
        return submission

    def prepare_submit_dir(self, submit_dir: Path, logs: Path, pack: bool = False) -> Path:
        """Make the submit and logs folders and copy the runner (with the protocol it loads,
        and the pack runner for packs) into the submit folder; returns the logs folder."""
        submit_dir.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)  # Slurm does not create it
        # The protocol first: a runner copy never stands without the module it loads.
        copies = [(PROTOCOL_COPY, jobfiles.__file__), (RUNNER_COPY, runner.__file__)]
        if pack:
            copies.append((PACK_COPY, pack_runner.__file__))
        for name, source in copies:
            jobfiles.atomic_write_bytes(submit_dir / name, Path(source).read_bytes())
        hooks = submit_dir / runner.HOOKS.name  # the runner copy finds them beside itself
        hooks.mkdir(exist_ok=True)
        for hook in runner.HOOKS.glob("*.py"):
            jobfiles.atomic_write_bytes(hooks / hook.name, hook.read_bytes())
        return logs

    def submit_files(
        self,
        submit_dir: Path,
        script: Path,
        nums: Sequence[int],
        tag: int,
        logs: Path,
        jobs: Sequence[JobRef],
    ) -> Submission:
        """Render, write and submit the `tag`-th submission of `nums` (job or pack numbers);
        if it fails, every job in `jobs` is recorded as not submitted (so `resume` retries)."""
        files = self.render(submit_dir, script, nums, tag, logs)
        try:
            for name, text in files.items():
                layout.atomic_write_text(submit_dir / name, text)
            return self.submit(submit_dir, files, nums)
        except Exception as exc:
            for job in jobs:  # never launched: say so, so `resume` can retry them
                run_files.write_status(
                    job.run_dir,
                    {
                        "num": job.num,
                        "state": State.FAILED.value,
                        "attempt": _attempt(job.run_dir),
                        "reason": f"not submitted: {exc}",
                    },
                )
            raise

    def poll(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        return self.observe(sweep_dir, job_ids) if job_ids else {}

    def cancel(self, sweep_dir: Path, jobs: Sequence[JobRef]) -> None:
        ids = sorted({job.scheduler_id for job in jobs if job.scheduler_id})
        if ids:
            self.remove(ids)


def _attempt(run_dir: Path) -> int:
    try:
        return run_files.read_status(run_dir).attempt
    except (OSError, ValueError):
        return 0
