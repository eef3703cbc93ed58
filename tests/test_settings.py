"""Settings precedence: flags > THESIS_SWEEP_* env > [tool.thesis-sweep] > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeper_cli.errors import BadInput
from sweeper_cli.project.settings import resolve


def _project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.thesis-sweep]\n{table}")
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    return sub


def test_defaults_without_pyproject(tmp_path: Path) -> None:
    s = resolve({}, environ={}, cwd=tmp_path)
    assert s["module"] is None and s["script"] is None and s["command"] is None
    assert s["config_dir"] is None and s["config_name"] is None
    assert s["name"] == "experiment" and s["output_root"] is None and s["jobs"] == 1
    assert s.sources["module"] == "default"
    assert s.project_root == tmp_path.resolve() and not s.has_table


def test_the_project_root_is_the_pyproject_with_our_table(tmp_path: Path) -> None:
    """A nested pyproject.toml without [tool.thesis-sweep] (a sub-package) is not the root."""
    cwd = _project(tmp_path, 'script = "train.py"\npython = ".venv/bin/python"\n')
    (tmp_path / "deep" / "pyproject.toml").write_text('[project]\nname = "sub"\n')
    s = resolve({}, environ={}, cwd=cwd)
    assert s.project_root == tmp_path
    assert s["script"] == tmp_path / "train.py"
    assert s["python"] == str(tmp_path / ".venv" / "bin" / "python")
    assert s.app_argv == [str(tmp_path / ".venv" / "bin" / "python"), str(tmp_path / "train.py")]
    named = resolve({}, environ={"THESIS_SWEEP_PYTHON": "python3"}, cwd=cwd)
    assert named["python"] == "python3"  # a name is looked up on PATH


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1.3", "1.3"), ("1.1", "1.1"), ("none", "none"), ("latest", "none")],
)
def test_version_base_values(tmp_path: Path, raw: str, expected: str) -> None:
    cwd = _project(tmp_path, f'version_base = "{raw}"\n')
    assert resolve({}, environ={}, cwd=cwd)["version_base"] == expected


def test_an_empty_output_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="output_root"):
        resolve({"output_root": ""}, environ={}, cwd=tmp_path)


def test_nearest_pyproject_paths_are_relative_to_it(tmp_path: Path) -> None:
    cwd = _project(tmp_path, 'config_dir = "conf"\npython_path = ["src", "lib"]\n')
    s = resolve({}, environ={}, cwd=cwd)
    assert s["config_dir"] == tmp_path / "conf"
    assert s["python_path"] == [tmp_path / "src", tmp_path / "lib"]
    assert s.sources["config_dir"].endswith("pyproject.toml")
    assert s.project_root == tmp_path


@pytest.mark.parametrize(
    ("flags", "env", "expected", "source"),
    [
        pytest.param({"name": "f"}, {"THESIS_SWEEP_NAME": "e"}, "f", "flag", id="flag-wins"),
        pytest.param({}, {"THESIS_SWEEP_NAME": "e"}, "e", "env THESIS_SWEEP_NAME", id="env"),
        pytest.param({}, {}, "p", "pyproject", id="pyproject"),
    ],
)
def test_precedence(
    tmp_path: Path, flags: dict[str, str], env: dict[str, str], expected: str, source: str
) -> None:
    cwd = _project(tmp_path, 'name = "p"\n')
    s = resolve(flags, environ=env, cwd=cwd)
    assert s["name"] == expected
    assert source in s.sources["name"] or (
        source == "pyproject" and "pyproject" in s.sources["name"]
    )


def test_command_from_a_higher_level_replaces_the_module(tmp_path: Path) -> None:
    cwd = _project(tmp_path, 'module = "pkg.train"\n')
    s = resolve({"command": "python train.py --x 'a b'"}, environ={}, cwd=cwd)
    assert s.app_argv == ["python", "train.py", "--x", "a b"]
    s = resolve({"module": "other.mod"}, environ={"THESIS_SWEEP_COMMAND": "python t.py"}, cwd=cwd)
    assert s.app_argv[1:] == ["-m", "other.mod"]


def test_module_and_command_at_the_same_level_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="give one of --module, --command"):
        resolve({"module": "a.b", "command": "python x.py"}, environ={}, cwd=tmp_path)
    with pytest.raises(BadInput, match="give one of --module, --script"):
        resolve({"module": "a.b", "script": "x.py"}, environ={}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param('modul = "x"\n', "unknown key", id="typo"),
        pytest.param("jobs = 0\n", "jobs", id="jobs-zero"),
        pytest.param('jobs = "many"\n', "jobs", id="jobs-text"),
        pytest.param("validate = 3\n", "validate", id="bool"),
        pytest.param("name = \n", "cannot read", id="toml-syntax"),
    ],
)
def test_bad_pyproject_values_are_bad_input(tmp_path: Path, table: str, message: str) -> None:
    cwd = _project(tmp_path, table)
    with pytest.raises(BadInput, match=message):
        resolve({}, environ={}, cwd=cwd)


def test_env_jobs_and_paths(tmp_path: Path) -> None:
    env = {"THESIS_SWEEP_JOBS": "3", "THESIS_SWEEP_OUTPUT_ROOT": "out"}
    s = resolve({}, environ=env, cwd=tmp_path)
    assert s["jobs"] == 3 and s["output_root"] == tmp_path / "out"
