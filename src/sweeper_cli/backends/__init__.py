"""Backends launch a created sweep's jobs; see `base.Backend`."""

from __future__ import annotations

from sweeper_cli.backends.base import Backend, JobRef
from sweeper_cli.errors import BadInput

NAMES = ("local",)


def get_backend(name: str, **options: object) -> Backend:
    """The backend called `name`, configured with `options`."""
    if name == "local":
        from sweeper_cli.backends.local import LocalBackend

        return LocalBackend(**options)  # type: ignore[arg-type]
    raise BadInput(f"unknown backend {name!r}; choose from: {', '.join(NAMES)}")


__all__ = ["NAMES", "Backend", "JobRef", "get_backend"]
