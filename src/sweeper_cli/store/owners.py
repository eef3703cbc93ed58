"""Which sweep a run dir belongs to: `.sweep/owner.json` (the sweep folder, relative to the
run dir), read back with the older sweeps' clues, so no command writes into or deletes
another sweep's runs (a copied sweep folder points at the original's run dirs)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sweeper_cli.store.jobfiles import atomic_write_bytes, read_json
from sweeper_cli.store.layout import json_bytes, owner_path, spec_path, status_path


def write_owner(run_dir: Path, sweep_dir: Path) -> None:
    """Record which sweep a run dir belongs to: its folder, relative to the run dir (so it
    holds wherever the outputs are mounted, and a copied sweep folder is not the owner)."""
    record = {
        "schema_version": 1,
        "sweep_id": sweep_dir.name,
        "sweep_dir": os.path.relpath(sweep_dir, run_dir).replace(os.sep, "/"),
    }
    atomic_write_bytes(owner_path(run_dir), json_bytes(record), durable=False)


def owner_of(run_dir: Path) -> Path | None:
    """The sweep folder a run dir says it belongs to: its owner record; for sweeps made
    before it existed, the job's THESIS_SWEEP_DIR or the multirun it was adopted from.
    None when it says nothing."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        rel = read_json(owner_path(run_dir))["sweep_dir"]
        return Path(os.path.normpath(run_dir / str(rel)))
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, KeyError):
        return Path(str(read_json(spec_path(run_dir))["env"]["THESIS_SWEEP_DIR"]))
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, KeyError):
        return Path(str(read_json(status_path(run_dir))["adopted_from"])).parent
    return None


def foreign_owner(run_dir: Path, sweep_dir: Path) -> Path | None:
    """The other sweep a run dir belongs to (a copied sweep folder points at the original's
    run dirs), or None when it is this sweep's or says nothing."""
    owner = owner_of(run_dir)
    if owner is None:
        return None
    try:
        if os.path.samefile(owner, sweep_dir):
            return None
    except OSError:  # the owner recorded by path is gone: the outputs moved as a whole
        if owner.name == sweep_dir.name:
            return None
    return owner


def inside(path: Path, root: Path) -> bool:
    """Whether `path` lies inside `root` (both made absolute, `..` folded)."""
    folded, base = os.path.abspath(path), os.path.abspath(root)
    return folded != base and os.path.commonpath([folded, base]) == base
