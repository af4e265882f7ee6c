"""The layers of ser/ as docs/design.md draws them: no module imports a row above its own (module
level or inside a function), every module has a row, no import circle; and every module imports
in fresh interpreters whatever was imported before it."""
from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- layers, top to bottom: read by tests/test_layers.py -->"


def read_layers(design: Path = ROOT / "docs/design.md") -> list[list[str]]:
    """The table's rows, top first: the names of each row."""
    text = design.read_text()
    block = text[text.index(MARKER):].split("```")[1]
    return [line.split("#")[0].split() for line in block.strip().splitlines()]


def module_names(package: Path = ROOT / "ser") -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its __init__.py)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The ser modules `path` imports anywhere in it (a package's submodule when that is what
    `from package import name` names)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                     else node.module for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "ser" or n.startswith("ser."))
    return found


def place(module: str, layers: list[list[str]]) -> tuple[int, str] | None:
    """(row, 0 = top; name) of the longest name in the table that contains `module`."""
    best = None
    for row, names in enumerate(layers):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > len(best[1]):
                    best = (row, name)
    return best


def upward_imports(modules: dict[str, Path], layers: list[list[str]]) -> list[str]:
    """'a (row) imports b (row)' for each import of a row above the importer's."""
    bad = []
    for name, path in modules.items():
        for target in sorted(imports(path, modules)):
            here, there = place(name, layers), place(target, layers)
            if here is not None and there is not None and there[0] < here[0]:
                bad.append(f"{name} (layer {here[1]}) imports {target} "
                           f"(layer {there[1]}, above it)")
    return bad


def circles(modules: dict[str, Path]) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan)."""
    graph = {name: sorted(t for t in imports(path, modules) if t in modules and t != name)
             for name, path in modules.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(module_names(), read_layers()) == []


def test_every_module_has_a_layer():
    layers = read_layers()
    assert [m for m in module_names() if place(m, layers) is None] == []


def test_no_import_circles():
    assert circles(module_names()) == []


def test_an_upward_import_is_found(tmp_path):
    """The check itself: a data module importing the trainer is named."""
    package = tmp_path / "ser"
    (package / "data").mkdir(parents=True)
    (package / "train").mkdir()
    for init in (package / "__init__.py", package / "data/__init__.py",
                 package / "train/__init__.py"):
        init.write_text("")
    (package / "train/loop.py").write_text("from ser.data import folds\n")
    (package / "data/folds.py").write_text("def f():\n    from ser.train.loop import g\n")
    modules = module_names(package)
    layers = [["ser.train"], ["ser.data"], ["ser"]]
    assert upward_imports(modules, layers) == [
        "ser.data.folds (layer ser.data) imports ser.train.loop (layer ser.train, above it)"]
    assert circles(modules) == [["ser.data.folds", "ser.train.loop"]]


def _importable() -> list[str]:
    # a __main__ module runs its command on import
    return [m for m in module_names() if not m.endswith("__main__")]


@pytest.mark.parametrize("order", ["sorted", "reversed", "shuffled_1"])
def test_every_module_imports_in_any_order(order):
    """A fresh interpreter imports every module of ser/, one after another in this order."""
    names = sorted(_importable())
    if order == "reversed":
        names.reverse()
    elif order.startswith("shuffled"):
        random.Random(int(order[-1])).shuffle(names)
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
