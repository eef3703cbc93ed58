"""The job runner: runs one job's app and records its life in the job's status.json.

Every backend runs each job through this file, on a laptop or on a cluster worker node:

    python runner.py RUN_DIR
    python runner.py --sweep-dir SWEEP_DIR --job N    (the run dir that runptrs/N points at)

It needs only the standard library and the job-file protocol (`store/jobfiles.py`, which
needs only the standard library too) and runs on any Python >= 3.7, so whatever
interpreter is at hand can run it by path: the one thesis-sweep is installed in (local
sweeps) or the job's own (cluster jobs run a copy kept in the sweep's submit/ folder,
with a copy of jobfiles.py beside it). The app itself runs with the interpreter in the
job's argv.

Files in RUN_DIR/.sweep/ (the whole contract is in store/layout.py):
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
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from importlib import import_module, util
from pathlib import Path
from typing import Any, Dict

Record = Dict[str, Any]  # typing's: a runtime alias must work on Python 3.7


def _protocol() -> Any:
    """The job-file protocol, jobfiles.py: the package's module when the runner is imported
    from the package; run by path, the file beside it (a sweep's submit/ copy) or in the
    package's store/ folder, loaded by its path, so nothing needs to be on sys.path."""
    if __package__:
        return import_module("..store.jobfiles", __package__)
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.join(os.path.dirname(here), "store")):
        path = os.path.join(folder, "jobfiles.py")
        spec = util.spec_from_file_location("jobfiles", path)
        if os.path.isfile(path) and spec is not None and spec.loader is not None:
            module = util.module_from_spec(spec)
            writes = sys.dont_write_bytecode
            sys.dont_write_bytecode = True  # no __pycache__/ in a sweep's submit/
            try:
                spec.loader.exec_module(module)
            finally:
                sys.dont_write_bytecode = writes  # the app forked from here writes as it would
            return module
    raise ImportError(f"jobfiles.py is neither beside {__file__} nor in ../store")


jobfiles = _protocol()
# The Hydra callback that records the task function's return value (a folder of its own:
# next to the package's runner, or to the sweep's submit/ copy).
HOOKS = Path(__file__).resolve().parent / "hooks"
# The runner's exit codes (the protocol's), typed: the module above is known at run time.
EXIT_NO_INPUT: int = jobfiles.EXIT_NO_INPUT
EXIT_INTERNAL: int = jobfiles.EXIT_INTERNAL
EXIT_CANNOT_RECORD: int = jobfiles.EXIT_CANNOT_RECORD
EXIT_NOT_STARTED: int = jobfiles.EXIT_NOT_STARTED


# --- running one job --------------------------------------------------------------------


class Runner:
    """One attempt of one job: claim, start the app, record, forward signals."""

    def __init__(
        self, run_dir: Path, start_app: Callable[[Record, Path], Any] | None = None
    ) -> None:
        self.run_dir = run_dir
        self.start_app = start_app  # a warm start (forkserver.py), else a new interpreter
        self.meta = run_dir / jobfiles.SWEEP_SUBDIR
        self.popen: Any = None  # subprocess.Popen, or a warm start's forked app
        self.signalled: int | None = None
        self.attempt = 0
        self._killer: threading.Timer | None = None

    # -- diagnostics ---------------------------------------------------------------------
    def say(self, text: str) -> None:
        line = f"thesis-sweep runner: {self.run_dir}: {text}\n"
        with contextlib.suppress(OSError, ValueError):
            os.write(2, line.encode("utf-8", "replace"))
        with contextlib.suppress(OSError), open(self.meta / jobfiles.RUNNER_LOG, "a") as log:
            log.write(f"{jobfiles.now_iso()} {line}")

    @staticmethod
    def announce(text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # nobody listening: fine
            os.write(1, (text + "\n").encode())

    # -- signals -------------------------------------------------------------------------
    def on_signal(self, signum: int, _frame: Any) -> None:
        kill = getattr(signal, "SIGKILL", signal.SIGTERM)
        if self.signalled is not None:  # second signal: no more patience
            if self.popen is not None:
                jobfiles.signal_group(self.popen.pid, kill)
            return
        self.signalled = signum
        if self.popen is not None:
            self._stop_app()

    def _stop_app(self) -> None:
        assert self.popen is not None
        jobfiles.signal_group(self.popen.pid, signal.SIGTERM)
        kill = getattr(signal, "SIGKILL", signal.SIGTERM)
        self._killer = threading.Timer(
            jobfiles.GRACE_SECONDS, jobfiles.signal_group, (self.popen.pid, kill)
        )
        self._killer.daemon = True
        self._killer.start()

    # -- the attempt ---------------------------------------------------------------------
    def refusal(self, record: Record, latest: int) -> str | None:
        """Why this job must not start now, or None. `latest` is the highest claim."""
        state = record.get("state")
        if state == jobfiles.SUCCEEDED:
            return "it already succeeded"
        if state == jobfiles.CANCELLED:
            return "it was cancelled (thesis-sweep resume relaunches it)"
        here, now = jobfiles.hostname(), datetime.now(timezone.utc)
        if state == jobfiles.RUNNING and self._other_live(record, here, now):
            where = f"{record.get('host')}, pid {record.get('pid')}"
            return f"attempt {record.get('attempt')} still runs ({where})"
        done = jobfiles.int_or_none(record.get("attempt")) or 0
        if latest > done:  # claimed, not (yet) recorded: starting now, or died doing so
            try:
                claimed = jobfiles.read_json(jobfiles.claim_path(self.meta, latest))
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
        return bool(jobfiles.record_alive(record, here, now))

    def run(self) -> int:
        if not self.meta.is_dir():
            print(f"thesis-sweep runner: {self.meta} does not exist", file=sys.stderr)
            return EXIT_NO_INPUT
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        try:
            previous = jobfiles.read_json(self.meta / jobfiles.STATUS_FILE)
        except (OSError, ValueError):
            previous = {}
        if not isinstance(previous, dict):
            previous = {}
        latest = jobfiles.highest_claim(self.meta)
        why = self.refusal(previous, latest)
        if why:
            self.say(f"not starting it: {why}")
            return EXIT_NOT_STARTED
        done = jobfiles.int_or_none(previous.get("attempt")) or 0
        self.attempt = max(done, latest) + 1
        if jobfiles.cancels(jobfiles.cancel_request(self.meta), self.attempt):
            self.say("not starting it: it was cancelled before it started")
            return EXIT_NOT_STARTED
        info = {
            "attempt": self.attempt,
            "host": jobfiles.hostname(),
            "runner_pid": os.getpid(),
            "runner_start": jobfiles.start_ticks(os.getpid()),
            "scheduler_id": os.environ.get("THESIS_SWEEP_SCHEDULER_ID"),
            "time": jobfiles.now_iso(),
        }
        try:
            won = jobfiles.claim(self.meta, self.attempt, info)
        except OSError as exc:
            self.say(f"cannot claim attempt {self.attempt}: {exc}")
            return EXIT_CANNOT_RECORD
        if not won:
            self.say(f"not starting it: attempt {self.attempt} was started by another runner")
            return EXIT_NOT_STARTED
        # Claimed. A cancel written meanwhile saw the claim and signals us: check again.
        request = jobfiles.cancel_request(self.meta)
        if jobfiles.cancels(request, self.attempt) or self.signalled is not None:
            with contextlib.suppress(OSError):
                os.unlink(jobfiles.claim_path(self.meta, self.attempt))
            self.say("not starting it: it was stopped before it started")
            return EXIT_NOT_STARTED
        return self._attempt(info, done)

    def record(self, record: Record) -> None:
        """Write this attempt's status, unless a newer attempt owns the job by now (a
        scheduler that restarted it before this runner finished)."""
        newest = jobfiles.highest_claim(self.meta)
        if newest > self.attempt:
            self.say(f"attempt {newest} has started: attempt {self.attempt} records nothing more")
            return
        jobfiles.write_json(self.meta / jobfiles.STATUS_FILE, record)

    def _spec(self) -> Record:
        spec = jobfiles.read_json(self.meta / jobfiles.SPEC_FILE)
        argv, env, cwd = spec.get("argv"), spec.get("env", {}), spec.get("cwd")
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise ValueError("'argv' is not a list of strings")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ValueError("'env' is not a mapping of strings")
        if cwd is not None and not isinstance(cwd, str):
            raise ValueError("'cwd' is not a string")
        job = {"argv": argv, "env": env, "cwd": cwd, "num": spec.get("num")}
        return jobfiles.with_return_hook(job, HOOKS)  # type: ignore[no-any-return]

    def _attempt(self, info: Record, done: int) -> int:
        record: Record = {
            "schema_version": jobfiles.STATUS_SCHEMA_VERSION,
            "num": None,
            "state": jobfiles.RUNNING,
            "attempt": self.attempt,
            "host": info["host"],
            "runner_pid": info["runner_pid"],
            "runner_start": info["runner_start"],
            "start": jobfiles.now_iso(),
            "end": None,
            "exit_code": None,
            "signal": None,
            "scheduler_id": info["scheduler_id"],
            "gpus": jobfiles.assigned_gpus(os.environ),
        }
        try:
            spec = self._spec()
        except (OSError, ValueError) as exc:
            spec_file = jobfiles.SPEC_FILE
            why = f"cannot read .sweep/{spec_file} ({exc}); thesis-sweep resume rewrites it"
            self.say(why)
            record.update(state=jobfiles.FAILED, end=jobfiles.now_iso(), reason=why)
            return self._record_end(record, EXIT_NO_INPUT)
        record["num"] = spec["num"]
        log = self.meta / jobfiles.LOG_FILE
        with contextlib.suppress(OSError):  # a return value is this attempt's, or none
            os.unlink(self.meta / jobfiles.RETURN_FILE)
        if done and log.exists():  # keep the output of the attempt that wrote it
            with contextlib.suppress(OSError):
                os.replace(log, log.with_name(f"{jobfiles.LOG_FILE}.{done}"))
        try:
            popen = self.start_app(spec, log) if self.start_app else None
            if popen is None:
                popen = self._spawn(spec, log)
        except OSError as exc:
            why = f"cannot start {spec['argv'][0]!r}: {exc}"
            self.say(why)
            with contextlib.suppress(OSError), open(log, "ab") as out:
                out.write(f"thesis-sweep: {why}\n".encode())
            record.update(state=jobfiles.FAILED, exit_code=127, end=jobfiles.now_iso(), reason=why)
            return self._record_end(record, 127)
        self.popen = popen
        if self.signalled is not None:  # a signal came while the app was being started
            self._stop_app()
        record.update(pid=popen.pid, pid_start=jobfiles.start_ticks(popen.pid))
        record["heartbeat"] = record["start"]
        try:
            self.record(record)
        except OSError as exc:
            # Nobody could ever see this app: stop it rather than let it run unobserved.
            jobfiles.signal_group(popen.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            popen.wait()
            self.say(f"stopped the job: cannot record its start: {exc}")
            return EXIT_CANNOT_RECORD
        self.announce(f"{jobfiles.STARTED} {self.attempt} {self.popen.pid}")
        returncode = self._wait(record)
        if self._killer is not None:
            self._killer.cancel()
        request = jobfiles.cancel_request(self.meta)
        if not jobfiles.cancels(request, self.attempt):
            request = None
        record.update(end_fields(returncode, self.signalled, request))
        record["end"] = record["heartbeat"] = jobfiles.now_iso()
        if checkpoint_exit(returncode, self.signalled):
            # The scheduler runs the job again at once (HTCondor's checkpoint_exit_code):
            # the job is not finished, and the next runner continues it.
            record.update(
                state=jobfiles.QUEUED,
                checkpointed=True,
                reason=f"checkpointed (exit {returncode}): the scheduler runs it again",
                after_submission=0,
                launcher=None,
            )
        code = 128 - returncode if returncode < 0 else returncode
        if record["state"] == jobfiles.CANCELLED and code == 0:
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
                return int(self.popen.wait(timeout=jobfiles.HEARTBEAT_SECONDS))
            except subprocess.TimeoutExpired:
                record["heartbeat"] = jobfiles.now_iso()
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
        fields.update(state=jobfiles.CANCELLED, reason=str(request.get("reason") or "cancelled"))
    elif returncode == 0:
        fields["state"] = jobfiles.SUCCEEDED
    elif signalled is not None:
        name = signal.Signals(signalled).name
        fields.update(
            state=jobfiles.FAILED,
            interrupted=True,
            reason=f"stopped by {name} from outside thesis-sweep (a scheduler's limit, "
            "requeue or eviction, or a shutdown)",
        )
    else:
        fields["state"] = jobfiles.FAILED
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


def run_dir_from(args: list[str]) -> Path | None:
    """RUN_DIR, or the run dir that the sweep's runptrs/<N> points at (cluster jobs)."""
    if len(args) == 1 and not args[0].startswith("-"):
        return Path(args[0])
    if len(args) == 4 and args[0] == "--sweep-dir" and args[2] == "--job" and args[3].isdigit():
        return Path(jobfiles.read_runptr(Path(args[1]), int(args[3])))
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
            jobfiles.signal_group(runner.popen.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
