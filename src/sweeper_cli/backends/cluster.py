"""What HTCondor and Slurm share: the submit folder, the job script, recording the
submission in the runs index, and turning scheduler answers into job states."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli import store
from sweeper_cli.backends.base import JobRef, Observation, Submission
from sweeper_cli.backends.jobscript import render_job_script, write_job_script
from sweeper_cli.errors import BadInput
from sweeper_cli.profiles import Profile
from sweeper_cli.states import State

SUBMIT_DIR = "submit"
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
    text = str(path)
    bad = [token for token in ("\n", *forbidden) if token in text]
    if bad:
        raise BadInput(
            f"the sweep folder {text!r} contains {bad[0]!r}, which the scheduler's "
            "files cannot hold literally; choose another output root"
        )


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
        **_ignored: object,
    ) -> None:
        self.profile = profile or Profile(backend=self.name)
        self.python = self.profile.python or python or sys.executable
        self.max_parallel = max_parallel or self.profile.max_parallel

    # -- subclass interface ---------------------------------------------------------------
    def submit(
        self, submit_dir: Path, job_script: Path, nums: Sequence[int], tag: int
    ) -> Submission:
        raise NotImplementedError

    def observe(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        raise NotImplementedError

    def remove(self, job_ids: Sequence[str]) -> None:
        raise NotImplementedError

    # -- the protocol -----------------------------------------------------------------------
    def launch(self, sweep_dir: Path, jobs: Sequence[JobRef], on_event: object) -> Submission:
        check_submit_path(sweep_dir, self.forbidden_in_paths)
        submit_dir = sweep_dir / SUBMIT_DIR
        submit_dir.mkdir(exist_ok=True)
        script = write_job_script(
            submit_dir, render_job_script(self.profile, self.python, sweep_dir)
        )
        index = store.read_index(sweep_dir)
        tag = len(index["sweep"].get("submissions") or []) + 1
        nums = [job.num for job in jobs]
        try:
            submission = self.submit(submit_dir, script, nums, tag)
        except Exception as exc:
            for job in jobs:  # never launched: say so, so `resume` can retry them
                store.write_status(
                    job.run_dir,
                    {
                        "num": job.num,
                        "state": State.FAILED.value,
                        "attempt": 0,
                        "reason": f"not submitted: {exc}",
                    },
                )
            raise
        record_submission(sweep_dir, self.name, submission, nums)
        return submission

    def poll(
        self, sweep_dir: Path, index: Mapping[str, Any], nums: Sequence[int]
    ) -> dict[int, Observation]:
        ids = scheduler_ids(index, nums)
        return self.observe(sweep_dir, ids) if ids else {}

    def cancel(self, sweep_dir: Path, index: Mapping[str, Any], nums: Sequence[int]) -> None:
        ids = scheduler_ids(index, nums)
        if ids:
            self.remove(sorted(ids.values()))


def scheduler_ids(index: Mapping[str, Any], nums: Sequence[int]) -> dict[int, str]:
    wanted = set(nums)
    return {
        int(job["num"]): str(job["scheduler_id"])
        for job in index["jobs"]
        if int(job["num"]) in wanted and job.get("scheduler_id")
    }


def record_submission(
    sweep_dir: Path, backend: str, submission: Submission, nums: Sequence[int]
) -> None:
    """Write the submission's ids into runs_index.json."""
    index = store.read_index(sweep_dir)
    sweep = index["sweep"]
    sweep["backend"] = backend
    sweep.setdefault("scheduler_ids", []).append(submission.scheduler_id)
    sweep.setdefault("submissions", []).append(
        {
            "scheduler_id": submission.scheduler_id,
            "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "jobs": list(nums),
            "files": list(submission.files),
        }
    )
    for job in index["jobs"]:
        num = int(job["num"])
        if num in submission.job_ids:
            job["scheduler_id"] = submission.job_ids[num]
    store.write_index(sweep_dir, index)


def submitted_at(index: Mapping[str, Any], num: int) -> datetime | None:
    """When the newest submission holding job `num` was made."""
    for sub in reversed(index["sweep"].get("submissions") or []):
        if num in sub.get("jobs", ()):
            return datetime.fromisoformat(sub["submitted"])
    return None
