"""The project's HTCondor pool script: a folder bound into the pool's chroot that is deleted
and made again (a fresh clone at the same path, as CI makes) is seen anew by jobs.

Without this, every HTCondor job of the second clone ran the first clone's deleted venv and
ended held ("failed" with no exit code).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import require_scheduler

SCRIPT = Path(__file__).parents[1] / "scripts" / "ci" / "htcondor-up.sh"
STATE_ENV = Path("/run/thesis-sweep-ci/env")


def _chroot() -> Path:
    for line in STATE_ENV.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "HTCONDOR_CHROOT":
            return Path(shlex.split(value)[0])
    raise AssertionError(f"{STATE_ENV} names no HTCONDOR_CHROOT")


def _pool_up(extra: Path) -> None:
    env = {**os.environ, "HTCONDOR_BIND_PATHS": f"/work /tmp {extra}"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _seen_in_pool(root: Path, path: Path) -> str:
    done = subprocess.run(["chroot", str(root), "cat", str(path)], capture_output=True, text=True)
    return done.stdout


def test_a_folder_made_again_is_bound_again() -> None:
    require_scheduler("htcondor")
    root = _chroot()
    folder = Path(tempfile.mkdtemp(prefix="ts-bind-", dir="/var/tmp"))
    try:
        (folder / "file").write_text("first clone\n")
        _pool_up(folder)
        assert _seen_in_pool(root, folder / "file") == "first clone\n"

        shutil.rmtree(folder)
        folder.mkdir()
        (folder / "file").write_text("second clone\n")
        _pool_up(folder)
        assert _seen_in_pool(root, folder / "file") == "second clone\n"
    finally:
        subprocess.run(["umount", "-l", f"{root}{folder}"], capture_output=True)
        (root / str(folder).lstrip("/")).rmdir()
        shutil.rmtree(folder, ignore_errors=True)
