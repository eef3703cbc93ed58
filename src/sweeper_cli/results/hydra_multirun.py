"""What a folder made by Hydra's own `--multirun` tells (it is only read here): its numbered
job folders, multirun.yaml's sweep fields, each job's overrides and Hydra job name, the
outcome a job folder suggests (Hydra records none) and its start and end as file times.
Imports Hydra (its override parser, for the swept keys) only inside `swept_keys`.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.states import State
from sweeper_cli.store import layout

_ERROR_MARKERS = ("Error executing job",)
_LOG_TAIL = 65536
_MODE_OVERRIDE = "hydra.mode=MULTIRUN"


def _yaml(path: Path) -> Any:
    import yaml  # type: ignore[import-untyped]  # PyYAML, a dependency of omegaconf

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"cannot read {path}: {' '.join(str(exc).split())[:200]}") from None


def _get(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def job_folders(folder: Path) -> list[tuple[int, Path]]:
    """Hydra's job folders: numbered sub-folders holding `.hydra/`, by number."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            numbered = entry.name.isdigit() and entry.name == str(int(entry.name))  # not "01"
            if numbered and entry.is_dir() and Path(entry.path, ".hydra").is_dir():
                found.append((int(entry.name), Path(entry.path)))
    return sorted(found)


def swept_keys(arguments: Sequence[str]) -> list[str] | None:
    """Keys whose override is a sweep (`a=1,2`, `range()`, `glob()`...), as Hydra parses
    them; None when Hydra's parser refuses the overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(arguments))
    except HydraException:
        return None
    return list(dict.fromkeys(o.get_key_element() for o in parsed if o.is_sweep_override()))


def read_multirun(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """The index's sweep fields that multirun.yaml tells, and notes for the user."""
    doc = _yaml(folder / layout.MULTIRUN_FILE)
    if not isinstance(doc, dict) or not isinstance(doc.get("hydra"), dict):
        raise BadInput(f"{folder / layout.MULTIRUN_FILE} is not a Hydra multirun.yaml")
    task = [str(o) for o in _get(doc, "hydra.overrides.task") or []]
    hydra_overrides = [str(o) for o in _get(doc, "hydra.overrides.hydra") or []]
    params = {str(k): str(v) for k, v in (_get(doc, "hydra.sweeper.params") or {}).items()}
    notes = []
    swept = swept_keys([f"{k}={v}" for k, v in params.items()] + task)
    if swept is None:
        notes.append("Hydra's parser refused multirun.yaml's overrides: swept keys unknown")
    main_dir = next(
        (
            s.get("path")
            for s in _get(doc, "hydra.runtime.config_sources") or []
            if isinstance(s, dict) and s.get("provider") == "main" and s.get("schema") == "file"
        ),
        None,
    )
    return {
        "cwd": _get(doc, "hydra.runtime.cwd"),
        "config_dir": main_dir,
        "config_name": _get(doc, "hydra.job.config_name"),
        "overrides": task,
        "hydra_overrides": [o for o in hydra_overrides if o != _MODE_OVERRIDE],
        "sweep_params": params,
        "swept_keys": swept or [],
        "hydra_version": _get(doc, "hydra.runtime.version"),
    }, notes


def _log_has_error(log: Path) -> bool:
    try:
        with log.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _LOG_TAIL))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return False
    return any(marker in tail for marker in _ERROR_MARKERS)


def infer_state(
    folder: Path, job_name: str | None, success_file: str | None = None
) -> tuple[State, str | None]:
    """What a Hydra job folder tells of its outcome (Hydra records none).

    `failed` when its Hydra log (`<job name>.log`) contains "Error executing job", or when
    the folder holds nothing beyond `.hydra/` and that log (the job wrote no output);
    `succeeded` otherwise. A job that crashed after writing output reads as succeeded:
    the README says so, and `compare` shows its metrics (or their absence). With
    `success_file` (a glob relative to the job folder, e.g. the results file the app
    writes last) a job succeeded only when a file matches it.
    """
    log = f"{job_name}.log" if job_name else None
    if log and _log_has_error(folder / log):
        return State.FAILED, "adopted: its Hydra log reports an error"
    if success_file is not None:
        if glob.glob(success_file, root_dir=folder, recursive="**" in success_file):
            return State.SUCCEEDED, None
        return State.FAILED, f"adopted: no {success_file} in the job folder"
    try:
        names = {e.name for e in os.scandir(folder)}
    except OSError:
        names = set()
    if not names - {".hydra", log}:
        return State.FAILED, "adopted: the job wrote nothing beyond .hydra/ and its log"
    return State.SUCCEEDED, None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


def file_times(folder: Path) -> tuple[str | None, str | None]:
    """(start, end): when Hydra wrote `.hydra/` (job start) and the newest file's mtime."""
    try:
        start = min(p.stat().st_mtime for p in (folder / ".hydra").iterdir())
    except (OSError, ValueError):
        return None, None
    end = start
    for here, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                end = max(end, os.lstat(os.path.join(here, name)).st_mtime)
    return _iso(start), _iso(end)


def read_job(num: int, folder: Path) -> tuple[list[str], str | None]:
    """The job's overrides and Hydra job name; refuse a folder whose number disagrees."""
    overrides = _yaml(folder / ".hydra" / "overrides.yaml")
    if not isinstance(overrides, list):
        raise BadInput(f"{folder}/.hydra/overrides.yaml is not a list of overrides")
    hydra_yaml = folder / ".hydra" / "hydra.yaml"
    name = None
    if hydra_yaml.is_file():
        doc = _yaml(hydra_yaml)
        recorded = _get(doc, "hydra.job.num")
        if recorded is not None and str(recorded) != str(num):
            raise BadInput(
                f"job folder {folder.name}/ says hydra.job.num={recorded} in .hydra/hydra.yaml: "
                "renamed? refusing to guess its number"
            )
        job_name = _get(doc, "hydra.job.name")
        name = str(job_name) if job_name is not None else None
    return [str(o) for o in overrides], name
