"""The simulator's modules form no import cycle: its parts know the PBX by ``sim/core.py``.

Every ``import`` statement counts — at module level, under ``TYPE_CHECKING`` and inside
functions — because an import made lazy or typing-only to dodge a cycle is still one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import contact_center

ROOT = Path(contact_center.__file__).parent.parent
SIM = ROOT / "contact_center" / "sim"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SIM_MODULES = {_module_name(p): p for p in sorted(SIM.rglob("*.py"))}


def _imported(module: str, path: Path) -> set[str]:
    """The simulator modules ``module`` imports, wherever the import statement is.

    Importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and ``a/b/c``; the packages
    that contain ``module`` itself are already running, so they are no edge of its own."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` imports that module, else a name of ``base``
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                named.add(submodule if submodule in SIM_MODULES else base)
    own_packages = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)}
    found: set[str] = set()
    for name in named:
        parts = name.split(".")
        found.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return {name for name in found - own_packages if name in SIM_MODULES and name != module}


def import_graph() -> dict[str, set[str]]:
    return {module: _imported(module, path) for module, path in SIM_MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as a path that ends where it starts, or [] if it has none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str]:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return []

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert ["a", "b", "c", "a"] == find_cycle(graph)
    assert [] == find_cycle({"a": {"b"}, "b": set()})


def test_the_graph_sees_the_known_edges() -> None:
    graph = import_graph()
    # the composition root builds the parts; the parts import the core's protocols
    assert {
        "contact_center.sim.dialplan.engine",
        "contact_center.sim.queues",
        "contact_center.sim.ami",
    } <= graph["contact_center.sim.pbx"]
    assert "contact_center.sim.core" in graph["contact_center.sim.queues"]
    assert len(SIM_MODULES) > 25


def test_the_simulator_has_no_import_cycle() -> None:
    assert [] == find_cycle(import_graph())


def test_no_part_imports_the_composition_root() -> None:
    importers = {m for m, deps in import_graph().items() if "contact_center.sim.pbx" in deps}
    # the package's face, the command line and the scenario runner start a PBX
    assert {"contact_center.sim", "contact_center.sim.cli", "contact_center.sim.scenario"} == (
        importers
    )


@pytest.mark.parametrize("module", sorted(SIM_MODULES))
def test_each_module_imports_alone(module: str) -> None:
    # a fresh interpreter: the module must import first, before anything else of the package
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert "" == result.stderr
    assert 0 == result.returncode
