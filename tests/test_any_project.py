"""Any Hydra project, from anywhere: init, the project root, version_base, the app's own
interpreter, and the first hour of a new user, with real processes of a project that is
laid out unlike the bundled example (a script and conf/, Hydra 1.3 defaults)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import PYPROJECT_NEW as PYPROJECT
from conftest import TRAIN, NewProject, own_interpreter
from sweeper_cli.project import discover
from sweeper_cli.project.pyproject import tomllib, with_table


def test_a_new_project_from_init_to_compare(new: NewProject) -> None:
    python = own_interpreter(new.root / ".venv")
    done = new.cli("init")  # no terminal: writes without asking
    assert done.returncode == 0, done.stderr
    text = (new.root / "pyproject.toml").read_text()
    assert text.startswith(PYPROJECT)  # the rest of the file, byte for byte
    assert 'script = "train.py"' in done.stdout and 'python = ".venv/bin/python"' in done.stdout
    assert "version_base 1.3" in done.stdout

    deep = new.root / "sub" / "deeper"
    run = new.cli("run", "lr=0.1,0.01", "model=glob(*)", cwd=deep)
    assert run.returncode == 0, run.stderr
    assert "every job starts in" in run.stderr  # Hydra 1.3: no chdir, nobody chose it
    assert not (deep / "outputs").exists()
    status = new.cli("status", "--json", cwd=new.root / "other")
    assert status.returncode == 0, status.stderr
    jobs = json.loads(status.stdout)["jobs"]
    assert [j["state"] for j in jobs] == ["succeeded"] * 4
    assert all(Path(j["run_dir"]).parent == new.root / "outputs" / "runs" for j in jobs)
    spec = json.loads((Path(jobs[0]["run_dir"]) / ".sweep" / "job.json").read_text())
    assert spec["argv"][:2] == [str(python.absolute()), str(new.root / "train.py")]
    assert spec["cwd"] == str(new.root)
    index = json.loads(
        next((new.root / "outputs" / "multiruns").iterdir()).joinpath("runs_index.json").read_text()
    )
    assert index["sweep"]["version_base"] == "1.3"

    compare = new.cli("compare", "--json", cwd=new.root / "other")
    assert compare.returncode == 0, compare.stderr
    doc = json.loads(compare.stdout)
    assert "loss" in doc["metrics"] and "constant" not in doc["metrics"]
    assert sorted(row["loss"] for row in doc["rows"])[0] == pytest.approx(0.004)


def test_run_without_settings_uses_the_only_app_and_says_so(new: NewProject) -> None:
    done = new.cli("run", "--dry-run", "lr=0.1,0.2", cwd=new.root / "sub")
    assert done.returncode == 0, done.stderr
    assert "using the Hydra app in train.py" in done.stderr and "thesis-sweep init" in done.stderr
    (new.root / "evaluate.py").write_text(TRAIN)
    two = new.cli("run", "--dry-run", "lr=0.1")
    assert two.returncode == 2 and "several Hydra apps found" in two.stderr
    assert "thesis-sweep init" in two.stderr
    (new.root / "evaluate.py").unlink()
    (new.root / "train.py").write_text("print('no hydra here')\n")
    none = new.cli("run", "--dry-run", "lr=0.1")
    assert none.returncode == 2 and "no Hydra app" in none.stderr


def test_a_module_that_python_dash_m_finds_from_the_project_root(new: NewProject) -> None:
    done = new.cli("run", "--module", "train", "lr=0.5", cwd=new.root / "sub")
    assert done.returncode == 0, done.stderr


def test_init_chooses_asks_and_keeps_what_is_there(new: NewProject) -> None:
    (new.root / "pkg").mkdir()
    (new.root / "pkg" / "__init__.py").write_text("")
    (new.root / "pkg" / "evaluate.py").write_text(TRAIN.replace('"conf"', '"../conf"'))
    several = new.cli("init")
    assert several.returncode == 2 and "2 Hydra apps found" in several.stderr
    assert "--module or --script" in several.stderr
    picked = new.cli("init", "--module", "pkg.evaluate")
    assert picked.returncode == 0, picked.stderr
    assert 'module = "pkg.evaluate"' in picked.stdout
    again = new.cli("init", "--script", "train.py")
    assert again.returncode == 2 and "exists already" in again.stderr
    path = new.root / "pyproject.toml"
    path.write_text(
        path.read_text() + '\n[tool.thesis-sweep.profiles.pool]\nbackend = "htcondor"\n'
    )
    forced = new.cli("init", "--script", "train.py", "--force")
    assert forced.returncode == 0, forced.stderr
    text = path.read_text()
    assert text.startswith(PYPROJECT) and 'script = "train.py"' in text
    assert 'module = "pkg.evaluate"' not in text and "[tool.thesis-sweep.profiles.pool]" in text
    assert new.cli("run", "--dry-run", "lr=0.2").returncode == 0


@pytest.mark.parametrize(
    ("chdir", "warned"),
    [
        pytest.param(None, True, id="default"),
        pytest.param("false", False, id="chosen"),
        pytest.param("true", False, id="true"),
    ],
)
def test_the_shared_working_directory_warning(
    new: NewProject, chdir: str | None, warned: bool
) -> None:
    args = ["run", "--dry-run", "lr=0.1", "--script", "train.py"]
    if chdir is not None:
        args.append(f"hydra.job.chdir={chdir}")
    done = new.cli(*args)
    assert done.returncode == 0, done.stderr
    assert ("every job starts in" in done.stderr) is warned


def test_logs_of_the_newest_sweep_by_job_number_alone(new: NewProject) -> None:
    assert new.cli("run", "--script", "train.py", "lr=0.1").returncode == 0
    by_number = new.cli("logs", "0", cwd=new.root / "sub")
    assert by_number.returncode == 0
    assert (
        by_number.stdout
        == new.cli("logs", next((new.root / "outputs" / "multiruns").iterdir()).name, "0").stdout
    )


# --- finding apps in the source ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "version_base", "config"),
    [
        pytest.param(TRAIN, "1.3", "conf", id="keywords"),
        pytest.param(
            TRAIN.replace('version_base="1.3"', "version_base=None"), None, "conf", id="none"
        ),
        pytest.param(
            TRAIN.replace(', version_base="1.3"', ""), discover.UNSPECIFIED, "conf", id="absent"
        ),
        pytest.param(
            TRAIN.replace(
                '@hydra.main(config_path="conf", config_name="config", version_base="1.3")',
                '@main("conf", "config", "1.2")',
            ).replace("import hydra", "from hydra import main"),
            "1.2",
            "conf",
            id="positional-from-import",
        ),
        pytest.param(
            TRAIN.replace('config_path="conf"', "config_path=CONF").replace(
                "import json", 'import json\nCONF = "conf"'
            ),
            "1.3",
            None,
            id="config-path-not-literal",
        ),
    ],
)
def test_app_in_reads_the_decorator(
    tmp_path: Path, source: str, version_base: str | None, config: str | None
) -> None:
    (tmp_path / "train.py").write_text(source)
    app = discover.app_in(tmp_path / "train.py", tmp_path)
    assert app is not None and app.module is None and app.script == tmp_path / "train.py"
    assert app.version_base == version_base and app.config_name == "config"
    assert app.config_dir == (tmp_path / config if config else None)
    if config is None:
        assert any("config_dir yourself" in n for n in app.notes)


def test_a_package_app_is_a_module_and_a_src_layout_adds_its_folder(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "mypkg" / "cli"
    pkg.mkdir(parents=True)
    for folder in (pkg, pkg.parent):
        (folder / "__init__.py").write_text("")
    (pkg / "train.py").write_text(TRAIN.replace('"conf"', '"../../../conf"'))
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "other.py").write_text(TRAIN)  # never looked at
    [app] = discover.find_apps(tmp_path)
    assert app.module == "mypkg.cli.train" and app.python_path == (tmp_path / "src",)
    assert app.config_dir == tmp_path / "conf"


# --- writing pyproject.toml ----------------------------------------------------------------

EXISTING = st.lists(
    st.sampled_from(
        [
            '[project]\nname = "x"\n',
            "# a comment with [brackets] and = signs\n",
            "[tool.black]\nline-length = 88\n",
            '[tool.thesis-sweep.profiles.gpu]\nbackend = "slurm"\n',
            "\n",
            'key = """multi\nline"""\n',
        ]
    ),
    max_size=5,
).map("".join)
VALUES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)


@settings(max_examples=80)
@given(existing=EXISTING, script=VALUES, python=VALUES)
def test_adding_the_table_keeps_the_file_and_reads_back(
    existing: str, script: str, python: str
) -> None:
    try:
        before = tomllib.loads(existing)
    except tomllib.TOMLDecodeError:
        return  # not a valid pyproject to begin with
    new = with_table(existing, {"script": script, "python": python}, ["found by init"], False)
    assert new.startswith(existing)
    after = tomllib.loads(new)
    ours = after["tool"]["thesis-sweep"]
    assert (ours["script"], ours["python"]) == (script, python)
    assert ours.get("profiles") == before.get("tool", {}).get("thesis-sweep", {}).get("profiles")
    for key, value in before.items():
        if key != "tool":
            assert after[key] == value
