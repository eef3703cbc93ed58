"""Benchmark: a 1,000-job sweep submitted to the local Slurm, then `status` over it.

Needs the single-node cluster of `scripts/ci/slurm-up.sh`. Counts the scheduler calls
(through logging shims on PATH), reports the wall time of `thesis-sweep run --backend
slurm` (planning, validating 1,000 jobs, writing the layout, one submission), of
`status --json` while the array is queued/running, and how many scheduler calls a minute
of `status --watch` makes (default poll: once per 30 s), then cancels the array.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = '[tool.thesis-sweep]\npython_path = ["examples"]\n'


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode not in (0, 1, 4):
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return took, done.stdout


def main() -> None:
    if shutil.which("sbatch") is None:
        sys.exit("sbatch not found: start the cluster with `bash scripts/ci/slurm-up.sh`")
    tmp = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    try:
        project = tmp / "proj"
        shutil.copytree(REPO / "configs", project / "configs")
        shutil.copytree(REPO / "examples", project / "examples")
        (project / "pyproject.toml").write_text(PYPROJECT)
        shim_dir, calls = tmp / "shim", tmp / "scheduler-calls.txt"
        shim_dir.mkdir()
        for command in ("sbatch", "sacct", "squeue", "scancel"):
            target = shutil.which(command)
            if target:
                shim = shim_dir / command
                shim.write_text(f'#!/bin/sh\necho {command} >> "{calls}"\nexec "{target}" "$@"\n')
                shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
        env = {**os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}"}
        cli = [sys.executable, "-m", "sweeper_cli"]
        submit, _ = timed(
            [
                *cli,
                "run",
                "--backend",
                "slurm",
                "--max-parallel",
                "2",
                "seed=range(1000)",
                "trainer.epochs=1",
            ],
            project,
            env,
        )
        status, out = timed([*cli, "status", "--json"], project, env)
        doc = json.loads(out)
        n_calls = calls.read_text().splitlines().count("sbatch")
        calls.write_text("")
        watch = subprocess.Popen(
            [*cli, "status", "--watch", "--json"], cwd=project, env=env, stdout=subprocess.DEVNULL
        )
        time.sleep(60)
        watch.kill()
        watch.wait()
        per_minute = len(calls.read_text().splitlines())
        sweep = next((project / "outputs" / "multiruns").iterdir())
        array = json.loads((sweep / "submit" / "submission-1.json").read_text())["scheduler_id"]
        subprocess.run(["scancel", array], check=False)
        print(f"jobs in the sweep                  {len(doc['jobs'])}")
        print(
            f"sbatch calls                       {n_calls}   target 1  "
            f"{'PASS' if n_calls == 1 else 'MISS'}"
        )
        print(
            f"run --backend slurm (1,000 jobs)   {submit:6.2f} s   target <= 5 s  "
            f"{'PASS' if submit <= 5 else 'MISS'}"
        )
        print(
            f"status --json while queued         {status:6.2f} s   target <= 1 s  "
            f"{'PASS' if status <= 1 else 'MISS'}"
        )
        print(
            f"status --watch: scheduler calls    {per_minute} in 60 s   target <= 3  "
            f"{'PASS' if per_minute <= 3 else 'MISS'}"
        )
        print(f"states seen: {doc['sweep']['counts']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
