"""The on-disk contract: paths, atomic JSON, the runs index, status files and runptrs.

Layout (see the README):
    <output_root>/runs/<run folder>/.sweep/{status.json,job.json,output.log}
    <output_root>/multiruns/<sweep folder>/{multirun.yaml,runs_index.json,runptrs/<N>}

Every metadata write goes to a temp file in the same folder and is then `os.replace`d,
so a reader never sees a half-written file, whenever a process is killed. Stdlib-only:
the job runner and `status` use it without importing Hydra.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sweeper_cli.errors import BadInput

SCHEMA_VERSION = 1
INDEX_FILE = "runs_index.json"
MULTIRUN_FILE = "multirun.yaml"
RUNPTRS = "runptrs"
SWEEP_SUBDIR = ".sweep"
STATUS_FILE = "status.json"
SPEC_FILE = "job.json"
LOG_FILE = "output.log"


_TEMP_IDS = itertools.count()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, rename)."""
    # A temp name unique to this process and call; O_EXCL never reuses someone's file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_TEMP_IDS)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def sweep_meta(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR


def status_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / STATUS_FILE


def spec_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / SPEC_FILE


def log_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / LOG_FILE


def write_status(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_json(status_path(run_dir), {"schema_version": SCHEMA_VERSION, **record})


def read_status(run_dir: Path) -> dict[str, Any]:
    """The run's status record; raises OSError or ValueError when missing or corrupt."""
    data = read_json(status_path(run_dir))
    if not isinstance(data, dict) or "state" not in data:
        raise ValueError("status.json has no state")
    return data


# --- the runs index -------------------------------------------------------------------


def migrate_index(data: Any) -> dict[str, Any]:
    """Bring an index of any known schema version to the current one."""
    if not isinstance(data, dict) or "sweep" not in data or "jobs" not in data:
        raise ValueError("not a thesis-sweep runs index")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"runs index schema_version {version!r} is newer than this tool")
    return data


def read_index(sweep_dir: Path) -> dict[str, Any]:
    try:
        return migrate_index(read_json(sweep_dir / INDEX_FILE))
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read {sweep_dir / INDEX_FILE}: {exc}") from None


def write_index(sweep_dir: Path, index: dict[str, Any]) -> None:
    index["schema_version"] = SCHEMA_VERSION
    atomic_write_json(sweep_dir / INDEX_FILE, index)


# --- runptrs ----------------------------------------------------------------------------


def write_runptr(sweep_dir: Path, num: int, run_dir: Path) -> None:
    """`runptrs/<num>` -> run dir as a relative symlink, or a text file where links fail."""
    folder = sweep_dir / RUNPTRS
    folder.mkdir(exist_ok=True)
    target = os.path.relpath(run_dir, folder)
    link = folder / str(num)
    tmp = folder / f".{num}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.symlink(target, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        # No symlink privilege (Windows): a text file holding the same relative path.
        atomic_write_text(link, target.replace(os.sep, "/") + "\n")
        return
    os.replace(tmp, link)


def read_runptr(sweep_dir: Path, num: int) -> Path:
    """The run dir that `runptrs/<num>` points at (symlink or text file)."""
    link = sweep_dir / RUNPTRS / str(num)
    target = os.readlink(link) if link.is_symlink() else link.read_text(encoding="utf-8").strip()
    return (link.parent / target).resolve()


# --- creating a sweep's folders -----------------------------------------------------------


class Claim(NamedTuple):
    """Folders reserved for one sweep: nobody else will get them."""

    sweep_dir: Path
    run_dirs: tuple[Path, ...]


def claim_folders(output_root: Path, candidates: Iterator[tuple[str, Sequence[str]]]) -> Claim:
    """Create the first (sweep folder, run folders) candidate whose folders are all new.

    `os.mkdir` of the sweep folder is the atomic claim: two sweeps started in the same
    second with the same name get different candidates, never a shared folder.
    """
    multiruns, runs = output_root / "multiruns", output_root / "runs"
    multiruns.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    for sweep_name, run_names in candidates:
        sweep_dir = multiruns / sweep_name
        run_dirs = tuple(runs / name for name in run_names)
        if sweep_dir.exists() or any(d.exists() for d in run_dirs):
            continue
        try:
            sweep_dir.mkdir()
        except FileExistsError:
            continue
        made: list[Path] = []
        try:
            for run_dir in run_dirs:
                run_dir.mkdir()
                made.append(run_dir)
        except FileExistsError:
            for run_dir in made:
                run_dir.rmdir()
            sweep_dir.rmdir()
            continue
        return Claim(sweep_dir, run_dirs)
    raise BadInput(f"could not find a free sweep folder under {multiruns}")


# --- finding sweeps -----------------------------------------------------------------------


def list_sweeps(output_root: Path) -> list[Path]:
    """Sweep folders under the output root, newest first (by their multirun.yaml)."""
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
        if not (folder / INDEX_FILE).is_file():
            continue
        try:
            created = (folder / MULTIRUN_FILE).stat().st_mtime
        except OSError:
            created = entry.stat().st_mtime
        found.append((created, entry.name, folder))
    found.sort(reverse=True)
    return [folder for _, _, folder in found]


def find_sweep(output_root: Path, query: str | None) -> Path:
    """A sweep folder from a path, a folder name, a unique part of one, or None (newest)."""
    if query:
        as_path = Path(query).expanduser()
        if (as_path / INDEX_FILE).is_file():
            return as_path.resolve()
    sweeps = list_sweeps(output_root)
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


@contextlib.contextmanager
def folder_lock(folder: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive advisory `flock` on `folder` itself (no extra file in it); it is
    released when the process ends, however it ends. Taken: BadInput(`busy`). Where flock
    does not exist (Windows) this is a no-op."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(busy) from None
        yield
    finally:
        os.close(fd)


def launch_lock(sweep_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One process at a time starts a sweep's jobs (the job runner's per-attempt claim
    still prevents double starts where flock does not exist)."""
    return folder_lock(
        sweep_dir,
        f"another thesis-sweep process is launching jobs of {sweep_dir.name}; "
        "wait for it or cancel it first",
    )
