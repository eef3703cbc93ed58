"""Local GPUs: every job gets free GPUs, multi-GPU jobs get disjoint sets, and the GPUs
are on record. Real jobs of the example app (which print their CUDA_VISIBLE_DEVICES);
this machine has no GPU, so the devices are names the jobs are told, not hardware."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import Project
from sweeper_cli.errors import BadInput
from sweeper_cli.launch.gpus import GpuPool, assign, parse_gpus, parse_smi

# What `nvidia-smi -L` prints (its format on a two-GPU node, MIG devices indented).
SMI = """\
GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5a7d6c1e-2f4b-4c0e-9a61-0c3c9f4f2b11)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-9c0e1d2a-7b3f-4e6d-8a15-1d2e3f4a5b6c)
  MIG 1g.5gb      Device  0: (UUID: MIG-2a3b4c5d-6e7f-8a9b-0c1d-2e3f4a5b6c7d)
"""


def intervals(project: Project) -> list[dict[str, Any]]:
    """Each job's GPUs (as the job itself printed them) and its start and end."""
    found = []
    for job in project.status()["jobs"]:
        log = (Path(job["run_dir"]) / ".sweep" / "output.log").read_text()
        [line] = [x for x in log.splitlines() if x.startswith("CUDA_VISIBLE_DEVICES=")]
        gpus = line.split("=", 1)[1].split(",")
        assert job["gpus"] == ",".join(gpus)  # on record as the job saw it
        start, end = (datetime.fromisoformat(job[k]) for k in ("start", "end"))
        found.append({"num": job["num"], "gpus": gpus, "start": start, "end": end})
    return found


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


def test_uneven_jobs_take_the_free_gpu(project: Project) -> None:
    """The job after a short one goes to the GPU that is free, never next to a long one."""
    done = project.cli(
        "run", "--gpus", "0,1", "trainer.sleep=4,0.3,0.3,0.3", "trainer.epochs=1", timeout=120
    )
    assert done.returncode == 0, done.stderr
    jobs = intervals(project)
    for a, b in combinations(jobs, 2):
        if overlap(a, b):
            assert not set(a["gpus"]) & set(b["gpus"]), (a, b)
    long_job = jobs[0]
    # Jobs 1-3 all ran on GPU 1 while job 0 held GPU 0: none waited for it.
    assert {j["gpus"][0] for j in jobs[1:]} == {"1"} and long_job["gpus"] == ["0"]
    assert all(j["end"] < long_job["end"] for j in jobs[1:])
    table = project.cli("status").stdout
    assert "gpus" in table.splitlines()[2]


def test_multi_gpu_jobs_get_disjoint_sets(project: Project) -> None:
    done = project.cli(
        "run",
        "--gpus",
        "0,1,2,3",
        "--gpus-per-job",
        "2",
        "trainer.sleep=1,0.2,1,0.2",
        "trainer.epochs=1",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    jobs = intervals(project)
    assert all(len(set(j["gpus"])) == 2 for j in jobs)
    for a, b in combinations(jobs, 2):
        if overlap(a, b):
            assert not set(a["gpus"]) & set(b["gpus"]), (a, b)
    assert max(sum(overlap(a, b) for b in jobs if b is not a) for a in jobs) >= 1  # -j 2


def test_several_jobs_per_gpu_only_when_asked(project: Project) -> None:
    done = project.cli(
        "run", "--gpus", "0", "--jobs-per-gpu", "2", "trainer.sleep=1,1", "trainer.epochs=1"
    )
    assert done.returncode == 0, done.stderr
    a, b = intervals(project)
    assert overlap(a, b) and a["gpus"] == b["gpus"] == ["0"]


def test_gpus_all_reads_cuda_visible_devices(project: Project) -> None:
    done = project.cli(
        "run",
        "--gpus",
        "all",
        "seed=1,2",
        "trainer.epochs=1",
        env={"CUDA_VISIBLE_DEVICES": "2,3"},
    )
    assert done.returncode == 0, done.stderr
    assert sorted(g for j in intervals(project) for g in j["gpus"]) == ["2", "3"]


def test_gpus_all_asks_nvidia_smi(project: Project, tmp_path: Path) -> None:
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "nvidia-smi").write_text(f"#!/bin/sh\ncat <<'EOF'\n{SMI}EOF\n")
    (shim / "nvidia-smi").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{shim}:{env['PATH']}"
    done = project.cli("run", "--gpus", "all", "seed=1,2", "trainer.epochs=1", env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(g for j in intervals(project) for g in j["gpus"]) == ["0", "1"]
    status = json.loads(project.cli("status", "--json", check=0).stdout)
    assert sorted(j["gpus"] for j in status["jobs"]) == ["0", "1"]


def test_gpus_all_without_gpus_is_a_clear_error(project: Project) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = os.path.dirname(sys.executable)  # no nvidia-smi there
    done = project.cli("run", "--gpus", "all", "seed=1", env=env)
    assert done.returncode == 2 and "no GPU found" in done.stderr
    assert not project.outputs.exists()


def test_resume_gives_gpus_the_same_way(project: Project) -> None:
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    assert project.cli("run", "seed=1,2", "trainer.epochs=1").returncode == 1
    config.write_text(config.read_text().replace("fail_at_epoch: 1", "fail_at_epoch: null"))
    done = project.cli("resume", "--gpus", "5,6")
    assert done.returncode == 0, done.stderr
    assert sorted(g for j in intervals(project) for g in j["gpus"]) == ["5", "6"]


# --- the pure parts ----------------------------------------------------------------------


def test_parse_smi_takes_the_gpu_lines() -> None:
    assert parse_smi(SMI) == ["0", "1"]


@pytest.mark.parametrize("text", ["0,x", "0,0", "gpu0", ""])
def test_parse_gpus_refuses(text: str) -> None:
    with pytest.raises(BadInput):
        parse_gpus(text)


@pytest.mark.parametrize(
    ("free", "per_job", "expected"),
    [
        pytest.param({"0": 1, "1": 1}, 1, ("0",), id="first-free"),
        pytest.param({"0": 0, "1": 1}, 1, ("1",), id="skips-busy"),
        pytest.param({"0": 1, "1": 2}, 1, ("1",), id="emptiest"),
        pytest.param({"0": 1, "1": 0, "2": 1}, 2, ("0", "2"), id="two-distinct"),
        pytest.param({"0": 1, "1": 0}, 2, None, id="not-enough"),
    ],
)
def test_assign(free: dict[str, int], per_job: int, expected: tuple[str, ...] | None) -> None:
    assert assign(free, sorted(free), per_job) == expected


@given(
    n=st.integers(1, 6),
    per_gpu=st.integers(1, 3),
    per_job=st.integers(1, 3),
    ops=st.lists(st.booleans(), max_size=40),
)
def test_the_pool_never_gives_a_seat_twice(
    n: int, per_gpu: int, per_job: int, ops: list[bool]
) -> None:
    if per_job > n:
        with pytest.raises(BadInput):
            GpuPool([str(i) for i in range(n)], per_gpu, per_job)
        return
    pool = GpuPool([str(i) for i in range(n)], per_gpu, per_job)
    held: list[tuple[str, ...]] = []
    for take in ops:
        if take:
            got = pool.take()
            if got is None:
                assert len(held) == pool.slots or any(v < 1 for v in pool.free.values())
            else:
                assert len(set(got)) == per_job
                held.append(got)
        elif held:
            pool.give(held.pop(0))
        use = {g: sum(g in h for h in held) for g in pool.gpus}
        assert all(use[g] <= per_gpu and use[g] + pool.free[g] == per_gpu for g in pool.gpus)
