"""What a cluster submission would be: the profile's site warnings, how its memory was
read, and the files `run --dry-run` shows without writing them (shared by run/resume)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sweeper_cli.cli.escape import printable_lines
from sweeper_cli.project.profiles import Profile


def site_warnings(profile: Profile) -> list[str]:
    """The profile's lines checked against its site's table (none without `site`)."""
    if not profile.site:
        return []
    from sweeper_cli.project import sites

    return sites.warnings(sites.load(profile.site), profile.extra, profile.time, profile.gpus)


def warn(profile: Profile, console: Any) -> None:
    for text in site_warnings(profile):
        console.print(f"warning: {text}", style="yellow", highlight=False)


def memory_note(profile: Profile, tables: Mapping[str, Any]) -> str | None:
    """`memory 16GB -> 16G (16384 MB)`: how the profile's memory was read."""
    from sweeper_cli.project.resources import describe_memory

    given = tables.get(profile.name, {}).get("memory") if profile.memory else None
    return None if given is None else f"memory {describe_memory(str(given))}"


def files(runner: Any, sweep_dir: Path, nums: Sequence[int]) -> dict[str, str]:
    """The first submission's files and job.sh, as they would be written (a local sweep
    writes none)."""
    preview = getattr(runner, "preview", None)
    return {} if preview is None else dict(preview(sweep_dir, nums))


def show(shown: Mapping[str, str], sweep_dir: Path) -> None:
    """Each file under a header line; an item list only by its size."""
    for name, text in shown.items():
        where = sweep_dir / "submit" / name
        lines = text.splitlines()
        if name.startswith("items-"):
            sys.stdout.write(f"--- {where}: {len(lines)} job numbers, one per line ---\n")
            continue
        sys.stdout.write(f"--- {where} (not written) ---\n{printable_lines(text)}")
    sys.stdout.flush()
