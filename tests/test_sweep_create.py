"""Creating sweeps in-process: same-second collisions never share a folder."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from conftest import Project
from sweeper_cli import store, sweep
from sweeper_cli.settings import resolve


def test_five_sweeps_in_the_same_second_get_five_folders(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    settings = resolve({}, environ={}, cwd=project.root)
    now = datetime(2026, 3, 1, 9, 30, 0, tzinfo=timezone.utc)
    prepared = sweep.prepare(settings, ["seed=1,2"], now=now)
    claims = [sweep.create(prepared, "local", argv=["thesis-sweep"]) for _ in range(5)]
    folders = {c.sweep_dir for c in claims}
    runs = {d for c in claims for d in c.run_dirs}
    assert len(folders) == 5 and len(runs) == 10
    assert claims[0].sweep_dir.name == "exp_20260301-093000_experiment"
    assert claims[1].sweep_dir.name == "exp_20260301-093000.2_experiment"
    for claim in claims:
        index = json.loads((claim.sweep_dir / store.INDEX_FILE).read_text())
        assert [project.outputs / j["run_dir"] for j in index["jobs"]] == list(claim.run_dirs)
        for num, run_dir in enumerate(claim.run_dirs):
            assert store.read_runptr(claim.sweep_dir, num) == run_dir
            assert store.read_status(run_dir)["state"] == "queued"
            spec = json.loads(store.spec_path(run_dir).read_text())
            assert f"hydra.run.dir='{run_dir}'" in spec["argv"]
            assert spec["env"]["THESIS_SWEEP_RUN_DIR"] == str(run_dir)


def test_prepare_writes_nothing(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.root)
    settings = resolve({}, environ={}, cwd=project.root)
    prepared = sweep.prepare(settings, ["phase1/latent_space=none,vq"])
    assert len(prepared.plan.jobs) == 2
    assert not project.outputs.exists()


def test_index_records_provenance(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.root)
    settings = resolve({}, environ={}, cwd=project.root)
    claim = sweep.create(sweep.prepare(settings, ["seed=1"]), "local", argv=["x", "seed=1"])
    info = json.loads((claim.sweep_dir / store.INDEX_FILE).read_text())["sweep"]
    assert info["argv"] == ["x", "seed=1"] and info["overrides"] == ["seed=1"]
    assert info["module"] == "thesis_ml.train" and info["backend"] == "local"
    assert set(info["git"]) == {"commit", "dirty"}
    assert info["versions"]["hydra-core"].startswith("1.3")
    assert info["host"] and info["config_name"] == "config"
