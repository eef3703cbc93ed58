"""Launching a campaign's jobs under its cap, all at once.

Locally: one pool of N slots (the local backend) over the jobs of every sweep, so at most N
run at any moment whichever sweep they belong to. On a cluster: ONE submission of packs
over every sweep's jobs (`backends.packs`), whose tasks the scheduler throttles itself:
Slurm's `--array=...%N` lets at most N tasks run, HTCondor's `max_materialize = N` lets at
most N jobs of the cluster exist (idle, running or held) at once; the command returns once
it is submitted, like `run`, and nothing of ours polls. DAGMan's `-maxjobs` counts clusters
(a sweep's whole array would be one), not jobs, and Slurm has nothing like it, so one
submission is the one throttle both schedulers hold for jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sweeper_cli.launch.backends import packs
from sweeper_cli.launch.backends.base import Backend, EventSink, Submission
from sweeper_cli.store import campaigns, layout


def run_locally(backend: Backend, groups: Sequence[packs.SweepJobs], on_event: EventSink) -> None:
    """Run every group's jobs in the local backend's one pool (its `max_parallel` slots);
    returns when all ended (KeyboardInterrupt after stopping them, as `run`)."""
    jobs = [job for group in groups for job in group.jobs]
    if jobs:
        backend.launch(groups[0].sweep_dir, jobs, on_event)


def submit(
    backend: Any,
    record: campaigns.Record,
    groups: Sequence[packs.SweepJobs],
    lines: Sequence[int],
    pack: int,
    cap: int | None,
) -> Submission:
    """One scheduler submission of all the groups' jobs, in packs of `pack`, at most `cap`
    scheduler jobs queued or running; recorded in each sweep and in the campaign record."""
    submit_dir = record.folder / layout.SUBMIT_DIR
    submission = packs.submit_packs(backend, submit_dir, groups, pack, cap, campaign=record.name)
    record.submissions.append(
        {
            "backend": backend.name,
            "scheduler_id": submission.scheduler_id,
            "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "cap": cap,
            "pack": pack,
            "jobs": sum(len(group.jobs) for group in groups),
            "tasks": len(set(submission.job_ids.values())),
            "lines": list(lines),
            "sweeps": [str(group.sweep_dir) for group in groups],
        }
    )
    campaigns.write_record(record)
    return submission


def scheduler_ids(record: campaigns.Record) -> dict[str, list[str]]:
    """The campaign's submissions by backend: their scheduler ids (a Slurm array, an
    HTCondor cluster), for removing what is left of them as a whole."""
    found: dict[str, list[str]] = {}
    for sub in record.submissions:
        if isinstance(sub.get("backend"), str) and isinstance(sub.get("scheduler_id"), str):
            found.setdefault(sub["backend"], []).append(sub["scheduler_id"])
    return found
