"""Local backend: a pool of at most N job runners on this machine.

Each job's runner runs by path with this interpreter (it needs only the standard
library; the app runs with the job's own interpreter), in its own session, its stdout and
stderr on a pipe: the runner says there when the app has started, and its last words
explain a job that ended without recording an end. A slot is free only when the runner
has ended and, if it died, its app's process group is gone too, so `-j` holds.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper_cli.launch import runner
from sweeper_cli.launch.backends.base import Event, EventSink, JobRef, Observation, ReadRun
from sweeper_cli.launch.gpus import GpuPool
from sweeper_cli.launch.warm import EarlyServer, WarmStarts, begin
from sweeper_cli.states import State
from sweeper_cli.store import jobfiles, layout, run_files, runs_index

RUNNER_PATH = Path(runner.__file__).resolve()


def runner_argv(run_dir: Path) -> list[str]:
    """The runner, by path, under this interpreter, isolated from the app's settings."""
    return [sys.executable, "-I", str(RUNNER_PATH), str(run_dir)]


def me() -> dict[str, object]:
    return {
        "by": {"host": jobfiles.hostname(), "pid": os.getpid()},
        "time": jobfiles.now_iso(),
    }


def next_attempt(run_dir: Path) -> int:
    """The attempt a runner started now would take (or the one just claimed, plus one)."""
    try:
        done = run_files.read_status(run_dir).attempt
    except (OSError, ValueError):
        done = 0
    return max(done, jobfiles.highest_claim(layout.sweep_meta(run_dir))) + 1


def request_cancel(job: JobRef, reason: str) -> None:
    """Record that this job's current and next attempt must stop (best effort)."""
    with contextlib.suppress(OSError):
        run_files.request_cancel(job.run_dir, next_attempt(job.run_dir), reason, me())


def stop_leftovers(run_dir: Path) -> None:
    """After a runner died: kill its app's process group if it still lives, and wait."""
    try:
        raw = run_files.read_status(run_dir).raw
    except (OSError, ValueError):
        return
    pid, ticks = raw.get("pid"), raw.get("pid_start")
    if raw.get("state") != State.RUNNING.value or not isinstance(pid, int):
        return
    deadline = time.monotonic() + 10
    while jobfiles.is_alive(pid, ticks if isinstance(ticks, int) else None):
        jobfiles.signal_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)


@dataclass
class _Running:
    """A job's runner: a cold one's Popen, or a warm one's handle (the same interface:
    stdout, returncode, send_signal), and how to wait for its exit code."""

    job: JobRef
    popen: Any
    wait: Callable[[], int]
    key: int  # unique in the launch (job numbers repeat when jobs of several sweeps run)
    gpus: tuple[str, ...] = ()
    last_words: list[str] = field(default_factory=list)


class LocalBackend:
    """Runs jobs as local processes, `max_parallel` at a time, and waits for them.

    Ctrl-C or SIGTERM (KeyboardInterrupt) records a cancel request for every job of the
    launch and sends SIGTERM to every runner, which stops its app and kills it after the
    grace period; a second one makes runners kill at once. The interrupt is re-raised
    once every runner has ended. `observe` reads a run's state from its files once its
    runner has ended (`status.observe_run`).
    """

    name = "local"

    def __init__(
        self,
        max_parallel: int | None = 1,
        gpu_pool: GpuPool | None = None,
        fail_fast: bool = False,
        warm: str = "off",
        early: EarlyServer | None = None,
        keep_warm: bool = False,
        *,
        observe: ReadRun,
        **_ignored: object,
    ) -> None:
        self.max_parallel = max(1, max_parallel or 1)
        self.pool = gpu_pool
        self.fail_fast = fail_fast
        self.warm = warm  # "off", "hydra" (preload Hydra) or "app" (and the app's imports)
        self.early = early  # a server `run` started while it planned, taken at launch
        self.keep_warm = keep_warm  # one server for many launches (a search's batches)
        self.observe = observe
        self.starts: WarmStarts | None = None
        self._running: dict[int, _Running] = {}

    def check_paths(self, paths: Sequence[Path]) -> None:
        """Local jobs get their paths as argv and environment: nothing to refuse."""

    def _start(
        self, key: int, job: JobRef, gpus: tuple[str, ...], events: queue.Queue[tuple[str, int]]
    ) -> None:
        extra = {"CUDA_VISIBLE_DEVICES": ",".join(gpus)} if self.pool is not None else {}
        starts = self.starts
        if starts is not None and not starts.gone.is_set():
            warm = starts.start(key, job.run_dir, extra)
            entry = _Running(job, warm, lambda: warm.wait(starts.gone), key, gpus)
        else:
            # Its own session: a terminal's Ctrl-C reaches only thesis-sweep, which then
            # stops the jobs itself.
            popen = subprocess.Popen(
                runner_argv(job.run_dir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**os.environ, **extra},
                start_new_session=os.name == "posix",
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )
            entry = _Running(job, popen, popen.wait, key, gpus)
        self._running[key] = entry
        threading.Thread(target=self._listen, args=(entry, events), daemon=True).start()

    @staticmethod
    def _listen(entry: _Running, events: queue.Queue[tuple[str, int]]) -> None:
        """Relay the runner's 'started' line; keep its other lines; report its end."""
        assert entry.popen.stdout is not None
        for raw in entry.popen.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith(jobfiles.STARTED):
                events.put(("started", entry.key))
            elif line:
                entry.last_words = [*entry.last_words[-4:], line]
        entry.wait()
        events.put(("ended", entry.key))

    def _ended(self, key: int) -> Event:
        entry = self._running.pop(key)
        if self.pool is not None:
            self.pool.give(entry.gpus)
        code = entry.popen.returncode
        if code < 0 or code in (jobfiles.EXIT_CANNOT_RECORD, jobfiles.EXIT_INTERNAL):
            stop_leftovers(entry.job.run_dir)  # the app must not outlive its runner
        return self._outcome(entry.job, code, entry.last_words)

    def _outcome(self, job: JobRef, code: int, last_words: Sequence[str]) -> Event:
        view = self.observe(job.num, job.run_dir)
        said = last_words[-1] if last_words else ""
        if said.startswith("thesis-sweep runner: "):
            said = said.split(": ", 2)[-1]  # drop the prefix and the run dir
        if code == jobfiles.EXIT_NOT_STARTED:
            return Event("finished", job.num, view.state.value, said or view.reason, job.run_dir)
        if view.state.is_terminal() and view.state is not State.LOST:
            detail = view.signal or (
                f"exit {view.exit_code}" if view.exit_code is not None else view.reason
            )
            if view.state is State.FAILED and view.exit_code == 0:
                detail = view.reason  # exited 0, but not a success (its success files)
            return Event("finished", job.num, view.state.value, detail, job.run_dir)
        if code < 0:
            why = f"its runner was killed ({signal.Signals(-code).name}); its app was stopped"
        else:
            why = said or f"its runner ended with code {code}"
        return Event("finished", job.num, State.LOST.value, why, job.run_dir)

    def _stop_all(self, pending: deque[tuple[int, JobRef]], sig: int, reason: str) -> None:
        for entry in self._running.values():
            request_cancel(entry.job, reason)
            with contextlib.suppress(OSError):
                entry.popen.send_signal(sig)
        while pending:
            request_cancel(pending.popleft()[1], f"not started: {reason}")

    def _open_warm(self, sweep_dir: Path, on_event: EventSink) -> None:
        """Have the job-start server ready when warm starts are on and the app allows them."""
        starting = self.early.take() if self.early is not None else None
        try:
            if starting is None:
                template = runs_index.read_index(sweep_dir).header.raw.get("job_template")
                if not isinstance(template, dict):
                    return
                starting = begin(template, self.warm)
            if starting is not None:
                self.starts = starting.ready()
        except (OSError, RuntimeError) as exc:
            on_event(Event("note", -1, detail=f"warm starts off ({exc}): jobs start cold"))

    def launch(self, sweep_dir: Path, jobs: Sequence[JobRef], on_event: EventSink) -> None:
        """Run the jobs, at most `max_parallel` at a time, and return when all ended."""
        if self.starts is None or self.starts.gone.is_set():
            self._open_warm(sweep_dir, on_event)
        try:
            self._launch(jobs, on_event)
        finally:
            if not self.keep_warm:
                self.close()

    def close(self) -> None:
        """Stop the job-start server (kept across launches when `keep_warm`)."""
        if self.starts is not None:
            self.starts.close()
            self.starts = None

    def _launch(self, jobs: Sequence[JobRef], on_event: EventSink) -> None:
        pending = deque(enumerate(jobs))
        events: queue.Queue[tuple[str, int]] = queue.Queue()
        interrupts: list[KeyboardInterrupt] = []
        failed_fast = False
        while pending or self._running:
            try:
                while pending and len(self._running) < self.max_parallel:
                    gpus = self.pool.take() if self.pool is not None else ()
                    if gpus is None:
                        break  # every GPU seat is taken: wait for a job to end
                    key, job = pending.popleft()
                    request = jobfiles.cancel_request(layout.sweep_meta(job.run_dir))
                    if jobfiles.cancels(request, next_attempt(job.run_dir)):
                        if self.pool is not None:
                            self.pool.give(gpus)
                        why = str((request or {}).get("reason") or "cancelled before it started")
                        on_event(
                            Event("finished", job.num, State.CANCELLED.value, why, job.run_dir)
                        )
                        continue
                    self._start(key, job, gpus, events)
                if not self._running:
                    continue
                kind, key = events.get()
                if kind == "started":
                    started = self._running[key].job
                    on_event(Event("started", started.num, run_dir=started.run_dir))
                    continue
                event = self._ended(key)
                on_event(event)
                if self.fail_fast and event.state != State.SUCCEEDED.value and not failed_fast:
                    failed_fast = True
                    why = f"--fail-fast (job {event.num} failed)"
                    self._stop_all(pending, signal.SIGTERM, why)
            except KeyboardInterrupt as exc:
                interrupts.append(exc)
                what = "terminated (SIGTERM)" if _is_sigterm(exc) else "interrupted (Ctrl-C)"
                self._stop_all(pending, signal.SIGTERM, what)
                if len(interrupts) == 1:
                    again = "SIGTERM" if _is_sigterm(exc) else "Ctrl-C"
                    detail = f"{what}: stopping jobs ({again} again: kill at once)"
                    on_event(Event("interrupted", -1, detail=detail))
        if interrupts:
            raise interrupts[0]  # Ctrl-C or SIGTERM, as it first came

    def poll(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        return {}  # local jobs are observed through their status files and pids

    def cancel(self, sweep_dir: Path, jobs: Sequence[JobRef]) -> None:
        """Signal each job's runner (verified by its start time); if the runner is gone
        but its app lives on, kill the app's process group."""
        for job in jobs:
            for who in _processes(job.run_dir):
                pid, ticks, is_runner = who
                if jobfiles.is_alive(pid, ticks):
                    if is_runner:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGTERM)
                    else:
                        jobfiles.signal_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
                    break


def _processes(run_dir: Path) -> list[tuple[int, int | None, bool]]:
    """The runner then the app of a job's current attempt: (pid, start ticks, is runner)."""
    try:
        record = run_files.read_status(run_dir)
    except (OSError, ValueError):
        return []
    raw: Mapping[str, object] = record.raw
    if record.state is State.QUEUED:  # a runner may have claimed the next attempt
        latest = jobfiles.highest_claim(layout.sweep_meta(run_dir))
        raw = (run_files.read_claim(run_dir, latest) if latest > record.attempt else None) or {}
    found = []
    for pid_key, ticks_key, is_runner in (
        ("runner_pid", "runner_start", True),
        ("pid", "pid_start", False),
    ):
        pid, ticks = raw.get(pid_key), raw.get(ticks_key)
        if isinstance(pid, int) and raw.get("host") == jobfiles.hostname():
            found.append((pid, ticks if isinstance(ticks, int) else None, is_runner))
    return found


def _is_sigterm(exc: BaseException) -> bool:
    from sweeper_cli.errors import Terminated

    return isinstance(exc, Terminated)
