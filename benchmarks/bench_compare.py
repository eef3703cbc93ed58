"""Benchmark: `compare --json` (and the table) over a 1,000-job sweep.

The sweep is created by thesis-sweep itself (planning and writing the real layout), as in
bench_status.py; each job is then marked finished and given the facts/metrics.json the
example app writes (scalars and per-epoch lists), written directly on disk, so no 1,000
trainings are run. Then each run also gets a Lightning-style metrics.csv (20 epochs), and
then TensorBoard event files, and compare is timed again. Prints wall times next to
`python -c 'import rich'`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_status import PYPROJECT, REPO, wall

TARGET = 2.0  # seconds, issue 5


def make_sweep(project: Path, jobs: int) -> Path:
    """A `jobs`-job sweep (lr x seed) whose runs all succeeded and wrote their metrics."""
    sys.path.insert(0, str(REPO / "src"))
    os.chdir(project)
    from sweeper_cli.planning import sweep
    from sweeper_cli.project.settings import resolve
    from sweeper_cli.store import run_files

    settings = resolve({}, cwd=project)
    seeds = jobs // 10
    overrides = ["trainer.lr=" + ",".join(f"{i}e-3" for i in range(1, 11))]
    prepared = sweep.prepare(settings, [*overrides, f"seed=range({seeds})", "trainer.epochs=20"])
    sweep_dir, run_dirs = sweep.create(prepared, "local", argv=["bench"])
    start = datetime.now(timezone.utc)
    rng = random.Random(0)
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
                "end": (begin + timedelta(seconds=30)).isoformat(),
                "exit_code": 0,
                "signal": None,
            },
        )
        curve = [rng.uniform(0.1, 5.0) for _ in range(20)]
        metrics = {
            "val_loss": curve[-1],
            "train_loss": rng.uniform(0.1, 5.0),
            "best_val_loss": min(curve),
            "epochs": 20,
            "best_epoch": curve.index(min(curve)) + 1,
            "resumed_from_epoch": 0,
            "commitment_loss": 0.0,
            "per_epoch": {"train_loss": curve, "val_loss": curve},
        }
        (run_dir / "facts").mkdir()
        (run_dir / "facts" / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return sweep_dir


def add_csv_logs(run_dirs: list[Path]) -> None:
    """A CSVLogger metrics.csv per run: 10 training rows and one validation row per epoch."""
    rng = random.Random(1)
    for run_dir in run_dirs:
        lines = ["epoch,step,train/loss,val/acc,val/loss"]
        for epoch in range(20):
            for batch in range(10):
                lines.append(f"{epoch},{epoch * 10 + batch},{rng.uniform(0.1, 5)},,")
            lines.append(f"{epoch},{epoch * 10 + 9},,{rng.random()},{rng.uniform(0.1, 5)}")
        folder = run_dir / "lightning_logs" / "version_0"
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def add_event_files(run_dirs: list[Path]) -> None:
    """TensorBoard event files per run (TensorBoard's own writer): 3 tags x 20 epochs."""
    from tensorboard.summary import Writer

    rng = random.Random(2)
    for run_dir in run_dirs:
        writer = Writer(str(run_dir / "tensorboard" / "version_0"))
        for step in range(20):
            for tag in ("train/loss", "val/acc", "val/loss"):
                writer.add_scalar(tag, rng.random(), step)
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        project = tmp / "big"
        shutil.copytree(REPO / "configs", project / "configs")
        shutil.copytree(REPO / "examples", project / "examples")
        (project / "pyproject.toml").write_text(PYPROJECT)
        t0 = time.perf_counter()
        sweep_dir = make_sweep(project, 1000)
        made = time.perf_counter() - t0
        cli = [sys.executable, "-m", "sweeper_cli", "compare"]
        rich = wall([sys.executable, "-c", "import rich"], tmp, args.repeat)
        as_json = wall([*cli, "--json", str(sweep_dir)], project, args.repeat)
        table = wall([*cli, str(sweep_dir)], project, args.repeat)
        top = wall(
            [*cli, "--sort", "val_loss", "--top", "10", str(sweep_dir)], project, args.repeat
        )
        print(f"created a 1,000-job sweep with metrics in {made:.2f} s")
        print(f"{'python -c import rich':38s} {rich:6.3f} s")
        verdict = "PASS" if as_json <= TARGET else "MISS"
        label = "compare --json (1,000 runs)"
        print(f"{label:38s} {as_json:6.3f} s   target <= {TARGET} s  {verdict}")
        print(f"{'compare table (1,000 runs)':38s} {table:6.3f} s")
        print(f"{'compare --sort val_loss --top 10':38s} {top:6.3f} s")
        run_dirs = sorted(p for p in (project / "outputs" / "runs").iterdir() if p.is_dir())
        add_csv_logs(run_dirs)
        with_csv = wall([*cli, "--json", str(sweep_dir)], project, args.repeat)
        print(f"{'compare --json, + metrics.csv each':38s} {with_csv:6.3f} s")
        try:
            add_event_files(run_dirs)
        except ImportError:
            print("compare --json, + event files: skipped (no tensorboard)")
            return
        with_events = wall([*cli, "--json", str(sweep_dir)], project, args.repeat)
        print(f"{'compare --json, + TensorBoard events':38s} {with_events:6.3f} s")
    finally:
        os.chdir(REPO)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
