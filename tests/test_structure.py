"""The package's shape keeps itself: wings (subpackages) ranked in the order data flows,
imports that point down only (lazy imports inside functions count), no import cycle, no
module over 450 lines, at most 8 modules loose at the package root, and wing __init__
files that import nothing (importing a wing costs nothing). The checker reads the imports
with `ast` and is tested on small synthetic trees too, so it can fail."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "sweeper_cli"

# Bottom to top: a wing may import its own modules and those of lower wings only. Rank 0
# is the package root (errors, states, __init__); its entry point runs the cli.
RANKS = {
    "": 0,
    "store": 1,
    "project": 2,
    "planning": 3,
    "launch": 4,
    "state": 5,
    "results": 6,
    "search": 7,
    "campaign": 7,
    "cli": 8,
    "__main__": 9,
}
MAX_LINES = 450
MAX_LOOSE = 8
APP_INIT = "cli"  # the cli's __init__ is the Typer app itself: it imports its commands


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name (a package by its own)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its file (functions, TYPE_CHECKING
    blocks, relative imports included), each resolved to the longest known module name."""
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
    found = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def wing(name: str, packages: set[str]) -> str:
    """The wing a module belongs to: the subpackage under the package ('' for the root's
    own modules, '__main__' for the entry point)."""
    parts = name.split(".")
    if len(parts) == 1 or (len(parts) == 2 and name not in packages):
        return "__main__" if parts[-1] == "__main__" else ""
    return parts[1]


def problems(root: Path, package: str, ranks: dict[str, int]) -> list[str]:
    """Everything wrong with the package's shape, one line each (empty: all is well)."""
    known = modules(root, package)
    packages = {n for n, p in known.items() if p.name == "__init__.py"}
    graph = {name: imported(name, path, known) for name, path in known.items()}
    found = [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    for name, targets in sorted(graph.items()):
        mine = wing(name, packages)
        if mine not in ranks:
            found.append(f"{name}: wing {mine!r} has no rank (declare it)")
            continue
        for target in sorted(targets):
            theirs = wing(target, packages)
            if theirs in ranks and ranks[theirs] > ranks[mine]:
                found.append(
                    f"upward arrow: {name} ({mine or 'root'}, rank {ranks[mine]}) imports "
                    f"{target} ({theirs}, rank {ranks[theirs]})"
                )
        path = known[name]
        is_wing_init = path.name == "__init__.py" and name.count(".") >= 1
        if is_wing_init and targets and mine != APP_INIT:
            found.append(f"{name}: a wing's __init__ imports {', '.join(sorted(targets))}")
    for path in sorted(known.values()):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{path.relative_to(root)}: {lines} lines (at most {MAX_LINES})")
    entry = ("__init__.py", "__main__.py")
    loose = [p.name for p in (root / package).glob("*.py") if p.name not in entry]
    if len(loose) > MAX_LOOSE:
        found.append(f"{len(loose)} loose modules at the package root (at most {MAX_LOOSE})")
    return found


def test_the_package_has_its_shape() -> None:
    assert problems(SRC, PACKAGE, RANKS) == []


def test_every_wing_is_declared_and_documented() -> None:
    """Each subpackage has a rank and a docstring saying what it holds and who uses it."""
    wings = {p.parent.name for p in (SRC / PACKAGE).glob("*/__init__.py")}
    assert wings == set(RANKS) - {"", "__main__"}
    for name in wings:
        doc = ast.get_docstring(ast.parse((SRC / PACKAGE / name / "__init__.py").read_text()))
        assert doc and ("use" in doc.lower()), name


# --- the checker on synthetic trees ------------------------------------------------------

TOY_RANKS = {"": 0, "low": 1, "high": 2, "__main__": 3}


def toy(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `toy` under tmp_path with the given files (relative path -> text)."""
    base = {
        "toy/__init__.py": "",
        "toy/__main__.py": "from toy.high import top\n",
        "toy/errors.py": "",
        "toy/low/__init__.py": '"""Low: used by high."""\n',
        "toy/low/a.py": "from toy import errors\n",
        "toy/high/__init__.py": '"""High: uses low."""\n',
        "toy/high/top.py": "from toy.low import a\nfrom . import helper\n",
        "toy/high/helper.py": "import toy.low.a\n",
    }
    for rel, text in {**base, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_clean_tree_has_no_problems(tmp_path: Path) -> None:
    assert problems(toy(tmp_path, {}), "toy", TOY_RANKS) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"toy/low/b.py": "def f():\n    from toy.high import top\n"},
            "upward arrow: toy.low.b (low, rank 1) imports toy.high.top (high, rank 2)",
            id="lazy-upward-arrow",
        ),
        pytest.param(
            {"toy/errors.py": "from .low import a\n"},
            "upward arrow: toy.errors (root, rank 0) imports toy.low.a (low, rank 1)",
            id="relative-upward-arrow",
        ),
        pytest.param(
            {
                "toy/high/helper.py": "def later():\n    from toy.high import top\n",
            },
            "import cycle: toy.high.helper <-> toy.high.top",
            id="lazy-cycle-in-a-wing",
        ),
        pytest.param(
            {
                "toy/high/top.py": "if False:\n    from toy.high import helper\n",
                "toy/high/helper.py": "from .top import x\n",
            },
            "import cycle: toy.high.helper <-> toy.high.top",
            id="guarded-cycle",
        ),
        pytest.param(
            {"toy/low/long.py": "x = 1\n" * 451},
            "toy/low/long.py: 451 lines (at most 450)",
            id="too-long",
        ),
        pytest.param(
            {f"toy/m{i}.py": "" for i in range(8)},
            "9 loose modules at the package root (at most 8)",
            id="too-many-loose",
        ),
        pytest.param(
            {"toy/side/__init__.py": "", "toy/side/c.py": ""},
            "toy.side: wing 'side' has no rank (declare it)",
            id="undeclared-wing",
        ),
        pytest.param(
            {"toy/low/__init__.py": "from toy.low import a\n"},
            "toy.low: a wing's __init__ imports toy.low.a",
            id="wing-init-imports",
        ),
    ],
)
def test_the_checker_finds(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    assert expected in problems(toy(tmp_path, files), "toy", TOY_RANKS)


def test_a_module_exactly_at_the_limit_is_fine(tmp_path: Path) -> None:
    seven_more = {f"toy/m{i}.py": "" for i in range(7)}  # with errors.py: 8 loose modules
    tree = toy(tmp_path, {"toy/low/long.py": "x = 1\n" * 450, **seven_more})
    assert problems(tree, "toy", TOY_RANKS) == []
