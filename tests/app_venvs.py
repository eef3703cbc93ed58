"""Real venvs for a Hydra app's own environment, built once per requirement set and cached.

A test that runs an app "in its own environment" needs an interpreter with another Hydra than
the tool's and without thesis-sweep: `app_venv(HYDRA_132)` returns one. Each requirement set
is a real `python -m venv` (from the base of the interpreter running the tests) with the pins
installed by pip, built in `<repository>/.cache/test-venvs/<label>-<hash>/` (or under
`$THESIS_SWEEP_TEST_VENVS`) and reused by later test sessions and other pytest processes.
The hash covers the pins, the Python version and base prefix, and `LAYOUT` (bump it when the
build steps change): a changed set gets a new folder, an old folder is never patched.

- A build holds `<folder>.lock` (flock) from start to end, so two processes never build the
  same venv at once; the other one waits and then reuses it.
- `venv-ready.json` is written last (temp file + rename): a folder without it is a build that
  died half-way, removed and built again by the next user.
- A failed pip run raises `VenvBuildError` with pip's last lines; the full output stays in
  `<folder>/pip.log`.
- Everything in the folder is readable by every user (chmod a+rX), as HTCondor jobs need (they
  run as an unprivileged user in the pool's chroot, where the repository is bound at the
  same path and the base interpreter's prefix is bound read-only).

Delete `.cache/test-venvs/` to rebuild everything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LAYOUT = 1
READY = "venv-ready.json"
PIP_TIMEOUT = 1800


@dataclass(frozen=True)
class Requirements:
    """One venv's pip requirements: what a test means by "the app's environment"."""

    label: str
    pins: tuple[str, ...]

    def plus(self, label: str, *pins: str) -> Requirements:
        return Requirements(f"{self.label}-{label}", (*self.pins, *pins))

    def folder_name(self) -> str:
        identity = {
            "pins": list(self.pins),
            "python": platform.python_version(),
            "base_prefix": sys.base_prefix,
            "layout": LAYOUT,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"{self.label}-{digest[:12]}"


HYDRA_132 = Requirements(
    "hydra-1.3.2", ("hydra-core==1.3.2", "omegaconf==2.3.0", "hydra-colorlog==1.2.0")
)
# Hydra's Optuna sweeper of the 1.2/1.3 line needs Optuna 2.x, whose storages want
# SQLAlchemy 1.4 (and an Alembic that still supports it).
HYDRA_132_OPTUNA = HYDRA_132.plus(
    "optuna",
    "hydra-optuna-sweeper==1.2.0",
    "optuna==2.10.1",
    "sqlalchemy>=1.4,<2",
    "alembic>=1.7,<1.14",
)
# hydra-core 1.4.0rc3 needs omegaconf >= 2.4.1rc1 and no longer needs the ANTLR runtime.
HYDRA_140RC3 = Requirements(
    "hydra-1.4.0rc3",
    ("hydra-core==1.4.0rc3", "omegaconf==2.4.1rc1", "hydra-colorlog==1.4.0rc3"),
)
# Its Optuna sweeper accepts optuna >= 4.9, < 6.
HYDRA_140RC3_OPTUNA = HYDRA_140RC3.plus("optuna", "hydra-optuna-sweeper==1.4.0rc3", "optuna==5.1.0")


class VenvBuildError(RuntimeError):
    """A venv could not be built (pip's last lines in the message)."""


@dataclass(frozen=True)
class AppVenv:
    """A built venv: its interpreter, site-packages and what pip installed."""

    root: Path
    requirements: Requirements
    site_packages: Path
    versions: dict[str, str]  # distribution name (lower case) -> version
    build_seconds: float  # how long the build took, whenever it was built
    built_now: bool  # built by this process (False: reused from the cache)

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def version(self, distribution: str) -> str:
        return self.versions[distribution.lower()]


def cache_root() -> Path:
    return Path(os.environ.get("THESIS_SWEEP_TEST_VENVS") or REPO / ".cache" / "test-venvs")


def app_venv(requirements: Requirements) -> AppVenv:
    """The cached venv for `requirements`, built first if there is none (or a broken one)."""
    folder = cache_root() / requirements.folder_name()
    built_now = False
    if not (folder / READY).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        _open_cache_folders(folder.parent)
        with _exclusive(folder.with_name(folder.name + ".lock")):
            if not (folder / READY).is_file():
                _build(folder, requirements)
                built_now = True
    record = json.loads((folder / READY).read_text())
    return AppVenv(
        root=folder,
        requirements=requirements,
        site_packages=Path(record["site_packages"]),
        versions=record["versions"],
        build_seconds=record["build_seconds"],
        built_now=built_now,
    )


def open_to_all(path: Path) -> None:
    """Let every user read `path` (and everything below it) and enter its folders."""
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            _add_mode(Path(folder) / name)
    _add_mode(path)


def _open_cache_folders(cache: Path) -> None:
    """The cache folder and its parents inside the repository (`.cache/`), nothing above."""
    _add_mode(cache)
    for folder in cache.parents:
        if folder == REPO or REPO not in folder.parents:
            return
        _add_mode(folder)


def _add_mode(path: Path) -> None:
    if path.is_symlink():
        return
    mode = path.stat().st_mode
    wanted = mode | 0o444 | (0o111 if path.is_dir() or mode & 0o100 else 0)
    if wanted != mode:
        path.chmod(wanted)


@contextmanager
def _exclusive(lock_path: Path, timeout: float = PIP_TIMEOUT) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    with lock_path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise VenvBuildError(
                        f"another process has held {lock_path} for {timeout:.0f} s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(folder: Path, requirements: Requirements) -> None:
    if folder.exists():
        shutil.rmtree(folder)  # a build that died half-way
    started = time.monotonic()
    _checked([sys.executable, "-m", "venv", str(folder)], "python -m venv", folder)
    python = str(folder / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    _checked([*pip, *requirements.pins], f"pip install {' '.join(requirements.pins)}", folder)
    record: dict[str, Any] = json.loads(
        _checked([python, "-c", _DESCRIBE], "reading the installed versions", folder)
    )
    record.update(
        requirements=list(requirements.pins),
        build_seconds=round(time.monotonic() - started, 2),
        python=platform.python_version(),
    )
    open_to_all(folder)
    temporary = folder / (READY + ".tmp")
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    temporary.chmod(0o644)
    temporary.replace(folder / READY)


_DESCRIBE = """\
import importlib.metadata as m, json, sysconfig
print(json.dumps({
    "site_packages": sysconfig.get_paths()["purelib"],
    "versions": {d.metadata["Name"].lower(): d.version for d in m.distributions()},
}))
"""


def _build_env() -> dict[str, str]:
    """The caller's environment without what would send pip or Python elsewhere."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER", "PIP_TARGET", "PIP_PREFIX"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def _checked(command: list[str], what: str, folder: Path) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT, env=_build_env()
        )
    except subprocess.TimeoutExpired as error:
        raise VenvBuildError(f"{what} did not finish in {PIP_TIMEOUT} s") from error
    log = folder / "pip.log"
    if log.parent.is_dir():
        with log.open("a") as handle:
            handle.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        lines = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if not line.startswith("WARNING: Location ")  # the local indexes' noise
        ]
        tail = "\n".join(lines[-25:])
        raise VenvBuildError(
            f"building the venv {folder.name}: {what} failed (exit {done.returncode}); "
            f"its last lines:\n{tail}"
        )
    return done.stdout
