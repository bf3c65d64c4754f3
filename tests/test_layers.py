"""The package's layering, read from its source with ``ast`` (docs/architecture.md).

The kernel (``fgrad.core``) knows no primitive and no transform; the primitives know only
the kernel; the transforms know the kernel and the primitives; ``fgrad.numpy`` builds on
those; everything else sits above. Files import each other without circles, imports
inside functions are only for optional dependencies, no module reaches into another's
private names, and only the traces themselves decide what happens under each transform.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fgrad"

#: the layers from the bottom; a module may import its own layer and those below
LAYERS = ["fgrad.core", "fgrad.primitives", "fgrad.transforms", "fgrad.numpy"]

#: packages fgrad may use without depending on them: imported inside functions only
OPTIONAL = {"scipy", "cupy", "cupyx", "numba", "mpi4py", "matplotlib", "graphviz"}

#: the trace classes: only they (and the rules registered for them) dispatch on a trace
TRACE_CLASSES = {"GradTrace", "JVPTrace", "BatchTrace", "JaxprTrace", "JitTrace"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


class Import:
    def __init__(self, target: str, names: list[str], in_function: bool, line: int):
        self.target, self.names, self.in_function, self.line = target, names, in_function, line


def _imports(name: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    in_function = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(fn)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(alias.name, [], id(node) in in_function, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target, names = (sub, []) if sub in MODULES else (base, [alias.name])
                found.append(Import(target, names, id(node) in in_function, node.lineno))
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            return rank
    return len(LAYERS)


def _graph() -> dict[str, set[str]]:
    return {
        name: {i.target for i in imports if i.target in MODULES}
        for name, imports in IMPORTS.items()
    }


def test_the_scan_sees_the_package():
    # the rules below are vacuous if the walk finds nothing: pin what it must find
    assert {"fgrad.core.primitive", "fgrad.core.rules", "fgrad.transforms.reverse_mode"} <= set(
        MODULES
    )
    assert "fgrad.core.primitive" in _graph()["fgrad.transforms.reverse_mode"]


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_a_layer_above_it(layer):
    rank = LAYERS.index(layer)
    upward = [
        f"{name}:{i.line} imports {i.target}"
        for name, imports in IMPORTS.items()
        if _layer(name) == rank
        for i in imports
        if i.target.startswith("fgrad") and _layer(i.target) > rank
    ]
    assert upward == []


def test_no_import_circles_between_files():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_imports_inside_functions_are_for_optional_dependencies_only():
    inside = [
        f"{name}:{i.line} imports {i.target}"
        for name, imports in IMPORTS.items()
        for i in imports
        if i.in_function and i.target.split(".")[0] not in OPTIONAL
    ]
    assert inside == []


def test_no_module_imports_another_modules_private_names():
    private = [
        f"{name}:{i.line} imports {i.target}.{n}"
        for name, imports in IMPORTS.items()
        for i in imports
        if i.target.startswith("fgrad") and i.target != name
        for n in i.names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert private == []


def test_no_dispatch_on_the_trace_type_outside_the_traces():
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "isinstance"
                and len(node.args) == 2
            ):
                classes = node.args[1]
                names = classes.elts if isinstance(classes, ast.Tuple) else [classes]
                hit = {getattr(n, "id", None) for n in names} & TRACE_CLASSES
                if hit:
                    found.append(f"{name}:{node.lineno} isinstance(..., {sorted(hit)})")
    assert found == []


def test_import_fgrad_loads_no_optional_dependency():
    import subprocess
    import sys

    code = (
        "import sys, fgrad, fgrad.numpy; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(OPTIONAL)!r} "
        "or m.split('.')[0] in ('jax', 'torch')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=PACKAGE.parent,
    )
    assert out.stdout.strip() == "[]"
