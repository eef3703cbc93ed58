"""The interpreter a profile (or THESIS_SWEEP_PYTHON, or the `python` setting) names runs
the app, on every backend, even where thesis-sweep's own interpreter cannot import the
app's dependencies (thesis-sweep installed with pipx, the app in a conda env)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Project, add_profile, own_interpreter

DEPENDENCY = "thesis_only_dependency"


def _app_with_its_own_dependency(project: Project, where: Path) -> Path:
    """An interpreter that has the app's dependency, and an app that needs it."""
    python = own_interpreter(where / "appenv")
    deps = where / "appdeps"
    deps.mkdir()
    (deps / f"{DEPENDENCY}.py").write_text("ANSWER = 42\n")
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout
    (Path(site.strip()) / "appdeps.pth").write_text(f"{deps}\n")
    train = project.root / "examples" / "thesis_ml" / "train.py"
    future = "from __future__ import annotations\n"
    needs = f"{future}import {DEPENDENCY}  # only the app's environment has it\n"
    train.write_text(train.read_text().replace(future, needs, 1))
    mine = subprocess.run([sys.executable, "-c", f"import {DEPENDENCY}"], capture_output=True)
    assert mine.returncode != 0, "thesis-sweep's interpreter must lack the app's dependency"
    return python


def _jobs(project: Project) -> list[dict[str, object]]:
    return list(project.status()["jobs"])


def _spec(job: dict[str, object]) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (Path(str(job["run_dir"])) / ".sweep" / "job.json").read_text()
    )
    return data


@pytest.mark.parametrize("warm", ["off", "hydra"])
def test_a_local_profile_interpreter_runs_the_app(project: Project, warm: str) -> None:
    python = _app_with_its_own_dependency(project, project.root.parent)
    without = project.cli("run", "--warm", warm, "seed=0", "trainer.epochs=1")
    assert without.returncode == 1, without.stderr  # the tool's interpreter: the app fails
    [job] = _jobs(project)
    log = (Path(str(job["run_dir"])) / ".sweep" / "output.log").read_text()
    assert f"No module named '{DEPENDENCY}'" in log

    add_profile(project, "appenv", f'python = "{python}"')
    done = project.cli(
        "run", "--warm", warm, "--profile", "appenv", "seed=0,1", "trainer.epochs=1", check=0
    )
    newest = project.status()["jobs"]
    assert [j["state"] for j in newest] == ["succeeded", "succeeded"], done.stderr
    assert all(_spec(j)["argv"][0] == str(python) for j in newest)  # type: ignore[index]


def test_precedence_profile_then_environment_then_setting(project: Project) -> None:
    python = _app_with_its_own_dependency(project, project.root.parent)
    path = project.root / "pyproject.toml"
    path.write_text(
        path.read_text().replace(
            "[tool.thesis-sweep]\n", '[tool.thesis-sweep]\npython = "nowhere/python"\n', 1
        )
    )
    refused = project.cli("run", "seed=0", "trainer.epochs=1")
    assert refused.returncode == 2 and "nowhere/python" in refused.stderr
    assert "pyproject.toml" in refused.stderr and not project.outputs.exists()

    env = {"THESIS_SWEEP_PYTHON": str(python)}
    project.cli("run", "seed=0", "trainer.epochs=1", env=env, check=0)  # env beats the setting
    add_profile(project, "broken", 'python = "no/such/python"')
    refused = project.cli("run", "--profile", "broken", "seed=0", env=env)
    assert refused.returncode == 2 and "profile broken" in refused.stderr  # profile beats env
    index = json.loads(next(project.outputs.glob("multiruns/*/runs_index.json")).read_text())
    assert index["sweep"]["python"] == str(python)


def test_a_cluster_profile_interpreter_runs_runner_and_app(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    python = _app_with_its_own_dependency(project, project.root.parent)
    subprocess.run(["chmod", "-R", "a+rX", str(project.root.parent)], check=True)
    add_profile(project, "appenv", f'backend = "{backend}"\npython = "{python}"')
    done = project.cli(
        "run", "--profile", "appenv", "seed=0,1", "trainer.epochs=1", "--wait", timeout=300
    )
    jobs = _jobs(project)
    assert [j["state"] for j in jobs] == ["succeeded", "succeeded"], (done.stderr, jobs)
    assert all(_spec(j)["argv"][0] == str(python) for j in jobs)  # type: ignore[index]
    [sweep] = project.sweeps()
    script = (sweep / "submit" / "job.sh").read_text()
    assert f"exec {python} " in script  # the runner runs under the same interpreter
