"""Creating sweeps in-process: same-second collisions never share a folder."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from conftest import Project, raw_status
from sweeper_cli.planning import sweep
from sweeper_cli.project.settings import resolve
from sweeper_cli.store import jobfiles, layout


def test_five_sweeps_in_the_same_second_get_five_folders(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    settings = resolve({}, environ={}, cwd=project.root)
    now = datetime(2026, 3, 1, 9, 30, 0, tzinfo=timezone.utc)
    prepared = sweep.prepare(settings, ["seed=1,2"], now=now)
    claims = [sweep.create(prepared, "local", argv=["thesis-sweep"]) for _ in range(5)]
    folders = {sweep_dir for sweep_dir, _ in claims}
    runs = {d for _, run_dirs in claims for d in run_dirs}
    assert len(folders) == 5 and len(runs) == 10
    assert claims[0][0].name == "exp_20260301-093000_experiment"
    assert claims[1][0].name == "exp_20260301-093000.2_experiment"
    for sweep_dir, run_dirs in claims:
        index = json.loads((sweep_dir / layout.INDEX_FILE).read_text())
        assert [project.outputs / j["run_dir"] for j in index["jobs"]] == list(run_dirs)
        assert (sweep_dir / layout.MULTIRUN_FILE).is_file()  # complete
        for num, run_dir in enumerate(run_dirs):
            assert jobfiles.read_runptr(sweep_dir, num) == run_dir
            assert raw_status(run_dir)["state"] == "queued"
            spec = json.loads(layout.spec_path(run_dir).read_text())
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
    sweep_dir, _ = sweep.create(sweep.prepare(settings, ["seed=1"]), "local", argv=["x", "seed=1"])
    info = json.loads((sweep_dir / layout.INDEX_FILE).read_text())["sweep"]
    assert info["argv"] == ["x", "seed=1"] and info["overrides"] == ["seed=1"]
    assert info["app"][1:] == ["-m", "thesis_ml.train"] and info["backend"] == "local"
    assert info["version_base"] == "1.3" and info["cwd"] == str(project.root)
    assert set(info["git"]) == {"commit", "dirty"}
    assert info["versions"]["hydra-core"].startswith("1.3")
    assert info["host"] and info["config_name"] == "config"


def test_a_taken_run_folder_moves_the_whole_sweep_to_the_next_name(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    settings = resolve({}, environ={}, cwd=project.root)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    prepared = sweep.prepare(settings, ["seed=1,2"], now=now)
    first, _ = sweep.create(prepared, "local", argv=["x"])
    taken = project.outputs / "runs" / prepared.naming.with_suffix(2).run_folder(1)
    taken.mkdir()  # someone else's run
    second, run_dirs = sweep.create(prepared, "local", argv=["x"])
    assert first.name == "exp_20260101-000000_experiment"
    assert second.name == "exp_20260101-000000.3_experiment"
    assert run_dirs[0].name == "run_20260101-000000.3_experiment_job0"
    assert not (project.outputs / "multiruns" / "exp_20260101-000000.2_experiment").exists()
    assert list(taken.iterdir()) == []  # left as it was
