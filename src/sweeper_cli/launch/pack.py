"""The pack runner: several jobs one after another inside one scheduler job.

    python pack.py PACKS_FILE N     (pack N of a submission's packs file)

PACKS_FILE is JSON, `{"packs": [[RUN_DIR, ...], ...]}`; pack N lists the run dirs of its
jobs in the order they run. Each job goes through the job runner (`runner.py`, loaded from
beside this file, or from the package), exactly as a job of its own would: its own claim,
attempt, status.json, output.log and cancel request. The next job starts only after the
previous one ended and its app's whole process group is gone (a straggler is killed after
the grace period), so a pack holds one GPU slot for one job at a time.

A job that fails does not stop the pack; a job the runner refuses (it already succeeded,
it was cancelled) is skipped. SIGTERM/SIGINT reach the running job's runner, which stops
its app as it always does; then the pack stops, and the jobs it did not start stay queued
for `resume`. A job that exits with the scheduler's checkpoint code ends the pack with that
code, so the scheduler runs the pack again and the job continues (finished ones are
skipped). The pack exits 0 when every job succeeded (or had before), else with the first
failing job's code, 128 + the signal when it was stopped.

Standard library only, Python >= 3.7, like the runner: a cluster sweep's submit folder
holds a copy of this file beside runner.py and jobfiles.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from importlib import import_module, util
from pathlib import Path
from typing import Any

USAGE = "usage: pack.py PACKS_FILE N"


def _runner_module() -> Any:
    """runner.py: the package's module when imported from the package; run by path, the
    file beside this one (which finds jobfiles.py beside itself)."""
    if __package__:
        return import_module(".runner", __package__)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
    spec = util.spec_from_file_location("thesis_sweep_runner", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise ImportError(f"runner.py is not beside {__file__}")
    module = util.module_from_spec(spec)
    writes = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__/ in a sweep's submit/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
    return module


runner = _runner_module()
jobfiles = runner.jobfiles


def read_pack(packs_file: Path, number: int) -> list[Path]:
    """The run dirs of pack `number` (ValueError when the file does not hold it)."""
    data = jobfiles.read_json(packs_file)
    packs = data.get("packs") if isinstance(data, dict) else None
    if not isinstance(packs, list) or not 0 <= number < len(packs):
        raise ValueError(f"{packs_file} holds no pack {number}")
    pack = packs[number]
    if not isinstance(pack, list) or not all(isinstance(d, str) for d in pack):
        raise ValueError(f"pack {number} of {packs_file} is not a list of run dirs")
    return [Path(d) for d in pack]


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.write(1, f"thesis-sweep pack: {text}\n".encode("utf-8", "replace"))


def wait_group_gone(pid: int, grace: float) -> None:
    """Wait until the process group led by `pid` (a job's app) is gone; kill what is left
    of it after `grace` seconds."""
    if os.name != "posix":
        return
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        if time.monotonic() > deadline:
            jobfiles.signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + grace
        time.sleep(0.05)


class Pack:
    """Runs a list of jobs one after another; forwards signals to the running one."""

    def __init__(self, run_dirs: list[Path]) -> None:
        self.run_dirs = run_dirs
        self.current: Any = None  # the Runner of the job that runs now
        self.stopped: int | None = None

    def on_signal(self, signum: int, frame: Any) -> None:
        """Between jobs (the runner of a job installs its own handler while it runs)."""
        self.stopped = signum
        if self.current is not None:
            self.current.on_signal(signum, frame)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        first_failure = 0
        total = len(self.run_dirs)
        for position, run_dir in enumerate(self.run_dirs, start=1):
            if self.stopped is not None:
                _say(f"stopped by signal {self.stopped}: jobs {position}-{total} not started")
                return 128 + self.stopped
            _say(f"job {position}/{total}: {run_dir}")
            job = runner.Runner(run_dir)
            self.current = job
            try:
                code = int(job.run())
            except Exception as exc:  # the runner's own failure stays with its job
                job.say(f"internal error: {exc!r}")
                code = int(runner.EXIT_INTERNAL)
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, self.on_signal)
                self.current = None
            if job.popen is not None:
                wait_group_gone(job.popen.pid, jobfiles.GRACE_SECONDS)
            if job.signalled is not None:
                self.stopped = job.signalled
            elif runner.checkpoint_exit(code, None) and job.popen is not None:
                _say(f"job {position}/{total} checkpointed (exit {code}): the pack runs again")
                return code
            if code not in (0, runner.EXIT_NOT_STARTED) and not first_failure:
                first_failure = code
        if self.stopped is not None:
            return 128 + self.stopped
        return first_failure


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print(USAGE, file=sys.stderr)
        return 2
    try:
        run_dirs = read_pack(Path(args[0]), int(args[1]))
    except (OSError, ValueError) as exc:
        print(f"thesis-sweep pack: cannot read the pack: {exc}", file=sys.stderr)
        return int(runner.EXIT_NO_INPUT)
    return Pack(run_dirs).run()


if __name__ == "__main__":
    sys.exit(main())
