"""Benchmark: thesis-sweep's core costs, measured side by side in one run.

1. Orchestration overhead: `thesis-sweep run -j 1` over 6 trivial jobs, with cold and warm
   job starts, vs the floor, 6 bare single runs of the same Hydra app one after another.
2. Parallelism: `thesis-sweep run -j 2` over 6 one-second jobs (cold and warm) vs Hydra's
   own `--multirun` of the same 6 jobs with the basic launcher.
3. A heavy app (its import does ~1 s of real NumPy work, as torch's does): 6 jobs cold,
   warm (Hydra preloaded) and warm with the app's imports preloaded, vs bare runs.
4. Planning: dry runs of 10,000 jobs (plain values, an added key, 2 groups x 5,000 seeds),
   each against one composition of the app's config (`python -m app --cfg job`).
5. CLI latency: `thesis-sweep --help` and `thesis-sweep status` next to `python -c pass`
   and `python -c "import rich"`, and a check that neither command imports Hydra.

Everything runs in a throw-away copy of configs/ and examples/ with its own pyproject.toml.
Each figure is the median of --repeat runs (CLI latencies: of 3x --repeat runs). Targets
are informational: the exit code is 0 unless a command fails (then 1, with its stderr).

    .venv/bin/python benchmarks/bench_core.py [--repeat N] [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PYPROJECT = (
    "[tool.thesis-sweep]\n"
    'module = "thesis_ml.train"\n'
    'config_dir = "configs"\n'
    'config_name = "config"\n'
    'python_path = ["examples"]\n'
)
MODULE = "thesis_ml.train"
N_JOBS = 6
EPOCHS = [str(k) for k in range(1, N_JOBS + 1)]
SEEDS = ",".join(str(s) for s in range(N_JOBS))
SLOW_JOB = ["trainer.epochs=1", "trainer.sleep=1.0"]

TARGET_OVERHEAD = 1.05  # thesis-sweep -j 1 / bare single runs
TARGET_PARALLEL = 0.60  # thesis-sweep -j 2 / hydra --multirun (on 2 cores)
HYDRA_MODULES = ("hydra", "omegaconf")


class CommandFailed(Exception):
    def __init__(self, argv: Sequence[str], done: subprocess.CompletedProcess[str]) -> None:
        super().__init__(" ".join(argv))
        self.argv = list(argv)
        self.done = done


@dataclass
class Timed:
    """A command's wall time (and its output) for one run."""

    seconds: float
    started: float  # time.time() at launch, to line up with the jobs' ISO timestamps
    stdout: str
    stderr: str


@dataclass
class Samples:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self, unit: Callable[[float], str] | None = None) -> str:
        if len(self.values) < 2:
            return ""
        fmt = unit or seconds
        return f"(min {fmt(min(self.values))}, max {fmt(max(self.values))}, n={len(self.values)})"


def base_env() -> dict[str, str]:
    """The caller's environment without anything that would steer either side."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("THESIS_SWEEP_", "HYDRA_")) and k != "PYTHONPATH"
    }
    return env


def run(argv: Sequence[str], cwd: Path, env: dict[str, str], ok: Sequence[int] = (0,)) -> Timed:
    started = time.time()
    start = time.perf_counter()
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in ok:
        raise CommandFailed(argv, done)
    return Timed(seconds, started, done.stdout, done.stderr)


def sweep_cli() -> str:
    """The installed `thesis-sweep` next to this interpreter (the project's venv)."""
    beside = Path(PYTHON).parent / "thesis-sweep"
    if beside.exists():
        return str(beside)
    found = shutil.which("thesis-sweep")
    if found is None:
        sys.exit("thesis-sweep is not installed next to this python nor on PATH")
    return found


def make_project(tmp: Path) -> Path:
    project = tmp / "project"
    project.mkdir()
    shutil.copytree(REPO / "configs", project / "configs")
    shutil.copytree(
        REPO / "examples",
        project / "examples",
        ignore=shutil.ignore_patterns("__pycache__", "outputs"),
    )
    (project / "pyproject.toml").write_text(PYPROJECT)
    return project


def iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def breakdown(doc: dict[str, Any], timed: Timed) -> dict[str, float]:
    """Split a serial sweep's wall time using the job runners' start/end timestamps."""
    jobs = sorted(doc["jobs"], key=lambda j: iso_seconds(j["start"]))
    starts = [iso_seconds(j["start"]) for j in jobs]
    ends = [iso_seconds(j["end"]) for j in jobs]
    inside = sum(e - s for s, e in zip(starts, ends, strict=True))
    gaps = sum(s - e for e, s in zip(ends[:-1], starts[1:], strict=True))
    before = starts[0] - timed.started
    after = timed.started + timed.seconds - ends[-1]
    return {"before": before, "gaps": gaps, "inside": inside, "after": after}


def imported_modules(stderr: str) -> list[str]:
    """Module names from `python -X importtime` output."""
    names = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.append(name)
    return names


def hydra_lines(names: Sequence[str]) -> list[str]:
    return [n for n in names if n.split(".")[0] in HYDRA_MODULES]


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "MISS"


class Report:
    """Rows of (label, value, unit, note), printed as an aligned table per section."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def section(self, title: str) -> None:
        self.lines += ["", title]

    def row(self, label: str, value: str, note: str = "") -> None:
        self.lines.append(f"  {label:<58} {value:>10}  {note}".rstrip())

    def text(self, line: str) -> None:
        self.lines.append(f"  {line}")

    def print(self) -> None:
        print("\n".join(self.lines), flush=True)


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def millis(value: float) -> str:
    return f"{value * 1000:.0f} ms"


MODES = ("off", "hydra", "app")  # cold starts, Hydra preloaded, the app's imports too
LABELS = {
    "off": "cold (--warm off)",
    "hydra": "warm (--warm hydra, the default)",
    "app": "warm (--warm app)",
}


def bench_overhead(
    project: Path, cli: str, repeat: int, report: Report
) -> tuple[dict[str, float], Path]:
    env = base_env()
    bare_env = {**env, "PYTHONPATH": "examples"}
    sweeps = {mode: Samples() for mode in MODES}
    bare = Samples()
    parts: dict[str, dict[str, Samples]] = {mode: {} for mode in MODES}
    last_root = project / "outputs"

    def one_sweep(rep: int, mode: str) -> None:
        nonlocal last_root
        last_root = project / "o1" / f"{mode}{rep}"
        argv = [cli, "run", "-j", "1", "--warm", mode, "--output-root", str(last_root)]
        timed = run([*argv, "trainer.epochs=" + ",".join(EPOCHS)], project, env)
        sweeps[mode].add(timed.seconds)
        status = run([cli, "status", "--json", "--output-root", str(last_root)], project, env)
        for key, value in breakdown(json.loads(status.stdout), timed).items():
            parts[mode].setdefault(key, Samples()).add(value)

    def bare_runs(rep: int) -> None:
        total = 0.0
        for k in EPOCHS:
            run_dir = project / "bare" / f"rep{rep}" / k
            argv = [PYTHON, "-m", MODULE, f"trainer.epochs={k}", f"hydra.run.dir={run_dir}"]
            total += run(argv, project, bare_env).seconds
        bare.add(total)

    for rep in range(repeat):  # alternate the order so drift hits every side alike
        steps = [partial(bare_runs, rep)]
        steps += [partial(one_sweep, rep, mode) for mode in MODES]
        for step in steps if rep % 2 == 0 else steps[::-1]:
            step()

    report.section(f"1. Orchestration overhead: {N_JOBS} trivial jobs, one at a time")
    report.row(
        f"floor: {N_JOBS} bare single runs, one after another", seconds(bare.median), bare.spread()
    )
    ratios = {}
    for mode, label in LABELS.items():
        got = sweeps[mode]
        ratios[mode] = got.median / bare.median
        report.row(f"thesis-sweep run -j 1, {label}", seconds(got.median), got.spread())
        report.text("  where its wall time goes (runner timestamps, medians):")
        labels = {
            "before": "    CLI start -> first job start (startup, plan, validate)",
            "gaps": "    between jobs (runner start + bookkeeping, sum)",
            "inside": "    inside jobs (app processes, as the runner saw them)",
            "after": "    last job end -> CLI exit (report, index)",
        }
        for key, text in labels.items():
            report.row(text, seconds(parts[mode][key].median))
        report.row(
            f"  ratio / floor ({label})",
            f"{ratios[mode]:.3f}",
            f"target <= {TARGET_OVERHEAD:.2f}  {verdict(ratios[mode], TARGET_OVERHEAD)}",
        )
    return ratios, last_root


def bench_parallel(project: Path, cli: str, repeat: int, report: Report) -> dict[str, float]:
    env = base_env()
    hydra_env = {**env, "PYTHONPATH": "examples"}
    sweeps = {mode: Samples() for mode in MODES}
    multirun = Samples()

    def one_sweep(rep: int, mode: str) -> None:
        root = project / "o2" / f"{mode}{rep}"
        argv = [cli, "run", "-j", "2", "--warm", mode, "--output-root", str(root)]
        sweeps[mode].add(run([*argv, f"seed={SEEDS}", *SLOW_JOB], project, env).seconds)

    def hydra_multirun(rep: int) -> None:
        sweep_dir = project / "mr" / f"rep{rep}"
        argv = [PYTHON, "-m", MODULE, "-m", "hydra=experiment", f"hydra.sweep.dir={sweep_dir}"]
        multirun.add(run([*argv, f"seed={SEEDS}", *SLOW_JOB], project, hydra_env).seconds)

    for rep in range(repeat):
        steps = [partial(hydra_multirun, rep)]
        steps += [partial(one_sweep, rep, mode) for mode in MODES]
        for step in steps if rep % 2 == 0 else steps[::-1]:
            step()

    cpus = os.cpu_count() or 1
    report.section(f"2. Parallelism: {N_JOBS} one-second jobs (epochs=1, sleep=1.0), {cpus} CPUs")
    report.row(
        "hydra --multirun (basic launcher, serial)", seconds(multirun.median), multirun.spread()
    )
    report.row("ideal -j 2 (half of --multirun)", seconds(multirun.median / 2))
    ratios = {}
    for mode, label in LABELS.items():
        ratios[mode] = sweeps[mode].median / multirun.median
        report.row(
            f"thesis-sweep run -j 2, {label}", seconds(sweeps[mode].median), sweeps[mode].spread()
        )
        report.row(
            f"  ratio -j 2 / --multirun ({label})",
            f"{ratios[mode]:.3f}",
            f"target <= {TARGET_PARALLEL:.2f}  {verdict(ratios[mode], TARGET_PARALLEL)}",
        )
    if cpus < 2:
        report.text(f"note: only {cpus} CPU here; the target assumes 2 cores")
    return ratios


HEAVY_APP = """\
\"\"\"A stand-in for a torch app: its import does about a second of real NumPy work.\"\"\"
import hydra
import heavylib  # noqa: F401


@hydra.main(config_path="../configs", config_name="config", version_base="1.3")
def main(cfg):
    print("epochs", cfg.trainer.epochs)


if __name__ == "__main__":
    main()
"""
HEAVY_LIB = """\
\"\"\"Real work at import, as large libraries do (about a second here).\"\"\"
import numpy

_rng = numpy.random.default_rng(0)
TABLE = [numpy.linalg.eigvalsh(_rng.normal(size=(300, 300)) @ _rng.normal(size=(300, 300)).T)
         for _ in range(WORK)]
"""


def heavy_project(project: Path) -> float:
    """Install the heavy app next to the example and calibrate its import to ~1 s."""
    app_dir = project / "heavy"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "heavy_app.py").write_text(HEAVY_APP)
    work = 1
    while True:
        (app_dir / "heavylib.py").write_text(HEAVY_LIB.replace("WORK", str(work)))
        took = run([PYTHON, "-c", "import heavylib"], app_dir, base_env()).seconds
        if took >= 1.0 or work > 4096:
            return took
        work = max(work + 1, int(work * 1.0 / max(took, 0.05)))


def bench_heavy(project: Path, cli: str, repeat: int, report: Report) -> dict[str, float]:
    imported = heavy_project(project)
    env = {**base_env()}
    script = str(project / "heavy" / "heavy_app.py")
    times = {mode: Samples() for mode in ("bare", "off", "hydra", "app")}

    def one_sweep(rep: int, mode: str) -> None:
        root = project / "o3" / f"{mode}{rep}"
        argv = [
            cli,
            "run",
            "-j",
            "1",
            "--warm",
            mode,
            "--script",
            script,
            "--output-root",
            str(root),
        ]
        times[mode].add(run([*argv, "trainer.epochs=" + ",".join(EPOCHS)], project, env).seconds)

    def bare_runs(rep: int) -> None:
        total = 0.0
        for k in EPOCHS:
            run_dir = project / "bare3" / f"rep{rep}" / k
            argv = [PYTHON, script, f"trainer.epochs={k}", f"hydra.run.dir={run_dir}"]
            total += run(argv, project, env).seconds
        times["bare"].add(total)

    for rep in range(repeat):
        steps = [partial(bare_runs, rep)]
        steps += [partial(one_sweep, rep, mode) for mode in ("off", "hydra", "app")]
        for step in steps if rep % 2 == 0 else steps[::-1]:
            step()

    report.section(f"3. A heavy app (its import alone takes {imported:.2f} s), {N_JOBS} jobs, -j 1")
    floor = times["bare"].median
    report.row(f"floor: {N_JOBS} bare single runs", seconds(floor), times["bare"].spread())
    ratios = {}
    labels = {"off": "cold", "hydra": "warm, Hydra preloaded", "app": "warm, --warm app"}
    for mode, label in labels.items():
        got = times[mode].median
        ratios[mode] = got / floor
        per_job = (floor - got) / N_JOBS
        than = "faster" if per_job >= 0 else "slower"
        report.row(
            f"thesis-sweep run ({label})",
            seconds(got),
            f"ratio {ratios[mode]:.3f}, {millis(abs(per_job))} a job {than} than a bare run",
        )
    return ratios


PLANS = {
    "values: seed=range(100) trainer.lr=range(100)": ["seed=range(100)", "trainer.lr=range(100)"],
    "added key: +extra=range(10000)": ["+extra=range(10000)"],
    "groups: phase1/latent_space=none,vq seed=range(5000)": [
        "phase1/latent_space=none,vq",
        "seed=range(5000)",
    ],
}
TARGET_PLAN = 10.0  # a 10,000-job dry run / one composition


def bench_planning(project: Path, cli: str, repeat: int, report: Report) -> dict[str, float]:
    env = base_env()
    one = Samples()
    dry = {label: Samples() for label in PLANS}
    for _ in range(repeat):
        argv = [PYTHON, "-m", MODULE, "--cfg", "job"]
        one.add(run(argv, project, {**env, "PYTHONPATH": "examples"}).seconds)
        for label, overrides in PLANS.items():
            dry[label].add(
                run([cli, "run", "--dry-run", "--json", *overrides], project, env).seconds
            )
    report.section("4. Planning and validating 10,000 jobs (dry runs)")
    report.row("one composition: python -m app --cfg job", seconds(one.median), one.spread())
    ratios = {}
    for label, got in dry.items():
        ratios[label] = got.median / one.median
        report.row(
            label,
            seconds(got.median),
            f"{ratios[label]:.1f}x  target <= {TARGET_PLAN:.0f}x  "
            f"{verdict(ratios[label], TARGET_PLAN)}",
        )
    return ratios


def bench_latency(project: Path, cli: str, status_root: Path, repeat: int, report: Report) -> bool:
    env = base_env()
    samples = 3 * repeat
    status_args = ["status", "--output-root", str(status_root)]
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        'python -c "import rich"': [PYTHON, "-c", "import rich"],
        "thesis-sweep --help": [cli, "--help"],
        "thesis-sweep status (sweep of step 1)": [cli, *status_args],
    }
    times = {label: Samples() for label in commands}
    for _ in range(samples):  # interleaved, so background noise is shared
        for label, argv in commands.items():
            times[label].add(run(argv, project, env).seconds)

    report.section(f"5. CLI latency (median of {samples})")
    floor = times["python -c pass"].median
    for label, got in times.items():
        note = (
            got.spread(millis) if label == "python -c pass" else f"{got.median / floor:.1f}x python"
        )
        report.row(label, millis(got.median), note)

    any_hydra = False
    for label, args in (("--help", ["--help"]), ("status", status_args)):
        argv = [PYTHON, "-X", "importtime", "-m", "sweeper_cli", *args]
        names = imported_modules(run(argv, project, env).stderr)
        found = hydra_lines(names)
        any_hydra = any_hydra or bool(found)
        shown = ", ".join(sorted({n.split(".")[0] for n in found}))
        report.text(
            f"python -X importtime -m sweeper_cli {label}: hydra imported: "
            f"{'yes (' + shown + ')' if found else 'no'}  [{len(names)} modules imported]"
        )
    return any_hydra


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="same as --repeat 1")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    repeat = 1 if args.quick else max(1, args.repeat)

    cli = sweep_cli()
    tmp = Path(tempfile.mkdtemp(prefix="bench-core-"))
    report = Report()
    t0 = time.perf_counter()
    try:
        project = make_project(tmp)
        print(
            f"thesis-sweep core benchmark: repeat={repeat}, python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, in {tmp}",
            flush=True,
        )
        overhead, status_root = bench_overhead(project, cli, repeat, report)
        parallel = bench_parallel(project, cli, repeat, report)
        heavy = bench_heavy(project, cli, repeat, report)
        planning = bench_planning(project, cli, repeat, report)
        hydra = bench_latency(project, cli, status_root, repeat, report)
    except CommandFailed as exc:
        report.print()
        print(f"\nFAILED (exit {exc.done.returncode}): {' '.join(exc.argv)}", file=sys.stderr)
        sys.stderr.write(exc.done.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report.section(f"summary (total benchmark time {time.perf_counter() - t0:.0f} s)")
    short = {"off": "cold", "hydra": "warm", "app": "warm + app imports"}
    for mode, label in short.items():
        report.row(
            f"run -j 1 / bare runs ({label})",
            f"{overhead[mode]:.3f}",
            f"target <= {TARGET_OVERHEAD:.2f}  {verdict(overhead[mode], TARGET_OVERHEAD)}",
        )
    for mode, label in short.items():
        report.row(
            f"run -j 2 / hydra --multirun ({label})",
            f"{parallel[mode]:.3f}",
            f"target <= {TARGET_PARALLEL:.2f}  {verdict(parallel[mode], TARGET_PARALLEL)}",
        )
    for mode, label in short.items():
        report.row(f"heavy app: run / bare runs ({label})", f"{heavy[mode]:.3f}")
    for label, ratio in planning.items():
        report.row(f"dry run / one composition, {label.split(':')[0]}", f"{ratio:.1f}x")
    report.row("hydra imported by --help/status", "yes" if hydra else "no", "target: no")
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
