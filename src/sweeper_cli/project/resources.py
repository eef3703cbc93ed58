"""Resource amounts as users write them: memory (`16GB`, `16 GB`, `16G`, `16384M`, `16384`),
time limits (`12:00:00`, `1-12:00:00`, `2h`) and the factors `resume` scales them by (`x2`).

Memory is read in binary units, as Slurm's `--mem` and HTCondor's `request_memory` read
them (1G = 1024M), and always written back in the one form both accept: whole gigabytes
as `16G`, else megabytes as `16384M`. Stdlib-only.
"""

from __future__ import annotations

import re

from sweeper_cli.errors import BadInput

_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:I?B)?)?", re.IGNORECASE)
_UNITS_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024, "": 1}
TIME = re.compile(r"(\d+-)?\d+(:\d{1,2}){0,2}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])", re.IGNORECASE)
_FACTOR = re.compile(r"[x*](\d+(?:\.\d+)?)", re.IGNORECASE)
MEMORY_HINT = "e.g. 16GB, 16G, 16384M or 16384 (megabytes)"


def memory_mb(text: str) -> int:
    """Megabytes in `text`: `16GB`, `16 GB`, `16G`, `16GiB`, `16384M`, `16384` (megabytes,
    as sbatch and HTCondor read a bare number), `512K`, `1.5T`; ValueError otherwise."""
    match = _MEMORY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an amount of memory: {text!r}")
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    return max(1, int(number * _UNITS_MB[unit] + 0.999))


def format_memory(mb: int) -> str:
    """The form both schedulers read the same way: `16G`, or `1536M`."""
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


def parse_memory(text: str, what: str) -> str:
    """`text` as an amount in its written-back form; BadInput naming `what` otherwise."""
    try:
        return format_memory(memory_mb(str(text)))
    except ValueError:
        raise BadInput(f"{what}: invalid memory {text!r} ({MEMORY_HINT})") from None


def describe_memory(given: str) -> str:
    """How an amount was read: `16GB -> 16G (16384 MB)`."""
    mb = memory_mb(given)
    return f"{given} -> {format_memory(mb)} ({mb} MB)"


def time_seconds(limit: str) -> int:
    """A Slurm-style time limit in seconds: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`."""
    days, dash, clock = limit.partition("-")
    if not dash:
        days, clock = "0", limit
    parts = [int(p) for p in clock.split(":")]
    if dash:  # after a day count the clock starts with hours
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 1:
        hours, minutes, seconds = 0, parts[0], 0
    elif len(parts) == 2:
        hours, minutes, seconds = 0, parts[0], parts[1]
    else:
        hours, minutes, seconds = parts
    return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds


def format_time(seconds: int) -> str:
    """Seconds as a Slurm-style limit (`H:MM:SS`, or `D-HH:MM:SS` from a day on)."""
    minutes, secs = divmod(max(1, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def _factor(spec: str) -> float | None:
    match = _FACTOR.fullmatch(spec.strip())
    return float(match.group(1)) if match else None


def more_memory(spec: str, current: str | None) -> str:
    """`--memory` of resume: an amount (`8G`, `8GB`), or a factor of the current one (`x2`)."""
    factor = _factor(spec)
    if factor is None:
        return parse_memory(spec, "--memory")
    if current is None:
        raise BadInput(
            f"--memory {spec}: these jobs asked for no memory of their own; give an "
            "amount such as --memory 8G"
        )
    return format_memory(int(memory_mb(current) * factor + 0.5))


def more_time(spec: str, current: str | None) -> str:
    """`--time` of resume: `2h`, `90m`, `1d12h`, a Slurm limit (`1-12:00:00`), or `x2`."""
    text = spec.strip()
    factor = _factor(text)
    if factor is not None:
        if current is None:
            raise BadInput(f"--time {spec}: these jobs had no time limit; give one (--time 2h)")
        return format_time(int(time_seconds(current) * factor + 0.5))
    if TIME.fullmatch(text):
        return text
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        raise BadInput(f"invalid --time {spec!r}: give 2h, 90m, 1-12:00:00 or x2")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return format_time(int(sum(float(n) * scale[u.lower()] for n, u in parts)))
