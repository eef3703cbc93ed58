"""The job-file protocol: what the job runner and thesis-sweep read and write in a run's
`.sweep/` folder, and how.

The runner (`launch/runner.py`) runs by path under whatever Python runs the app, so this
module is standard library only and Python >= 3.7, and it travels with the runner: a
cluster sweep's `submit/` holds a copy of both. The rest of the package imports it from
here (`sweeper_cli.store.jobfiles`); the runner finds it beside itself, or in the package.

What it holds:
- the file names of `.sweep/` (status.json, job.json, cancel.json, attempt-N.claim,
  output.log, runner.log), the job states as written, the runner's exit codes and the line
  that tells a local launcher that the app runs;
- atomic writes (a temp file in the same folder, then rename) and exclusive creation (a
  hard link of a finished temp file: atomic on NFS), JSON reads;
- claims (attempt N is started once: the highest claim + 1) and cancel requests
  ("attempts up to N must not run");
- process identity and liveness: host name, process start ticks, whether the runner or
  app a record names may still run (by pid here, by heartbeat elsewhere), signalling a
  job's process group;
- `runptrs/<N>`: the run dir of job N (the runner of a cluster job starts from it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import signal
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict

STATUS_SCHEMA_VERSION = 1
SWEEP_SUBDIR = ".sweep"
STATUS_FILE = "status.json"
SPEC_FILE = "job.json"
LOG_FILE = "output.log"
CANCEL_FILE = "cancel.json"
RETURN_FILE = "return.json"  # what the task function returned (launch/hooks writes it)
RETURN_HOOK = "++hydra.callbacks.thesis_sweep_return._target_=thesis_sweep_return.RecordReturn"
RUNNER_LOG = "runner.log"
STARTED = "thesis-sweep-runner: started"

# The job states as written in status.json (states.State has the same values).
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)

HEARTBEAT_SECONDS = float(os.environ.get("THESIS_SWEEP_HEARTBEAT", "30"))
GRACE_SECONDS = float(os.environ.get("THESIS_SWEEP_GRACE", "10"))
# A job on another host is gone when its heartbeat is older than this (seconds).
STALE_AFTER = max(3 * HEARTBEAT_SECONDS, 90.0)

EXIT_NO_INPUT = 66  # job.json missing or unreadable (sysexits EX_NOINPUT)
EXIT_INTERNAL = 70  # the runner's own bug (EX_SOFTWARE)
EXIT_CANNOT_RECORD = 74  # status.json cannot be written (EX_IOERR)
EXIT_NOT_STARTED = 75  # the job was not ours to start (EX_TEMPFAIL)

Record = Dict[str, Any]  # typing's: a runtime alias must work on Python 3.7


# --- process identity -----------------------------------------------------------------


def hostname() -> str:
    return platform.node()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (Linux), None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux), None where unknown."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def is_alive(pid: int, ticks: int | None) -> bool:
    """Whether `pid` runs on this host and, when `ticks` is known, is the same process.
    A zombie (dead, not yet reaped by its parent) is not alive."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:  # Windows: os.kill(pid, 0) is not a liveness probe there
        return False
    fields = _stat(pid)
    if fields is None:
        return True
    return fields[0] not in ("Z", "X") and (ticks is None or int(fields[19]) == ticks)


def signal_group(pid: int, sig: int) -> None:
    """Send `sig` to the process group led by `pid` (the process itself on Windows)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(pid, sig)
        else:  # pragma: no cover - Windows
            os.kill(pid, signal.SIGTERM)


def int_or_none(value: Any) -> int | None:
    """`value` when it is an int (not a bool), else None: a JSON field read as a number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def record_alive(
    record: Mapping[str, Any],
    here: str,
    now: datetime,
    alive: Callable[[int, int | None], bool] = is_alive,
) -> bool:
    """Whether the runner or app a status/claim record names may still run: by pid on
    this host, by heartbeat (or claim time) elsewhere."""
    if record.get("host") == here:
        pairs = (("runner_pid", "runner_start"), ("pid", "pid_start"))
        return any(
            int_or_none(record.get(p)) and alive(int(record[p]), int_or_none(record.get(t)))
            for p, t in pairs
        )
    stamp = record.get("heartbeat") or record.get("time")
    try:
        age = (now - datetime.fromisoformat(str(stamp))).total_seconds()
    except (TypeError, ValueError):
        return False
    return age < STALE_AFTER


# --- files ------------------------------------------------------------------------------

_TEMP_IDS = itertools.count()


def _temp_name(path: Path) -> Path:
    # Unique to this process and call; O_EXCL never reuses someone's file.
    return path.with_name(f".{path.name}.{os.getpid()}.{next(_TEMP_IDS)}.tmp")


def _write_new(path: Path, data: bytes, durable: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        if durable:
            os.fsync(handle.fileno())


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, then rename); an
    error names the file, even when the system call did not."""
    tmp = _temp_name(path)
    try:
        _write_new(tmp, data, durable)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if exc.filename is None or str(exc.filename) == str(tmp):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode("utf-8"))


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def claim_path(meta: Path, attempt: int) -> Path:
    return meta / f"attempt-{attempt}.claim"


def highest_claim(meta: Path) -> int:
    """The highest attempt number claimed so far (0 when none)."""
    best = 0
    with contextlib.suppress(OSError):
        for name in os.listdir(meta):
            if name.startswith("attempt-") and name.endswith(".claim"):
                number = name[len("attempt-") : -len(".claim")]
                if number.isdigit():
                    best = max(best, int(number))
    return best


def create_exclusive(target: Path, data: bytes) -> bool:
    """Create `target` holding `data` atomically (a hard link of a finished temp file, safe
    on NFS); False if it exists already."""
    tmp = _temp_name(target)
    _write_new(tmp, data, durable=False)
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here (FAT, some mounts): an exclusive create instead
        try:
            _write_new(target, data, durable=False)
            return True
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def claim(meta: Path, attempt: int, info: Record) -> bool:
    """Claim `attempt` for the runner described by `info`; False if another runner did."""
    return create_exclusive(claim_path(meta, attempt), (json.dumps(info) + "\n").encode())


def cancel_request(meta: Path) -> Record | None:
    """The cancel request on record, or None. An unreadable one cancels everything: someone
    asked for a cancel, and starting a job they wanted stopped is the worse mistake."""
    try:
        data = read_json(meta / CANCEL_FILE)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"upto": float("inf"), "reason": "cancelled (cancel.json is unreadable)"}
    if not isinstance(data, dict) or int_or_none(data.get("upto")) is None:
        return {"upto": float("inf"), "reason": "cancelled (cancel.json is malformed)"}
    return data


def cancels(request: Mapping[str, Any] | None, attempt: int) -> bool:
    return request is not None and attempt <= request["upto"]


# --- runptrs ---------------------------------------------------------------------------


def read_runptr(sweep_dir: Path, num: int) -> Path:
    """The run dir that `runptrs/<num>` points at (a symlink, or a text file with the path)."""
    link = sweep_dir / "runptrs" / str(num)
    if link.is_symlink():
        target = os.readlink(link)
    else:
        with open(link, encoding="utf-8") as handle:
            target = handle.read().strip()
    return (link.parent / target).resolve()


def with_return_hook(spec: dict[str, Any], hooks: Path) -> dict[str, Any]:
    """The job's spec with the Hydra callback that records what its task function returns
    (`hooks/thesis_sweep_return.py`, that folder last on PYTHONPATH so it shadows none of
    the app's modules); the spec as it is where the hook is missing."""
    if not (hooks / "thesis_sweep_return.py").is_file():
        return spec
    env = dict(spec["env"])
    path = env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(part for part in (path, str(hooks)) if part)
    return dict(spec, argv=[*spec["argv"], RETURN_HOOK], env=env)


# HTCondor hides the GPUs from a job that asked for none with this device number.
HTCONDOR_NO_GPU = "10000"


def assigned_gpus(environ: Mapping[str, str]) -> str | None:
    """The GPUs this job was given (CUDA_VISIBLE_DEVICES), None when it got none: also
    HTCondor's way of saying so (`_CONDOR_AssignedGPUs=10000`)."""
    devices = environ.get("CUDA_VISIBLE_DEVICES")
    if environ.get("_CONDOR_AssignedGPUs") == HTCONDOR_NO_GPU and devices == HTCONDOR_NO_GPU:
        return None
    return devices
