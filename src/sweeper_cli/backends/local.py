"""Local backend: a pool of at most N job runners on this machine."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sweeper_cli import proc, store
from sweeper_cli.backends.base import Event, EventSink, JobRef, Observation
from sweeper_cli.runner import now_iso
from sweeper_cli.states import State


def runner_argv(python: str, run_dir: Path) -> list[str]:
    return [python, "-m", "sweeper_cli.runner", str(run_dir)]


def _signal_runner(popen: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        popen.send_signal(sig)


def mark_not_started(job: JobRef, reason: str) -> None:
    """Record a job that never started as cancelled (the runner never owned its status)."""
    store.write_status(
        job.run_dir,
        {"num": job.num, "state": State.CANCELLED.value, "attempt": 0, "reason": reason},
    )


class LocalBackend:
    """Runs jobs as local processes, `max_parallel` at a time, and waits for them.

    Ctrl-C (KeyboardInterrupt) sends SIGTERM to every runner, which forwards it to its
    job and kills it after the grace period; a second Ctrl-C makes runners kill at once.
    Jobs not started yet are recorded as cancelled. The KeyboardInterrupt is re-raised.
    """

    name = "local"

    def __init__(
        self,
        max_parallel: int | None = 1,
        gpus: Sequence[str] = (),
        fail_fast: bool = False,
        python: str | None = None,
    ) -> None:
        self.max_parallel = max(1, max_parallel or 1)
        self.gpus = list(gpus)
        self.fail_fast = fail_fast
        self.python = python or sys.executable
        self._running: dict[int, subprocess.Popen[bytes]] = {}

    def _start(self, job: JobRef, launched: int, done: queue.Queue[int]) -> None:
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[launched % len(self.gpus)]
        # The runner reports through status.json and writes its own crash log.
        popen = subprocess.Popen(
            runner_argv(self.python, job.run_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            **proc.detached(),
        )
        self._running[job.num] = popen
        threading.Thread(target=self._wait, args=(popen, job.num, done), daemon=True).start()

    @staticmethod
    def _wait(popen: subprocess.Popen[bytes], num: int, done: queue.Queue[int]) -> None:
        popen.wait()
        done.put(num)

    def _finished(self, job: JobRef) -> Event:
        popen = self._running.pop(job.num)
        try:
            record = store.read_status(job.run_dir)
        except (OSError, ValueError):
            return Event("finished", job.num, State.LOST.value, "status.json unreadable")
        state = record.get("state")
        if state in (State.RUNNING.value, State.QUEUED.value):
            why = f"the job runner ended with code {popen.returncode} (see .sweep/runner.log)"
            return Event("finished", job.num, State.LOST.value, why)
        detail = record.get("signal") or (
            f"exit {record['exit_code']}" if record.get("exit_code") is not None else None
        )
        return Event("finished", job.num, state, detail)

    def _stop_all(self, pending: deque[JobRef], sig: int, reason: str) -> None:
        for popen in self._running.values():
            _signal_runner(popen, sig)
        while pending:
            mark_not_started(pending.popleft(), reason)

    def launch(self, sweep_dir: Path, jobs: Sequence[JobRef], on_event: EventSink) -> None:
        """Run the jobs, at most `max_parallel` at a time, and return when all ended."""
        by_num = {job.num: job for job in jobs}
        pending = deque(jobs)
        done: queue.Queue[int] = queue.Queue()
        launched = 0
        interrupts = 0
        failed_fast = False
        while pending or self._running:
            try:
                while pending and len(self._running) < self.max_parallel:
                    job = pending.popleft()
                    self._start(job, launched, done)
                    launched += 1
                    on_event(Event("started", job.num))
                event = self._finished(by_num[done.get()])
                on_event(event)
                if self.fail_fast and event.state != State.SUCCEEDED.value and not failed_fast:
                    failed_fast = True
                    self._stop_all(pending, signal.SIGTERM, "not started: --fail-fast")
            except KeyboardInterrupt:
                interrupts += 1
                self._stop_all(
                    pending,
                    signal.SIGTERM if interrupts == 1 else signal.SIGINT,
                    "not started: interrupted",
                )
                if interrupts == 1:
                    on_event(Event("interrupted", -1, detail="stopping jobs (Ctrl-C again: kill)"))
                if not self._running:
                    raise
        if interrupts:
            raise KeyboardInterrupt

    def poll(
        self, sweep_dir: Path, index: Mapping[str, Any], nums: Sequence[int]
    ) -> dict[int, Observation]:
        return {}  # local jobs are observed through their status files and pids

    def cancel(self, sweep_dir: Path, index: Mapping[str, Any], nums: Sequence[int]) -> None:
        """Signal each job's runner (verified by its start time); if the runner is gone,
        signal the job's own process group and record the end ourselves."""
        root = Path(index["sweep"]["output_root"])
        by_num = {int(job["num"]): root / job["run_dir"] for job in index["jobs"]}
        for num in nums:
            run_dir = by_num[num]
            try:
                record = store.read_status(run_dir)
            except (OSError, ValueError):
                continue
            if record.get("state") != State.RUNNING.value:
                continue
            runner = record.get("runner_pid")
            if runner and proc.is_alive(int(runner), record.get("runner_start")):
                os.kill(int(runner), signal.SIGTERM)
                continue
            child = record.get("pid")
            if child and proc.is_alive(int(child), record.get("pid_start")):
                proc.kill_group(int(child))
            record.pop("schema_version", None)
            record.update(
                state=State.CANCELLED.value,
                reason="cancelled (its runner was gone)",
                end=record.get("end") or now_iso(),
            )
            store.write_status(run_dir, record)
