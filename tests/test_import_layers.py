"""Imports run one way: entry points -> callbacks -> models / metrics -> nets / losses / data (and utils below
all), with no circle, deferred imports inside functions included (read from the source, so a circle hidden by a
deferred import is found too)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import gan_lightning

PACKAGE = Path(gan_lightning.__file__).parent
# A package may import those of a lower rank only (the same rank within itself); utils is below everything.
RANK = {"utils": 0, "nets": 1, "losses": 1, "data": 1, "models": 2, "metrics": 2, "callbacks": 3}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The gan_lightning modules ``path`` imports anywhere in its source (``from a import b`` counts as a.b when
    that is a module, else as a)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{a.name}" if is_module(f"{node.module}.{a.name}") else node.module
                      for a in node.names}
    return {n for n in names if n.split(".")[0] == "gan_lightning"}


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imported(p) for p in sorted(PACKAGE.rglob("*.py"))}


def rank(name: str) -> int | None:
    parts = name.split(".")
    return RANK.get(parts[1]) if len(parts) > 1 else None


def test_layers_import_downwards_only():
    upward = [(a, b) for a, deps in graph().items() for b in deps
              if rank(a) is not None and rank(b) is not None and rank(b) > rank(a)]
    assert not upward, f"imports against the layering (callbacks > models, metrics > nets, losses, data > utils): " \
                       f"{upward}"


def test_no_import_circle():
    # A module's own packages are loaded before it anyway: not an edge.
    deps = {a: {b for b in bs if b != a and not a.startswith(b + ".")} for a, bs in graph().items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(deps):
        if start not in state and (cycle := visit(start, [])):
            raise AssertionError(f"import circle: {' -> '.join(cycle)}")


def test_the_check_finds_a_circle(monkeypatch):
    """The circle this test exists for (callbacks.evaluation <-> callbacks.generative_metrics) would be found."""
    a, b = "gan_lightning.callbacks.a", "gan_lightning.callbacks.b"
    fake = {a: {b}, b: {a}}
    monkeypatch.setattr(sys.modules[__name__], "graph", lambda: fake)
    try:
        test_no_import_circle()
    except AssertionError as e:
        assert f"{a} -> {b} -> {a}" in str(e)
    else:
        raise AssertionError("the circle was not found")
