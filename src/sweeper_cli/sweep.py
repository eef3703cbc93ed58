"""Plan, validate and create a sweep: from settings and overrides to folders on disk.

`prepare` writes nothing; `create` writes the run dirs (status `queued`, the job spec),
runptrs, multirun.yaml and runs_index.json. Backends then launch the created jobs.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli import proc, provenance, store, validate
from sweeper_cli.naming import Naming, check_name, check_pattern, timestamp
from sweeper_cli.plan import Plan, hydra_quote, multirun_yaml, plan_sweep
from sweeper_cli.settings import Settings
from sweeper_cli.states import State


@dataclass(frozen=True)
class Prepared:
    """A validated sweep that has not touched the disk yet."""

    settings: Settings
    plan: Plan
    naming: Naming
    output_root: Path
    typed_overrides: tuple[str, ...]
    created: datetime

    def run_dir(self, num: int, naming_: Naming | None = None) -> Path:
        return self.output_root / "runs" / (naming_ or self.naming).run_folder(num)


def prepare(settings: Settings, overrides: Sequence[str], now: datetime | None = None) -> Prepared:
    """Plan and validate; raise BadInput on any problem. Writes nothing."""
    name = check_name(settings["name"])
    run_pattern = check_pattern(settings["run_dir_pattern"], "run_dir_pattern", True)
    sweep_pattern = check_pattern(settings["sweep_dir_pattern"], "sweep_dir_pattern", False)
    validate.check_app(settings["command"], settings["module"], settings["python_path"])
    plan = plan_sweep(settings["config_dir"], settings["config_name"], list(overrides))
    if settings["output_root"] is not None:
        output_root = Path(settings["output_root"])
    elif plan.output_root is not None:
        output_root = Path(plan.output_root).expanduser()
    else:
        output_root = Path("outputs")
    output_root = output_root if output_root.is_absolute() else Path.cwd() / output_root
    validate.check_output_root(output_root)
    if settings["validate"]:
        validate.compose_jobs(plan)
    created = now or datetime.now(timezone.utc).astimezone()
    names = Naming(name, timestamp(created), run_pattern, sweep_pattern)
    return Prepared(settings, plan, names, output_root.resolve(), tuple(overrides), created)


def child_argv(prepared: Prepared, num: int, overrides: Sequence[str], run_dir: Path) -> list[str]:
    """The child's argv: the app, Hydra flags, the job's overrides, then what we own."""
    settings = prepared.settings
    argv = settings.app_argv
    if settings.is_explicit("config_dir"):
        argv += ["-cd", str(settings["config_dir"])]
    if settings.is_explicit("config_name"):
        argv += ["-cn", settings["config_name"]]
    argv += [*overrides, *prepared.plan.hydra_overrides]
    argv += [
        f"hydra.run.dir={hydra_quote(str(run_dir))}",
        "hydra.mode=RUN",
        f"hydra.job.num={num}",
        f"hydra.job.id={num}",
        f"hydra.job.name={hydra_quote(prepared.naming.name)}",
    ]
    return argv


def child_env(settings: Settings, sweep_dir: Path, num: int, run_dir: Path) -> dict[str, str]:
    """Environment added to the job's own: where it is, and the app on PYTHONPATH."""
    env = {
        "THESIS_SWEEP_DIR": str(sweep_dir),
        "THESIS_SWEEP_JOB_NUM": str(num),
        "THESIS_SWEEP_RUN_DIR": str(run_dir),
        "HYDRA_FULL_ERROR": "1",
    }
    extra = [str(p) for p in settings["python_path"]]
    if extra:
        current = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join(extra + ([current] if current else []))
    return env


def _candidates(prepared: Prepared) -> Iterator[tuple[str, list[str]]]:
    for n in itertools.count(1):
        names = prepared.naming if n == 1 else prepared.naming.with_suffix(n)
        yield names.sweep_folder, [names.run_folder(job.num) for job in prepared.plan.jobs]


def job_record(num: int, overrides: Sequence[str], run_dir: Path, root: Path) -> dict[str, Any]:
    return {
        "num": num,
        "overrides": list(overrides),
        "run_dir": os.path.relpath(run_dir, root),
        "state": State.QUEUED.value,
        "exit_code": None,
        "signal": None,
        "start": None,
        "end": None,
        "attempts": 0,
        "host": None,
        "scheduler_id": None,
    }


def create(
    prepared: Prepared,
    backend: str,
    argv: Sequence[str] | None = None,
    profile: dict[str, Any] | None = None,
) -> store.Claim:
    """Write the sweep's folders and metadata; return the folders it claimed."""
    settings, plan, root = prepared.settings, prepared.plan, prepared.output_root
    claim = store.claim_folders(root, _candidates(prepared))
    sweep_dir = claim.sweep_dir
    jobs = []
    for job, run_dir in zip(plan.jobs, claim.run_dirs, strict=True):
        meta = store.sweep_meta(run_dir)
        meta.mkdir()
        store.atomic_write_json(
            store.spec_path(run_dir),
            {
                "schema_version": store.SCHEMA_VERSION,
                "num": job.num,
                "argv": child_argv(prepared, job.num, job.overrides, run_dir),
                "cwd": str(Path.cwd()),
                "env": child_env(settings, sweep_dir, job.num, run_dir),
            },
        )
        store.write_status(run_dir, {"num": job.num, "state": State.QUEUED.value, "attempt": 0})
        store.write_runptr(sweep_dir, job.num, run_dir)
        jobs.append(job_record(job.num, job.overrides, run_dir, root))
    store.atomic_write_text(sweep_dir / store.MULTIRUN_FILE, multirun_yaml(plan, sweep_dir))
    index = {
        "schema_version": store.SCHEMA_VERSION,
        "sweep": {
            "id": sweep_dir.name,
            "name": prepared.naming.name,
            "created": prepared.created.isoformat(timespec="seconds"),
            "argv": list(argv if argv is not None else sys.argv),
            "cwd": str(Path.cwd()),
            "module": None if settings["command"] else settings["module"],
            "command": settings["command"],
            "python": settings["python"] or sys.executable,
            "config_dir": str(settings["config_dir"]),
            "config_name": settings["config_name"],
            "overrides": list(prepared.typed_overrides),
            "hydra_overrides": list(plan.hydra_overrides),
            "sweep_params": plan.sweep_params,
            "swept_keys": list(plan.swept_keys),
            "output_root": str(root),
            "backend": backend,
            "profile": profile,
            "scheduler_ids": [],
            "launcher": {
                "host": proc.hostname(),
                "pid": os.getpid(),
                "pid_start": proc.start_ticks(os.getpid()),
            }
            if backend == "local"
            else None,
            **provenance.describe(Path.cwd()),
        },
        "jobs": jobs,
    }
    store.write_index(sweep_dir, index)
    return claim
