"""What a job's task function returns is a fact of the run (`.sweep/return.json`), as
Hydra's own sweepers see it: recorded without changing the app, cold and warm, under the
app's own interpreter and Hydra (1.3 and 1.4), on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app_venvs import AppVenv
from conftest import NewProject, Project, add_profile

pytest_plugins = ["thesis_fixtures"]

RETURNS = """\
import hydra
from omegaconf import DictConfig


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig):
    if cfg.kind == "fail":
        raise ValueError("no result")
    if cfg.kind == "pair":
        return (cfg.lr * 2, -cfg.lr)
    if cfg.kind == "text":
        return "done"
    if cfg.kind == "nonfinite":
        return float("nan")
    return cfg.lr * 10


if __name__ == "__main__":
    main()
"""


def _returns(new: NewProject, python: Path | None = None) -> None:
    (new.root / "train.py").write_text(RETURNS)
    (new.root / "conf" / "config.yaml").write_text("lr: 0.1\nkind: number\n")
    table = '[tool.thesis-sweep]\nscript = "train.py"\n'
    if python is not None:
        table += f'python = "{python}"\n'
    (new.root / "pyproject.toml").write_text(table)


def _recorded(new: NewProject) -> dict[str, Any]:
    done = new.cli("status", "--json")
    found: dict[str, Any] = {}
    for job in json.loads(done.stdout)["jobs"]:
        path = Path(job["run_dir"]) / ".sweep" / "return.json"
        found[" ".join(job["overrides"])] = json.loads(path.read_text()) if path.exists() else None
    return found


@pytest.mark.parametrize("warm", ["off", "hydra", "app"])
def test_every_kind_of_return_value_is_recorded(new: NewProject, warm: str) -> None:
    _returns(new)
    done = new.cli("run", "--warm", warm, "kind=number,pair,text,nonfinite,fail", "lr=0.5")
    assert done.returncode == 1, done.stderr  # kind=fail fails
    seen = _recorded(new)
    assert seen["kind=number lr=0.5"] == {"schema_version": 1, "value": 5.0, "type": "float"}
    assert seen["kind=pair lr=0.5"]["value"] == [1.0, -0.5]
    assert seen["kind=text lr=0.5"] == {"schema_version": 1, "value": None, "type": "str"}
    assert seen["kind=nonfinite lr=0.5"]["value"] is None
    assert seen["kind=fail lr=0.5"] is None  # a failed job returned nothing


def test_a_new_attempt_never_keeps_the_old_value(new: NewProject) -> None:
    _returns(new)
    assert new.cli("run", "lr=0.5").returncode == 0
    [job] = json.loads(new.cli("status", "--json").stdout)["jobs"]
    run_dir = Path(job["run_dir"])
    assert json.loads((run_dir / ".sweep" / "return.json").read_text())["value"] == 5.0
    (new.root / "conf" / "config.yaml").write_text("lr: 0.1\nkind: fail\n")
    status = run_dir / ".sweep" / "status.json"
    record = json.loads(status.read_text())
    status.write_text(json.dumps({**record, "state": "failed", "exit_code": 1}))
    assert new.cli("resume").returncode == 1  # attempt 2 fails
    assert not (run_dir / ".sweep" / "return.json").exists()


@pytest.mark.parametrize("venv", ["hydra132_venv", "hydra140_venv"])
def test_recorded_under_the_apps_own_interpreter_and_hydra(
    new: NewProject, venv: str, request: pytest.FixtureRequest
) -> None:
    app: AppVenv = request.getfixturevalue(venv)
    _returns(new, app.python)
    done = new.cli("run", "lr=0.1,0.2")
    assert done.returncode == 0, done.stderr
    assert [v["value"] for v in _recorded(new).values()] == pytest.approx([1.0, 2.0])
    [job] = json.loads(new.cli("status", "--json").stdout)["jobs"][:1]
    spec = json.loads((Path(job["run_dir"]) / ".sweep" / "job.json").read_text())
    assert spec["argv"][0] == str(app.python)


def test_recorded_on_a_cluster(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    add_profile(project, "site", f'backend = "{backend}"')
    done = project.cli("run", "--profile", "site", "seed=0,1", "trainer.epochs=1", "--wait")
    assert done.returncode == 0, done.stderr
    values = []
    for job in project.status()["jobs"]:
        record = json.loads((Path(job["run_dir"]) / ".sweep" / "return.json").read_text())
        values.append(record["value"])
    assert all(isinstance(v, float) for v in values) and values[0] != values[1]
    [sweep] = project.sweeps()
    assert (sweep / "submit" / "hooks" / "thesis_sweep_return.py").is_file()
