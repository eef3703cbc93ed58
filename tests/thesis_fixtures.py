"""Pytest fixtures for the thesis-style project (see `thesis_repo`) and its venvs.

Load them with `pytest_plugins = ["thesis_fixtures"]` in a test module.

- `hydra132_venv`, `hydra132_optuna_venv`, `hydra140_venv`, `hydra140_optuna_venv`
  (session): the app's own environments (`app_venvs.AppVenv`: Hydra 1.3.2 or 1.4.0rc3, with
  or without Hydra's Optuna sweeper; hydra-colorlog in all), built on first use and cached
  across sessions. A failed build fails the tests that need it, with pip's last lines.
- `make_thesis_repo(app=None, *, configured=False, shared=False, name="thesis")`: a new copy
  of the template (a `ThesisRepo`), in the venv `app` if given; `configured=True` appends
  the default `[tool.thesis-sweep]` table, a string appends that text instead;
  `shared=True` makes it in a fresh /tmp folder that every user may use (HTCondor jobs).
- `thesis_repo`: an unconfigured copy in the Hydra 1.3.2 venv.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app_venvs import (
    HYDRA_132,
    HYDRA_132_OPTUNA,
    HYDRA_140RC3,
    HYDRA_140RC3_OPTUNA,
    AppVenv,
    Requirements,
    VenvBuildError,
    app_venv,
)
from thesis_repo import ThesisRepo, copy_template


def _venv_or_fail(requirements: Requirements) -> AppVenv:
    try:
        return app_venv(requirements)
    except VenvBuildError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def hydra132_venv() -> AppVenv:
    return _venv_or_fail(HYDRA_132)


@pytest.fixture(scope="session")
def hydra132_optuna_venv() -> AppVenv:
    return _venv_or_fail(HYDRA_132_OPTUNA)


@pytest.fixture(scope="session")
def hydra140_venv() -> AppVenv:
    return _venv_or_fail(HYDRA_140RC3)


@pytest.fixture(scope="session")
def hydra140_optuna_venv() -> AppVenv:
    return _venv_or_fail(HYDRA_140RC3_OPTUNA)


@pytest.fixture
def make_thesis_repo(tmp_path: Path) -> Iterator[Callable[..., ThesisRepo]]:
    """`make(app=None, *, configured=False, shared=False, name="thesis")`: a new copy in the
    venv `app` (an `AppVenv`; None: no `.venv`). `shared=True` puts it in a fresh /tmp
    folder every user may use (HTCondor's job user), removed at the end of the test."""
    shared_bases: list[Path] = []

    def make(
        app: AppVenv | None = None,
        *,
        configured: bool | str = False,
        shared: bool = False,
        name: str = "thesis",
    ) -> ThesisRepo:
        if shared:
            base = Path(tempfile.mkdtemp(prefix="ts-thesis-", dir="/tmp"))
            shared_bases.append(base)
        else:
            base = tmp_path / f"copy{len(list(tmp_path.glob('copy*')))}"
            base.mkdir()
        repo = copy_template(base / name, configured)
        if app is not None:
            repo.attach(app)
        if shared:
            repo.umask = 0
            repo.stoomboot_data.mkdir()
            subprocess.run(["chmod", "-R", "a+rwX", str(base)], check=True)
        return repo

    yield make
    for base in shared_bases:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def thesis_repo(make_thesis_repo: Callable[..., ThesisRepo], hydra132_venv: AppVenv) -> ThesisRepo:
    return make_thesis_repo(hydra132_venv)
