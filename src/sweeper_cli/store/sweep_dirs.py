"""Finding sweep folders under an output root: newest first, by path, name or a part of one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sweeper_cli.errors import BadInput
from sweeper_cli.store.layout import INDEX_FILE, MULTIRUN_FILE


def list_sweeps(output_root: Path, complete_only: bool = True) -> list[Path]:
    """Sweep folders under the output root, newest first. A folder whose creation was
    interrupted (no multirun.yaml, or not even an index) is listed unless `complete_only`
    asks for sweeps with an index only."""
    multiruns = output_root / "multiruns"
    found: list[tuple[float, str, Path]] = []
    try:
        entries = list(os.scandir(multiruns))
    except OSError:
        return []
    for entry in entries:
        if not entry.is_dir():
            continue
        folder = Path(entry.path)
        has_index = (folder / INDEX_FILE).is_file()
        if complete_only and not has_index:
            continue
        created = None
        for name in (MULTIRUN_FILE, INDEX_FILE):
            with contextlib.suppress(OSError):
                created = (folder / name).stat().st_mtime
                break
        if created is None:
            with contextlib.suppress(OSError):
                created = entry.stat().st_mtime
        found.append((created or 0.0, entry.name, folder))
    found.sort(reverse=True)
    return [folder for _, _, folder in found]


def is_complete(sweep_dir: Path) -> bool:
    return (sweep_dir / MULTIRUN_FILE).is_file()


def find_sweep(output_root: Path, query: str | None, complete_only: bool = True) -> Path:
    """A sweep folder from a path, a folder name, a unique part of one, or None (newest)."""
    if query:
        as_path = Path(query).expanduser()
        if (as_path / INDEX_FILE).is_file() or (
            not complete_only and as_path.parent.name == "multiruns" and as_path.is_dir()
        ):
            return as_path.resolve()
    sweeps = list_sweeps(output_root, complete_only)
    if not sweeps:
        raise BadInput(f"no sweeps under {output_root / 'multiruns'} (set --output-root?)")
    if not query:
        return sweeps[0]
    exact = [s for s in sweeps if s.name == query]
    if exact:
        return exact[0]
    partial = [s for s in sweeps if query in s.name]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise BadInput(f"no sweep matches {query!r} under {output_root / 'multiruns'}")
    names = ", ".join(s.name for s in partial[:5])
    raise BadInput(f"{query!r} matches {len(partial)} sweeps ({names}...): be more specific")
