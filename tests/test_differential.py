"""Differential tests: our plan against Hydra 1.3's own BasicSweeper, job by job.

Every sweep of the table is run twice in a throw-away copy of the example app: as Hydra's
own multirun (`python -m thesis_ml.train -m hydra=experiment hydra.sweep.dir=... SWEEP`),
whose jobs record their task overrides in `<sweep dir>/<num>/.hydra/overrides.yaml`, and
as `thesis-sweep run --dry-run --json SWEEP`. The job lists must be equal, in order.

`hydra=experiment` (the old multirun layout of the example app) is NOT a Hydra override
in Hydra 1.3: `Override.is_hydra_override()` only matches keys starting with `hydra.` or
`hydra/`, and the bare group `hydra` is neither. So Hydra records it as a task override
in every job's overrides.yaml (after the `hydra.sweeper.params`, like any command-line
override). It is not part of the user's sweep, so it is removed from Hydra's lists before
comparing, and `_hydra_jobs` checks it is there exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import TRAIN, NewProject, Project, run_hydra_app

HYDRA_LAYOUT = "hydra=experiment"

# A primary config of its own (for -cn): the example's config plus sweeper params.
EXP_CN = """\
defaults:
  - config
  - _self_

hydra:
  sweeper:
    params:
      seed: range(1,3)
      phase1/latent_space: none,vq
      +from_param: ${trainer.epochs},5

trainer:
  epochs: 1
"""

SWEEPS = [
    pytest.param([], ["phase1/latent_space=none,vq", "trainer.epochs=1"], id="group-two-values"),
    pytest.param([], ["trainer.lr=1e-3,2e-3", "trainer.epochs=1"], id="floats-reserialised"),
    pytest.param([], ["trainer.epochs=range(1,4)"], id="range"),
    pytest.param([], ["phase1/latent_space=glob(*)", "trainer.epochs=1"], id="glob"),
    pytest.param([], ["seed=sort(3,1,2)", "trainer.epochs=1"], id="sort"),
    pytest.param(
        [],
        ["seed=choice(1,2)", "trainer.epochs=1", "seed=7,8,9"],
        id="same-key-again-later-wins-in-first-position",
    ),
    pytest.param([], ["+tag='a b','c,d'", "trainer.epochs=1"], id="quoted-spaces-commas"),
    pytest.param(
        [], ["+new=1,2", "++trainer.batch_size=8,16", "trainer.epochs=1"], id="append-and-force"
    ),
    # The app reads logging.log_every unconditionally, so deleting it would crash every
    # Hydra job; trainer.ignore_sigterm is read with .get() and can go.
    pytest.param([], ["~trainer.ignore_sigterm", "seed=1,2", "trainer.epochs=1"], id="delete"),
    pytest.param([], ["+lst=[1,2]", "seed=1,2", "trainer.epochs=1"], id="list-is-not-a-sweep"),
    # Hydra keeps an interpolation as an interpolation (it reads the task overrides
    # unresolved and re-serialises the element as `$\{seed\}`), so every job resolves it
    # against its own config at run time, not at plan time on the submitting machine.
    pytest.param(
        [],
        ["+ref=${seed},null", "trainer.epochs=1"],
        id="interpolation-in-a-sweep",
    ),
    pytest.param(
        [],
        ["seed=1,2", "+ref=${seed}", "+home=${oc.env:HOME}", "trainer.epochs=1"],
        id="interpolation-not-swept",
    ),
    pytest.param(
        [],
        ["seed=1,2", "phase1/latent_space=none,vq", "trainer.lr=0.1,0.2", "trainer.epochs=1"],
        id="three-key-product",
    ),
    pytest.param([], ["+phase1/experiment=compare_globals_heads"], id="params-from-config"),
    pytest.param(
        [],
        ["+phase1/experiment=compare_globals_heads", "trainer.lr=0.01,0.02", "trainer.epochs=1"],
        id="command-line-overrides-a-param",
    ),
    pytest.param(["-cn", "exp_cn"], [], id="cn-primary-config-with-params"),
    pytest.param(
        ["-cn", "exp_cn"],
        ["phase1/latent_space=vq", "trainer.lr=0.5,0.25"],
        id="cn-with-command-line",
    ),
]


def _overrides_of(job_dir: Path) -> list[str]:
    loaded = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    assert isinstance(loaded, list) and all(isinstance(item, str) for item in loaded), loaded
    return loaded


def _hydra_jobs(
    project: Project, flags: list[str], sweep: list[str], sweep_dir: Path
) -> list[list[str]]:
    """Hydra's own multirun of `sweep`: every job's task overrides, by job number."""
    args = [*flags, "-m", HYDRA_LAYOUT, f"hydra.sweep.dir={sweep_dir}", *sweep]
    done = run_hydra_app(project.root, args)
    assert done.returncode == 0, done.stderr
    folders = [p for p in sweep_dir.iterdir() if p.is_dir()]
    assert sorted(p.name for p in folders) == sorted(str(n) for n in range(len(folders)))
    jobs = []
    for num in range(len(folders)):
        overrides = _overrides_of(sweep_dir / str(num))
        assert overrides.count(HYDRA_LAYOUT) == 1, overrides  # a task override, see above
        overrides.remove(HYDRA_LAYOUT)
        jobs.append(overrides)
    return jobs


@pytest.mark.parametrize(("flags", "sweep"), SWEEPS)
def test_plan_equals_hydras_basic_sweeper(
    project: Project, tmp_path: Path, flags: list[str], sweep: list[str]
) -> None:
    (project.root / "configs" / "exp_cn.yaml").write_text(EXP_CN)
    with ThreadPoolExecutor(max_workers=1) as pool:  # Hydra and our plan side by side
        theirs = pool.submit(_hydra_jobs, project, flags, sweep, tmp_path / "hydra_sweep")
        plan = project.plan(*flags, *sweep)
        hydra_jobs = theirs.result()
    assert [job["num"] for job in plan["jobs"]] == list(range(len(plan["jobs"])))
    ours = [job["overrides"] for job in plan["jobs"]]
    assert len(ours) == len(hydra_jobs)
    assert ours == hydra_jobs
    assert not project.outputs.exists()  # --dry-run wrote nothing


def test_interval_is_refused_with_hydras_reason(project: Project, tmp_path: Path) -> None:
    def tree() -> set[Path]:
        return {p for p in project.root.rglob("*") if "__pycache__" not in p.parts}

    before = tree()
    with ThreadPoolExecutor(max_workers=1) as pool:
        theirs = pool.submit(
            run_hydra_app,
            project.root,
            ["-m", HYDRA_LAYOUT, f"hydra.sweep.dir={tmp_path / 'h'}", "trainer.lr=interval(0,1)"],
        )
        done = project.cli("run", "trainer.lr=interval(0,1)")
        hydra = theirs.result()
    assert hydra.returncode != 0
    # Hydra's own reason: "BasicSweeper does not support sweep type : INTERVAL_SWEEP".
    reason = hydra.stderr.strip().splitlines()[-1].removeprefix("hydra.errors.HydraException: ")
    assert "does not support sweep type" in reason, hydra.stderr
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("thesis-sweep: error:")
    assert reason in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not project.outputs.exists()
    assert tree() == before


def test_child_files_are_byte_identical_to_hydras_jobs(project: Project, tmp_path: Path) -> None:
    sweep = ["phase1/latent_space=none,vq", "trainer.epochs=1"]
    plain, layout = tmp_path / "plain", tmp_path / "layout"
    with ThreadPoolExecutor(max_workers=2) as pool:
        # The very same arguments as ours, and the old layout (hydra=experiment) as well.
        runs = [
            pool.submit(run_hydra_app, project.root, ["-m", f"hydra.sweep.dir={plain}", *sweep]),
            pool.submit(
                run_hydra_app,
                project.root,
                ["-m", HYDRA_LAYOUT, f"hydra.sweep.dir={layout}", *sweep],
            ),
        ]
        project.cli("run", *sweep, check=0)
        for run in runs:
            assert run.result().returncode == 0, run.result().stderr
    jobs = project.status()["jobs"]
    assert len(jobs) == 2
    for num, job in enumerate(jobs):
        ours = Path(job["run_dir"]) / ".hydra"
        for name in ("config.yaml", "overrides.yaml"):
            assert (ours / name).read_bytes() == (plain / str(num) / ".hydra" / name).read_bytes()
        theirs = layout / str(num) / ".hydra"
        assert (ours / "config.yaml").read_bytes() == (theirs / "config.yaml").read_bytes()
        # hydra=experiment is recorded as a task override (first: it came first).
        expected = f"- {HYDRA_LAYOUT}\n".encode() + (ours / "overrides.yaml").read_bytes()
        assert (theirs / "overrides.yaml").read_bytes() == expected


@pytest.mark.parametrize(
    ("version_base", "accepted"),
    [pytest.param("1.3", False, id="1.3-refuses"), pytest.param("1.1", True, id="1.1-accepts")],
)
def test_the_apps_version_base_governs_the_plan(
    tmp_path: Path, version_base: str, accepted: bool
) -> None:
    """A group file with the legacy `# @package _group_` header and `model.width=5,6`: under
    version_base 1.3 Hydra's own --multirun refuses ("Key 'model' is not in struct") and so
    does thesis-sweep, before anything is written; under 1.1 both expand it the same."""
    new = NewProject(tmp_path / "newproj")
    train = new.root / "train.py"
    train.write_text(TRAIN.replace('version_base="1.3"', f'version_base="{version_base}"'))
    (new.root / "conf" / "model" / "legacy.yaml").write_text("# @package _group_\nwidth: 8\n")
    sweep = ["model=legacy", "model.width=5,6"]
    hydra_dir = tmp_path / "hydra_sweep"
    hydra = subprocess.run(
        [sys.executable, str(train), "-m", f"hydra.sweep.dir={hydra_dir}", *sweep],
        cwd=new.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ours = new.cli("run", "--dry-run", "--json", *sweep)
    assert (hydra.returncode == 0) is accepted, hydra.stderr
    if not accepted:
        assert "Key 'model' is not in struct" in hydra.stderr
        assert ours.returncode == 2 and "Key 'model' is not in struct" in ours.stderr
        assert not (new.root / "outputs").exists()
        return
    assert ours.returncode == 0, ours.stderr
    plan = json.loads(ours.stdout)
    theirs = [_overrides_of(hydra_dir / str(n)) for n in range(2)]
    assert [job["overrides"] for job in plan["jobs"]] == theirs
