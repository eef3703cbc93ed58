"""Packs: several jobs run one after another inside one scheduler job, and one submission
over the jobs of several sweeps.

A pack is a list of jobs of one sweep that the pack runner (`launch/pack.py`) runs in
order inside one scheduler job: one slot, one queue wait, each job still its own run dir,
attempt, status and log. `submit_packs` makes the packs of some sweeps' jobs and submits
all of them as ONE Slurm array or HTCondor cluster, whose tasks are the packs; the
scheduler's own throttle on that one submission (`%N`, `max_materialize = N`) is what keeps
at most N of them queued or running. It writes into the submit folder it is given:

    runner.py, jobfiles.py, pack.py   the runner, its protocol and the pack runner
    packs-<k>.json                    pack number -> the run dirs of its jobs, in order
    pack-<k>.sh                       the job script: `$1` is the pack number
    sweep-<k>.sbatch | sweep-<k>.sub + items-<k>.txt   the submission (pack numbers)

and records in every sweep it launched jobs of a `submit/submission-<j>.json` as any
submission: each job's scheduler id (its pack's task), and `tasks` (each job's pack
number), `pack` (the pack size) and, on HTCondor, the cluster's `event_log`.

A pack asks for `size` times the profile's `time` (each job keeps the time it would have
had alone); cpus, memory and GPUs are those of one job, since its jobs run one at a time.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli.launch.backends.base import JobRef, Submission
from sweeper_cli.launch.backends.jobscript import render_job_script, write_job_script
from sweeper_cli.project.profiles import Profile, with_resources
from sweeper_cli.store import layout, submissions

_TAGGED = re.compile(r"(?:packs|sweep|pack)-(\d+)\.")


@dataclass(frozen=True)
class SweepJobs:
    """Jobs of one sweep to launch."""

    sweep_dir: Path
    jobs: Sequence[JobRef]


@dataclass(frozen=True)
class Packed:
    """One job in a pack: the sweep it belongs to and the job."""

    sweep_dir: Path
    job: JobRef


def make_packs(groups: Sequence[SweepJobs], size: int) -> list[list[Packed]]:
    """Each sweep's jobs, in order, in packs of `size` (a sweep's last pack may be smaller);
    a pack never mixes sweeps, so removing a pack's scheduler job touches one sweep."""
    if size < 1:
        raise ValueError("a pack holds at least one job")
    packs: list[list[Packed]] = []
    for group in groups:
        jobs = [Packed(group.sweep_dir, job) for job in group.jobs]
        packs += [jobs[i : i + size] for i in range(0, len(jobs), size)]
    return packs


def pack_profile(profile: Profile, size: int) -> Profile:
    """What one pack asks the scheduler for: `size` times the time of one job."""
    if size <= 1 or not profile.time:
        return profile
    return with_resources(profile, time=f"x{size}")


def free_tag(submit_dir: Path, at_least: int = 1) -> int:
    """The lowest submission number >= `at_least` that no file in `submit_dir` uses yet."""
    try:
        names = [p.name for p in submit_dir.iterdir()]
    except OSError:
        names = []
    used = {int(m.group(1)) for m in map(_TAGGED.match, names) if m}
    tag = at_least
    while tag in used:
        tag += 1
    return tag


def _per_pack(backend: Any, packs: Sequence[Sequence[Packed]], cap: int | None) -> Any:
    """The same backend, asking for one pack's resources, capped at `cap`."""
    per_pack = copy.copy(backend)
    per_pack.profile = pack_profile(backend.profile, max(len(p) for p in packs))
    per_pack.max_parallel = cap or backend.max_parallel
    return per_pack


def preview_packs(backend: Any, sweep_dir: Path, nums: Sequence[int], size: int) -> dict[str, str]:
    """What the first packed submission of a new sweep would write (`run --dry-run`)."""
    submit_dir = sweep_dir / layout.SUBMIT_DIR
    jobs = [JobRef(num, sweep_dir) for num in nums]
    packs = make_packs([SweepJobs(sweep_dir, jobs)], size)
    packs_file = submit_dir / "packs-1.json"
    script = render_job_script(backend.profile, backend.python, sweep_dir, packs_file)
    per_pack = _per_pack(backend, packs, None)
    files = per_pack.render(
        submit_dir,
        submit_dir / "pack-1.sh",
        list(range(len(packs))),
        1,
        backend.logs_dir(sweep_dir),
    )
    shown = [[f"job {p.job.num}" for p in pack] for pack in packs]
    return {**files, "pack-1.sh": script, packs_file.name: json.dumps(shown) + "\n"}


def submit_packs(
    backend: Any,
    submit_dir: Path,
    groups: Sequence[SweepJobs],
    size: int,
    cap: int | None = None,
    campaign: str | None = None,
) -> Submission:
    """Submit the groups' jobs as packs of `size`, one scheduler submission whose tasks are
    the packs, at most `cap` (default: the backend's max_parallel) queued or running at
    once; record it in each sweep. Returns the submission (keys: pack numbers)."""
    groups = [g for g in groups if g.jobs]
    for group in groups:
        backend.check_paths([group.sweep_dir])
    backend.check_paths([submit_dir.parent])
    packs = make_packs(groups, size)
    logs = backend.prepare_submit_dir(submit_dir, backend.logs_dir(submit_dir.parent), pack=True)
    own = [g.sweep_dir for g in groups if g.sweep_dir / layout.SUBMIT_DIR == submit_dir]
    tag = free_tag(submit_dir, len(submissions.read_submissions(own[0])) + 1 if own else 1)
    packs_file = submit_dir / f"packs-{tag}.json"
    layout.atomic_write_json(
        packs_file,
        {
            "schema_version": 1,
            "packs": [[str(p.job.run_dir) for p in pack] for pack in packs],
        },
    )
    script = write_job_script(
        submit_dir,
        render_job_script(backend.profile, backend.python, submit_dir.parent, packs_file),
        f"pack-{tag}.sh",
    )
    per_pack = _per_pack(backend, packs, cap)
    everyone = [p.job for pack in packs for p in pack]
    submission: Submission = per_pack.submit_files(
        submit_dir, script, list(range(len(packs))), tag, logs, everyone
    )
    _record(backend, submission, packs, size, per_pack.max_parallel, logs, submit_dir, campaign)
    return submission


def _record(
    backend: Any,
    submission: Submission,
    packs: Sequence[Sequence[Packed]],
    size: int,
    cap: int | None,
    logs: Path,
    submit_dir: Path,
    campaign: str | None,
) -> None:
    """One submission record in each sweep: its own jobs' ids and packs."""
    submitted = datetime.now(timezone.utc).isoformat(timespec="seconds")
    files = [str(submit_dir / name) for name in submission.files]
    event_log = next((f for f in files if Path(f).name.startswith("events-")), None)
    by_sweep: dict[Path, dict[str, dict[str, Any]]] = {}
    for number, pack in enumerate(packs):
        for member in pack:
            mine = by_sweep.setdefault(member.sweep_dir, {"job_ids": {}, "tasks": {}})
            mine["job_ids"][str(member.job.num)] = submission.job_ids[number]
            mine["tasks"][str(member.job.num)] = number
    for sweep_dir, mine in by_sweep.items():
        record: dict[str, Any] = {
            "scheduler_id": submission.scheduler_id,
            "submitted": submitted,
            **mine,
            "pack": size,
            "files": files,
            "logs": str(logs),
            "backend": backend.name,
            "profile": backend.profile.as_json(),
            "python": backend.python,
            "max_parallel": cap,
        }
        if event_log is not None:
            record["event_log"] = event_log
        if campaign is not None:
            record["campaign"] = campaign
        (sweep_dir / layout.SUBMIT_DIR).mkdir(exist_ok=True)
        submissions.record_submission(sweep_dir, record)
