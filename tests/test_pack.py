"""The pack runner with real processes: jobs one after another in one process, each its own
status and attempt; failures, reruns, signals and stragglers of a job's process group. It
runs as a cluster job runs it: the sweep's submit/ copy, by path, isolated."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import raw_status
from sweeper_cli.launch import pack, runner
from sweeper_cli.store import jobfiles, layout, run_files


def make_job(root: Path, num: int, code: str) -> Path:
    run_dir = root / f"run_job{num}"
    (run_dir / ".sweep").mkdir(parents=True)
    spec = {"num": num, "argv": [sys.executable, "-c", code], "cwd": str(run_dir), "env": {}}
    layout.atomic_write_json(layout.spec_path(run_dir), spec)
    run_files.write_status(run_dir, {"num": num, "state": "queued", "attempt": 0})
    return run_dir


def submit_copy(tmp_path: Path, run_dirs: list[Path]) -> Path:
    """A submit folder as a cluster submission leaves it: the copies and a packs file."""
    submit = tmp_path / "submit"
    submit.mkdir()
    for module in (pack, runner, jobfiles):
        shutil.copy(module.__file__, submit / Path(module.__file__).name)
    packs = submit / "packs-1.json"
    packs.write_text(json.dumps({"packs": [[str(d) for d in run_dirs]]}))
    return packs


def run_pack(packs: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-I", str(packs.parent / "pack.py"), str(packs), "0"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


def times(run_dir: Path) -> tuple[datetime, datetime]:
    status = raw_status(run_dir)
    return datetime.fromisoformat(status["start"]), datetime.fromisoformat(status["end"])


def test_pack_runs_its_jobs_one_after_another(tmp_path: Path) -> None:
    code = "import time, pathlib; time.sleep(0.4); pathlib.Path('out.txt').write_text('x')"
    run_dirs = [make_job(tmp_path, n, code) for n in range(3)]
    done = run_pack(submit_copy(tmp_path, run_dirs))
    out, _ = done.communicate(timeout=60)
    assert done.returncode == 0, out
    assert not (tmp_path / "submit" / "__pycache__").exists()
    for before, after in itertools.pairwise(run_dirs):
        assert times(before)[1] <= times(after)[0]  # the next starts after the previous ended
    for run_dir in run_dirs:
        status = raw_status(run_dir)
        assert (status["state"], status["attempt"], status["exit_code"]) == ("succeeded", 1, 0)
        assert (run_dir / "out.txt").read_text() == "x"
        assert (run_dir / ".sweep" / "output.log").exists()
    assert out.decode().count("thesis-sweep pack: job ") == 3


def test_a_failed_job_does_not_stop_the_pack_and_a_rerun_skips_the_done(tmp_path: Path) -> None:
    run_dirs = [
        make_job(tmp_path, 0, "print('ok')"),
        make_job(tmp_path, 1, "import sys; sys.exit(3)"),
        make_job(tmp_path, 2, "print('ok')"),
    ]
    packs = submit_copy(tmp_path, run_dirs)
    first = run_pack(packs)
    first.communicate(timeout=60)
    assert first.returncode == 3  # the first failing job's code
    assert [raw_status(d)["state"] for d in run_dirs] == ["succeeded", "failed", "succeeded"]
    again = run_pack(packs)  # as a scheduler's retry would: only the failed job runs again
    again.communicate(timeout=60)
    assert again.returncode == 3
    assert [raw_status(d)["attempt"] for d in run_dirs] == [1, 2, 1]


def test_sigterm_stops_the_running_job_and_starts_no_more(tmp_path: Path) -> None:
    run_dirs = [make_job(tmp_path, n, "import time; time.sleep(60)") for n in range(3)]
    proc = run_pack(submit_copy(tmp_path, run_dirs), env={**os.environ, "THESIS_SWEEP_GRACE": "2"})
    deadline = time.monotonic() + 30
    while raw_status(run_dirs[0]).get("pid") is None:
        assert time.monotonic() < deadline, "the first job never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    first = raw_status(run_dirs[0])
    assert first["state"] == "failed" and first["interrupted"] is True
    assert [raw_status(d)["state"] for d in run_dirs[1:]] == ["queued", "queued"]
    assert [raw_status(d)["attempt"] for d in run_dirs[1:]] == [0, 0]


def test_the_next_job_waits_for_the_previous_jobs_process_group(tmp_path: Path) -> None:
    """An app that leaves a child behind (a data loader worker, say): the next job starts
    once the child is gone, and a child that outlives the grace period is killed."""
    leaves = (
        "import subprocess, sys, pathlib;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        "pathlib.Path('child.pid').write_text(str(child.pid))"
    )
    run_dirs = [make_job(tmp_path, 0, leaves), make_job(tmp_path, 1, "print('next')")]
    proc = run_pack(submit_copy(tmp_path, run_dirs), env={**os.environ, "THESIS_SWEEP_GRACE": "2"})
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    child = int((run_dirs[0] / "child.pid").read_text())
    assert not jobfiles.is_alive(child, None)
    app_end = times(run_dirs[0])[1]
    next_start = times(run_dirs[1])[0]
    assert (next_start - app_end).total_seconds() >= 1.5  # it waited for the straggler


def test_pack_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    packs = submit_copy(tmp_path, [])
    for args, code in ((["x"], 2), ([str(packs), "5"], runner.EXIT_NO_INPUT)):
        done = subprocess.run(
            [sys.executable, "-I", str(packs.parent / "pack.py"), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == code, done.stderr
    with pytest.raises(ValueError):
        pack.read_pack(packs, 1)
