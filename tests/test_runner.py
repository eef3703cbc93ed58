"""The job runner with real processes: outcomes, attempts, claims, cancel requests, signals,
its independence from the job's interpreter, and the app dying with its runner."""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import raw_status
from sweeper_cli.launch import runner
from sweeper_cli.store import jobfiles, layout, run_files, runptrs

RUNNER = Path(runner.__file__)


def make_job(tmp_path: Path, code: str, num: int = 0) -> Path:
    run_dir = tmp_path / f"run_job{num}"
    (run_dir / ".sweep").mkdir(parents=True)
    layout.atomic_write_json(
        layout.spec_path(run_dir),
        {"num": num, "argv": [sys.executable, "-c", code], "cwd": str(run_dir), "env": {"X": "1"}},
    )
    run_files.write_status(run_dir, {"num": num, "state": "queued", "attempt": 0})
    return run_dir


def start(run_dir: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """The runner as backends start it: by path, isolated from site-packages."""
    return subprocess.Popen([sys.executable, "-I", str(RUNNER), str(run_dir)], **kwargs)


def wait_for(test: Any, timeout: float = 20, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} never happened")


def running_app(run_dir: Path) -> int:
    wait_for(lambda: raw_status(run_dir).get("pid"), what="the app's start")
    return int(raw_status(run_dir)["pid"])


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
    run_dir = make_job(tmp_path, code)
    returned = start(run_dir).wait(timeout=30)
    assert (returned == 0) == (state == "succeeded")
    record = raw_status(run_dir)
    assert (record["state"], record["exit_code"], record["signal"]) == (state, exit_code, sig)
    assert record["attempt"] == 1 and record["host"] == jobfiles.hostname()
    assert record["start"] <= record["end"]
    assert (run_dir / ".sweep" / "attempt-1.claim").is_file()


def test_runner_passes_env_and_cwd_and_captures_output(tmp_path: Path) -> None:
    run_dir = make_job(
        tmp_path,
        "import os,sys; print(os.getcwd(), os.environ['X']); print('oops', file=sys.stderr)",
    )
    start(run_dir).wait(timeout=30)
    assert layout.log_path(run_dir).read_text().split() == [str(run_dir), "1", "oops"]


def test_runner_announces_the_start_on_stdout(tmp_path: Path) -> None:
    run_dir = make_job(tmp_path, "pass")
    out = subprocess.run(
        [sys.executable, "-I", str(RUNNER), str(run_dir)], capture_output=True, timeout=30
    ).stdout.decode()
    app = raw_status(run_dir)["pid"]
    assert out == f"{jobfiles.STARTED} 1 {app}\n"


def test_second_attempt_keeps_the_first_output(tmp_path: Path) -> None:
    run_dir = make_job(tmp_path, "print('attempt')")
    start(run_dir).wait(timeout=30)
    assert start(run_dir).wait(timeout=30) == jobfiles.EXIT_NOT_STARTED  # never twice by accident
    assert raw_status(run_dir)["attempt"] == 1
    run_files.write_status(run_dir, {"num": 0, "state": "queued", "attempt": 1})  # as resume does
    start(run_dir).wait(timeout=30)
    assert raw_status(run_dir)["attempt"] == 2
    assert (run_dir / ".sweep" / "output.log.1").read_text() == "attempt\n"
    assert layout.log_path(run_dir).read_text() == "attempt\n"


def test_a_claim_left_by_a_dead_runner_never_blocks_the_job(tmp_path: Path) -> None:
    """A runner that died after claiming (a full disk, a kill) leaves attempt-1.claim and
    status `queued`: the next runner takes attempt 2 instead of refusing forever."""
    run_dir = make_job(tmp_path, "print('ran')")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    claim = {"attempt": 1, "host": jobfiles.hostname(), "runner_pid": int(dead.stdout)}
    (run_dir / ".sweep" / "attempt-1.claim").write_text(json.dumps(claim))
    assert start(run_dir).wait(timeout=30) == 0
    record = raw_status(run_dir)
    assert record["state"] == "succeeded" and record["attempt"] == 2


def test_racing_runners_start_a_job_once(tmp_path: Path) -> None:
    run_dir = make_job(tmp_path, "import time; time.sleep(0.5); print('ran')")
    runners = [start(run_dir, stderr=subprocess.DEVNULL) for _ in range(4)]
    codes = sorted(r.wait(timeout=30) for r in runners)
    assert codes == [0, 75, 75, 75]
    assert layout.log_path(run_dir).read_text() == "ran\n"
    assert raw_status(run_dir)["attempt"] == 1


def test_a_cancel_request_keeps_the_job_from_starting(tmp_path: Path) -> None:
    run_dir = make_job(tmp_path, "print('ran')")
    run_files.request_cancel(run_dir, 1, "cancelled by the user", {})
    done = subprocess.run([sys.executable, "-I", str(RUNNER), str(run_dir)], capture_output=True)
    assert done.returncode == jobfiles.EXIT_NOT_STARTED
    assert b"cancelled before it started" in done.stderr
    assert raw_status(run_dir)["state"] == "queued"  # the request is the record
    assert not layout.log_path(run_dir).exists() and jobfiles.highest_claim(run_dir / ".sweep") == 0
    assert "cancelled before it started" in (run_dir / ".sweep" / "runner.log").read_text()


def test_sigterm_with_a_cancel_request_is_cancelled(tmp_path: Path) -> None:
    run_dir = make_job(tmp_path, "import time; print('up', flush=True); time.sleep(60)")
    proc = start(run_dir)
    app = running_app(run_dir)
    run_files.request_cancel(run_dir, 1, "cancelled by the user", {})
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    record = raw_status(run_dir)
    assert record["state"] == "cancelled" and record["signal"] == "SIGTERM"
    assert record["reason"] == "cancelled by the user"
    assert not jobfiles.is_alive(app, None)


def test_sigterm_without_a_request_is_an_interruption_not_a_cancel(tmp_path: Path) -> None:
    """What a scheduler's time limit, requeue or eviction sends: the attempt ended, the job
    did not finish, and resume treats it as unfinished."""
    run_dir = make_job(tmp_path, "import time; print('up', flush=True); time.sleep(60)")
    proc = start(run_dir)
    running_app(run_dir)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    record = raw_status(run_dir)
    assert record["state"] == "failed" and record["interrupted"] is True
    assert "from outside thesis-sweep" in record["reason"]


def test_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = (
        "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    run_dir = make_job(tmp_path, code)
    proc = start(run_dir, env={**os.environ, "THESIS_SWEEP_GRACE": "0.5"})
    wait_for(
        lambda: (
            "up" in layout.log_path(run_dir).read_text()
            if layout.log_path(run_dir).exists()
            else False
        )
    )
    run_files.request_cancel(run_dir, 1, "cancelled by the user", {})
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    record = raw_status(run_dir)
    assert record["state"] == "cancelled" and record["signal"] == "SIGKILL"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_app_dies_with_its_runner(tmp_path: Path) -> None:
    run_dir = make_job(tmp_path, "import time; print('up', flush=True); time.sleep(60)")
    proc = start(run_dir)
    app = running_app(run_dir)
    proc.kill()
    proc.wait()
    wait_for(lambda: not jobfiles.is_alive(app, None), timeout=10, what="the app's death")


def test_unstartable_command_fails_cleanly(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    (run_dir / ".sweep").mkdir(parents=True)
    layout.atomic_write_json(
        layout.spec_path(run_dir), {"num": 0, "argv": ["/no/such/binary"], "cwd": None, "env": {}}
    )
    assert start(run_dir, stderr=subprocess.DEVNULL).wait(timeout=30) == 127
    record = raw_status(run_dir)
    assert record["state"] == "failed" and "cannot start" in record["reason"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        pytest.param(None, "No such file", id="missing"),
        pytest.param("{half", "Expecting", id="corrupt"),
        pytest.param('{"argv": "python train.py"}', "'argv' is not a list", id="wrong-type"),
    ],
)
def test_a_bad_job_spec_fails_the_job_with_the_reason(
    tmp_path: Path, content: str | None, why: str
) -> None:
    run_dir = make_job(tmp_path, "pass")
    if content is None:
        layout.spec_path(run_dir).unlink()
    else:
        layout.spec_path(run_dir).write_text(content)
    assert start(run_dir, stderr=subprocess.DEVNULL).wait(timeout=30) == jobfiles.EXIT_NO_INPUT
    record = raw_status(run_dir)
    assert record["state"] == "failed" and why in record["reason"]
    assert "resume rewrites it" in record["reason"]


def test_runner_needs_nothing_but_the_standard_library(tmp_path: Path) -> None:
    """It runs by path under any interpreter: its imports are all standard library."""
    tree = ast.parse(RUNNER.read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    # And for real: no site-packages at all (-S), yet the job runs and is recorded.
    run_dir = make_job(tmp_path, "print('ok')")
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(RUNNER), str(run_dir)], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert raw_status(run_dir)["state"] == "succeeded"


def test_the_job_file_protocol_needs_nothing_but_the_standard_library() -> None:
    """The runner loads jobfiles.py by path wherever it runs: it must be stdlib-only too."""
    tree = ast.parse(Path(jobfiles.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def oldest_python() -> str | None:
    """The oldest Python 3.7/3.8 that runs here, if any: the runner's promise is 3.7. (Found
    on PATH, or where pyenv keeps its versions: its PATH shims run only the selected one.)"""
    candidates = [shutil.which(f"python3.{minor}") for minor in (7, 8)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[78].*/bin/python3")))
    for python in filter(None, candidates):
        code = "import sys; print(sys.version_info[:2])"
        probe = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0 and probe.stdout.strip() in ("(3, 7)", "(3, 8)"):
            return python
    return None


@pytest.mark.parametrize("python", ["this", "oldest"])
def test_a_copy_of_the_runner_with_its_protocol_runs_a_cluster_job(
    tmp_path: Path, python: str
) -> None:
    """As a cluster job runs it: the sweep's copies of runner.py and jobfiles.py, alone in
    submit/, by path, with no site-packages (-I -S), the run dir found from runptrs/<N>,
    under this Python and under the oldest one here."""
    interpreter = sys.executable if python == "this" else oldest_python()
    if interpreter is None:
        pytest.skip("no Python 3.7 or 3.8 here")
    sweep = tmp_path / "multiruns" / "exp"
    submit = sweep / "submit"
    submit.mkdir(parents=True)
    for source in (RUNNER, Path(jobfiles.__file__)):
        shutil.copy(source, submit / source.name)
    run_dir = make_job(tmp_path, "print('ran')", num=3)
    runptrs.write_runptr(sweep, 3, run_dir)
    done = subprocess.run(
        [
            interpreter,
            "-I",
            "-S",
            str(submit / "runner.py"),
            "--sweep-dir",
            str(sweep),
            "--job",
            "3",
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert raw_status(run_dir)["state"] == "succeeded"
    assert layout.log_path(run_dir).read_text() == "ran\n"
    assert sorted(os.listdir(submit)) == ["jobfiles.py", "runner.py"]  # no __pycache__/
