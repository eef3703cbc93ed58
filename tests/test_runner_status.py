"""The job runner with real child processes, and the status merge built on its files."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sweeper_cli import proc, status, store
from sweeper_cli.states import State


def _job(tmp_path: Path, code: str, num: int = 0) -> Path:
    run_dir = tmp_path / f"run_job{num}"
    (run_dir / ".sweep").mkdir(parents=True)
    store.atomic_write_json(
        store.spec_path(run_dir),
        {"num": num, "argv": [sys.executable, "-c", code], "cwd": str(run_dir), "env": {"X": "1"}},
    )
    store.write_status(run_dir, {"num": num, "state": "queued", "attempt": 0})
    return run_dir


def _wait_for_output(run_dir: Path, text: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = store.log_path(run_dir)
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.05)
    pytest.fail(f"{text!r} never appeared in the job's output")


def _runner(run_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "sweeper_cli.runner", str(run_dir)])


@pytest.mark.parametrize(
    ("code", "state", "exit_code", "sig"),
    [
        pytest.param("print('hi')", "succeeded", 0, None, id="ok"),
        pytest.param("import sys; sys.exit(3)", "failed", 3, None, id="exit-3"),
        pytest.param(
            "import os,signal; os.kill(os.getpid(), signal.SIGKILL)",
            "failed",
            None,
            "SIGKILL",
            id="sigkill",
        ),
        pytest.param(
            "import os,signal; os.kill(os.getpid(), signal.SIGSEGV)",
            "failed",
            None,
            "SIGSEGV",
            id="sigsegv",
        ),
    ],
)
def test_runner_records_the_outcome(
    tmp_path: Path, code: str, state: str, exit_code: int | None, sig: str | None
) -> None:
    run_dir = _job(tmp_path, code)
    assert _runner(run_dir).wait(timeout=30) != (0 if state != "succeeded" else 1)
    record = store.read_status(run_dir)
    assert (record["state"], record["exit_code"], record["signal"]) == (state, exit_code, sig)
    assert record["attempt"] == 1 and record["host"] == proc.hostname()
    assert record["start"] <= record["end"]


def test_runner_passes_env_and_cwd_and_captures_output(tmp_path: Path) -> None:
    run_dir = _job(
        tmp_path,
        "import os,sys; print(os.getcwd(), os.environ['X']); print('oops', file=sys.stderr)",
    )
    _runner(run_dir).wait(timeout=30)
    assert store.log_path(run_dir).read_text().split() == [str(run_dir), "1", "oops"]


def test_second_attempt_keeps_the_first_output(tmp_path: Path) -> None:
    run_dir = _job(tmp_path, "print('attempt')")
    _runner(run_dir).wait(timeout=30)
    assert _runner(run_dir).wait(timeout=30) == 75  # succeeded: never run again by accident
    assert store.read_status(run_dir)["attempt"] == 1
    store.write_status(run_dir, {"num": 0, "state": "queued", "attempt": 1})  # as resume does
    _runner(run_dir).wait(timeout=30)
    assert store.read_status(run_dir)["attempt"] == 2
    assert (run_dir / ".sweep" / "output.log.1").read_text() == "attempt\n"
    assert store.log_path(run_dir).read_text() == "attempt\n"


def test_sigterm_to_the_runner_cancels_the_job(tmp_path: Path) -> None:
    run_dir = _job(tmp_path, "import time; print('up', flush=True); time.sleep(60)")
    runner = _runner(run_dir)
    _wait_for_output(run_dir, "up")
    deadline = time.monotonic() + 20
    while "pid" not in store.read_status(run_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = store.read_status(run_dir)["pid"]
    runner.send_signal(signal.SIGTERM)
    runner.wait(timeout=30)
    record = store.read_status(run_dir)
    assert record["state"] == "cancelled" and record["signal"] == "SIGTERM"
    assert not proc.is_alive(child, None)


def test_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = (
        "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    run_dir = _job(tmp_path, code)
    runner = subprocess.Popen(
        [sys.executable, "-m", "sweeper_cli.runner", str(run_dir)],
        env={
            "THESIS_SWEEP_GRACE": "0.5",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": ":".join(sys.path),
        },
    )
    _wait_for_output(run_dir, "up")
    runner.send_signal(signal.SIGTERM)
    runner.wait(timeout=20)
    record = store.read_status(run_dir)
    assert record["state"] == "cancelled" and record["signal"] == "SIGKILL"


def test_racing_runners_start_a_job_once(tmp_path: Path) -> None:
    run_dir = _job(tmp_path, "import time; time.sleep(0.5); print('ran')")
    runners = [_runner(run_dir) for _ in range(4)]
    codes = sorted(r.wait(timeout=30) for r in runners)
    assert codes == [0, 75, 75, 75]
    assert store.log_path(run_dir).read_text() == "ran\n"
    assert store.read_status(run_dir)["attempt"] == 1


def test_unstartable_command_fails_cleanly(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    (run_dir / ".sweep").mkdir(parents=True)
    store.atomic_write_json(
        store.spec_path(run_dir), {"num": 0, "argv": ["/no/such/binary"], "cwd": None, "env": {}}
    )
    assert _runner(run_dir).wait(timeout=30) == 127
    record = store.read_status(run_dir)
    assert record["state"] == "failed" and "cannot start" in record["reason"]


# --- status merge --------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _entry(run_dir: Path, root: Path) -> dict[str, object]:
    return {"num": 0, "overrides": ["a=1"], "run_dir": str(run_dir.relative_to(root))}


def _observe(
    tmp_path: Path,
    record: dict[str, object] | None,
    launcher_alive: bool = True,
    alive: bool = False,
) -> status.JobView:
    run_dir = tmp_path / "runs" / "r0"
    (run_dir / ".sweep").mkdir(parents=True, exist_ok=True)
    if record is not None:
        store.write_status(run_dir, record)
    return status.observe_job(
        _entry(run_dir, tmp_path),
        tmp_path,
        "here",
        NOW,
        launcher_alive,
        alive=lambda pid, ticks: alive,
    )


def test_running_here_with_a_dead_process_is_lost(tmp_path: Path) -> None:
    view = _observe(tmp_path, {"state": "running", "host": "here", "pid": 123, "runner_pid": 122})
    assert view.state is State.LOST and "process is gone" in (view.reason or "")


def test_running_here_with_a_live_process_is_running(tmp_path: Path) -> None:
    view = _observe(tmp_path, {"state": "running", "host": "here", "pid": 123}, alive=True)
    assert view.state is State.RUNNING


@pytest.mark.parametrize(("age", "expected"), [(10, State.RUNNING), (10_000, State.LOST)])
def test_running_elsewhere_is_judged_by_its_heartbeat(
    tmp_path: Path, age: int, expected: State
) -> None:
    beat = (NOW - timedelta(seconds=age)).isoformat()
    view = _observe(tmp_path, {"state": "running", "host": "node7", "pid": 1, "heartbeat": beat})
    assert view.state is expected


def test_queued_job_of_a_dead_launcher_is_lost(tmp_path: Path) -> None:
    assert _observe(tmp_path, {"state": "queued"}, launcher_alive=True).state is State.QUEUED
    view = _observe(tmp_path, {"state": "queued"}, launcher_alive=False)
    assert view.state is State.LOST and "never started" in (view.reason or "")


def test_corrupt_or_missing_files_are_lost_with_a_reason(tmp_path: Path) -> None:
    view = _observe(tmp_path, None)
    assert view.state is State.LOST and view.reason == "status.json is missing"
    (tmp_path / "runs" / "r0" / ".sweep" / "status.json").write_text("{trunc")
    view = _observe(tmp_path, None)
    assert view.state is State.LOST and "unreadable" in (view.reason or "")
    gone = status.observe_job({"num": 1, "run_dir": "runs/nope"}, tmp_path, "here", NOW, True)
    assert gone.state is State.LOST and gone.reason == "run dir is missing"


def test_exit_code_of_a_sweep() -> None:
    def view(*states: State) -> status.SweepView:
        v = status.SweepView(Path("."), {"sweep": {}})
        v.jobs = [status.JobView(i, s, (), Path(".")) for i, s in enumerate(states)]
        return v

    assert status.sweep_exit_code(view(State.SUCCEEDED, State.SUCCEEDED)) == 0
    assert status.sweep_exit_code(view(State.SUCCEEDED, State.FAILED)) == 1
    assert status.sweep_exit_code(view(State.LOST)) == 1
    assert status.sweep_exit_code(view(State.FAILED, State.RUNNING)) == 4
    assert status.sweep_exit_code(view(State.QUEUED)) == 4


def test_last_meaningful_line_skips_hydra_boilerplate(tmp_path: Path) -> None:
    (tmp_path / ".sweep").mkdir()
    store.log_path(tmp_path).write_text(
        "Traceback...\nRuntimeError: boom at epoch 1\n\n"
        "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n"
    )
    assert status.last_meaningful_line(tmp_path) == "RuntimeError: boom at epoch 1"
