"""Warm job starts against cold ones, with real processes: the same files, fresh random
state, GPUs taking effect, no GPU runtime in the server, crashes and kills contained."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, raw_status


def run_dirs(project: Project, sweep: Path) -> list[Path]:
    index = json.loads((sweep / "runs_index.json").read_text())
    return [project.outputs / job["run_dir"] for job in index["jobs"]]


def test_warm_and_cold_jobs_write_the_same_files(project: Project) -> None:
    sweep = ["phase1/latent_space=none,vq", "trainer.epochs=3", "seed=3"]
    assert project.cli("run", "--warm", "off", *sweep).returncode == 0
    time.sleep(1.1)  # a sweep of its own
    for mode in ("hydra", "app"):
        done = project.cli("run", "--warm", mode, *sweep)
        assert done.returncode == 0, done.stderr
        assert "warm starts off" not in done.stderr
    cold, *warm = project.sweeps()
    for other in warm:
        for a, b in zip(run_dirs(project, cold), run_dirs(project, other), strict=True):
            for name in (".hydra/config.yaml", ".hydra/overrides.yaml", "facts/metrics.json"):
                assert (a / name).read_bytes() == (b / name).read_bytes(), name
            figures = sorted(p.name for p in (a / "train_figures").iterdir())
            assert figures == sorted(p.name for p in (b / "train_figures").iterdir())
            for name in figures:
                assert (a / "train_figures" / name).read_bytes() == (
                    b / "train_figures" / name
                ).read_bytes()
            log = (b / ".sweep" / "output.log").read_text()
            assert f"cwd={b}" in log and "done: best_val_loss" in log


RANDOM_APP = """\
import random
import sys

import hydra
import numpy


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg):
    print("draw", random.random(), numpy.random.rand(), sys.argv[0], sys.path[0])


if __name__ == "__main__":
    main()
"""


def random_project(root: Path) -> Path:
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text("seed: 0\nhydra:\n  job:\n    chdir: true\n")
    (root / "draw.py").write_text(RANDOM_APP)
    (root / "pyproject.toml").write_text('[tool.thesis-sweep]\nscript = "draw.py"\n')
    return root


def draws(root: Path) -> list[list[str]]:
    found = []
    for run_dir in sorted((root / "outputs" / "runs").iterdir()):
        [line] = [
            x
            for x in (run_dir / ".sweep" / "output.log").read_text().splitlines()
            if x.startswith("draw")
        ]
        found.append(line.split()[1:])
    return found


@pytest.mark.parametrize("mode", ["hydra", "app"])
def test_forked_jobs_share_no_random_state(tmp_path: Path, mode: str) -> None:
    root = random_project(tmp_path / "rnd")
    done = subprocess.run(
        [sys.executable, "-m", "sweeper_cli", "run", "--warm", mode, "seed=1,2,3"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "warm starts off" not in done.stderr
    found = draws(root)
    assert len({row[0] for row in found}) == 3  # Python's random
    assert len({row[1] for row in found}) == 3  # NumPy's global generator
    assert all(row[2] == str(root / "draw.py") for row in found)  # sys.argv[0] as given
    assert all(row[3] == str(root) for row in found)  # sys.path[0]: the script's folder


OWN_MODULES = ("metrics", "settings", "gpus")  # names thesis-sweep's own modules have too
OWN_APP = """\
import hydra

import gpus
import metrics
import settings


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg):
    for module in (metrics, settings, gpus):
        print("module", module.__name__, module.__file__, module.MINE)


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("app", ["script", "module"])
def test_preloading_imports_the_apps_own_modules_never_ours(tmp_path: Path, app: str) -> None:
    """The job-start server runs by path from thesis-sweep's own folder, which Python puts
    first on sys.path: the app's top-level `metrics`, `settings`, `gpus` (found through its
    python_path) must be its own, preloaded and in its jobs, not thesis-sweep's."""
    root = tmp_path / "own"
    lib = root / "lib"
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text("seed: 0\n")
    (lib / "trainer").mkdir(parents=True)
    for name in OWN_MODULES:
        (lib / f"{name}.py").write_text(f"MINE = {name!r}\n")
    (lib / "trainer" / "__init__.py").write_text("")
    (lib / "trainer" / "conf").symlink_to(root / "conf")
    (lib / "trainer" / "train.py").write_text(OWN_APP)
    (root / "train.py").write_text(OWN_APP)
    target = 'script = "train.py"' if app == "script" else 'module = "trainer.train"'
    (root / "pyproject.toml").write_text(f'[tool.thesis-sweep]\n{target}\npython_path = ["lib"]\n')
    done = run_in(root, "run", "--warm", "app", "seed=1,2")
    assert done.returncode == 0, done.stderr
    assert "warm starts off" not in done.stderr
    runs = sorted((root / "outputs" / "runs").iterdir())
    assert len(runs) == 2
    for run_dir in runs:
        lines = (run_dir / ".sweep" / "output.log").read_text().splitlines()
        found = [line.split()[1:] for line in lines if line.startswith("module ")]
        assert found == [[name, str(lib / f"{name}.py"), name] for name in OWN_MODULES], lines


def test_gpus_take_effect_in_warm_jobs(project: Project) -> None:
    done = project.cli("run", "--warm", "app", "--gpus", "3,5", "seed=1,2", "trainer.epochs=1")
    assert done.returncode == 0, done.stderr
    seen = sorted(j["gpus"] for j in project.status()["jobs"])
    assert seen == ["3", "5"]
    for job in project.status()["jobs"]:
        log = (Path(job["run_dir"]) / ".sweep" / "output.log").read_text()
        assert f"CUDA_VISIBLE_DEVICES={job['gpus']}" in log


GPU_INIT = """\
import ctypes
import os

# What `import torch; torch.cuda.init()` does to a process: the GPU runtime is loaded.
ctypes.CDLL(os.path.join(os.path.dirname(os.path.abspath(__file__)), "libcuda.so.1"))
"""


def run_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweeper_cli", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_app_whose_imports_load_a_gpu_runtime_is_never_preloaded(tmp_path: Path) -> None:
    """The server must never hold a GPU runtime that forked jobs would inherit: it refuses
    to preload such imports and every job starts cold (and still runs)."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build a stand-in libcuda.so")
    root = random_project(tmp_path / "gpu")
    source = tmp_path / "fake.c"
    source.write_text("int cuInit(unsigned int flags) { return 0; }\n")
    library = root / "libcuda.so.1"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    (root / "gpuinit.py").write_text(GPU_INIT)
    (root / "draw.py").write_text("import gpuinit  # noqa: F401\n" + RANDOM_APP)
    hydra_only = run_in(root, "run", "--warm", "hydra", "seed=1,2")
    assert hydra_only.returncode == 0 and "warm starts off" not in hydra_only.stderr
    refused = run_in(root, "run", "--warm", "app", "seed=1,2")
    assert refused.returncode == 0, refused.stderr
    assert "warm starts off" in refused.stderr and "libcuda.so is loaded" in refused.stderr
    assert len(draws(root)) == 4


def test_a_crashing_job_takes_nothing_else_down(project: Project) -> None:
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text() + "crash: false\n")
    train = project.root / "examples" / "thesis_ml" / "train.py"
    train.write_text(
        train.read_text().replace(
            "    cwd = Path.cwd()\n",
            "    cwd = Path.cwd()\n"
            "    if cfg.trainer.crash:\n"
            "        os.kill(os.getpid(), signal.SIGSEGV)\n",
        )
    )
    done = project.cli("run", "-j", "2", "trainer.crash=false,true,false,false", "trainer.epochs=1")
    assert done.returncode == 1
    jobs = project.status()["jobs"]
    assert [j["state"] for j in jobs] == ["succeeded", "failed", "succeeded", "succeeded"]
    assert jobs[1]["signal"] == "SIGSEGV"


def children_of(parent: int) -> list[int]:
    """The processes whose parent is `parent` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == parent:
                found.append(int(entry))
    return found


def test_kill_9_of_the_server_mid_sweep_loses_no_job(project: Project) -> None:
    """Its runner goes on (watched by pid); the jobs not started yet start cold."""
    run = project.popen("run", "-j", "1", "seed=0,1,2", "trainer.epochs=8", "trainer.sleep=0.25")
    project.wait_until(lambda jobs: jobs[0]["state"] == "running")
    [server] = children_of(run.pid)  # the orchestrator's only child: runners are the server's
    assert "forkserver.py" in Path(f"/proc/{server}/cmdline").read_bytes().decode()
    os.kill(server, signal.SIGKILL)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert [j["state"] for j in project.status()["jobs"]] == ["succeeded"] * 3


def test_kill_9_of_the_orchestrator_leaves_warm_jobs_as_safe(project: Project) -> None:
    run = project.popen("run", "-j", "2", "seed=0,1,2,3", "trainer.epochs=12", "trainer.sleep=0.25")
    project.wait_until(lambda jobs: [j["state"] for j in jobs].count("running") == 2)
    run.kill()
    run.wait()
    jobs = project.wait_until(
        lambda jobs: jobs[0]["state"] == "succeeded" and jobs[1]["state"] == "succeeded"
    )
    assert [j["state"] for j in jobs][2:] == ["lost", "lost"]
    assert project.cli("resume", "-j", "2").returncode == 0
    assert [raw_status(Path(j["run_dir"]))["attempt"] for j in project.status()["jobs"]] == [1] * 4


def servers_in(folder: Path) -> list[int]:
    """Job-start servers running in `folder`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            here = Path(os.readlink(proc / "cwd")) == folder
        except OSError:
            continue
        if here and b"forkserver.py" in cmdline:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("bad", ["no_such_key=1", "phase1/latent_space=nope"])
def test_a_refused_sweep_leaves_no_server_behind(project: Project, bad: str) -> None:
    """The server starts while the sweep is planned; a plan that fails stops it."""
    done = project.cli("run", "--warm", "app", "seed=0,1", bad)
    assert done.returncode == 2
    assert servers_in(project.root) == []
    assert project.sweeps() == []


@pytest.mark.parametrize(
    ("override", "state", "exit_code", "sig"),
    [
        pytest.param("trainer.fail_at_epoch=1", "failed", 1, None, id="exception"),
        pytest.param("trainer.stop_at_epoch=1", "failed", 85, None, id="sys-exit-85"),
    ],
)
def test_warm_exit_codes_are_cold_ones(
    project: Project, override: str, state: str, exit_code: int, sig: Any
) -> None:
    project.cli("run", "--warm", "hydra", override, "trainer.epochs=2", check=1)
    [job] = project.status()["jobs"]
    assert (job["state"], job["exit_code"], job["signal"]) == (state, exit_code, sig)
