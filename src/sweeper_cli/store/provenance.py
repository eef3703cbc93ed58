"""Where a sweep came from: git commit and dirty flag, host, user, versions."""

from __future__ import annotations

import getpass
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from sweeper_cli.store.jobfiles import hostname

GIT_TIMEOUT = 10  # seconds; a git call on a slow network file system must not hang a sweep


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(cwd: Path) -> dict[str, Any]:
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    porcelain = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": bool(porcelain and porcelain.strip())}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe(cwd: Path) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "git": git_state(cwd),
        "host": hostname(),
        "user": user,
        # Not platform.platform(): it runs `uname -p` and reads the interpreter's binary.
        "platform": f"{platform.system()}-{platform.release()}-{platform.machine()}",
        "versions": {
            "python": sys.version.split()[0],
            "thesis-sweep": _version("thesis-sweep"),
            "hydra-core": _version("hydra-core"),
            "omegaconf": _version("omegaconf"),
        },
    }
