"""The fast validation against the reference: every job of each sweep composed in full by
Hydra's own loader. The set of failing jobs must be the same, job for job, for every kind
of override (plain values, `+`, `++`, `~`, groups, glob, config-file sweeper params),
including sweeps where only some values or some groups fail."""

from __future__ import annotations

import pytest

from conftest import Project
from sweeper_cli.planning import validate
from sweeper_cli.planning.plan import plan_sweep

PARAMS = """\
defaults:
  - config
  - _self_
hydra:
  sweeper:
    params:
      seed: range(10)
      +extra: a,b,c
"""

SWEEPS = [
    pytest.param(["seed=range(30)", "trainer.lr=0.1,0.2,0.3"], id="plain-values"),
    pytest.param(["+extra=range(60)", "seed=1,2"], id="add-new-key"),
    pytest.param(["+seed=range(20)", "trainer.epochs=1,2"], id="add-existing-key-fails"),
    pytest.param(["+thesis_sweep.profile=a,b,c", "seed=range(30)"], id="add-to-a-null-key"),
    pytest.param(["+trainer={x:1},{y:2}", "seed=range(20)"], id="add-dict-merges"),
    pytest.param(["++trainer.lr=range(20)", "++fresh=range(3)"], id="force-add"),
    pytest.param(["~trainer.lr=0.01,0.5,0.02", "seed=range(20)"], id="delete-matches-one-value"),
    pytest.param(["trainer.missing=1,2", "seed=range(20)"], id="unknown-key-fails-all"),
    pytest.param(
        ["phase1/latent_space=none,ae,vq", "phase1.latent_space.commitment=range(12)"],
        id="value-fails-in-one-group-only",
    ),
    pytest.param(["phase1/latent_space=glob(*)", "seed=range(15)"], id="glob"),
    pytest.param(["phase1/latent_space=none,nope,vq", "seed=range(10)"], id="unknown-option"),
    pytest.param(
        ["phase1/latent_space=none,nope"] * 1 + ["+x=range(20)"], id="unknown-option-adds"
    ),
    pytest.param(
        ["trainer={epochs:2},{epochs:3}", "trainer.epochs=range(20)"],
        id="dict-merge-and-inner-key-interact",
    ),
    pytest.param(["+a.b=range(10)", "+a.c=1,2", "seed=1,2"], id="sibling-new-keys"),
    pytest.param(["CN=params", "phase1/latent_space=none,vq"], id="config-file-params"),
]


@pytest.mark.parametrize("overrides", SWEEPS)
def test_fast_verdicts_equal_full_composition(project: Project, overrides: list[str]) -> None:
    configs = project.root / "configs"
    (configs / "phase1" / "latent_space" / "ae.yaml").write_text("name: ae\ncodebook_size: 0\n")
    (configs / "params.yaml").write_text(PARAMS)
    config_name = "config"
    if overrides and overrides[0].startswith("CN="):  # the primary config holds the sweep
        config_name, overrides = overrides[0][3:], overrides[1:]
    plan = plan_sweep(configs, config_name, overrides, version_base="1.3")
    assert len(plan.jobs) >= 20
    fast = validate.failing_jobs(plan)
    full = validate.failing_jobs(plan, fast=False)
    assert fast == full, (len(fast), len(full), sorted(set(fast) ^ set(full))[:5])
    first = validate.failing_jobs(plan, first_only=True)
    assert first == full[:1]


def test_the_first_failure_is_reported_with_hydras_words(project: Project) -> None:
    done = project.cli("run", "~trainer.lr=0.01,0.5", "seed=1")
    assert done.returncode == 2
    assert "job 1 (~trainer.lr=0.5 seed=1)" in done.stderr
    assert "Could not delete from config" in done.stderr
