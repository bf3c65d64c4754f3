"""Shared test helpers: finite differences and pytree comparisons, independent of fgrad's rules.

Everything here works on plain NumPy values, so expected numbers never come from
the transform being tested. Pytree traversal uses ``fgrad.tree_flatten``, which
has its own tests in ``test_pytree.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

import fgrad


def _as_float64(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def numerical_grad(f: Callable, *args, argnums: int = 0, eps: float = 1e-6):
    """Central finite-difference gradient of scalar ``f`` w.r.t. ``args[argnums]`` (a pytree).

    Every leaf is perturbed element by element in float64; the result has the
    pytree structure and leaf shapes of the differentiated argument (float64).
    """
    leaves, treedef = fgrad.tree_flatten(args[argnums])
    base = [_as_float64(leaf) for leaf in leaves]

    def call(new_leaves):
        full = list(args)
        full[argnums] = fgrad.tree_unflatten(treedef, new_leaves)
        return float(f(*full))

    grads = []
    for k, leaf in enumerate(base):
        g = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):
            plus = [b.copy() for b in base]
            minus = [b.copy() for b in base]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (call(plus) - call(minus)) / (2 * eps)
        grads.append(g)
    return fgrad.tree_unflatten(treedef, grads)


def numerical_jvp(f: Callable, primals: tuple, tangents: tuple, eps: float = 1e-6):
    """Central finite-difference directional derivative of ``f`` at ``primals`` along ``tangents``.

    ``f`` may return any pytree of arrays; the result has the same structure.
    """
    p_leaves, p_tree = fgrad.tree_flatten(tuple(primals))
    t_leaves, t_tree = fgrad.tree_flatten(tuple(tangents))
    assert p_tree == t_tree

    def at(sign: float):
        moved = [_as_float64(p) + sign * eps * _as_float64(t) for p, t in zip(p_leaves, t_leaves)]
        return f(*fgrad.tree_unflatten(p_tree, moved))

    plus_leaves, out_tree = fgrad.tree_flatten(at(+1.0))
    minus_leaves, _ = fgrad.tree_flatten(at(-1.0))
    diffs = [
        (_as_float64(a) - _as_float64(b)) / (2 * eps) for a, b in zip(plus_leaves, minus_leaves)
    ]
    return fgrad.tree_unflatten(out_tree, diffs)


def tree_vdot(a, b) -> float:
    """Sum over matching leaves of ``sum(a_leaf * b_leaf)``, in float64."""
    la, ta = fgrad.tree_flatten(a)
    lb, tb = fgrad.tree_flatten(b)
    assert ta == tb, f"structures differ: {ta} vs {tb}"
    return float(sum(np.sum(_as_float64(x) * _as_float64(y)) for x, y in zip(la, lb)))


def random_like(rng: np.random.Generator, tree):
    """A pytree shaped like ``tree`` with standard-normal leaves of the same dtypes."""
    leaves, treedef = fgrad.tree_flatten(tree)
    new = [rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype) for x in leaves]
    return fgrad.tree_unflatten(treedef, new)


def assert_tree_allclose(actual, expected, rtol: float = 1e-7, atol: float = 0.0) -> None:
    """Same pytree structure, and every pair of leaves equal in shape and close in value."""
    la, ta = fgrad.tree_flatten(actual)
    le, te = fgrad.tree_flatten(expected)
    assert ta == te, f"structures differ: {ta} vs {te}"
    for a, e in zip(la, le):
        assert np.shape(a) == np.shape(e), f"shapes differ: {np.shape(a)} vs {np.shape(e)}"
        np.testing.assert_allclose(_as_float64(a), _as_float64(e), rtol=rtol, atol=atol)


def assert_same_structure_shapes_dtypes(actual, reference) -> None:
    """``actual`` has the pytree structure of ``reference`` and each leaf its shape and dtype."""
    la, ta = fgrad.tree_flatten(actual)
    lr, tr = fgrad.tree_flatten(reference)
    assert ta == tr, f"structures differ: {ta} vs {tr}"
    for a, r in zip(la, lr):
        r = np.asarray(r)
        assert np.shape(a) == r.shape, f"shape {np.shape(a)} != {r.shape}"
        assert np.asarray(a).dtype == r.dtype, f"dtype {np.asarray(a).dtype} != {r.dtype}"


def line_of(path: str, marker: str) -> int:
    """The line of the file ``path`` ending with the comment ``# marker`` (exactly one), as
    a traceback counts lines: where a test planted the error it expects to be named."""
    with open(path) as f:
        hits = [n for n, text in enumerate(f, 1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def import_file(path: str | Path, name: str) -> types.ModuleType:
    """The Python file at ``path`` imported as module ``name`` (registered in ``sys.modules``,
    as an import would, so its dataclasses and pickling find it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_example(name: str, plain: bool = False) -> types.ModuleType:
    """``examples/<name>.py`` as a module; with ``plain``, its ``fnp`` is NumPy itself (the
    line ``from fgrad import numpy as fnp`` becomes ``import numpy as fnp``), so the same
    source runs as plain NumPy code."""
    path = EXAMPLES / f"{name}.py"
    source = path.read_text()
    if plain:
        assert "from fgrad import numpy as fnp\n" in source
        source = source.replace("from fgrad import numpy as fnp\n", "import numpy as fnp\n")
    module = types.ModuleType(f"{name}_{'plain' if plain else 'fgrad'}")
    module.__file__ = str(path)
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102
    return module


@contextlib.contextmanager
def fusing(mode: str) -> Iterator[None]:
    """``fgrad_fuse`` set to ``mode`` ("auto", "force", "off") inside the block."""
    old = fgrad.config.fgrad_fuse
    fgrad.config.update("fgrad_fuse", mode)
    try:
        yield
    finally:
        fgrad.config.update("fgrad_fuse", old)


def call_fusing(mode: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` with ``fgrad_fuse`` set to ``mode`` ('off': NumPy's loops)."""
    with fusing(mode):
        return fn(*args, **kwargs)


def jit_run(fn: Callable, args: tuple, fuse: str):
    """``jit(fn)(*args)`` with ``fgrad_fuse`` set to ``fuse`` for its trace and call."""
    with fusing(fuse):
        return fgrad.jit(fn)(*args)
