"""Move a folder tree safely: a rename on one file system, else copy + verify + delete.

Every step leaves a state that calling `move_tree` again finishes:

* same file system: one `os.rename` (atomic: the tree is either here or there);
* across file systems: (1) copy into a hidden temp folder next to the target and compare
  the two trees (every path, and every file's size); (2) rename the source to a hidden
  trash name next to it; (3) rename the temp folder to the target; (4) delete the trash.
  Interrupted in (1): the source is intact, the partial copy is removed and redone.
  After (2) the verified copy exists, so a re-run completes (3) and (4).

Stdlib-only.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


class VerifyError(OSError):
    """The copy differs from the source (the source is left untouched)."""


def temp_for(target: Path) -> Path:
    return target.with_name(f".{target.name}.adopt-tmp")


def trash_for(source: Path) -> Path:
    return source.with_name(f".{source.name}.adopt-trash")


def inventory(root: Path) -> dict[str, int | None]:
    """Every path under `root` (relative) -> file size, or None for folders and links."""
    found: dict[str, int | None] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in dirs:
            path = here / name
            found[str(path.relative_to(root))] = None
        for name in files:
            path = here / name
            st = path.lstat()
            size = None if path.is_symlink() else st.st_size
            found[str(path.relative_to(root))] = size
    return found


def verify_copy(source: Path, copy: Path) -> None:
    """Raise VerifyError unless both trees hold the same paths with the same file sizes."""
    want, got = inventory(source), inventory(copy)
    if want != got:
        missing = sorted(set(want) - set(got))
        differ = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        what = (
            f"{missing[0]} is missing"
            if missing
            else f"{differ[0]} differs in size"
            if differ
            else f"{sorted(set(got) - set(want))[0]} is extra"
        )
        raise VerifyError(f"copy of {source} into {copy} does not match: {what}")


def copy_verify_delete(source: Path, target: Path) -> None:
    """The cross-file-system move (see the module docstring)."""
    tmp = temp_for(target)
    if tmp.exists():
        shutil.rmtree(tmp)  # a previous attempt's partial copy: ours by its name
    shutil.copytree(source, tmp, symlinks=True)
    verify_copy(source, tmp)
    trash = trash_for(source)
    os.rename(source, trash)
    os.rename(tmp, target)
    shutil.rmtree(trash)


def _recover(source: Path, target: Path) -> bool:
    """Finish an interrupted cross-file-system move; True when the tree is at `target`."""
    trash, tmp = trash_for(source), temp_for(target)
    if trash.exists() and not source.exists():
        if not target.exists() and tmp.exists():
            os.rename(tmp, target)  # the copy was verified before the source was trashed
        if not target.exists():
            os.rename(trash, source)  # cannot happen in our order; never lose the data
            return False
        shutil.rmtree(trash)
    return target.exists() and not source.exists()


def move_tree(source: Path, target: Path) -> str:
    """Move folder `source` to `target`: 'rename', 'copy', or 'done' when a previous call
    already moved it (finishing what it left). Refuses a `target` that exists otherwise."""
    if _recover(source, target):
        return "done"
    if target.exists() or target.is_symlink():
        raise FileExistsError(errno.EEXIST, "target exists", str(target))
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_verify_delete(source, target)
        return "copy"
    return "rename"
