"""The package's layout holds: no module reaches up to a layer above it, and no two parts import
each other (docs/development.md, "Layout")."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

from helpers import ROOT

PACKAGE = ROOT / "src" / "ganlab"
# Bottom to top: a part may import parts of its own layer or below, never above.
LAYERS = [
    {"errors", "tags", "schedule", "run_record", "whole_files", "file_locks"},
    {"divergence", "data", "run_folders"},
    {"checkpoints", "stopping"},
    {"engine", "metrics", "search"},
    {"models", "reporting"},
    {"config_checks", "trained_gan", "generation", "evaluation"},
    {"training", "api", "command_line", "__main__"},  # command_line: the commands' entry points
]
LAYER = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def imports_between_parts() -> set[tuple[str, str, str]]:
    """(importing part, imported part, file) for every import of one part of ganlab by another."""
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("ganlab."):
                    imported = name.split(".")[1]
                    if imported != part:
                        edges.add((part, imported, str(path.relative_to(ROOT))))
    return edges


def test_every_part_has_a_layer():
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert parts - {"__init__", "__pycache__"} == set(LAYER)


def test_no_module_reaches_up():
    upward = [f"{file}: {part} imports {imported}" for part, imported, file in imports_between_parts()
              if LAYER[imported] > LAYER[part]]
    assert upward == []


def test_no_two_parts_import_each_other():
    graph: dict[str, set[str]] = {}
    for part, imported, _ in imports_between_parts():
        graph.setdefault(part, set()).add(imported)
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as cycle:
        raise AssertionError(f"parts that import each other: {cycle.args[1]}") from None
