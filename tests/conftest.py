"""Shared fixtures: a throw-away copy of the example project and a real CLI runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = """\
[tool.thesis-sweep]
module = "thesis_ml.train"
config_dir = "configs"
config_name = "config"
python_path = ["examples"]
"""


class Project:
    """A copy of the example app (configs/, examples/, pyproject) in its own folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outputs = root / "outputs"
        self.umask: int | None = None  # set where jobs run as another user (HTCondor here)

    def _preexec(self) -> None:
        if self.umask is not None:
            os.umask(self.umask)

    def cli(
        self,
        *args: str,
        timeout: float = 120,
        check: int | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `thesis-sweep ARGS` for real, in this project's folder."""
        full_env = {**os.environ, **(env or {})}
        full_env.pop("THESIS_SWEEP_DEBUG", None)
        done = subprocess.run(
            [sys.executable, "-m", "sweeper_cli", *args],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=self._preexec,
        )
        if check is not None:
            assert done.returncode == check, (done.returncode, done.stdout, done.stderr)
        return done

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "sweeper_cli", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=self._preexec,
            text=True,
            **kwargs,
        )

    def status(self, sweep: str | None = None) -> dict[str, Any]:
        done = self.cli("status", "--json", *([sweep] if sweep else []))
        assert done.returncode in (0, 1, 4), done.stderr
        return json.loads(done.stdout)

    def plan(self, *overrides: str) -> dict[str, Any]:
        done = self.cli("run", "--dry-run", "--json", *overrides, check=0)
        return json.loads(done.stdout)

    def wait_until(
        self, test: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
    ) -> list[dict[str, Any]]:
        """Poll `status --json` until `test(jobs)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        jobs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if self.sweeps():
                jobs = self.status()["jobs"]
                if test(jobs):
                    return jobs
            time.sleep(0.2)
        pytest.fail(f"the sweep never reached the expected states: {jobs}")

    def sweeps(self) -> list[Path]:
        folder = self.outputs / "multiruns"
        return sorted(folder.iterdir()) if folder.is_dir() else []


def raw_status(run_dir: Path) -> dict[str, Any]:
    """A run's status.json as written."""
    data: dict[str, Any] = json.loads((run_dir / ".sweep" / "status.json").read_text())
    return data


def make_project(root: Path) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "configs", root / "configs")
    shutil.copytree(
        REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "pyproject.toml").write_text(PYPROJECT)
    return Project(root)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "proj")


def run_hydra_app(
    root: Path, args: Sequence[str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The example app run directly (no thesis-sweep), as a user would run it."""
    env = {**os.environ, "PYTHONPATH": str(root / "examples")}
    return subprocess.run(
        [sys.executable, "-m", "thesis_ml.train", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- real schedulers ------------------------------------------------------------------------

REQUIRED = os.environ.get("THESIS_SWEEP_REQUIRE_SCHEDULERS") == "1"


def _available(probe: list[str]) -> bool:
    if shutil.which(probe[0]) is None:
        return False
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def require_scheduler(backend: str) -> None:
    """Skip (or, with THESIS_SWEEP_REQUIRE_SCHEDULERS=1 as in CI, fail) without it."""
    probe, script = {
        "slurm": (["sinfo", "-h"], "scripts/ci/slurm-up.sh"),
        "htcondor": (["condor_q"], "scripts/ci/htcondor-up.sh"),
    }[backend]
    if _available(probe):
        return
    message = f"{backend} is not running here: start it with `bash {script}`"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["slurm", "htcondor"])
def cluster(request: pytest.FixtureRequest) -> Iterator[tuple[str, Project]]:
    """A project whose folders the scheduler's job user can use (HTCondor jobs run as an
    ordinary user in the pool's chroot, so the test opens its folders to everyone)."""
    backend = request.param
    require_scheduler(backend)
    base = Path(tempfile.mkdtemp(prefix="ts-cluster-", dir="/tmp"))
    base.chmod(0o777)
    project = make_project(base / "proj")
    subprocess.run(["chmod", "-R", "a+rwX", str(base)], check=True)
    project.umask = 0o000 if backend == "htcondor" else None
    try:
        yield backend, project
    finally:
        _remove_jobs_left_in(backend, base)
        shutil.rmtree(base, ignore_errors=True)


def _remove_jobs_left_in(backend: str, base: Path) -> None:
    """Take the test's jobs out of the queue (held or failed ones stay there otherwise, and
    go on hold again once their folders are gone)."""
    ids = sorted(
        {
            sid
            for record in base.glob("**/submit/submission-*.json")
            for sid in json.loads(record.read_text()).get("job_ids", {}).values()
        }
    )
    if ids:
        remove = ["scancel", *ids] if backend == "slurm" else ["condor_rm", *ids]
        subprocess.run(remove, capture_output=True, timeout=60, check=False)


def wait_jobs(
    project: Project, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 120
) -> list[dict[str, Any]]:
    """Poll the project's newest sweep until `done(jobs)`; fail with the jobs after timeout."""
    return project.wait_until(done, timeout)


def submissions(project: Project) -> list[dict[str, Any]]:
    """The newest sweep's submission records, oldest first."""
    sweep = project.sweeps()[-1]
    files = sorted((sweep / "submit").glob("submission-*.json"), key=lambda p: int(p.stem[11:]))
    return [json.loads(f.read_text()) for f in files]


def add_profile(project: Project, name: str, table: str) -> None:
    """Append `[tool.thesis-sweep.profiles.NAME]` with `table`'s TOML lines."""
    path = project.root / "pyproject.toml"
    path.write_text(path.read_text() + f"\n[tool.thesis-sweep.profiles.{name}]\n{table}\n")


# --- a project unlike the example ------------------------------------------------------

TRAIN = """\
import json
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    out = HydraConfig.get().runtime.output_dir
    loss = (cfg.lr - 0.01) ** 2 + cfg.model.width / 1000
    with open(f"{out}/metrics.json", "w") as handle:
        json.dump({"loss": loss, "width": cfg.model.width, "constant": 1}, handle)


if __name__ == "__main__":
    main()
"""
PYPROJECT_NEW = '[project]\nname = "newproj"\nversion = "0.1"\n\n[tool.ruff]\nline-length = 88\n'


class NewProject:
    """A user's project: train.py + conf/ + a pyproject.toml without thesis-sweep."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "conf" / "model").mkdir(parents=True)
        (root / "train.py").write_text(TRAIN)
        (root / "conf" / "config.yaml").write_text(
            "defaults:\n  - model: small\n  - _self_\nlr: 0.1\n"
        )
        (root / "conf" / "model" / "small.yaml").write_text("width: 4\n")
        (root / "conf" / "model" / "big.yaml").write_text("width: 16\n")
        (root / "pyproject.toml").write_text(PYPROJECT_NEW)

    def cli(
        self, *args: str, cwd: Path | None = None, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        where = cwd or self.root
        where.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("THESIS_SWEEP_")}
        return subprocess.run(
            [sys.executable, "-m", "sweeper_cli", *args],
            cwd=where,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            **kwargs,
        )


@pytest.fixture
def new(tmp_path: Path) -> NewProject:
    return NewProject(tmp_path / "newproj")


def own_interpreter(where: Path) -> Path:
    """A venv with the app's packages (hydra) but without thesis-sweep."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()
    import hydra

    (Path(site) / "app_packages.pth").write_text(str(Path(hydra.__file__).parents[1]) + "\n")
    assert subprocess.run([str(python), "-c", "import sweeper_cli"], capture_output=True).returncode
    return python
