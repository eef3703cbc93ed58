"""The job runner: runs one job's child process and records its life in status.json.

Every backend runs jobs through this module (`python -m sweeper_cli.runner RUN_DIR`), on a
laptop or on a cluster worker node. It reads `.sweep/job.json` (argv, env) written when
the sweep was created, and is the only writer of `.sweep/status.json` while it runs:
running (host, pid, start, attempt), a heartbeat, then the final state with the exit code
or signal. It imports only the standard library, so it starts fast.

On SIGTERM/SIGINT it forwards SIGTERM to the child's process group, kills the group
after a grace period (at once on a second signal), and records `cancelled`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli import proc, store
from sweeper_cli.states import State

HEARTBEAT_SECONDS = float(os.environ.get("THESIS_SWEEP_HEARTBEAT", "30"))
EXIT_NOT_STARTED = 75  # EX_TEMPFAIL: the job was not ours to start
GRACE_SECONDS = float(os.environ.get("THESIS_SWEEP_GRACE", "10"))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _rotate_log(log: Path, previous_attempt: int) -> None:
    """Keep the output of an earlier attempt as output.log.<attempt>."""
    if log.exists() and previous_attempt > 0:
        os.replace(log, log.with_name(f"{log.name}.{previous_attempt}"))


class _Child:
    """The running child and the cancellation protocol around it."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.cancelled = threading.Event()
        self._killer: threading.Timer | None = None

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "posix":
                os.killpg(self.popen.pid, sig)
            elif sig == signal.SIGTERM:
                self.popen.terminate()
            else:
                self.popen.kill()

    def on_signal(self, signum: int, _frame: Any) -> None:
        if self.cancelled.is_set():  # second signal: no more patience
            self._signal_group(getattr(signal, "SIGKILL", signal.SIGTERM))
            return
        self.cancelled.set()
        self._signal_group(signal.SIGTERM)
        self._killer = threading.Timer(
            GRACE_SECONDS, self._signal_group, (getattr(signal, "SIGKILL", signal.SIGTERM),)
        )
        self._killer.daemon = True
        self._killer.start()

    def finish(self) -> None:
        if self._killer is not None:
            self._killer.cancel()


def _refuse_to_start(run_dir: Path, state: str | None, attempt: int) -> str | None:
    """Why this job must not start now, or None. A job starts only from `queued`, and
    each attempt only once: `O_EXCL` on an attempt file makes racing runners (two resumes,
    a resubmitted cluster job) start it once."""
    if state not in (None, State.QUEUED.value):
        return f"the job is {state}"
    claim = store.sweep_meta(run_dir) / f"attempt-{attempt}.claim"
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return f"attempt {attempt} was already started by another runner"
    return None


def final_fields(returncode: int, cancelled: bool) -> dict[str, Any]:
    """State, exit code and signal name from a child's return code."""
    fields: dict[str, Any] = {"exit_code": returncode if returncode >= 0 else None}
    if returncode < 0:
        try:
            fields["signal"] = signal.Signals(-returncode).name
        except ValueError:
            fields["signal"] = f"SIG{-returncode}"
    if cancelled:
        fields["state"] = State.CANCELLED.value
    elif returncode == 0:
        fields["state"] = State.SUCCEEDED.value
    else:
        fields["state"] = State.FAILED.value
    return fields


def run(run_dir: Path) -> int:
    """Run the job whose spec lies in `run_dir`; return an exit code mirroring the child's."""
    spec = store.read_json(store.spec_path(run_dir))
    try:
        previous = store.read_status(run_dir)
    except (OSError, ValueError):
        previous = {}
    attempt = int(previous.get("attempt", 0)) + 1
    refusal = _refuse_to_start(run_dir, previous.get("state"), attempt)
    if refusal:
        print(f"thesis-sweep runner: {run_dir}: {refusal}; not starting it", file=sys.stderr)
        return EXIT_NOT_STARTED
    log = store.log_path(run_dir)
    _rotate_log(log, attempt - 1)

    env = {**os.environ, **spec.get("env", {})}
    record: dict[str, Any] = {
        "num": spec["num"],
        "state": State.RUNNING.value,
        "attempt": attempt,
        "host": proc.hostname(),
        "runner_pid": os.getpid(),
        "runner_start": proc.start_ticks(os.getpid()),
        "start": now_iso(),
        "end": None,
        "exit_code": None,
        "signal": None,
        "scheduler_id": os.environ.get("THESIS_SWEEP_SCHEDULER_ID"),
    }
    with log.open("ab") as out:
        try:
            popen = subprocess.Popen(
                spec["argv"],
                cwd=spec.get("cwd") or None,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                **proc.detached(),
            )
        except OSError as exc:
            out.write(f"thesis-sweep: cannot start {spec['argv'][0]!r}: {exc}\n".encode())
            record.update(
                state=State.FAILED.value,
                exit_code=127,
                end=now_iso(),
                reason=f"cannot start: {exc}",
            )
            store.write_status(run_dir, record)
            return 127
        child = _Child(popen)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, child.on_signal)
        record.update(pid=popen.pid, pid_start=proc.start_ticks(popen.pid), heartbeat=now_iso())
        store.write_status(run_dir, record)
        while True:
            try:
                returncode = popen.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                record["heartbeat"] = now_iso()
                store.write_status(run_dir, record)
        child.finish()
    record.update(final_fields(returncode, child.cancelled.is_set()), end=now_iso())
    record["heartbeat"] = record["end"]
    store.write_status(run_dir, record)
    if returncode < 0:
        return 128 - returncode
    return 130 if child.cancelled.is_set() and returncode == 0 else returncode


USAGE = "usage: python -m sweeper_cli.runner RUN_DIR | --sweep-dir SWEEP_DIR --job N"


def run_dir_from(args: list[str]) -> Path | None:
    """RUN_DIR, or the run dir that the sweep's runptrs/<N> points at (cluster jobs)."""
    if len(args) == 1 and not args[0].startswith("-"):
        return Path(args[0])
    if len(args) == 4 and args[0] == "--sweep-dir" and args[2] == "--job" and args[3].isdigit():
        return store.read_runptr(Path(args[1]), int(args[3]))
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run_dir = run_dir_from(args)
    if run_dir is None:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        return run(run_dir)
    except Exception:  # the runner's own failure: keep the why next to the job
        import traceback

        crash_log = store.sweep_meta(run_dir) / "runner.log"
        with contextlib.suppress(OSError), crash_log.open("a") as log:
            traceback.print_exc(file=log)
        traceback.print_exc()
        return 70  # EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
