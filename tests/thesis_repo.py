"""A physics-thesis-style Hydra project for differential tests, run in its own venv.

`fixtures/thesis_repo/` is the template: a src-layout package `thesis_ml` whose entry point
`thesis_ml/cli/train/__main__.py` (`python -m thesis_ml.cli.train`, console script
`thesis-train`) finds `configs/` from `Path(__file__)`, registers the resolvers `zpad`
(`${zpad:3}` -> "003") and `repo_root` and the ConfigStore option
`classifier/optimizer=sgd_struct` when it is imported (importing the package alone registers
nothing), names its jobs `${experiment.name}`, and has experiment configs
(`classifier/experiment=thesis_experiments/<name>`, `# @package _global_`,
`hydra.mode: MULTIRUN`, `hydra.sweeper.params`): `ch5_baseline` (4 jobs in Hydra's numbered
folders), `ch6_attention_type_exp6a` (6 jobs; an absolute `hydra.sweep.subdir` puts them in
`runs/`, the config-only workaround) and `cand_optuna` (Hydra's Optuna sweeper, 6 trials).
Each job writes `facts/{scalars.csv,meta.json,events.jsonl}`, `best_val.pt` and
`<job name>.log`, and returns its test AUROC (written nowhere), a deterministic function of
the config. `classifier.fail=true` makes it fail inside `instantiate`;
`classifier.trainer.epoch_seconds=S` makes it run a while. A single run needs
`hydra.job.num=N` (its `hydra.run.dir` uses `${zpad:${hydra.job.num}}`, `???` otherwise).

The pytest fixtures that make copies and venvs are in `thesis_fixtures`; in a test module::

    from thesis_repo import CH5, ThesisRepo

    pytest_plugins = ["thesis_fixtures"]

    def test_x(make_thesis_repo, hydra132_venv):
        repo: ThesisRepo = make_thesis_repo(hydra132_venv, configured=True)
        done = repo.app("--multirun", CH5)  # the app's own multirun

A copy's `.venv` is a real venv (no pip of its own) chained to the cached venv by a `.pth`
file, with the copy installed as pip's editable install would leave it: `src/` on the path,
a `thesis_ml-<version>.dist-info` with the console scripts, and `bin/thesis-train` written
as pip writes entry-point scripts (a test compares it with pip's own). So making a copy
costs milliseconds, and thesis-sweep is not importable from its interpreter.

HTCondor: jobs run as the pool's unprivileged user inside its chroot, where /tmp, /work and
the repository are bound at the same path and the base interpreter's prefix is bound
read-only (scripts/ci/htcondor-up.sh). What such a job needs, all of which holds here: the
cached venv under a bound path and readable by others (`app_venvs` opens it), the base
interpreter it links to bound, the copy in a folder every user may enter and write
(`shared=True`: a fresh folder under /tmp, as pytest's own tmp folders are 0700), and
folders made later by root-run commands writable too (a shared copy runs `app` and
`thesis_sweep` with umask 0).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

from app_venvs import AppVenv

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "thesis_repo"
MODULE = "thesis_ml.cli.train"
CH5 = "classifier/experiment=thesis_experiments/ch5_baseline"
CH6 = "classifier/experiment=thesis_experiments/ch6_attention_type_exp6a"
OPTUNA = "classifier/experiment=thesis_experiments/cand_optuna"
SETTINGS = f'\n[tool.thesis-sweep]\nmodule = "{MODULE}"\npython = ".venv/bin/python"\n'
RETURN_HOOK = "+hydra.callbacks.record_return._target_=thesis_repo_hooks.RecordReturn"
_HOOKS = '''\
"""A Hydra callback (tests only): each job's status and return value in test_return.json."""
import json
from pathlib import Path

from hydra.experimental.callback import Callback


class RecordReturn(Callback):
    def on_job_end(self, config, job_return, **kwargs):
        done = job_return.status.name == "COMPLETED"
        record = {"status": job_return.status.name, "overrides": list(job_return.overrides),
                  "value": job_return.return_value if done else None}
        path = Path(config.hydra.runtime.output_dir) / "test_return.json"
        path.write_text(json.dumps(record) + "\\n")
'''
_SCRIPT = """\
#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {function}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit({function}())
"""


class ThesisRepo:
    """A copy of the template in its own folder, with its own `.venv` once attached."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.configs = root / "configs"
        self.pyproject = root / "pyproject.toml"
        self.outputs = root / "outputs"  # env=local
        self.stoomboot_data = root.parent / f"{root.name}-stoomboot"  # env=stoomboot
        self.stoomboot_outputs = self.stoomboot_data / "thesis_ml" / "outputs"
        self.venv: AppVenv | None = None
        self.umask: int | None = None  # 0 for a shared copy: HTCondor's job user writes too

    @property
    def python(self) -> Path:
        return self.root / ".venv" / "bin" / "python"

    @property
    def hydra_version(self) -> str:
        assert self.venv is not None, "no venv: make_thesis_repo(app_venv) attaches one"
        return self.venv.version("hydra-core")

    @property
    def script(self) -> Path:
        return self.root / ".venv" / "bin" / "thesis-train"

    def attach(self, app: AppVenv) -> None:
        """Give the copy its `.venv`: `app`'s packages plus the copy, installed editable."""
        site = overlay_venv(self.root / ".venv", app)
        _install_editable(self.root, site, self.python)
        (site / "thesis_repo_hooks.py").write_text(_HOOKS)
        self.venv = app

    def configure(self, table: str = SETTINGS) -> None:
        """Append a `[tool.thesis-sweep]` table (default: the module and `.venv`'s python)."""
        self.pyproject.write_text(self.pyproject.read_text() + table)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a user's shell would give the app: no PYTHONPATH, no tool
        settings, env=stoomboot's outputs inside the test's folder."""
        keep = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("THESIS_SWEEP_")
            and key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HYDRA_FULL_ERROR"}
        }
        return {**keep, "STOOMBOOT_DATA": str(self.stoomboot_data), **extra}

    def app(
        self,
        *args: str,
        script: bool = False,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run the app itself (`python -m thesis_ml.cli.train ARGS`, or `thesis-train ARGS`)."""
        assert self.venv is not None, "no venv: make_thesis_repo(app_venv) attaches one"
        command = [str(self.script)] if script else [str(self.python), "-m", MODULE]
        return self._run([*command, *args], cwd, env, timeout)

    def thesis_sweep(
        self,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run `thesis-sweep ARGS` (the tool's own interpreter) in the copy, or in `cwd`."""
        return self._run([sys.executable, "-m", "sweeper_cli", *args], cwd, env, timeout)

    def _run(
        self, argv: list[str], cwd: Path | None, env: dict[str, str] | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=cwd or self.root,
            env=env or self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=self._preexec,
        )

    def _preexec(self) -> None:
        if self.umask is not None:
            os.umask(self.umask)

    def multiruns(self, outputs: Path | None = None) -> list[Path]:
        return _folders((outputs or self.outputs) / "multiruns")

    def runs(self, outputs: Path | None = None) -> list[Path]:
        return _folders((outputs or self.outputs) / "runs")

    @staticmethod
    def meta(run_dir: Path) -> dict[str, Any]:
        """What the job saw: job_name, job_num, mode, output_dir, choices, versions."""
        data: dict[str, Any] = json.loads((run_dir / "facts" / "meta.json").read_text())
        return data

    @staticmethod
    def scalars(run_dir: Path) -> list[dict[str, float]]:
        with (run_dir / "facts" / "scalars.csv").open() as handle:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]

    @staticmethod
    def returned(run_dir: Path) -> dict[str, Any]:
        """The job's status and return value, recorded by RETURN_HOOK when it was given."""
        data: dict[str, Any] = json.loads((run_dir / "test_return.json").read_text())
        return data


def copy_template(root: Path, configured: bool | str = False) -> ThesisRepo:
    """Copy the template to `root`; `configured` appends the default settings table (True)
    or the given TOML text."""
    shutil.copytree(
        TEMPLATE,
        root,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".venv", "outputs"),
    )
    repo = ThesisRepo(root)
    if configured:
        repo.configure(SETTINGS if configured is True else configured)
    return repo


def overlay_venv(target: Path, app: AppVenv) -> Path:
    """A venv at `target` (without pip) that sees `app`'s packages; returns its site-packages."""
    venv.EnvBuilder(symlinks=True, with_pip=False).create(target)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = target / "lib" / version / "site-packages"
    assert site.is_dir(), f"no {site} in the new venv"
    (site / "_app_venv.pth").write_text(
        f"import site; site.addsitedir({str(app.site_packages)!r})\n"
    )
    return site


def _install_editable(root: Path, site: Path, python: Path) -> None:
    """What `pip install -e ROOT` leaves for a setuptools src-layout project."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    stem = f"{name.replace('-', '_')}-{version}"
    (site / f"__editable__.{stem}.pth").write_text(f"{root / 'src'}\n")
    info = site / f"{stem}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("tests/thesis_repo.py\n")
    url = {"url": root.as_uri(), "dir_info": {"editable": True}}
    (info / "direct_url.json").write_text(json.dumps(url))
    scripts = project.get("scripts", {})
    lines = [f"{script} = {target}" for script, target in scripts.items()]
    (info / "entry_points.txt").write_text("[console_scripts]\n" + "\n".join(lines) + "\n")
    for script, target in scripts.items():
        module, function = target.split(":")
        path = python.parent / script
        path.write_text(_SCRIPT.format(python=python, module=module, function=function))
        path.chmod(0o755)


def _folders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
