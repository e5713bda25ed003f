"""The package's layers (DESIGN.md section 3): no import circles, no arrow back up, no step path outside rundir/.

The import graph is read from the source (every import, also those inside functions, which run
later but still tie the modules together), so these tests need no import of alpool.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "alpool"

# Bottom to top: a package may import its own modules and those of the layers below it, never above.
LAYERS: list[tuple[str, ...]] = [
    ("core",),  # basics: errors, reporting, seeding, params, registry, configs, atomic files, JSON
    ("data",),  # dataset readers: import only the basics
    ("rundir",),  # the run directory: every path, step lifecycle, manifests, the opened run
    ("execution",),  # executors and the thread policy
    ("ops", "models"),  # geometry and inference loops; networks
    ("learning",),  # training loop, classifier, uncertainty, validation folds
    ("selectors",),
    ("pretext",),
    ("frameworks",),
    ("scorers", "labelling", "analysis"),
    ("al",),
    ("select_api", "presets"),  # the public selection API; the shipped presets' loader
    ("stages",),
    ("cli",),
    ("__main__",),
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}
ROOT = "alpool"  # the package root holds only __version__ and a lazy ``alpool.select``: open to all

# What spells a step folder or its files; the run directory hands these out (RunDir, StepDir, layout names).
STEP_KINDS = ("pretrain", "scores", "pools", "al", "analysis", "labels", "exports", "cache")
STEP_PATH = re.compile(
    rf"^({'|'.join(STEP_KINDS)})/"  # a step kind as the first folder of a path
    r"|(^|/)(trial|episode)-\d*"  # the AL trial layout
    r"|^(manifest\.json|indices\.npy|scores\.npy|sorted_idx\.npy|embeddings\.npy|metrics\.json|model\.pt)$"  # files
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(module: str) -> set[str]:
    """Return the alpool modules ``module`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("alpool"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else str(node.module))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "alpool")
    # A submodule importing its own package's ``__init__`` (a registry declared there) is no circle:
    # Python runs the package's ``__init__`` before any of its submodules anyway.
    return {m for m in found if m in MODULES and m != module and not module.startswith(m + ".")}


GRAPH = {m: imports_of(m) for m in MODULES}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_no_import_circles() -> None:
    assert strongly_connected(GRAPH) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_package_has_a_layer() -> None:
    unknown = sorted({layer_of(m) for m in MODULES} - set(LEVEL) - {ROOT})
    assert unknown == [], f"place {unknown} in LAYERS"


def test_top_level_holds_no_flat_modules_but_the_public_api() -> None:
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "select_api.py"]


def test_no_arrow_runs_back_up() -> None:
    up = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if layer_of(m) != ROOT and layer_of(t) != ROOT and LEVEL[layer_of(t)] > LEVEL[layer_of(m)]
    ]
    assert up == []


def step_paths_in(path: Path) -> list[str]:
    """Return ``file:line: 'string'`` for every string constant of ``path`` that spells a step path."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    # a step kind joined as a folder: ``run_dir / "pools" / name``
    joined = {
        id(side)
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
        for side in (node.left, node.right)
        if isinstance(side, ast.Constant) and side.value in STEP_KINDS
    }
    return [
        f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and (id(node) in joined or (" " not in node.value and STEP_PATH.search(node.value)))  # prose names the layout
    ]


@pytest.mark.parametrize("layer", ["cli", "stages"])
def test_cli_and_stages_spell_no_step_path(layer: str) -> None:
    found = [hit for p in sorted((PACKAGE / layer).rglob("*.py")) for hit in step_paths_in(p)]
    assert found == []


def test_the_step_path_check_finds_a_spelled_path(tmp_path: Path) -> None:
    sample = SRC / "alpool" / "_sample_for_test.py"
    try:
        sample.write_text('"""Doc: pools/NAME is fine here."""\nx = "pools/" + "a"\n'
                          'y = run / "al" / "e" / "trial-0"\nz = run.step("pools", "a")\n'
                          'help_text = "a pool name (or pools/NAME) or al/E/P--Q/trial-0"\n')
        hits = step_paths_in(sample)
    finally:
        sample.unlink()
    assert sorted(h.split(": ", 1)[1] for h in hits) == ["'al'", "'pools/'", "'trial-0'"]
