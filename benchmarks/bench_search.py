"""Benchmark: a search's cost per trial, against Hydra's own Optuna sweep of the same app.

The example app's hparams_search=optuna_demo config (TPE, seed 1234), trivial trials
(trainer.epochs=1), n_jobs=1, run by both tools side by side with 4 and with 12 trials;
the difference between the two sizes is the cost of 8 more trials, so fixed costs
(imports, planning, the controller's start) and per-trial costs are reported apart. Also
timed: the same 8 trials as 8 bare single runs (`python -m thesis_ml.train <overrides>`),
the floor for one process per trial. Prints medians of --repeat runs.

    .venv/bin/python benchmarks/bench_search.py [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import (
    MODULE,
    PYTHON,
    CommandFailed,
    Samples,
    base_env,
    make_project,
    run,
    seconds,
    sweep_cli,
)

SEARCH = ["hparams_search=optuna_demo", "hydra.sweeper.n_jobs=1", "trainer.epochs=1"]
SIZES = (4, 12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of each (noisy)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    cli = sweep_cli()
    env = base_env()
    hydra_env = {**env, "PYTHONPATH": "examples"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    times = {(tool, n): Samples() for tool in ("hydra", "ours") for n in SIZES}
    bare = Samples()
    trials: list[list[str]] = []
    try:
        project = make_project(tmp)

        def hydra(rep: int, n: int) -> None:
            sweep_dir = tmp / "hydra" / f"{n}-{rep}"
            argv = [PYTHON, "-m", MODULE, "-m", *SEARCH, f"hydra.sweeper.n_trials={n}"]
            argv += [f"hydra.sweep.dir={sweep_dir}", f"env.output_root={sweep_dir}_out"]
            times["hydra", n].add(run(argv, project, hydra_env).seconds)

        def ours(rep: int, n: int) -> None:
            root = tmp / "ours" / f"{n}-{rep}"
            argv = [cli, "run", "--output-root", str(root), *SEARCH, f"hydra.sweeper.n_trials={n}"]
            times["ours", n].add(run(argv, project, env).seconds)
            if not trials and n == SIZES[1]:
                [sweep] = (root / "multiruns").iterdir()
                jobs = json.loads((sweep / "runs_index.json").read_text())["jobs"]
                trials.extend(job["overrides"] for job in jobs[SIZES[0] :])

        def bare_runs(rep: int) -> None:
            total = 0.0
            for k, overrides in enumerate(trials):
                run_dir = tmp / "bare" / f"{rep}-{k}"
                argv = [PYTHON, "-m", MODULE, *overrides, "trainer.epochs=1"]
                total += run([*argv, f"hydra.run.dir={run_dir}"], project, hydra_env).seconds
            bare.add(total)

        for rep in range(repeat):  # alternate the order so drift hits every side alike
            steps = [partial(hydra, rep, n) for n in SIZES] + [partial(ours, rep, n) for n in SIZES]
            for step in steps if rep % 2 == 0 else steps[::-1]:
                step()
            bare_runs(rep)
    except CommandFailed as exc:
        print(f"FAILED (exit {exc.done.returncode}): {' '.join(exc.argv)}", file=sys.stderr)
        sys.stderr.write(exc.done.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    more = SIZES[1] - SIZES[0]
    print(f"search benchmark: {repeat} run(s) each; trivial trials, n_jobs=1, -j 1\n")
    for tool, label in (("hydra", "Hydra's Optuna sweeper (-m)"), ("ours", "thesis-sweep run")):
        for n in SIZES:
            got = times[tool, n]
            print(f"  {label:<30} {n:>2} trials  {seconds(got.median):>9}  {got.spread()}")
    per_hydra = (times["hydra", SIZES[1]].median - times["hydra", SIZES[0]].median) / more
    per_ours = (times["ours", SIZES[1]].median - times["ours", SIZES[0]].median) / more
    fixed_hydra = times["hydra", SIZES[0]].median - SIZES[0] * per_hydra
    fixed_ours = times["ours", SIZES[0]].median - SIZES[0] * per_ours
    print()
    print(f"  per trial, Hydra (in its own process)        {seconds(per_hydra):>9}")
    print(f"  per trial, thesis-sweep (a single run each)  {seconds(per_ours):>9}")
    print(f"  per trial, a bare single run of the app      {seconds(bare.median / more):>9}")
    print(f"  per-trial overhead against Hydra             {seconds(per_ours - per_hydra):>9}")
    print(f"  ratio per trial, thesis-sweep / Hydra        {per_ours / per_hydra:>9.2f}")
    print(f"  ratio per trial, thesis-sweep / bare run     {per_ours / (bare.median / more):>9.2f}")
    print(
        f"  fixed cost, Hydra / thesis-sweep             {fixed_hydra:.2f} s / {fixed_ours:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
