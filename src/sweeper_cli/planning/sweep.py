"""Plan, validate and create a sweep: from settings and overrides to folders on disk.

`prepare` writes nothing. `create` claims the sweep folder (an exclusive mkdir), writes
runs_index.json first (the header, every job, the job template), then each run dir (its
job.json and a `queued` status.json) and runptr, and multirun.yaml last: a sweep without
multirun.yaml is incomplete. An error undoes the creation; a kill leaves an incomplete
sweep that `status` shows, `resume` finishes and `remove` deletes.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.planning import space, validate
from sweeper_cli.planning.naming import Naming, check_name, check_pattern, timestamp
from sweeper_cli.planning.plan import Plan, hydra_quote, multirun_yaml, plan_sweep
from sweeper_cli.project.app import Target, resolve_target
from sweeper_cli.project.settings import Settings
from sweeper_cli.states import State
from sweeper_cli.store import (
    jobfiles,
    layout,
    owners,
    provenance,
    runptrs,
    runs_index,
    search_files,
)
from sweeper_cli.store.jobfiles import hostname, start_ticks


@dataclass(frozen=True)
class Prepared:
    """A validated sweep that has not touched the disk yet."""

    settings: Settings
    target: Target
    plan: Plan
    naming: Naming
    output_root: Path
    typed_overrides: tuple[str, ...]
    created: datetime
    objectives: tuple[str, ...] = ()  # a search: the metric(s) each trial is judged by

    def run_dir(self, num: int, naming_: Naming | None = None) -> Path:
        return self.output_root / "runs" / (naming_ or self.naming).run_folder(num)

    @property
    def sweep_dir(self) -> Path:
        """The sweep folder it would get (a clash at creation adds a suffix)."""
        return self.output_root / "multiruns" / self.naming.sweep_folder


def prepare(
    settings: Settings,
    overrides: Sequence[str],
    now: datetime | None = None,
    on_app: Callable[[dict[str, Any]], None] | None = None,
    objective: str | None = None,
) -> Prepared:
    """Plan and validate; raise BadInput on any problem. Writes nothing. `on_app` gets the
    jobs' command, cwd and env (`app_template`) as soon as the app is known."""
    name = check_name(settings["name"])
    run_pattern = check_pattern(settings["run_dir_pattern"], "run_dir_pattern", True)
    sweep_pattern = check_pattern(settings["sweep_dir_pattern"], "sweep_dir_pattern", False)
    validate.check_python(settings)
    target = resolve_target(settings)
    validate.check_app(target, settings)
    if on_app is not None:
        on_app(app_template(settings, target))
    with warnings.catch_warnings():  # Hydra's deprecation notes: the app's own log says them
        warnings.simplefilter("ignore")
        plan = plan_sweep(
            target.config_dir,
            target.config_name,
            list(overrides),
            settings["max_jobs"],
            target.version_base,
        )
    root = settings.project_root
    if settings["output_root"] is not None:
        output_root = Path(settings["output_root"])
    elif plan.output_root is not None:
        output_root = Path(plan.output_root).expanduser()
    else:
        output_root = Path("outputs")
    output_root = output_root if output_root.is_absolute() else root / output_root
    validate.check_output_root(output_root)
    created = now or datetime.now(timezone.utc).astimezone()
    names = Naming(name, timestamp(created), run_pattern, sweep_pattern)
    objectives: tuple[str, ...] = ()
    if plan.search is not None:
        objectives = space.objectives(plan.config, objective, plan.search.directions)
    elif objective is not None:
        raise BadInput("--objective is for searches (a config with Hydra's Optuna sweeper)")
    if settings["validate"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if plan.search is None:
                validate.compose_jobs(plan)
            else:
                validate.compose_search(plan)
    root = output_root.resolve()
    return Prepared(settings, target, plan, names, root, tuple(overrides), created, objectives)


def app_template(settings: Settings, target: Target) -> dict[str, Any]:
    """What every job's command shares: the app and its Hydra flags, cwd and env."""
    argv = list(target.argv)
    if target.pass_config_dir:
        argv += ["-cd", str(target.config_dir)]
    if target.pass_config_name:
        argv += ["-cn", target.config_name]
    env = {"HYDRA_FULL_ERROR": "1"}
    extra = [str(p) for p in target.python_path]
    if extra:
        current = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join(extra + ([current] if current else []))
    return {"argv": argv, "cwd": str(settings.project_root), "env": env}


def job_template(prepared: Prepared) -> dict[str, Any]:
    """`app_template` and the user's hydra.* overrides: kept in the index, so `resume`
    can rebuild a lost job.json."""
    app = app_template(prepared.settings, prepared.target)
    return {
        "argv": app["argv"],
        "hydra_overrides": list(prepared.plan.hydra_overrides),
        "cwd": app["cwd"],
        "env": app["env"],
    }


def job_spec(
    template: Mapping[str, Any],
    name: str,
    sweep_dir: Path,
    num: int,
    overrides: Sequence[str],
    run_dir: Path,
) -> dict[str, Any]:
    """A job's job.json: the app, its Hydra flags, the job's overrides, the user's hydra.*
    overrides, then what thesis-sweep owns; the run dir quoted by Hydra's own encoder."""
    argv = [*template["argv"], *overrides, *template["hydra_overrides"]]
    argv += [
        f"hydra.run.dir={hydra_quote(str(run_dir))}",
        "hydra.mode=RUN",
        f"hydra.job.num={num}",
        f"hydra.job.id={num}",
        f"hydra.job.name={hydra_quote(name)}",
    ]
    env = {
        **template["env"],
        "THESIS_SWEEP_DIR": str(sweep_dir),
        "THESIS_SWEEP_JOB_NUM": str(num),
        "THESIS_SWEEP_RUN_DIR": str(run_dir),
    }
    spec = {
        "schema_version": runs_index.SCHEMA_VERSION,
        "num": num,
        "argv": argv,
        "cwd": template["cwd"],
        "env": env,
    }
    if template.get("success"):  # files the run dir must hold for the job to succeed
        spec["success"] = list(template["success"])
    return spec


def me() -> dict[str, Any]:
    """This process, as recorded for the jobs it launches or the sweep it creates."""
    return {"host": hostname(), "pid": os.getpid(), "pid_start": start_ticks(os.getpid())}


def queued_record(num: int, attempt: int, after_submission: int, **extra: Any) -> dict[str, Any]:
    """The status record of a job waiting for this process to start or submit it."""
    return {
        "num": num,
        "state": State.QUEUED.value,
        "attempt": attempt,
        "launcher": me(),
        "after_submission": after_submission,
        **extra,
    }


def write_job(
    template: Mapping[str, Any],
    name: str,
    sweep_dir: Path,
    num: int,
    overrides: Sequence[str],
    run_dir: Path,
) -> None:
    """Make one job's run dir files (the run dir itself exists): its owner record, job.json,
    status, runptr."""
    meta = layout.sweep_meta(run_dir)
    meta.mkdir(exist_ok=True)
    owners.write_owner(run_dir, sweep_dir)
    spec = job_spec(template, name, sweep_dir, num, overrides, run_dir)
    jobfiles.atomic_write_bytes(layout.spec_path(run_dir), layout.json_bytes(spec), durable=False)
    record = {"schema_version": jobfiles.STATUS_SCHEMA_VERSION, **queued_record(num, 0, 0)}
    jobfiles.atomic_write_bytes(
        layout.status_path(run_dir), layout.json_bytes(record), durable=False
    )
    runptrs.write_runptr(sweep_dir, num, run_dir)


def _candidates(prepared: Prepared) -> Iterator[Naming]:
    for n in itertools.count(1):
        yield prepared.naming if n == 1 else prepared.naming.with_suffix(n)


def _index(
    prepared: Prepared, sweep_dir: Path, names: Naming, backend: str, argv: Sequence[str]
) -> dict[str, Any]:
    settings, plan, root = prepared.settings, prepared.plan, prepared.output_root
    jobs = [
        {
            "num": job.num,
            "overrides": list(job.overrides),
            "run_dir": os.path.relpath(prepared.run_dir(job.num, names), root),
            "state": State.QUEUED.value,
        }
        for job in plan.jobs
    ]
    sweep = {
        "id": sweep_dir.name,
        "name": names.name,
        "created": prepared.created.isoformat(timespec="seconds"),
        "argv": list(argv),
        "cwd": str(settings.project_root),
        "app": prepared.target.argv,
        "python": settings["python"] or sys.executable,
        "config_dir": str(prepared.target.config_dir),
        "config_name": prepared.target.config_name,
        "version_base": prepared.target.version_base,
        "overrides": list(prepared.typed_overrides),
        "hydra_overrides": list(plan.hydra_overrides),
        "sweep_params": plan.sweep_params,
        "swept_keys": list(plan.swept_keys),
        "output_root": str(root),
        "backend": backend,
        "job_template": job_template(prepared),
        "creator": me(),
        **provenance.describe(settings.project_root),
    }
    if plan.search is not None:
        sweep["search"] = {
            **plan.search.describe(),
            "objectives": list(prepared.objectives),
            # each trial's run folder: the sweep's names with the job number to fill in
            "run_folder": names.run_pattern.format(ts=names.stamp, name=names.name, num="{num}"),
        }
    return {"schema_version": runs_index.SCHEMA_VERSION, "sweep": sweep, "jobs": jobs}


class _Clash(Exception):
    """A run folder of this candidate exists: someone else has it."""


def create(
    prepared: Prepared,
    backend: str,
    profile: Mapping[str, Any] | None = None,
    argv: Sequence[str] | None = None,
    success: Sequence[str] = (),
) -> tuple[Path, list[Path]]:
    """Write the sweep's folders and metadata; return the sweep folder and the run dirs.
    `success`: files each run dir must hold for its job to count as succeeded."""
    root = prepared.output_root
    multiruns, runs = root / "multiruns", root / "runs"
    multiruns.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    for names in _candidates(prepared):
        sweep_dir = multiruns / names.sweep_folder
        run_dirs = [prepared.run_dir(job.num, names) for job in prepared.plan.jobs]
        if sweep_dir.exists() or any(d.exists() for d in run_dirs):
            continue
        try:
            sweep_dir.mkdir()  # the atomic claim: two sweeps never share a folder
        except FileExistsError:
            continue
        made: list[Path] = []
        try:
            index = _index(prepared, sweep_dir, names, backend, argv or sys.argv)
            index["sweep"]["profile"] = dict(profile) if profile else None
            if success:
                index["sweep"]["job_template"]["success"] = list(success)
            _fill(prepared, sweep_dir, index, run_dirs, made)
        except _Clash:
            _undo(sweep_dir, made)
            continue
        except BaseException:
            _undo(sweep_dir, made)
            raise
        return sweep_dir, run_dirs
    raise AssertionError("unreachable: names are infinite")


def _fill(
    prepared: Prepared,
    sweep_dir: Path,
    index: dict[str, Any],
    run_dirs: Sequence[Path],
    made: list[Path],
) -> None:
    runs_index.write_index(sweep_dir, index)
    if prepared.plan.search is not None:
        (sweep_dir / layout.RUNPTRS).mkdir()  # its index lock (trials come later)
        (sweep_dir / search_files.SEARCH_DIR).mkdir()
    template, name = index["sweep"]["job_template"], index["sweep"]["name"]
    for job, run_dir in zip(prepared.plan.jobs, run_dirs, strict=True):
        try:
            run_dir.mkdir()
        except FileExistsError:
            raise _Clash from None
        made.append(run_dir)
        write_job(template, name, sweep_dir, job.num, job.overrides, run_dir)
    text = multirun_yaml(prepared.plan, sweep_dir)
    layout.atomic_write_text(sweep_dir / layout.MULTIRUN_FILE, text)


def _undo(sweep_dir: Path, made: Sequence[Path]) -> None:
    """Remove what a failed creation made (only that)."""
    for run_dir in made:
        shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(sweep_dir, ignore_errors=True)


def add_trials(
    sweep_dir: Path, header: Any, trials: Sequence[tuple[int, Sequence[str]]], again: bool
) -> list[Path]:
    """Make a search's new jobs: each run dir with its files and runptr, then their index
    entries. `again`: a job a killed controller began (its run dir may exist already)."""
    folder = str(header.raw["search"]["run_folder"])
    template, name = header.raw["job_template"], header.name or "experiment"
    made = []
    for num, overrides in trials:
        run_dir = header.output_root / "runs" / folder.format(num=num)
        run_dir.mkdir(exist_ok=again)
        write_job(template, name, sweep_dir, num, overrides, run_dir)
        made.append(run_dir)
    entries = [
        {
            "num": num,
            "overrides": list(overrides),
            "run_dir": os.path.relpath(run_dir, header.output_root),
            "state": State.QUEUED.value,
        }
        for (num, overrides), run_dir in zip(trials, made, strict=True)
    ]
    runs_index.add_jobs(sweep_dir, entries)
    return made
