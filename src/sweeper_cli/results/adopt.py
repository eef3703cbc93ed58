"""Adopt a folder made by Hydra's own `--multirun` into thesis-sweep's layout.

    <root>/multiruns/exp_<TS>_<name>/{multirun.yaml, 0/, 1/, ...}
 -> <root>/runs/run_<TS>_<name>_job<N>/             (each numbered job folder, moved)
    <root>/multiruns/exp_<TS>_<name>/{multirun.yaml, runs_index.json, runptrs/}

`plan_adoption` reads and checks everything and writes nothing (it is `--dry-run`).
`execute` then works in an order that a re-run can always finish:

1. write `adopt-plan.json` in the multirun folder (atomically): the plan, fixed from now on;
2. move each job folder (`moves.move_tree`: a rename, or copy + verify + delete); a job
   already at its target is skipped;
3. write each run's `.sweep/status.json`, then `runptrs/`, then `runs_index.json`;
4. delete the plan file.

While the plan file exists, running adopt again continues from it. Hydra records no job
outcome, so states are inferred from its job folders (`hydra_multirun`, which reads them);
start and end times are file times. Hydra is imported (its override parser, for the swept
keys) only while planning.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.planning.naming import TIMESTAMP_FORMAT, Naming, check_name, timestamp
from sweeper_cli.results import hydra_multirun, moves, writers
from sweeper_cli.store import jobfiles, layout, owners, run_files, runptrs, runs_index
from sweeper_cli.store.jobfiles import hostname

PLAN_FILE = "adopt-plan.json"
PLAN_SCHEMA = 1
SWEEP_PATTERN = "exp_{ts}_{name}"
_FOLDER = re.compile(r"exp_(?P<ts>\d{8}-\d{6}(?:\.\d+)?)_(?P<name>.+)")


@dataclass(frozen=True)
class AdoptJob:
    """One numbered job folder and where it goes."""

    num: int
    source: str  # the job folder's name inside the multirun folder
    target: str  # the run dir, relative to the output root
    overrides: list[str]
    state: str
    reason: str | None
    start: str | None
    end: str | None


@dataclass(frozen=True)
class AdoptPlan:
    """Everything adopt will do; saved as adopt-plan.json so a re-run finishes the same."""

    multirun_dir: str
    output_root: str
    name: str
    stamp: str
    created: str
    sweep: dict[str, Any]  # the index fields read from multirun.yaml
    jobs: list[AdoptJob]
    left_in_place: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    success_file: str | None = None

    @property
    def folder(self) -> Path:
        return Path(self.multirun_dir)

    @property
    def root(self) -> Path:
        return Path(self.output_root)

    def source(self, job: AdoptJob) -> Path:
        return self.folder / job.source

    def target(self, job: AdoptJob) -> Path:
        return self.root / job.target

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": PLAN_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AdoptPlan:
        fields = {k: v for k, v in data.items() if k != "schema_version"}
        fields["jobs"] = [AdoptJob(**job) for job in fields["jobs"]]
        return cls(**fields)


# --- planning ---------------------------------------------------------------------------


def _name_and_stamp(folder: Path, name: str | None) -> tuple[str, str, datetime]:
    match = _FOLDER.fullmatch(folder.name)
    if match:
        stamp = match["ts"]
        created = datetime.strptime(stamp.split(".")[0], TIMESTAMP_FORMAT).astimezone()
        chosen = name or match["name"]
    else:  # not thesis-sweep-like: multirun.yaml's mtime (the folder's changes as jobs leave)
        created = datetime.fromtimestamp((folder / layout.MULTIRUN_FILE).stat().st_mtime)
        created = created.astimezone()
        stamp = timestamp(created)
        chosen = name or folder.name
    try:
        return check_name(chosen), stamp, created
    except BadInput as exc:
        raise BadInput(f"{exc}; pass --name NAME") from None


def output_root_of(folder: Path, given: Path | None) -> Path:
    """`--output-root`, else the grandparent of a folder inside `multiruns/`."""
    if given is not None:
        return given.resolve()
    if folder.parent.name == "multiruns":
        return folder.parent.parent
    raise BadInput(
        f"cannot tell the output root of {folder} (its parent is not a 'multiruns' folder): "
        "pass --output-root DIR (runs go to DIR/runs/)"
    )


def plan_adoption(
    folder: Path,
    output_root: Path | None,
    name: str | None,
    run_pattern: str,
    success_file: str | None = None,
) -> AdoptPlan:
    """Read and check everything; write nothing. Raises BadInput on any problem."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder")
    if not (folder / layout.MULTIRUN_FILE).is_file():
        raise BadInput(f"{folder} is not a Hydra multirun folder: it has no multirun.yaml")
    if (folder / layout.INDEX_FILE).exists():
        raise BadInput(f"{folder} already has a {layout.INDEX_FILE}: it is a thesis-sweep sweep")
    jobs_found = hydra_multirun.job_folders(folder)
    if not jobs_found:
        raise BadInput(
            f"{folder} is not a Hydra multirun folder: no numbered job folders with .hydra/"
        )
    refuse_while_written(folder)
    root = output_root_of(folder, output_root)
    chosen, stamp, created = _name_and_stamp(folder, name)
    naming = Naming(chosen, stamp, run_pattern, SWEEP_PATTERN)
    sweep, notes = hydra_multirun.read_multirun(folder)
    jobs = []
    for num, job_dir in jobs_found:
        overrides, job_name = hydra_multirun.read_job(num, job_dir)
        state, reason = hydra_multirun.infer_state(job_dir, job_name, success_file)
        start, end = hydra_multirun.file_times(job_dir)
        target = root / "runs" / naming.run_folder(num)
        if target.exists() or target.is_symlink():
            raise BadInput(f"target {target} exists: nothing was moved")
        rel = os.path.relpath(target, root)
        jobs.append(AdoptJob(num, job_dir.name, rel, overrides, state.value, reason, start, end))
    job_names = {job_dir.name for _, job_dir in jobs_found}
    left = sorted(e for e in os.listdir(folder) if e not in job_names | {layout.MULTIRUN_FILE})
    return AdoptPlan(
        multirun_dir=str(folder),
        output_root=str(root),
        name=chosen,
        stamp=stamp,
        created=created.isoformat(timespec="seconds"),
        sweep=sweep,
        jobs=jobs,
        left_in_place=left,
        notes=notes,
        success_file=success_file,
    )


def refuse_while_written(folder: Path) -> None:
    """BadInput while the multirun still runs: its job folders must not move under it."""
    why = writers.still_written(folder)
    if why is not None:
        raise BadInput(
            f"{folder} is still being written, {why}: adopt it once the multirun has ended "
            "(nothing was moved)"
        )


def saved_plan(folder: Path) -> AdoptPlan | None:
    """The plan of an interrupted adopt of `folder`, if there is one."""
    path = folder.expanduser().resolve() / PLAN_FILE
    if not path.is_file():
        return None
    try:
        data = jobfiles.read_json(path)
        if data.get("schema_version") != PLAN_SCHEMA:
            raise ValueError(f"schema_version {data.get('schema_version')!r}")
        return AdoptPlan.from_json(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadInput(f"cannot read {path} ({exc}): an adopt was interrupted; see it") from None


def check_resumable(plan: AdoptPlan) -> None:
    """Each job of a saved plan is at its source or its target, not both."""
    for job in plan.jobs:
        source, target = plan.source(job), plan.target(job)
        if source.exists() and target.exists():
            raise BadInput(
                f"both {source} and {target} exist: move one away by hand and re-run adopt"
            )
        if not (source.exists() or target.exists() or moves.trash_for(source).exists()):
            raise BadInput(f"job {job.num}: neither {source} nor {target} exists")


# --- doing it ---------------------------------------------------------------------------


def write_plan(plan: AdoptPlan) -> None:
    layout.atomic_write_json(plan.folder / PLAN_FILE, plan.to_json())


def move_job(plan: AdoptPlan, job: AdoptJob) -> str:
    """Move one job folder to its run dir: 'rename', 'copy', or 'done' (already there)."""
    source, target = plan.source(job), plan.target(job)
    target.parent.mkdir(parents=True, exist_ok=True)
    return moves.move_tree(source, target)


def _status_record(plan: AdoptPlan, job: AdoptJob) -> dict[str, Any]:
    return {
        "num": job.num,
        "state": job.state,
        "attempt": 1,
        "host": None,
        "start": job.start,
        "end": job.end,
        "exit_code": None,
        "signal": None,
        "reason": job.reason,
        "adopted_from": str(plan.source(job)),
    }


def index_of(plan: AdoptPlan, argv: Sequence[str]) -> dict[str, Any]:
    """runs_index.json for the adopted sweep: the fields `sweep.create` writes."""
    root = plan.root
    jobs = []
    for job in plan.jobs:
        jobs.append(
            {
                "num": job.num,
                "overrides": list(job.overrides),
                "run_dir": os.path.relpath(plan.target(job), root),
                "state": job.state,
                "start": job.start,
                "end": job.end,
                "attempts": 1,
                "reason": job.reason,
            }
        )
    meta = dict(plan.sweep)
    hydra_version = meta.pop("hydra_version", None)
    return {
        "schema_version": runs_index.SCHEMA_VERSION,
        "sweep": {
            "id": plan.folder.name,
            "name": plan.name,
            "created": plan.created,
            "argv": list(argv),
            "cwd": meta.pop("cwd", None),
            "module": None,
            "command": None,
            "python": None,
            **meta,
            "output_root": str(root),
            "backend": "local",
            "profile": None,
            "git": None,
            "adopted": {
                "from": "hydra --multirun",
                "hydra_version": hydra_version,
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "host": hostname(),
            },
        },
        "jobs": jobs,
    }


def finish(plan: AdoptPlan, argv: Sequence[str]) -> None:
    """Status files, runptrs, the index, then delete the plan (each step idempotent)."""
    for job in plan.jobs:
        target = plan.target(job)
        layout.sweep_meta(target).mkdir(exist_ok=True)
        owners.write_owner(target, plan.folder)
        run_files.write_status(target, _status_record(plan, job))
    for job in plan.jobs:
        runptrs.write_runptr(plan.folder, job.num, plan.target(job))
    runs_index.write_index(plan.folder, index_of(plan, argv))
    with contextlib.suppress(FileNotFoundError):
        (plan.folder / PLAN_FILE).unlink()


def execute(
    plan: AdoptPlan,
    argv: Sequence[str],
    report: Callable[[AdoptJob, str], None] = lambda job, how: None,
) -> None:
    """Carry out `plan` (fresh or saved): plan file, moves, metadata, plan file deleted."""
    writer = writers.live_writer(plan.folder)
    if writer is not None:
        raise BadInput(
            f"{plan.folder} is still being written: a live process works in it, {writer}"
        )
    if not (plan.folder / PLAN_FILE).exists():
        write_plan(plan)
    for job in plan.jobs:
        report(job, move_job(plan, job))
    finish(plan, argv)
