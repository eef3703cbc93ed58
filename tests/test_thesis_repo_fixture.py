"""The thesis-style fixture project is what it claims, shown with the app's own interpreter
and Hydra's own --multirun (thesis-sweep plays no part): folder and job names, what each job
sees, the ConfigStore option, colorlog, the Optuna study, failures, the console script, the
venv cache, and a run as HTCondor's job user.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml

from app_venvs import Requirements, VenvBuildError, app_venv
from conftest import require_scheduler
from thesis_repo import CH5, CH6, OPTUNA, RETURN_HOOK, AppVenv, ThesisRepo, overlay_venv

pytest_plugins = ["thesis_fixtures"]
pytestmark = pytest.mark.slow  # builds real venvs on first use (cached afterwards)

GRID_VENVS = {"1.3.2": "hydra132_venv", "1.4.0rc3": "hydra140_venv"}
SEARCH_VENVS = {"1.3.2": "hydra132_optuna_venv", "1.4.0rc3": "hydra140_optuna_venv"}
TS = r"\d{8}-\d{6}"
MakeRepo = Callable[..., ThesisRepo]


@pytest.fixture(params=list(GRID_VENVS))
def grid_repo(request: pytest.FixtureRequest, make_thesis_repo: MakeRepo) -> ThesisRepo:
    return make_thesis_repo(request.getfixturevalue(GRID_VENVS[request.param]))


@pytest.fixture(params=list(SEARCH_VENVS))
def search_repo(request: pytest.FixtureRequest, make_thesis_repo: MakeRepo) -> ThesisRepo:
    return make_thesis_repo(request.getfixturevalue(SEARCH_VENVS[request.param]))


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def as_dict(overrides: list[str]) -> dict[str, str]:
    return dict(o.split("=", 1) for o in overrides)


def swept(meta: dict[str, Any], *keys: str) -> tuple[str, ...]:
    overrides = as_dict(meta["task_overrides"])
    return tuple(overrides[key] for key in keys)


def test_ch6_multirun_puts_named_jobs_in_runs(grid_repo: ThesisRepo) -> None:
    ok(grid_repo.app("--multirun", CH6))

    [sweep] = grid_repo.multiruns()
    match = re.fullmatch(rf"exp_({TS})_ch6_attention_type_exp6a", sweep.name)
    assert match, sweep.name
    assert sorted(p.name for p in sweep.iterdir()) == ["multirun.yaml"]
    runs = grid_repo.runs()
    stamp = match.group(1)  # one ${now:} for the whole multirun
    assert [r.name for r in runs] == [
        f"run_{stamp}_ch6_attention_type_exp6a_job{n:03d}" for n in range(6)
    ]
    metas = [grid_repo.meta(r) for r in runs]
    for num, (run, meta) in enumerate(zip(runs, metas, strict=True)):
        assert meta["job_name"] == "ch6_attention_type_exp6a"
        assert (meta["job_num"], meta["mode"]) == (num, "MULTIRUN")
        assert meta["output_dir"] == str(run)
        assert meta["hydra_version"] == grid_repo.hydra_version
        assert (run / "ch6_attention_type_exp6a.log").is_file()
        assert [row["epoch"] for row in grid_repo.scalars(run)] == [1, 2, 3, 4]
        assert (run / "best_val.pt").is_file() and (run / "facts" / "events.jsonl").is_file()
    keys = ("classifier.model.attention_type", "classifier.model.n_layers")
    assert [swept(m, *keys) for m in metas] == list(
        product(["standard", "linear", "performer"], ["2", "4"])
    )


def test_ch5_multirun_uses_hydras_numbered_folders(grid_repo: ThesisRepo) -> None:
    ok(grid_repo.app("--multirun", CH5))

    [sweep] = grid_repo.multiruns()
    assert re.fullmatch(rf"exp_{TS}_ch5_baseline", sweep.name), sweep.name
    assert grid_repo.runs() == []
    jobs = [sweep / str(n) for n in range(4)]
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "2", "3", "multirun.yaml"]
    metas = [grid_repo.meta(job) for job in jobs]
    assert {m["job_name"] for m in metas} == {"ch5_baseline"}
    assert [(m["choices"]["classifier/model"], swept(m, "seed")) for m in metas] == [
        ("mlp", ("0",)),
        ("mlp", ("1",)),
        ("transformer", ("0",)),
        ("transformer", ("1",)),
    ]


def test_a_single_run_needs_hydra_job_num(grid_repo: ThesisRepo) -> None:
    refused = grid_repo.app()
    assert refused.returncode == 1
    assert "Missing mandatory value: hydra.job.num" in refused.stderr
    assert grid_repo.runs() == []

    ok(grid_repo.app("hydra.job.num=7"))
    ok(grid_repo.app("hydra.job.num=8", script=True))  # the console script, the same app
    runs = grid_repo.runs()
    assert [re.sub(TS, "TS", r.name) for r in runs] == [
        "run_TS_classifier_job007",
        "run_TS_classifier_job008",
    ]
    meta = grid_repo.meta(runs[0])
    assert (meta["job_name"], meta["job_num"], meta["mode"]) == ("classifier", 7, "RUN")


def test_hydra_mode_in_an_experiment_config(grid_repo: ThesisRepo) -> None:
    """1.3.2 makes a plain launch of an experiment a multirun (its hydra.mode: MULTIRUN);
    1.4.0rc3 takes hydra.mode only from the primary config or the command line."""
    done = grid_repo.app(CH5)
    if grid_repo.hydra_version == "1.3.2":
        ok(done)
        [sweep] = grid_repo.multiruns()
        assert (sweep / "3" / "facts" / "meta.json").is_file()
    else:
        assert done.returncode == 1
        assert "hydra.mode changed during config composition" in done.stderr
        assert grid_repo.multiruns() == []


def test_stoomboot_outputs_go_where_its_env_var_says(grid_repo: ThesisRepo) -> None:
    ok(grid_repo.app("env=stoomboot", "hydra.job.num=0"))

    assert not grid_repo.outputs.exists()
    [run] = grid_repo.runs(grid_repo.stoomboot_outputs)
    assert grid_repo.meta(run)["choices"]["env"] == "stoomboot"


def test_the_configstore_option_composes_and_is_in_glob(grid_repo: ThesisRepo) -> None:
    ok(grid_repo.app("--multirun", "classifier/optimizer=glob(*)"))

    [sweep] = grid_repo.multiruns()
    metas = [grid_repo.meta(sweep / n) for n in ("0", "1")]
    assert [m["choices"]["classifier/optimizer"] for m in metas] == ["adam", "sgd_struct"]
    composed = yaml.safe_load((sweep / "1" / ".hydra" / "config.yaml").read_text())
    assert composed["classifier"]["optimizer"] == {
        "_target_": "thesis_ml.models.SGD",
        "lr": 0.01,
        "momentum": 0.9,
    }
    assert not list(grid_repo.configs.rglob("sgd_struct*"))


def test_only_the_entry_module_registers_resolvers_and_configs(thesis_repo: ThesisRepo) -> None:
    probe = (
        "import importlib, sys\n"
        "from hydra.core.config_store import ConfigStore\n"
        "from omegaconf import OmegaConf\n"
        "importlib.import_module(sys.argv[1])\n"
        "options = ConfigStore.instance().repo.get('classifier', {}).get('optimizer', {})\n"
        "print((OmegaConf.has_resolver('zpad'), 'sgd_struct.yaml' in options))\n"
    )
    for module, expected in [
        ("thesis_ml.cli.train", "(False, False)"),
        ("thesis_ml.cli.train.__main__", "(True, True)"),
    ]:
        done = subprocess.run(
            [str(thesis_repo.python), "-c", probe, module],
            capture_output=True,
            text=True,
            env=thesis_repo.env(),
        )
        assert done.stdout.strip() == expected, (module, done.stderr)


def test_colorlog_job_logging_works_in_the_132_venv(thesis_repo: ThesisRepo) -> None:
    plain = ok(thesis_repo.app("hydra.job.num=0"))
    colored = ok(thesis_repo.app("hydra.job.num=1", "hydra/job_logging=colorlog"))

    assert "\x1b[" not in plain.stdout and "epoch 1: metric_auroc" in plain.stdout
    assert "\x1b[" in colored.stdout
    log = (thesis_repo.runs()[1] / "classifier.log").read_text()
    assert "epoch 1: metric_auroc" in log and "\x1b[" not in log


def test_the_optuna_study_maximises_what_the_task_returns(search_repo: ThesisRepo) -> None:
    ok(search_repo.app("--multirun", OPTUNA, RETURN_HOOK))

    [sweep] = search_repo.multiruns()
    assert re.fullmatch(rf"exp_{TS}_cand_optuna", sweep.name), sweep.name
    trials = [sweep / str(n) for n in range(6)]
    assert sorted(p.name for p in sweep.iterdir()) == [
        *(t.name for t in trials),
        "optimization_results.yaml",
    ]
    returns = [search_repo.returned(t) for t in trials]
    assert {r["status"] for r in returns} == {"COMPLETED"}
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    best = max(returns, key=lambda r: r["value"])
    assert results["best_value"] == best["value"]
    best_overrides = as_dict(best["overrides"])
    assert {k: str(v) for k, v in results["best_params"].items()} == {
        k: best_overrides[k] for k in results["best_params"]
    }
    heads = {as_dict(r["overrides"])["classifier.model.head_layers"] for r in returns}
    assert heads <= {"[0,1,2,3]", "[1,2,3]"}  # a choice over lists, as strings
    for trial, record in zip(trials, returns, strict=True):  # returned, written nowhere
        written = [p for p in trial.rglob("*") if p.is_file() and p.name != "test_return.json"]
        assert not [p for p in written if str(record["value"]) in p.read_text()]

    again = search_repo.root.parent / "again"
    ok(search_repo.app("--multirun", OPTUNA, f"env.output_root={again}"))
    [repeat] = search_repo.multiruns(again)
    assert (repeat / "optimization_results.yaml").read_bytes() == (
        sweep / "optimization_results.yaml"
    ).read_bytes()


def test_a_failing_job_fails_inside_instantiate(grid_repo: ThesisRepo) -> None:
    done = grid_repo.app("hydra.job.num=0", "classifier.fail=true")

    assert done.returncode == 1
    assert "cannot build the transformer: classifier.fail is set" in done.stderr
    assert "full_key: classifier.model" in done.stderr
    if grid_repo.hydra_version == "1.3.2":
        assert "Error in call to target 'thesis_ml.models.build_model':" in done.stderr
    [run] = grid_repo.runs()
    assert (run / ".hydra" / "config.yaml").is_file() and (run / "facts" / "meta.json").is_file()


def test_the_console_script_is_the_one_pip_writes(
    thesis_repo: ThesisRepo, hydra132_venv: AppVenv, tmp_path: Path
) -> None:
    site = overlay_venv(tmp_path / "pip-venv", hydra132_venv)
    python = tmp_path / "pip-venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"]
    ok(subprocess.run([*pip, "-e", str(thesis_repo.root)], capture_output=True, text=True))

    ours = thesis_repo.script.read_text().replace(str(thesis_repo.python), "PYTHON")
    assert (tmp_path / "pip-venv" / "bin" / "thesis-train").read_text().replace(
        str(python), "PYTHON"
    ) == ours
    ours_site = thesis_repo.python.parents[1] / "lib" / site.parent.name / "site-packages"
    for read in (_entry_points, _editable_paths, _direct_url):
        assert read(site) == read(ours_site), read.__name__


def _entry_points(site: Path) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser()
    parser.read(next(site.glob("thesis_ml-*.dist-info")) / "entry_points.txt")
    return {section: dict(parser[section]) for section in parser.sections()}


def _editable_paths(site: Path) -> list[str]:
    return next(site.glob("__editable__.thesis_ml-*.pth")).read_text().split()


def _direct_url(site: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (next(site.glob("thesis_ml-*.dist-info")) / "direct_url.json").read_text()
    )
    return data


def test_the_app_venv_has_no_thesis_sweep(thesis_repo: ThesisRepo) -> None:
    done = subprocess.run(
        [str(thesis_repo.python), "-c", "import sweeper_cli"], capture_output=True, text=True
    )
    assert done.returncode == 1 and "No module named 'sweeper_cli'" in done.stderr
    ok(thesis_repo.thesis_sweep("--help"))  # the tool runs from its own interpreter


# --- the venv cache ----------------------------------------------------------------------

_BUILD = (
    "import json, sys; sys.path.insert(0, sys.argv[1]); from app_venvs import *\n"
    "v = app_venv(Requirements('tiny', tuple(sys.argv[2:])))\n"
    "print(json.dumps([str(v.root), v.built_now]))\n"
)


def _build_elsewhere(cache: Path, *pins: str) -> subprocess.Popen[str]:
    env = {**os.environ, "THESIS_SWEEP_TEST_VENVS": str(cache)}
    tests = str(Path(__file__).parent)
    return subprocess.Popen(
        [sys.executable, "-c", _BUILD, tests, *pins], stdout=subprocess.PIPE, text=True, env=env
    )


def test_a_venv_is_built_once_reused_and_rebuilt_for_other_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    pins = ("colorlog",)  # small, no dependencies
    two = [_build_elsewhere(cache, *pins) for _ in range(2)]  # at the same moment
    answers = [json.loads(p.communicate(timeout=900)[0]) for p in two]
    assert [p.returncode for p in two] == [0, 0]
    assert answers[0][0] == answers[1][0]
    assert sorted(built for _, built in answers) == [False, True]  # one built, one waited

    monkeypatch.setenv("THESIS_SWEEP_TEST_VENVS", str(cache))
    again = app_venv(Requirements("tiny", pins))
    assert (str(again.root), again.built_now) == (answers[0][0], False)
    assert "colorlog" in again.versions and "pip" in again.versions
    assert (again.root / "bin" / "python").stat().st_mode & 0o005 == 0o005  # others: r-x

    (again.root / "venv-ready.json").unlink()  # a build that died half-way
    rebuilt = app_venv(Requirements("tiny", pins))
    assert (rebuilt.root, rebuilt.built_now) == (again.root, True)

    other = app_venv(Requirements("tiny", (*pins, "antlr4-python3-runtime==4.9.3")))
    assert other.root != again.root and other.built_now


def test_a_failed_build_says_what_pip_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THESIS_SWEEP_TEST_VENVS", str(tmp_path / "cache"))
    missing = tmp_path / "no-such-project"
    with pytest.raises(VenvBuildError, match=r"(?s)pip install .*failed.*does not exist"):
        app_venv(Requirements("broken", (str(missing),)))
    with pytest.raises(VenvBuildError):  # and a broken folder is never taken for a venv
        app_venv(Requirements("broken", (str(missing),)))


# --- HTCondor ----------------------------------------------------------------------------


def test_an_htcondor_job_runs_the_app_in_its_venv(
    make_thesis_repo: MakeRepo, hydra132_venv: AppVenv
) -> None:
    require_scheduler("htcondor")
    repo = make_thesis_repo(hydra132_venv, shared=True)
    submit = repo.root / "job.sub"
    submit.write_text(
        f"executable = {repo.script}\n"
        "arguments = env=stoomboot hydra.job.num=0\n"
        f'environment = "STOOMBOOT_DATA={repo.stoomboot_data}"\n'
        f"initialdir = {repo.root}\n"
        "output = job.out\nerror = job.err\nlog = job.log\n"
        "should_transfer_files = NO\nrequest_memory = 256\nqueue\n"
    )
    submitted = subprocess.run(
        ["condor_submit", str(submit)], cwd=repo.root, capture_output=True, text=True, timeout=60
    )
    assert submitted.returncode == 0, submitted.stderr
    found = re.search(r"submitted to cluster (\d+)", submitted.stdout)
    assert found, submitted.stdout
    cluster = found.group(1)
    try:
        subprocess.run(
            ["condor_wait", "-wait", "300", str(repo.root / "job.log")],
            cwd=repo.root,
            capture_output=True,
            timeout=330,
        )
    finally:
        subprocess.run(["condor_rm", cluster], capture_output=True, timeout=60)
    log = (repo.root / "job.log").read_text()
    assert "Normal termination (return value 0)" in log, (
        log[-1500:] + (repo.root / "job.err").read_text()[-1500:]
    )
    [run] = repo.runs(repo.stoomboot_outputs)
    meta = repo.meta(run)
    assert (meta["hydra_version"], meta["job_num"]) == ("1.3.2", 0)
    assert run.stat().st_uid != os.getuid()  # written by the pool's job user
