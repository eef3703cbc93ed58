"""The backend called by a name: local, slurm or htcondor (imported only when chosen)."""

from __future__ import annotations

from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.launch.backends.base import Backend
from sweeper_cli.project.profiles import BACKENDS, Profile


def get_backend(name: str, profile: Profile | None = None, **options: Any) -> Backend:
    """The backend called `name`, configured with a profile and options."""
    if name == "local":
        from sweeper_cli.launch.backends.local import LocalBackend

        return LocalBackend(**options)
    if name == "slurm":
        from sweeper_cli.launch.backends.slurm import SlurmBackend

        return SlurmBackend(profile, **options)
    if name == "htcondor":
        from sweeper_cli.launch.backends.htcondor import HTCondorBackend

        return HTCondorBackend(profile, **options)
    raise BadInput(f"unknown backend {name!r}; choose from: {', '.join(BACKENDS)}")
