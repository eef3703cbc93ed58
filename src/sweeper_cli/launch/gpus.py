"""Local GPUs: which exist, and which free ones the next job gets (stdlib-only).

Each GPU has `per_gpu` seats (1 unless several jobs may share one); a job takes
`per_job` distinct GPUs, one seat on each, and gives them back when it ends. A job starts
only when its GPUs have free seats, so two jobs never share a seat and no free GPU idles
while a job waits for one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sweeper_cli.errors import BadInput

# `nvidia-smi -L`: "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5a7d...)"
_SMI_LINE = re.compile(r"^GPU (\d+): .*\(UUID: (GPU-[0-9a-fA-F-]+)\)")


def parse_gpus(text: str | None) -> list[str]:
    """`0,1` or `GPU-<uuid>,...` (or `all`) as a list of device ids."""
    if text is None:
        return []
    if text.strip() == "all":
        return machine_gpus()
    gpus = [g.strip() for g in text.split(",")]
    if not all(g.isdigit() or (g.startswith("GPU-") and len(g) > 4) for g in gpus):
        raise BadInput(f"invalid --gpus {text!r}: give device indices such as 0,1, or all")
    if len(set(gpus)) != len(gpus):
        raise BadInput(f"invalid --gpus {text!r}: a GPU is listed twice")
    return gpus


def parse_smi(text: str) -> list[str]:
    """The device indices in `nvidia-smi -L` output."""
    return [m.group(1) for m in map(_SMI_LINE.match, text.splitlines()) if m]


def machine_gpus() -> list[str]:
    """This machine's GPUs: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        found = [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
        if not found:
            raise BadInput("--gpus all: CUDA_VISIBLE_DEVICES hides every GPU")
        return found
    if shutil.which("nvidia-smi") is None:
        raise BadInput("--gpus all: no GPU found (no CUDA_VISIBLE_DEVICES, no nvidia-smi)")
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise BadInput("--gpus all: nvidia-smi did not answer within 30 s") from None
    found = parse_smi(done.stdout) if done.returncode == 0 else []
    if not found:
        raise BadInput("--gpus all: nvidia-smi lists no GPU")
    return found


def assign(free: Mapping[str, int], order: Sequence[str], per_job: int) -> tuple[str, ...] | None:
    """`per_job` distinct GPUs with a free seat, the emptiest first (ties: in `order`);
    None when there are not enough (pure)."""
    ready = [g for g in order if free.get(g, 0) > 0]
    if len(ready) < per_job:
        return None
    ready.sort(key=lambda g: -free[g])  # stable: ties keep `order`
    return tuple(ready[:per_job])


@dataclass
class GpuPool:
    """The seats of the local GPUs, taken and given back as jobs start and end."""

    gpus: Sequence[str]
    per_gpu: int = 1
    per_job: int = 1
    free: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        if self.per_job > len(self.gpus):
            raise BadInput(f"--gpus-per-job {self.per_job}: only {len(self.gpus)} GPU(s) given")
        self.free = {g: self.per_gpu for g in self.gpus}

    @property
    def slots(self) -> int:
        """How many jobs can run at once."""
        return len(self.gpus) * self.per_gpu // self.per_job

    def take(self) -> tuple[str, ...] | None:
        chosen = assign(self.free, self.gpus, self.per_job)
        for gpu in chosen or ():
            self.free[gpu] -= 1
        return chosen

    def give(self, gpus: Sequence[str]) -> None:
        for gpu in gpus:
            self.free[gpu] += 1
