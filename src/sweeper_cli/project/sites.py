"""Site tables: what a cluster's submissions need, kept as data (`data/sites/<name>.toml`).

A profile with `site = "<name>"` is checked against its table before anything is
submitted (warnings, with the documented values), and `thesis-sweep init --profile <name>`
writes a profile with the site's required lines. A second site is one more table; nothing
here knows any site by name. Stdlib-only.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.project.resources import time_seconds
from sweeper_cli.project.submit_lines import condor_command

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SITES = Path(__file__).parent / "data" / "sites"


@dataclass(frozen=True)
class Site:
    """One site's table."""

    name: str
    title: str
    backend: str
    notes: tuple[str, ...]
    os_attribute: str
    os_choices: tuple[str, ...]
    os_default: str
    os_instead: tuple[str, ...]
    wall_attribute: str
    wall_default: str
    categories: Mapping[str, str]  # category -> its wall time
    required: tuple[tuple[str, str], ...]  # (line, why)
    gpu_examples: tuple[str, ...]
    conflicts: tuple[tuple[tuple[str, ...], str], ...]  # (commands, why)

    def category_for(self, time: str | None) -> str:
        """The shortest category whose wall time covers `time` (the default without)."""
        if time is None:
            return self.wall_default
        need = time_seconds(time)
        fits = [c for c, wall in self.categories.items() if time_seconds(wall) >= need]
        if not fits:
            return max(self.categories, key=lambda c: time_seconds(self.categories[c]))
        return min(fits, key=lambda c: time_seconds(self.categories[c]))

    def documented(self) -> str:
        return ", ".join(f"{c} ({wall})" for c, wall in self.categories.items())


def names() -> list[str]:
    return sorted(p.stem for p in SITES.glob("*.toml"))


def load(name: str) -> Site:
    """The table of site `name`; BadInput naming the known sites otherwise."""
    path = SITES / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(names()) or "none"
        raise BadInput(f"unknown site {name!r} (known sites: {known})")
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    os_, wall = data["os"], data["wall_time"]
    return Site(
        name=name,
        title=data["title"],
        backend=data["backend"],
        notes=tuple(data.get("notes", ())),
        os_attribute=os_["attribute"],
        os_choices=tuple(os_["choices"]),
        os_default=os_["default"],
        os_instead=tuple(os_.get("instead", ())),
        wall_attribute=wall["attribute"],
        wall_default=wall["default"],
        categories=dict(wall["categories"]),
        required=tuple((r["line"], r["why"]) for r in data.get("required", ())),
        gpu_examples=tuple(data.get("gpu", {}).get("examples", ())),
        conflicts=tuple((tuple(c["commands"]), c["why"]) for c in data.get("conflicts", ())),
    )


def _values(extra: Sequence[str]) -> dict[str, str]:
    """command (lower case) -> its value, unquoted, of HTCondor submit lines."""
    found = {}
    for line in extra:
        key = condor_command(line)
        if key is not None:
            value = line.split("=", 1)[1].strip() if "=" in line else ""
            found[key] = value.strip().strip('"').strip("'")
    return found


def warnings(site: Site, extra: Sequence[str], time: str | None, gpus: int | None) -> list[str]:
    """What the profile's lines and time get wrong by the site's table (each one line)."""
    given = _values(extra)
    said: list[str] = []
    os_key = site.os_attribute.lower()
    if os_key in given:
        if given[os_key] not in site.os_choices:
            said.append(
                f"{site.os_attribute} = {given[os_key]!r} is not one of "
                f"{', '.join(site.os_choices)}"
            )
    elif not any(alt.lower() in given for alt in site.os_instead):
        instead = f" (or {', '.join(site.os_instead)})" if site.os_instead else ""
        said.append(
            f"no OS chosen: add '{site.os_attribute} = \"{site.os_default}\"' "
            f"({', '.join(site.os_choices)}){instead}"
        )
    wall_key = site.wall_attribute.lower()
    category = given.get(wall_key)
    if category is None:
        said.append(
            f"no {site.wall_attribute}: add '{site.wall_attribute} = "
            f'"{site.category_for(time)}"\' ({site.documented()})'
        )
    elif category not in site.categories:
        said.append(
            f"{site.wall_attribute} = {category!r} is not a documented category: "
            f"{site.documented()}"
        )
    elif time is not None and time_seconds(time) > time_seconds(site.categories[category]):
        said.append(
            f"time {time} is longer than {site.wall_attribute} {category!r} allows "
            f"({site.categories[category]}): use {site.category_for(time)!r} or a shorter time"
        )
    for line, why in site.required:
        if condor_command(line) not in given:
            said.append(f"add '{line}': {why}")
    for commands, why in site.conflicts:
        if all(c in given for c in commands):
            said.append(why)
    return [f"{site.title}: {text}" for text in said]


def read_profile(text: str, name: str) -> dict[str, Any]:
    """The profile table `name` of a TOML text."""
    table: dict[str, Any] = tomllib.loads(text)["tool"]["thesis-sweep"]["profiles"][name]
    return table


def profile_toml(
    site: Site,
    name: str,
    python: str,
    cpus: int,
    memory: str,
    time: str,
    gpus: int | None,
) -> str:
    """A commented profile table for the site: its required lines, the category chosen
    from `time`, GPU lines when `gpus` is set (TOML text, for `init --profile`)."""
    from sweeper_cli.project.pyproject import basic_string as q

    category = site.category_for(time)
    lines = [
        f"[tool.thesis-sweep.profiles.{name}]",
        f"# {site.title}",
        *(f"# - {note}" for note in site.notes),
        f"site = {q(site.name)}            # checks the lines below against the site's rules",
        f"backend = {q(site.backend)}",
        "# The interpreter of your environment on the shared disk: it runs the app and the",
        "# job runner on every node (thesis-sweep itself need not be installed there).",
        f"python = {q(python)}",
        f"cpus = {cpus}",
        f"memory = {q(memory)}",
        f"time = {q(time)}    # {site.wall_attribute} is chosen from it: {site.documented()}",
    ]
    if gpus:
        lines.append(f"gpus = {gpus}")
    lines += [
        "# setup = ['eval \"$(conda shell.bash hook)\"', 'conda activate thesis']",
        "# teardown = ['echo \"exit code $THESIS_SWEEP_EXIT_CODE at $(date)\"']",
        '# logs = "/data/<group>/users/<user>/logs"   # the scheduler\'s .out/.err files',
        "extra = [",
        f"    '{site.os_attribute} = \"{site.os_default}\"',  # {', '.join(site.os_choices)}",
        f"    '{site.wall_attribute} = \"{category}\"',",
        *(f"    {q(line)},  # {why}" for line, why in site.required),
        *(f"    # {q(example)}," for example in (site.gpu_examples if gpus else ())),
        "]",
    ]
    return "\n".join(lines) + "\n"
