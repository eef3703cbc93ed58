"""The on-disk contract: paths, atomic files, the runs index, runptrs, submissions, requests.

Layout (see the README):
    <output_root>/runs/<run folder>/.sweep/
        job.json          the job's argv, cwd and env (resume rewrites a lost one)
        status.json       the job's state (see below for its writers)
        attempt-N.claim   one per attempt, created by the runner that starts it (O_EXCL)
        cancel.json       a cancel request: "attempts up to N must not run"
        output.log[.N]    the app's output (of attempt N)
        runner.log        the runner's own diagnostics
    <output_root>/multiruns/<sweep folder>/
        runs_index.json   the sweep header and its jobs, plus a cache of their states
        runptrs/<N>       relative link (or text file) to job N's run dir
        multirun.yaml     written last: the sweep is complete once it exists
        submit/           cluster sweeps: job.sh, runner.py and its jobfiles.py, submission
                          files and logs;
                          submit/submission-<k>.json records the k-th submission (O_EXCL)

Who writes what (every write goes to a temp file in the same folder, then `os.replace`):
- `status.json`: the runner of the current attempt while it runs; otherwise only the
  process holding the sweep's launch lock, and only for jobs that no runner holds
  (creation and `resume` write `queued`, a refused submission writes `failed`).
- `cancel.json`: `cancel`, and a local sweep's own Ctrl-C/SIGTERM/--fail-fast (a request;
  the runner decides). `resume` removes it under the launch lock when it relaunches.
- `runs_index.json`: written at creation; afterwards a search's controller adds each new
  trial's job, and its cache fields (each job's last seen state) are refreshed, best
  effort, by whoever observed the sweep; both under `index_lock`. Facts never live in the
  cache, so a stale or lost refresh loses nothing; a read-only or full file system only
  leaves the cache stale.
- submission files: the launcher, each created exclusively, never rewritten.
Stdlib-only: what the job runner shares is `jobfiles.py`; `status` never imports Hydra.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.store import records
from sweeper_cli.store.jobfiles import (
    CANCEL_FILE,
    LOG_FILE,
    RUNNER_LOG,
    SPEC_FILE,
    STATUS_FILE,
    STATUS_SCHEMA_VERSION,
    SWEEP_SUBDIR,
    atomic_write_bytes,
    claim_path,
    read_json,
    read_runptr,
)

SCHEMA_VERSION = 2
INDEX_FILE = "runs_index.json"
MULTIRUN_FILE = "multirun.yaml"
RUNPTRS = "runptrs"
SUBMIT_DIR = "submit"
CACHE_FIELDS = ("state", "exit_code", "signal", "start", "end", "host", "attempts", "reason")

__all__ = [
    "CANCEL_FILE",
    "LOG_FILE",
    "RUNNER_LOG",
    "STATUS_SCHEMA_VERSION",
    "atomic_write_bytes",
    "claim_path",
    "read_json",
    "read_runptr",
]


def json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode("utf-8")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json_bytes(data))


def sweep_meta(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR


def status_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / STATUS_FILE


def spec_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / SPEC_FILE


def log_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / LOG_FILE


def write_status(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_json(status_path(run_dir), {"schema_version": STATUS_SCHEMA_VERSION, **record})


def read_status(run_dir: Path) -> records.StatusRecord:
    """The run's typed status record; OSError when unreadable, RecordProblem (a ValueError)
    when corrupt or malformed."""
    try:
        data = read_json(status_path(run_dir))
    except ValueError as exc:
        raise records.RecordProblem(f"status.json is unreadable ({type(exc).__name__})") from None
    return records.parse_status(data)


# --- ownership --------------------------------------------------------------------------

OWNER_FILE = "owner.json"


def owner_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / OWNER_FILE


def write_owner(run_dir: Path, sweep_dir: Path) -> None:
    """Record which sweep a run dir belongs to: its folder, relative to the run dir (so it
    holds wherever the outputs are mounted, and a copied sweep folder is not the owner)."""
    record = {
        "schema_version": 1,
        "sweep_id": sweep_dir.name,
        "sweep_dir": os.path.relpath(sweep_dir, run_dir).replace(os.sep, "/"),
    }
    atomic_write_bytes(owner_path(run_dir), json_bytes(record), durable=False)


def owner_of(run_dir: Path) -> Path | None:
    """The sweep folder a run dir says it belongs to: its owner record; for sweeps made
    before it existed, the job's THESIS_SWEEP_DIR or the multirun it was adopted from.
    None when it says nothing."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        rel = read_json(owner_path(run_dir))["sweep_dir"]
        return Path(os.path.normpath(run_dir / str(rel)))
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, KeyError):
        return Path(str(read_json(spec_path(run_dir))["env"]["THESIS_SWEEP_DIR"]))
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, KeyError):
        return Path(str(read_json(status_path(run_dir))["adopted_from"])).parent
    return None


def foreign_owner(run_dir: Path, sweep_dir: Path) -> Path | None:
    """The other sweep a run dir belongs to (a copied sweep folder points at the original's
    run dirs), or None when it is this sweep's or says nothing."""
    owner = owner_of(run_dir)
    if owner is None:
        return None
    try:
        if os.path.samefile(owner, sweep_dir):
            return None
    except OSError:  # the owner recorded by path is gone: the outputs moved as a whole
        if owner.name == sweep_dir.name:
            return None
    return owner


def inside(path: Path, root: Path) -> bool:
    """Whether `path` lies inside `root` (both made absolute, `..` folded)."""
    folded, base = os.path.abspath(path), os.path.abspath(root)
    return folded != base and os.path.commonpath([folded, base]) == base


# --- requests ---------------------------------------------------------------------------


def request_cancel(run_dir: Path, upto: int, reason: str, by: Mapping[str, Any]) -> None:
    """Ask that attempts up to `upto` of this job do not run (or stop)."""
    meta = sweep_meta(run_dir)
    with contextlib.suppress(OSError, ValueError):
        old = read_json(meta / CANCEL_FILE)
        if isinstance(old, dict) and isinstance(old.get("upto"), int):
            upto = max(upto, old["upto"])
    atomic_write_json(meta / CANCEL_FILE, {"upto": upto, "reason": reason, **by})


def withdraw_cancel(run_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sweep_meta(run_dir) / CANCEL_FILE)


def read_claim(run_dir: Path, attempt: int) -> dict[str, Any] | None:
    """The claim of `attempt` (its content, `{}` when unreadable), None when there is none."""
    path = claim_path(sweep_meta(run_dir), attempt)
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    if "time" not in data:  # an empty claim: date it by the file
        with contextlib.suppress(OSError):
            from datetime import datetime, timezone

            stamp = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            data["time"] = stamp.isoformat()
    return data


# --- the runs index ---------------------------------------------------------------------


@dataclass
class Index:
    """A parsed runs index: the header, its jobs, and the raw document (for the cache)."""

    header: records.SweepHeader
    jobs: list[records.JobEntry]
    doc: dict[str, Any]


def migrate_index(data: Any) -> dict[str, Any]:
    """Bring an index of any known schema version to the current one (in memory).

    Version 1 kept the local launcher and the cluster submissions inside the index; they are
    read from there (`SweepHeader.launcher`, `submissions`) when no newer record exists.
    """
    if not isinstance(data, dict) or "sweep" not in data or "jobs" not in data:
        raise ValueError("not a thesis-sweep runs index")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"runs index schema_version {version!r} is newer than this tool")
    if not isinstance(data["jobs"], list):
        raise ValueError("its 'jobs' is not a list")
    return data


def read_index(sweep_dir: Path) -> Index:
    """The sweep's index; BadInput (one line naming the file) when it cannot be used."""
    path = sweep_dir / INDEX_FILE
    try:
        doc = migrate_index(read_json(path))
        header = records.parse_header(doc["sweep"], sweep_dir)
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read {path}: {exc}") from None
    jobs = [records.parse_job_entry(entry, i) for i, entry in enumerate(doc["jobs"])]
    return Index(header, jobs, doc)


def write_index(sweep_dir: Path, doc: dict[str, Any]) -> None:
    doc["schema_version"] = SCHEMA_VERSION
    atomic_write_json(sweep_dir / INDEX_FILE, doc)


@contextlib.contextmanager
def index_lock(sweep_dir: Path, wait: bool) -> Iterator[bool]:
    """Serialise rewrites of runs_index.json: a search's controller adds jobs while other
    shells refresh the cache, and neither may write back a copy without the other's
    change. An exclusive `flock` on the sweep's runptrs/ folder (the sweep folder's own
    lock is the launch lock); yields whether it is held (False: busy and not `wait`, or
    no flock here, where the race is left open)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    try:
        fd = os.open(sweep_dir / RUNPTRS, os.O_RDONLY)
    except OSError:  # no runptrs/ (an adopted sweep): nobody adds jobs to it
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def refresh_cache(sweep_dir: Path, states: Mapping[int, Mapping[str, Any]]) -> bool:
    """Write the jobs' last seen states into the index's cache fields, if they changed.

    Best effort by design: a read-only or full file system, an index being rewritten by
    someone else, or a sweep whose index changed shape meanwhile, leaves the cache as it
    was. Returns whether it wrote.
    """
    with index_lock(sweep_dir, wait=False) as held:
        if not held:
            return False
        try:
            doc = migrate_index(read_json(sweep_dir / INDEX_FILE))
        except (OSError, ValueError):
            return False
        changed = False
        for entry in doc["jobs"]:
            num = entry.get("num") if isinstance(entry, dict) else None
            seen = states.get(num) if isinstance(num, int) else None
            if seen is None:
                continue
            for key in CACHE_FIELDS:
                if entry.get(key) != seen.get(key):
                    entry[key] = seen.get(key)
                    changed = True
        if not changed:
            return False
        try:
            write_index(sweep_dir, doc)
        except OSError:
            return False
        return True


def add_jobs(sweep_dir: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append jobs to the index (a search's new trials); OSError when it cannot."""
    with index_lock(sweep_dir, wait=True):
        doc = migrate_index(read_json(sweep_dir / INDEX_FILE))
        doc["jobs"].extend(dict(entry) for entry in entries)
        write_index(sweep_dir, doc)


# --- runptrs ----------------------------------------------------------------------------


def write_runptr(sweep_dir: Path, num: int, run_dir: Path) -> None:
    """`runptrs/<num>` -> run dir as a relative symlink, or a text file where links fail."""
    folder = sweep_dir / RUNPTRS
    folder.mkdir(exist_ok=True)
    target = os.path.relpath(run_dir, folder)
    link = folder / str(num)
    tmp = folder / f".{num}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.symlink(target, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        # No symlink privilege (Windows): a text file holding the same relative path.
        atomic_write_text(link, target.replace(os.sep, "/") + "\n")
        return
    os.replace(tmp, link)


# --- submissions ------------------------------------------------------------------------

_SUBMISSION = re.compile(r"submission-(\d+)\.json")


def submission_path(sweep_dir: Path, number: int) -> Path:
    return sweep_dir / SUBMIT_DIR / f"submission-{number}.json"


def read_submissions(sweep_dir: Path, index: Index | None = None) -> list[records.Submission]:
    """Every submission of the sweep, oldest first (schema-1 ones from the index)."""
    found: list[records.Submission] = []
    with contextlib.suppress(OSError):
        for name in os.listdir(sweep_dir / SUBMIT_DIR):
            match = _SUBMISSION.fullmatch(name)
            if not match:
                continue
            number = int(match.group(1))
            with contextlib.suppress(OSError, ValueError):
                data = read_json(sweep_dir / SUBMIT_DIR / name)
                found.append(records.parse_submission(data, number))
    if not found and index is not None:
        found = _v1_submissions(index)
    return sorted(found, key=lambda s: s.number)


def _v1_submissions(index: Index) -> list[records.Submission]:
    old = index.header.raw.get("submissions")
    if not isinstance(old, list):
        return []
    ids = {}
    for entry in index.doc["jobs"]:
        if isinstance(entry, dict) and isinstance(entry.get("scheduler_id"), str):
            ids[entry.get("num")] = entry["scheduler_id"]
    found = []
    for number, sub in enumerate(old, start=1):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            jobs = [int(n) for n in sub.get("jobs", [])]
            base = records.parse_submission({**sub, "job_ids": {}}, number)
            mine = {n: ids[n] for n in jobs if n in ids and ids[n].startswith(base.scheduler_id)}
            found.append(records.Submission(number, base.scheduler_id, base.submitted, mine))
    return found


def record_submission(sweep_dir: Path, data: dict[str, Any]) -> int:
    """Create the next `submit/submission-<k>.json` exclusively; returns k."""
    from sweeper_cli.store.jobfiles import create_exclusive

    numbers = [s.number for s in read_submissions(sweep_dir)]
    number = max(numbers, default=0) + 1
    while not create_exclusive(submission_path(sweep_dir, number), json_bytes(data)):
        number += 1
    return number


# --- creating and finding sweeps ----------------------------------------------------------


def list_sweeps(output_root: Path, complete_only: bool = True) -> list[Path]:
    """Sweep folders under the output root, newest first. A folder whose creation was
    interrupted (no multirun.yaml, or not even an index) is listed unless `complete_only`
    asks for sweeps with an index only."""
    multiruns = output_root / "multiruns"
    found: list[tuple[float, str, Path]] = []
    try:
        entries = list(os.scandir(multiruns))
    except OSError:
        return []
    for entry in entries:
        if not entry.is_dir():
            continue
        folder = Path(entry.path)
        has_index = (folder / INDEX_FILE).is_file()
        if complete_only and not has_index:
            continue
        created = None
        for name in (MULTIRUN_FILE, INDEX_FILE):
            with contextlib.suppress(OSError):
                created = (folder / name).stat().st_mtime
                break
        if created is None:
            with contextlib.suppress(OSError):
                created = entry.stat().st_mtime
        found.append((created or 0.0, entry.name, folder))
    found.sort(reverse=True)
    return [folder for _, _, folder in found]


def is_complete(sweep_dir: Path) -> bool:
    return (sweep_dir / MULTIRUN_FILE).is_file()


def find_sweep(output_root: Path, query: str | None, complete_only: bool = True) -> Path:
    """A sweep folder from a path, a folder name, a unique part of one, or None (newest)."""
    if query:
        as_path = Path(query).expanduser()
        if (as_path / INDEX_FILE).is_file() or (
            not complete_only and as_path.parent.name == "multiruns" and as_path.is_dir()
        ):
            return as_path.resolve()
    sweeps = list_sweeps(output_root, complete_only)
    if not sweeps:
        raise BadInput(f"no sweeps under {output_root / 'multiruns'} (set --output-root?)")
    if not query:
        return sweeps[0]
    exact = [s for s in sweeps if s.name == query]
    if exact:
        return exact[0]
    partial = [s for s in sweeps if query in s.name]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise BadInput(f"no sweep matches {query!r} under {output_root / 'multiruns'}")
    names = ", ".join(s.name for s in partial[:5])
    raise BadInput(f"{query!r} matches {len(partial)} sweeps ({names}...): be more specific")


def require_writable(folder: Path, doing: str) -> None:
    """BadInput unless `folder` can be written (a read-only mount, someone else's results)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"cannot {doing}: {folder} is not writable (read-only?)")


@contextlib.contextmanager
def folder_lock(folder: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive advisory `flock` on `folder` itself (no extra file in it); it is
    released when the process ends, however it ends. Taken: BadInput(`busy`). Where flock
    does not exist (Windows) this is a no-op."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(busy) from None
        yield
    finally:
        os.close(fd)


LAUNCHER_FILE = ".launcher.json"


@contextlib.contextmanager
def launch_lock(sweep_dir: Path) -> Iterator[None]:
    """One process at a time starts a sweep's jobs (the runner's per-attempt claim still
    prevents double starts where flock does not exist). The holder is named in
    `.launcher.json` while it holds the lock, so `status` can tell that a launch is under
    way (and not call a sweep done while `resume` prepares its jobs)."""
    busy = (
        f"another thesis-sweep process is launching jobs of {sweep_dir.name}; "
        "wait for it or cancel it first"
    )
    with folder_lock(sweep_dir, busy):
        from sweeper_cli.store.jobfiles import hostname, start_ticks

        me = {"host": hostname(), "pid": os.getpid(), "pid_start": start_ticks(os.getpid())}
        with contextlib.suppress(OSError):
            atomic_write_json(sweep_dir / LAUNCHER_FILE, me)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(sweep_dir / LAUNCHER_FILE)


def launching(sweep_dir: Path) -> records.Process | None:
    """The process that holds the sweep's launch lock, as it said (it may be dead)."""
    try:
        return records.Process.parse(read_json(sweep_dir / LAUNCHER_FILE), LAUNCHER_FILE)
    except (OSError, ValueError):
        return None


def runptrs(sweep_dir: Path) -> dict[int, Path]:
    """Each job's run dir as its runptr says (relative to the sweep folder, so it holds
    wherever the outputs are mounted)."""
    found: dict[int, Path] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir(sweep_dir / RUNPTRS):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    found[int(name)] = read_runptr(sweep_dir, int(name))
    return found


def job_dirs(index: Index, sweep_dir: Path) -> Sequence[tuple[records.JobEntry, Path | None]]:
    """Each index job with its run dir: its runptr, else the index's record."""
    pointers = runptrs(sweep_dir)
    root = index.header.output_root
    return [
        (job, pointers.get(job.num) or (root / job.run_dir if job.run_dir else None))
        for job in index.jobs
    ]
