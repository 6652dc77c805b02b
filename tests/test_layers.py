"""The layer order of fer_core (README "Where things live"): a sub-package imports only the layers below it.

Every import counts, also those inside functions: a lazy import still ties the layers together. Pages and the app
helpers may import the use cases, the figure builders and the torch-free store and evaluation tables only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fer_core"

# Top first. A module may import its own layer's package and anything in a later row, never an earlier row.
LAYERS = (
    ("apps",),
    ("viz", "bench"),
    ("training",),
    ("evaluation",),
    ("vision",),
    ("serving",),
    ("data", "models"),
    ("store",),
    ("labels", "errors", "settings", "hardware"),
)
RANK = {part: rank for rank, row in enumerate(LAYERS) for part in row}


def _part(module: str) -> str | None:
    """``fer_core.serving.zoo`` -> ``serving``; None for the package root and ``__main__``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[0] == "fer_core" and pieces[1] in RANK else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


LIBRARY = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    strays = [
        str(p.relative_to(ROOT))
        for p in LIBRARY
        if p.parent == PACKAGE and p.stem not in (*RANK, "__init__", "__main__")
    ]
    assert not strays, f"top-level modules outside the layer table: {strays}"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path: Path) -> None:
    own = _part(_module_name(path))
    if own is None:
        return
    upward = [
        f"line {line}: {target}"
        for line, target in _imports(path)
        if (part := _part(target)) is not None and RANK[part] < RANK[own]
    ]
    assert not upward, f"{path.relative_to(ROOT)} ({own}) imports a higher layer: {upward}"


@pytest.mark.parametrize("scope", ["module level", "function level too"])
def test_no_import_cycles_between_modules(scope: str) -> None:
    """Imports must form no cycle: those at module level (what runs at import time), and with the imports inside
    functions added (a lazy import that closes a cycle only hides it)."""
    modules = {_module_name(p): p for p in LIBRARY}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets: set[str] = set()
        for node in tree.body if scope == "module level" else ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            targets |= {c for c in candidates if c in modules and c != name and not name.startswith(c + ".")}
        graph[name] = targets
    cycle = _find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None
