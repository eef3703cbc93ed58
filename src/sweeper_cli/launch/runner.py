"""The job runner: runs one job's app and records its life in the job's status.json.

Every backend runs each job through this file, on a laptop or on a cluster worker node:

    python runner.py RUN_DIR
    python runner.py --sweep-dir SWEEP_DIR --job N    (the run dir that runptrs/N points at)

It is one self-contained file that imports only the standard library and runs on any
Python >= 3.7, so whatever interpreter is at hand can run it by path: the one thesis-sweep
is installed in (local sweeps) or the job's own (cluster jobs run a copy kept in the
sweep's submit/ folder). The app itself runs with the interpreter in the job's argv. The
process-identity and atomic-write helpers live here for that reason; the package imports
them from here.

Files in RUN_DIR/.sweep/ (the whole contract is in store.py):
- reads `job.json` (argv, cwd, env of the app) and `cancel.json` (written by `cancel`,
  Ctrl-C and --fail-fast: "attempts up to N must not run");
- creates `attempt-N.claim` before attempt N starts, with a hard link (atomic, NFS-safe):
  N is the highest claim + 1, so two racing runners start an attempt once, and a runner
  that died after claiming never blocks the next one;
- owns `status.json` while its attempt runs: running (host, pids, start, heartbeat), then
  the end (state, exit code or signal, reason);
- appends its own diagnostics to `runner.log` (and stderr).

On SIGTERM/SIGINT it forwards SIGTERM to the app's process group and kills the group after
a grace period (at once on a second signal). With a cancel request on record the job ends
`cancelled`; without one (a scheduler's time limit, requeue, eviction, a shutdown) it ends
`failed` with `interrupted: true`, which `resume` treats as unfinished. On Linux the app is
killed when its runner dies (PR_SET_PDEATHSIG), so no app outlives its runner unobserved.
When the runner cannot record the app's start (a full disk) it stops the app and exits 74.

One line on stdout, `thesis-sweep-runner: started <attempt> <pid>`, tells a local
orchestrator that the app runs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STATUS_SCHEMA_VERSION = 1
SWEEP_SUBDIR = ".sweep"
STATUS_FILE = "status.json"
SPEC_FILE = "job.json"
LOG_FILE = "output.log"
CANCEL_FILE = "cancel.json"
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

Record = dict[str, Any]


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


def _int(value: Any) -> int | None:
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
            _int(record.get(p)) and alive(int(record[p]), _int(record.get(t))) for p, t in pairs
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
    if not isinstance(data, dict) or _int(data.get("upto")) is None:
        return {"upto": float("inf"), "reason": "cancelled (cancel.json is malformed)"}
    return data


def cancels(request: Mapping[str, Any] | None, attempt: int) -> bool:
    return request is not None and attempt <= request["upto"]


# --- running one job --------------------------------------------------------------------


class Runner:
    """One attempt of one job: claim, start the app, record, forward signals."""

    def __init__(
        self, run_dir: Path, start_app: Callable[[Record, Path], Any] | None = None
    ) -> None:
        self.run_dir = run_dir
        self.start_app = start_app  # a warm start (forkserver.py), else a new interpreter
        self.meta = run_dir / SWEEP_SUBDIR
        self.popen: Any = None  # subprocess.Popen, or a warm start's forked app
        self.signalled: int | None = None
        self.attempt = 0
        self._killer: threading.Timer | None = None

    # -- diagnostics ---------------------------------------------------------------------
    def say(self, text: str) -> None:
        line = f"thesis-sweep runner: {self.run_dir}: {text}\n"
        with contextlib.suppress(OSError, ValueError):
            os.write(2, line.encode("utf-8", "replace"))
        with contextlib.suppress(OSError), open(self.meta / RUNNER_LOG, "a") as log:
            log.write(f"{now_iso()} {line}")

    @staticmethod
    def announce(text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # nobody listening: fine
            os.write(1, (text + "\n").encode())

    # -- signals -------------------------------------------------------------------------
    def on_signal(self, signum: int, _frame: Any) -> None:
        kill = getattr(signal, "SIGKILL", signal.SIGTERM)
        if self.signalled is not None:  # second signal: no more patience
            if self.popen is not None:
                signal_group(self.popen.pid, kill)
            return
        self.signalled = signum
        if self.popen is not None:
            self._stop_app()

    def _stop_app(self) -> None:
        assert self.popen is not None
        signal_group(self.popen.pid, signal.SIGTERM)
        kill = getattr(signal, "SIGKILL", signal.SIGTERM)
        self._killer = threading.Timer(GRACE_SECONDS, signal_group, (self.popen.pid, kill))
        self._killer.daemon = True
        self._killer.start()

    # -- the attempt ---------------------------------------------------------------------
    def refusal(self, record: Record, latest: int) -> str | None:
        """Why this job must not start now, or None. `latest` is the highest claim."""
        state = record.get("state")
        if state == SUCCEEDED:
            return "it already succeeded"
        if state == CANCELLED:
            return "it was cancelled (thesis-sweep resume relaunches it)"
        here, now = hostname(), datetime.now(timezone.utc)
        if state == RUNNING and self._other_live(record, here, now):
            where = f"{record.get('host')}, pid {record.get('pid')}"
            return f"attempt {record.get('attempt')} still runs ({where})"
        done = _int(record.get("attempt")) or 0
        if latest > done:  # claimed, not (yet) recorded: starting now, or died doing so
            try:
                claimed = read_json(claim_path(self.meta, latest))
            except (OSError, ValueError):
                claimed = {}
            if isinstance(claimed, dict) and self._other_live(claimed, here, now):
                return f"attempt {latest} was started by another runner"
        return None

    @staticmethod
    def _other_live(record: Mapping[str, Any], here: str, now: datetime) -> bool:
        """Whether another runner of this job may still run. A scheduler that restarts its
        own job (the same scheduler id) has stopped the previous one first."""
        mine = os.environ.get("THESIS_SWEEP_SCHEDULER_ID")
        if mine and mine == record.get("scheduler_id"):
            return False
        return record_alive(record, here, now)

    def run(self) -> int:
        if not self.meta.is_dir():
            print(f"thesis-sweep runner: {self.meta} does not exist", file=sys.stderr)
            return EXIT_NO_INPUT
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        try:
            previous = read_json(self.meta / STATUS_FILE)
        except (OSError, ValueError):
            previous = {}
        if not isinstance(previous, dict):
            previous = {}
        latest = highest_claim(self.meta)
        why = self.refusal(previous, latest)
        if why:
            self.say(f"not starting it: {why}")
            return EXIT_NOT_STARTED
        done = _int(previous.get("attempt")) or 0
        self.attempt = max(done, latest) + 1
        if cancels(cancel_request(self.meta), self.attempt):
            self.say("not starting it: it was cancelled before it started")
            return EXIT_NOT_STARTED
        info = {
            "attempt": self.attempt,
            "host": hostname(),
            "runner_pid": os.getpid(),
            "runner_start": start_ticks(os.getpid()),
            "scheduler_id": os.environ.get("THESIS_SWEEP_SCHEDULER_ID"),
            "time": now_iso(),
        }
        try:
            won = claim(self.meta, self.attempt, info)
        except OSError as exc:
            self.say(f"cannot claim attempt {self.attempt}: {exc}")
            return EXIT_CANNOT_RECORD
        if not won:
            self.say(f"not starting it: attempt {self.attempt} was started by another runner")
            return EXIT_NOT_STARTED
        # Claimed. A cancel written meanwhile saw the claim and signals us: check again.
        request = cancel_request(self.meta)
        if cancels(request, self.attempt) or self.signalled is not None:
            with contextlib.suppress(OSError):
                os.unlink(claim_path(self.meta, self.attempt))
            self.say("not starting it: it was stopped before it started")
            return EXIT_NOT_STARTED
        return self._attempt(info, done)

    def record(self, record: Record) -> None:
        """Write this attempt's status, unless a newer attempt owns the job by now (a
        scheduler that restarted it before this runner finished)."""
        newest = highest_claim(self.meta)
        if newest > self.attempt:
            self.say(f"attempt {newest} has started: attempt {self.attempt} records nothing more")
            return
        write_json(self.meta / STATUS_FILE, record)

    def _spec(self) -> Record:
        spec = read_json(self.meta / SPEC_FILE)
        argv, env, cwd = spec.get("argv"), spec.get("env", {}), spec.get("cwd")
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise ValueError("'argv' is not a list of strings")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ValueError("'env' is not a mapping of strings")
        if cwd is not None and not isinstance(cwd, str):
            raise ValueError("'cwd' is not a string")
        return {"argv": argv, "env": env, "cwd": cwd, "num": spec.get("num")}

    def _attempt(self, info: Record, done: int) -> int:
        record: Record = {
            "schema_version": STATUS_SCHEMA_VERSION,
            "num": None,
            "state": RUNNING,
            "attempt": self.attempt,
            "host": info["host"],
            "runner_pid": info["runner_pid"],
            "runner_start": info["runner_start"],
            "start": now_iso(),
            "end": None,
            "exit_code": None,
            "signal": None,
            "scheduler_id": info["scheduler_id"],
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        try:
            spec = self._spec()
        except (OSError, ValueError) as exc:
            why = f"cannot read .sweep/{SPEC_FILE} ({exc}); thesis-sweep resume rewrites it"
            self.say(why)
            record.update(state=FAILED, end=now_iso(), reason=why)
            return self._record_end(record, EXIT_NO_INPUT)
        record["num"] = spec["num"]
        log = self.meta / LOG_FILE
        if done and log.exists():  # keep the output of the attempt that wrote it
            with contextlib.suppress(OSError):
                os.replace(log, log.with_name(f"{LOG_FILE}.{done}"))
        try:
            popen = self.start_app(spec, log) if self.start_app else None
            if popen is None:
                popen = self._spawn(spec, log)
        except OSError as exc:
            why = f"cannot start {spec['argv'][0]!r}: {exc}"
            self.say(why)
            with contextlib.suppress(OSError), open(log, "ab") as out:
                out.write(f"thesis-sweep: {why}\n".encode())
            record.update(state=FAILED, exit_code=127, end=now_iso(), reason=why)
            return self._record_end(record, 127)
        self.popen = popen
        if self.signalled is not None:  # a signal came while the app was being started
            self._stop_app()
        record.update(pid=popen.pid, pid_start=start_ticks(popen.pid))
        record["heartbeat"] = record["start"]
        try:
            self.record(record)
        except OSError as exc:
            # Nobody could ever see this app: stop it rather than let it run unobserved.
            signal_group(popen.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            popen.wait()
            self.say(f"stopped the job: cannot record its start: {exc}")
            return EXIT_CANNOT_RECORD
        self.announce(f"{STARTED} {self.attempt} {self.popen.pid}")
        returncode = self._wait(record)
        if self._killer is not None:
            self._killer.cancel()
        request = cancel_request(self.meta)
        if not cancels(request, self.attempt):
            request = None
        record.update(end_fields(returncode, self.signalled, request))
        record["end"] = record["heartbeat"] = now_iso()
        if checkpoint_exit(returncode, self.signalled):
            # The scheduler runs the job again at once (HTCondor's checkpoint_exit_code):
            # the job is not finished, and the next runner continues it.
            record.update(
                state=QUEUED,
                checkpointed=True,
                reason=f"checkpointed (exit {returncode}): the scheduler runs it again",
                after_submission=0,
                launcher=None,
            )
        code = 128 - returncode if returncode < 0 else returncode
        if record["state"] == CANCELLED and code == 0:
            code = 130
        return self._record_end(record, code)

    @staticmethod
    def _spawn(spec: Record, log: Path) -> subprocess.Popen[bytes]:
        """The app in a new interpreter (a cold start)."""
        with open(log, "ab") as out:
            return subprocess.Popen(
                spec["argv"],
                cwd=spec["cwd"] or None,
                env={**os.environ, **spec["env"]},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=os.name == "posix",  # the whole job is one group
                preexec_fn=_die_with(os.getpid()),
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )

    def _wait(self, record: Record) -> int:
        assert self.popen is not None
        complained = False
        while True:
            try:
                return int(self.popen.wait(timeout=HEARTBEAT_SECONDS))
            except subprocess.TimeoutExpired:
                record["heartbeat"] = now_iso()
                try:
                    self.record(record)
                except OSError as exc:  # the app goes on; the next beat tries again
                    if not complained:
                        self.say(f"cannot record a heartbeat: {exc}")
                    complained = True

    def _record_end(self, record: Record, code: int) -> int:
        for delay in (0.0, 1.0, 3.0):  # a full disk may get space back in a moment
            time.sleep(delay)
            try:
                self.record(record)
                return code
            except OSError as exc:
                failure = exc
        self.say(f"cannot record the end ({record['state']}): {failure}")
        return EXIT_CANNOT_RECORD


def checkpoint_exit(returncode: int, signalled: int | None) -> bool:
    """Whether the app exited with the scheduler's checkpoint exit code (set in the job's
    environment when the profile asks for one)."""
    code = os.environ.get("THESIS_SWEEP_CHECKPOINT_EXIT_CODE", "")
    return signalled is None and code.isdigit() and returncode == int(code)


def end_fields(returncode: int, signalled: int | None, request: Record | None) -> Record:
    """State, exit code, signal and reason of an ended attempt. A stop with a cancel
    request on record is `cancelled`; one without (a scheduler, a shutdown) is `failed`
    and marked `interrupted`, unless the app still exited 0."""
    fields: Record = {"exit_code": returncode if returncode >= 0 else None, "signal": None}
    if returncode < 0:
        try:
            fields["signal"] = signal.Signals(-returncode).name
        except ValueError:
            fields["signal"] = f"SIG{-returncode}"
    if signalled is not None and request is not None:
        fields.update(state=CANCELLED, reason=str(request.get("reason") or "cancelled"))
    elif returncode == 0:
        fields["state"] = SUCCEEDED
    elif signalled is not None:
        name = signal.Signals(signalled).name
        fields.update(
            state=FAILED,
            interrupted=True,
            reason=f"stopped by {name} from outside thesis-sweep (a scheduler's limit, "
            "requeue or eviction, or a shutdown)",
        )
    else:
        fields["state"] = FAILED
    return fields


def _die_with(runner_pid: int) -> Callable[[], None] | None:
    """On Linux, make the app die with its runner (PR_SET_PDEATHSIG); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != runner_pid:  # the runner died before prctl took effect
            os._exit(1)

    return preexec


# --- entry point ------------------------------------------------------------------------

USAGE = "usage: runner.py RUN_DIR | --sweep-dir SWEEP_DIR --job N"


def read_runptr(sweep_dir: Path, num: int) -> Path:
    """The run dir that `runptrs/<num>` points at (a symlink, or a text file with the path)."""
    link = sweep_dir / "runptrs" / str(num)
    if link.is_symlink():
        target = os.readlink(link)
    else:
        with open(link, encoding="utf-8") as handle:
            target = handle.read().strip()
    return (link.parent / target).resolve()


def run_dir_from(args: list[str]) -> Path | None:
    """RUN_DIR, or the run dir that the sweep's runptrs/<N> points at (cluster jobs)."""
    if len(args) == 1 and not args[0].startswith("-"):
        return Path(args[0])
    if len(args) == 4 and args[0] == "--sweep-dir" and args[2] == "--job" and args[3].isdigit():
        return read_runptr(Path(args[1]), int(args[3]))
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        run_dir = run_dir_from(args)
    except OSError as exc:
        print(f"thesis-sweep runner: cannot find the job: {exc}", file=sys.stderr)
        return EXIT_NO_INPUT
    if run_dir is None:
        print(USAGE, file=sys.stderr)
        return 2
    runner = Runner(run_dir)
    try:
        return runner.run()
    except Exception:  # the runner's own failure: keep the why next to the job
        import traceback

        runner.say("internal error:\n" + traceback.format_exc())
        if runner.popen is not None and runner.popen.poll() is None:
            signal_group(runner.popen.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
