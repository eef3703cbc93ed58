"""Typed records of the on-disk JSON files: a parsed record, or a problem saying why not.

Files are written by other processes, other versions, other people's editors: every field
is checked here, once, so that one damaged job becomes one `lost` job with a reason and one
damaged sweep one error row, and nothing downstream meets a wrong type. Stdlib-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sweeper_cli.states import State

BACKENDS = ("local", "slurm", "htcondor")


class RecordProblem(ValueError):
    """A file that is valid JSON but not a record we can use; the message says why."""


def _get(data: Mapping[str, Any], key: str, kinds: tuple[type, ...], what: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise RecordProblem(f"{what} has a bad '{key}' ({value!r})")
    if not isinstance(value, kinds):
        raise RecordProblem(f"{what} has a bad '{key}' ({value!r})")
    return value


def _time(data: Mapping[str, Any], key: str, what: str) -> datetime | None:
    text = _get(data, key, (str,), what)
    if text is None:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise RecordProblem(f"{what} has a bad '{key}' ({text!r})") from None
    if stamp.tzinfo is None:
        raise RecordProblem(f"{what} has a bad '{key}' ({text!r}: no time zone)")
    return stamp


@dataclass(frozen=True)
class Process:
    """A process recorded by its host, pid and start time (to tell a reused pid)."""

    host: str | None
    pid: int
    pid_start: int | None

    @classmethod
    def parse(cls, data: Any, what: str) -> Process | None:
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise RecordProblem(f"{what} is not an object")
        pid = _get(data, "pid", (int,), what)
        if pid is None:
            raise RecordProblem(f"{what} has no 'pid'")
        return cls(_get(data, "host", (str,), what), pid, _get(data, "pid_start", (int,), what))

    def as_json(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "pid_start": self.pid_start}


@dataclass(frozen=True)
class StatusRecord:
    """A job's `.sweep/status.json`."""

    state: State
    attempt: int = 0
    host: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    heartbeat: datetime | None = None
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None
    scheduler_id: str | None = None
    gpus: str | None = None  # CUDA_VISIBLE_DEVICES of the attempt
    interrupted: bool = False
    checkpointed: bool = False  # queued again by the scheduler after a checkpoint exit
    launcher: Process | None = None  # queued jobs: who will start (or submit) them
    after_submission: int = 0  # queued cluster jobs: submissions made before the requeue
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def parse_status(data: Any) -> StatusRecord:
    what = "status.json"
    if not isinstance(data, Mapping):
        raise RecordProblem(f"{what} is not an object")
    try:
        state = State(data.get("state"))
    except ValueError:
        raise RecordProblem(f"{what} has a bad 'state' ({data.get('state')!r})") from None
    for key in ("pid", "runner_pid", "pid_start", "runner_start"):
        _get(data, key, (int,), what)
    attempt = _get(data, "attempt", (int,), what) or 0
    if attempt < 0:
        raise RecordProblem(f"{what} has a bad 'attempt' ({attempt!r})")
    return StatusRecord(
        state=state,
        attempt=attempt,
        host=_get(data, "host", (str,), what),
        start=_time(data, "start", what),
        end=_time(data, "end", what),
        heartbeat=_time(data, "heartbeat", what),
        exit_code=_get(data, "exit_code", (int,), what),
        signal=_get(data, "signal", (str,), what),
        reason=_get(data, "reason", (str,), what),
        scheduler_id=_get(data, "scheduler_id", (str,), what),
        gpus=_get(data, "gpus", (str,), what),
        interrupted=bool(_get(data, "interrupted", (bool,), what)),
        checkpointed=bool(_get(data, "checkpointed", (bool,), what)),
        launcher=Process.parse(data.get("launcher"), f"{what} 'launcher'"),
        after_submission=_get(data, "after_submission", (int,), what) or 0,
        raw=data,
    )


@dataclass(frozen=True)
class JobEntry:
    """One job of the runs index: its number, overrides and run dir (relative to the
    output root), or the problem that makes it unusable."""

    num: int
    overrides: tuple[str, ...] = ()
    run_dir: str | None = None
    problem: str | None = None


def parse_job_entry(data: Any, position: int) -> JobEntry:
    what = f"runs index job entry {position}"
    if not isinstance(data, Mapping):
        return JobEntry(position, problem=f"{what} is not an object")
    num = data.get("num")
    if not isinstance(num, int) or isinstance(num, bool) or num < 0:
        return JobEntry(position, problem=f"{what} has a bad 'num' ({num!r})")
    overrides = data.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        return JobEntry(num, problem=f"{what} has bad 'overrides'")
    run_dir = data.get("run_dir")
    if run_dir is not None and not isinstance(run_dir, str):
        return JobEntry(num, tuple(overrides), problem=f"{what} has a bad 'run_dir'")
    return JobEntry(num, tuple(overrides), run_dir)


@dataclass(frozen=True)
class SweepHeader:
    """The `sweep` part of runs_index.json: what every command reads, typed; `raw` keeps
    the whole record for JSON output and for fields only one command uses."""

    id: str
    name: str | None
    created: str | None
    backend: str
    output_root: Path
    swept_keys: tuple[str, ...]
    adopted: bool
    creator: Process | None
    launcher: Process | None  # schema 1 only: the local launcher of the whole sweep
    raw: Mapping[str, Any] = field(repr=False)

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        return value if isinstance(value, str) else None

    def strings(self, key: str) -> list[str]:
        value = self.raw.get(key)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        return []


def parse_header(data: Any, sweep_dir: Path) -> SweepHeader:
    what = "runs index 'sweep'"
    if not isinstance(data, Mapping):
        raise RecordProblem(f"{what} is not an object")
    backend = data.get("backend") or "local"
    if backend not in BACKENDS:
        raise RecordProblem(f"{what} has an unknown backend {backend!r}")
    # Where the layout (<root>/multiruns/<sweep>, <root>/runs/) puts it, so a whole
    # outputs/ folder can be moved or mounted elsewhere; else the recorded root (a sweep
    # adopted with --output-root keeps its runs elsewhere).
    recorded = _get(data, "output_root", (str,), what)
    derived = sweep_dir.parent.parent
    if sweep_dir.parent.name == "multiruns" and (derived / "runs").is_dir():
        root = derived
    elif recorded is not None:
        root = Path(recorded)
    elif sweep_dir.parent.name == "multiruns":
        root = derived
    else:
        raise RecordProblem(f"{what} has no 'output_root'")
    swept = data.get("swept_keys") or []
    if not isinstance(swept, list) or not all(isinstance(k, str) for k in swept):
        raise RecordProblem(f"{what} has bad 'swept_keys'")
    return SweepHeader(
        id=str(data.get("id") or sweep_dir.name),
        name=_get(data, "name", (str,), what),
        created=_get(data, "created", (str,), what),
        backend=backend,
        output_root=root,
        swept_keys=tuple(swept),
        adopted=bool(data.get("adopted")),
        creator=Process.parse(data.get("creator"), f"{what} 'creator'"),
        launcher=Process.parse(data.get("launcher"), f"{what} 'launcher'"),
        raw=data,
    )


@dataclass(frozen=True)
class Submission:
    """One scheduler submission of some of a sweep's jobs (`submit/submission-<k>.json`)."""

    number: int
    scheduler_id: str
    submitted: datetime | None
    job_ids: Mapping[int, str]
    files: tuple[str, ...] = ()
    profile: Mapping[str, Any] | None = None
    logs: str | None = None  # the folder of the scheduler's .out/.err files (None: submit/)
    # Packs (several jobs one after another in one scheduler job): each job's pack number
    # in the submission, and the pack size; empty / None for one job per scheduler job.
    tasks: Mapping[int, int] = field(default_factory=dict)
    pack: int | None = None
    event_log: str | None = None  # HTCondor: the cluster's event log, when not in submit/


def _tasks(data: Mapping[str, Any], what: str) -> dict[int, int]:
    tasks = data.get("tasks") or {}
    try:
        if not isinstance(tasks, Mapping):
            raise ValueError
        return {int(k): int(v) for k, v in tasks.items()}
    except (TypeError, ValueError):
        raise RecordProblem(f"{what} has bad 'tasks'") from None


def parse_submission(data: Any, number: int) -> Submission:
    what = f"submission {number}"
    if not isinstance(data, Mapping):
        raise RecordProblem(f"{what} is not an object")
    scheduler_id = _get(data, "scheduler_id", (str,), what)
    if scheduler_id is None:
        raise RecordProblem(f"{what} has no 'scheduler_id'")
    ids = data.get("job_ids")
    if ids is None and isinstance(data.get("jobs"), list):  # schema 1: ids lived per job
        ids = {}
    if not isinstance(ids, Mapping):
        raise RecordProblem(f"{what} has bad 'job_ids'")
    try:
        job_ids = {int(k): str(v) for k, v in ids.items()}
    except ValueError:
        raise RecordProblem(f"{what} has bad 'job_ids'") from None
    files = data.get("files") or []
    profile = data.get("profile")
    return Submission(
        number=number,
        scheduler_id=scheduler_id,
        submitted=_time(data, "submitted", what),
        job_ids=job_ids,
        files=tuple(str(f) for f in files) if isinstance(files, list) else (),
        profile=profile if isinstance(profile, Mapping) else None,
        logs=_get(data, "logs", (str,), what),
        tasks=_tasks(data, what),
        pack=_get(data, "pack", (int,), what),
        event_log=_get(data, "event_log", (str,), what),
    )
