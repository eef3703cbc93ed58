"""Find a project's Hydra apps by reading its source (never importing it). Stdlib-only.

An app is a function decorated with `@hydra.main(...)` (or `@main(...)` imported from
hydra). Its file is run as a module (`python -m pkg.train`) when it sits in a package,
else as a script (`python train.py`). `config_path` is relative to the file's folder, as
Hydra reads it; `version_base` is the decorator's (absent: Hydra's 1.1 compatibility).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Folders that never hold the project's own apps.
SKIP = {
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "env",
    ".tox",
    ".nox",
    "node_modules",
    "site-packages",
    "__pycache__",
    "build",
    "dist",
    "outputs",
    "multiruns",
    "runs",
    "wandb",
    "lightning_logs",
}
MAX_FILES = 5000
MAX_BYTES = 1_000_000
UNSPECIFIED = "unspecified"  # the decorator gives no version_base


@dataclass(frozen=True)
class App:
    """A Hydra app found in the source."""

    file: Path
    module: str | None  # `pkg.train` when the file sits in a package
    python_path: tuple[Path, ...] = ()  # what must be on PYTHONPATH for `module`
    config_dir: Path | None = None  # None: config_path=None, or not a literal
    config_name: str | None = None
    version_base: str | None = UNSPECIFIED  # "1.3", None (= the installed Hydra's), ...
    notes: tuple[str, ...] = field(default=())

    @property
    def script(self) -> Path | None:
        return None if self.module else self.file


def _hydra_main_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names bound to the hydra module, names bound to hydra.main) in this file."""
    modules, mains = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "hydra":
                    modules.add(alias.asname or "hydra")
        elif isinstance(node, ast.ImportFrom) and node.module == "hydra":
            for alias in node.names:
                if alias.name == "main":
                    mains.add(alias.asname or "main")
    return modules, mains


def _decorator_call(func: ast.AST, modules: set[str], mains: set[str]) -> ast.Call | None:
    if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    for deco in func.decorator_list:
        if not isinstance(deco, ast.Call):
            continue
        target = deco.func
        if isinstance(target, ast.Name) and target.id in mains:
            return deco
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "main"
            and isinstance(target.value, ast.Name)
            and target.value.id in modules
        ):
            return deco
    return None


_MISSING = object()


def _literal(node: ast.AST | None) -> object:
    if node is None:
        return _MISSING
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _MISSING


def _arguments(call: ast.Call) -> dict[str, object]:
    """The decorator's arguments by name (positional: config_path, config_name, version_base)."""
    found: dict[str, object] = {}
    for name, node in zip(("config_path", "config_name", "version_base"), call.args, strict=False):
        found[name] = _literal(node)
    for keyword in call.keywords:
        if keyword.arg:
            found[keyword.arg] = _literal(keyword.value)
    return found


def _module_of(file: Path, root: Path) -> tuple[str | None, tuple[Path, ...]]:
    """`pkg.sub.train` and the folder to put on PYTHONPATH, when `file` sits in a package."""
    parts = [file.stem]
    folder = file.parent
    while (folder / "__init__.py").is_file() and folder != root.parent:
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1:
        return None, ()
    return ".".join(parts), (() if folder == root else (folder,))


def app_in(file: Path, root: Path) -> App | None:
    """The Hydra app defined in `file`, if it defines one."""
    try:
        if file.stat().st_size > MAX_BYTES:
            return None
        tree = ast.parse(file.read_text(encoding="utf-8", errors="replace"), str(file))
    except (OSError, SyntaxError, ValueError):
        return None
    modules, mains = _hydra_main_names(tree)
    if not modules and not mains:
        return None
    for node in ast.walk(tree):
        call = _decorator_call(node, modules, mains)
        if call is None:
            continue
        args = _arguments(call)
        notes: list[str] = []
        config_path = args.get("config_path", _MISSING)
        version_base = args.get("version_base", _MISSING)
        if version_base is _MISSING:
            version_base = UNSPECIFIED if "version_base" not in args else _MISSING
        if version_base is _MISSING or not (version_base is None or isinstance(version_base, str)):
            notes.append("version_base is not a literal: set version_base yourself")
            version_base = UNSPECIFIED
        config_dir: Path | None = None
        if config_path is _MISSING and "config_path" not in args:
            # Hydra >= 1.2 reads no folder then; 1.1 compatibility reads the file's own.
            config_dir = None if version_base not in (UNSPECIFIED, "1.1") else file.parent
        elif isinstance(config_path, str) and not config_path.startswith("pkg://"):
            config_dir = (file.parent / config_path).resolve()
        elif config_path is not None:
            notes.append("config_path is not a folder literal: set config_dir yourself")
        config_name = args.get("config_name")
        module, python_path = _module_of(file, root)
        return App(
            file=file,
            module=module,
            python_path=python_path,
            config_dir=config_dir,
            config_name=config_name if isinstance(config_name, str) else None,
            version_base=version_base,
            notes=tuple(notes),
        )
    return None


def python_files(root: Path) -> Iterator[Path]:
    """The project's own .py files (no virtual envs, outputs or hidden folders)."""
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                seen += 1
                if seen > MAX_FILES:
                    return
                yield Path(folder) / name


def find_apps(root: Path) -> list[App]:
    """Every Hydra app under `root`, in path order."""
    cheap = b"hydra"
    found = []
    for file in python_files(root):
        try:
            with open(file, "rb") as handle:
                if cheap not in handle.read(MAX_BYTES):
                    continue
        except OSError:
            continue
        app = app_in(file, root)
        if app is not None:
            found.append(app)
    return found


def module_file(module: str, search: list[Path]) -> Path | None:
    """The source file of `module` in the first of `search` that has it (no imports)."""
    relative = Path(*module.split("."))
    for folder in search:
        for candidate in (folder / f"{relative}.py", folder / relative / "__main__.py"):
            if candidate.is_file():
                return candidate
    return None
