"""Benchmark: `status --json` over a 1,000-job sweep and `list` over 50 sweeps.

The sweeps are created by thesis-sweep itself (planning and writing the real layout), and
their jobs are marked finished by writing the status files the job runner would write, so
no 1,000 trainings are run. Prints wall times next to `python -c 'import rich'`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = '[tool.thesis-sweep]\npython_path = ["examples"]\nvalidate = false\n'


def wall(argv: list[str], cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return statistics.median(times)


def make_sweeps(project: Path, jobs: int, count: int) -> list[Path]:
    """Create `count` sweeps of `jobs` jobs each and mark every job succeeded."""
    sys.path.insert(0, str(REPO / "src"))
    os.chdir(project)
    from sweeper_cli.planning import sweep
    from sweeper_cli.project.settings import resolve
    from sweeper_cli.store import run_files

    settings = resolve({}, cwd=project)
    prepared = sweep.prepare(settings, [f"seed=range({jobs})", "trainer.epochs=1"])
    start = datetime.now(timezone.utc)
    made = []
    for _ in range(count):
        sweep_dir, run_dirs = sweep.create(prepared, "local", argv=["bench"])
        for num, run_dir in enumerate(run_dirs):
            begin = start + timedelta(seconds=num)
            run_files.write_status(
                run_dir,
                {
                    "num": num,
                    "state": "succeeded",
                    "attempt": 1,
                    "host": "bench",
                    "start": begin.isoformat(),
                    "end": (begin + timedelta(seconds=1)).isoformat(),
                    "exit_code": 0,
                    "signal": None,
                },
            )
        made.append(sweep_dir)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-status-"))
    try:
        big, lists = tmp / "big", tmp / "many"
        for project in (big, lists):
            shutil.copytree(REPO / "configs", project / "configs")
            shutil.copytree(REPO / "examples", project / "examples")
            (project / "pyproject.toml").write_text(PYPROJECT)
        t0 = time.perf_counter()
        [sweep_dir] = make_sweeps(big, 1000, 1)
        made_big = time.perf_counter() - t0
        make_sweeps(lists, 10, 50)
        cli = [sys.executable, "-m", "sweeper_cli"]
        rich = wall([sys.executable, "-c", "import rich"], tmp, args.repeat)
        status = wall([*cli, "status", "--json", str(sweep_dir)], big, args.repeat)
        table = wall([*cli, "status", str(sweep_dir)], big, args.repeat)
        listing = wall([*cli, "list"], lists, args.repeat)
        print(f"created a 1,000-job sweep (plan + layout) in {made_big:.2f} s")
        print(f"{'python -c import rich':34s} {rich:6.3f} s")
        print(
            f"{'status --json (1,000 jobs)':34s} {status:6.3f} s   target <= 0.35 s  "
            f"{'PASS' if status <= 0.35 else 'MISS'}"
        )
        print(f"{'status table (1,000 jobs)':34s} {table:6.3f} s")
        print(f"{'list (50 sweeps x 10 jobs)':34s} {listing:6.3f} s")
    finally:
        os.chdir(REPO)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
