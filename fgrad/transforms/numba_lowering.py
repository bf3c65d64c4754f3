"""One fused cluster of equations as the source of one numba kernel, compiled and cached on disk.

A cluster (:mod:`fgrad.transforms.fusion` chooses it) is a run of elementwise equations
over one iteration shape, possibly ending in reductions. Its kernel is one loop nest over
that shape: each equation becomes one line on scalars, so intermediates live in registers
and are never stored, and each value the rest of the program reads is written into a fresh
array (a reduction accumulates into one). Values of shape ``()`` are computed once, before
the loop, and a value varying along fewer axes than the loop (a bias-shaped one) in a loop
nest over those axes, before the full one; an operand of a smaller shape is read at its
broadcast index (``x[0, i1]``). Loop lengths are literals, except the innermost loop of a
nest of several axes when it is shorter than 32: its length is read from an input
(``range(x0.shape[3])``), which keeps LLVM from unrolling it completely and then not
vectorizing it (:func:`_extent`)::

    def kernel(x0, x1):
        s1 = scalar_of(x1)
        o0 = np.empty((16,), np.float64)
        for i0 in range(16):
            t0 = np.float64(np.sin(x0[i0]))
            t1 = t0 * np.float64(s1)
            o0[i0] = t1
        return (o0,)

The numbers are NumPy's: every operand is first cast to the dtype NumPy computes the
equation in (the result type under NEP 50: a weak Python scalar takes its partner's dtype),
so float32 stays float32 and ``+``, ``-``, ``*``, ``/``, ``sqrt`` round exactly as NumPy
does; numba's ``error_model="numpy"`` gives inf and NaN where NumPy does. Sums add up in
NumPy's order, in the output's dtype (:mod:`fgrad.transforms.sum_order`), so they are
NumPy's bit for bit. Transcendental functions can differ in the last bits (NumPy has its
own SIMD ``exp``, ``sin``, ... where numba calls the C library: a few ulp in float32, about
one in float64). Only float and bool values are fused, and counts of booleans (a ``sum`` of
a bool array in NumPy's default integer, exact in any order, converted to float in the
kernel); other integer arithmetic stays NumPy's.

Kernels are written to files named by a hash of their source in a cache folder
(``$FGRAD_CACHE_DIR``, else ``~/.cache/fgrad/kernels``) and compiled by numba with
``cache=True``, so a second process loads the machine code instead of compiling again.
numba is imported only when the first kernel is compiled.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fgrad.core.abstract import result_dtype
from fgrad.core.jaxpr import Equation, Literal, Var
from fgrad.transforms.sum_order import PAIRWISE_SOURCE, pairwise_call, trailing_run

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
BOOL = np.dtype(np.bool_)

_UNARY = {
    "neg": "-{0}",
    "exp": "np.exp({0})",
    "log": "np.log({0})",
    "log1p": "np.log1p({0})",
    "expm1": "np.expm1({0})",
    "sin": "np.sin({0})",
    "cos": "np.cos({0})",
    "tan": "np.tan({0})",
    "tanh": "np.tanh({0})",
    "sqrt": "np.sqrt({0})",
    "abs": "np.abs({0})",
    "arcsin": "np.arcsin({0})",
    "arccos": "np.arccos({0})",
    "arctan": "np.arctan({0})",
    "sinh": "np.sinh({0})",
    "cosh": "np.cosh({0})",
    "arcsinh": "np.arcsinh({0})",
    "arccosh": "np.arccosh({0})",
    "arctanh": "np.arctanh({0})",
    "floor": "np.floor({0})",
    "ceil": "np.ceil({0})",
    "trunc": "np.trunc({0})",
    "stop_gradient": "{0}",
}
_BINARY = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "pow": "{0} ** {1}",
    "max": "_maximum({0}, {1})",
    "min": "_minimum({0}, {1})",
    "arctan2": "np.arctan2({0}, {1})",
    "hypot": "np.hypot({0}, {1})",
}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_PREDICATE = {"isnan": "np.isnan({0})", "isinf": "np.isinf({0})", "isfinite": "np.isfinite({0})"}
_LOGIC = {"not": "not {0}", "and": "{0} and {1}", "or": "{0} or {1}"}
REDUCTIONS = ("reduce_sum", "reduce_max", "reduce_min")

#: the primitives a kernel can compute, for the docs and the tests
FUSIBLE = sorted(
    [*_UNARY, *_BINARY, *_COMPARE, *_PREDICATE, *_LOGIC, "select", "convert_element_type"]
    + list(REDUCTIONS)
)

FLOAT64 = np.dtype(np.float64)
# float64 functions numba's ``math`` has under another name (or the same)
_MATH = {
    **{n: n for n in "exp log log1p expm1 sin cos tan tanh sqrt sinh cosh hypot".split()},
    **{"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh"},
    **{"arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2", "abs": "fabs"},
}

#: the dtype of a count of booleans (``np.sum`` of a bool array): the only integer a kernel
#: computes, and converts to float only
COUNT = np.dtype(np.int_)

_TYPE = {
    np.dtype(np.float32): "np.float32",
    np.dtype(np.float64): "np.float64",
    BOOL: "np.bool_",
    COUNT: f"np.{COUNT.name}",
}

# shared by every kernel file: NumPy's maximum/minimum propagate NaN from either side
_PRELUDE = """\
import math

import numpy as np
from numba import njit, types
from numba.extending import overload


def scalar_of(x):
    return x


@overload(scalar_of)
def _scalar_of(x):
    if isinstance(x, types.Array):
        return lambda x: x[()]
    return lambda x: x


@njit(inline="always")
def _maximum(a, b):
    return a if (a >= b or a != a) else b


@njit(inline="always")
def _minimum(a, b):
    return a if (a <= b or a != a) else b

""" + PAIRWISE_SOURCE + "\n"


def _dtype(v) -> np.dtype:
    return np.dtype(v.aval.dtype)


def _float_operands(eqn: Equation) -> bool:
    return all(type(v) is Literal or _dtype(v) in FLOATS for v in eqn.invars)


def _literal_ok(eqn: Equation) -> bool:
    return all(type(v) is not Literal or type(v.val) in (bool, int, float) for v in eqn.invars)


def compute_dtype(eqn: Equation) -> np.dtype:
    """The dtype NumPy computes ``eqn`` in: its operands' result type under NEP 50."""
    ops = eqn.invars[1:] if eqn.prim.name == "select" else eqn.invars
    key = tuple((v.aval.dtype, v.aval.weak_type) for v in ops)
    return np.dtype(result_dtype(np.add if len(key) == 2 else np.positive, key, ()))


def kind(eqn: Equation) -> str | None:
    """``"map"`` (elementwise), ``"reduce"``, or None where no kernel can compute ``eqn``."""
    name = eqn.prim.name
    if eqn.prim.effectful or eqn.prim.multiple_results or not _literal_ok(eqn):
        return None
    out = _dtype(eqn.outvars[0])
    if any(d == 0 for d in eqn.outvars[0].aval.shape):
        return None
    if name in REDUCTIONS:
        x = eqn.invars[0]
        ok = type(x) is Var and x.aval.ndim > 0 and eqn.params["axis"]
        ok = ok and (_dtype(x) in FLOATS or name == "reduce_sum" and _counts(eqn))
        return "reduce" if ok and 0 not in x.aval.shape else None
    if name in _UNARY or name in _BINARY:
        ok = out in FLOATS and _float_operands(eqn) and out == compute_dtype(eqn)
        return "map" if ok else None
    if name in _COMPARE:
        return "map" if _float_operands(eqn) and compute_dtype(eqn) in FLOATS else None
    if name in _PREDICATE:
        return "map" if _float_operands(eqn) else None
    if name in _LOGIC:
        return "map" if all(type(v) is Var and _dtype(v) == BOOL for v in eqn.invars) else None
    if name == "select":
        c, *ops = eqn.invars
        ok = type(c) is Var and all(type(v) is Literal or _dtype(v) in FLOATS for v in ops)
        return "map" if ok and out in FLOATS and out == compute_dtype(eqn) else None
    if name == "convert_element_type":
        x = eqn.invars[0]
        if type(x) is not Var:
            return None
        ok = {_dtype(x), out} <= {*FLOATS, BOOL} or _dtype(x) == COUNT and out in FLOATS
        return "map" if ok else None
    return None


def _counts(eqn: Equation) -> bool:
    """Whether a ``reduce_sum`` counts booleans in NumPy's default integer: exact in any
    order, so a kernel adds them up in turn (a tie count of ``max``'s gradient)."""
    return _dtype(eqn.invars[0]) == BOOL and _dtype(eqn.outvars[0]) == COUNT


def _literal(val, dtype: np.dtype) -> str:
    if dtype == BOOL:
        return repr(bool(val))
    if dtype == COUNT:
        return f"{_TYPE[dtype]}({int(val)})"
    x = float(val)
    if math.isfinite(x):
        text = repr(x)
    else:
        text = "np.nan" if x != x else ("-np.inf" if x < 0 else "np.inf")
    return text if dtype == FLOAT64 else f"{_TYPE[dtype]}({text})"


def _typed(expr: str, dtype: np.dtype, name: str) -> str:
    """``expr`` computing in ``dtype``. Float64 arithmetic and ``math`` functions already
    are float64, and comparisons bool, in numba: casts and NumPy's functions on scalars
    are left out there, since typing them is most of a long kernel's compile time."""
    if dtype == FLOAT64 and name != "convert_element_type":
        for np_name, math_name in _MATH.items():
            expr = expr.replace(f"np.{np_name}(", f"math.{math_name}(")
        return expr
    if dtype == BOOL and name != "convert_element_type":
        return expr
    return f"{_TYPE[dtype]}({expr})"


def _index(shape: tuple[int, ...], loop: tuple[int, ...]) -> str:
    """The index of an operand of ``shape`` broadcast over the loop nest of ``loop``."""
    lead = len(loop) - len(shape)
    idx = ["0" if d == 1 and loop[lead + k] != 1 else f"i{lead + k}" for k, d in enumerate(shape)]
    return ", ".join(idx)


def _nest_axes(shape: tuple[int, ...], loop: tuple[int, ...]) -> tuple[int, ...]:
    """The loop axes a value of ``shape`` (broadcast over ``loop``) varies along, with the
    loop's axes of length 1."""
    lead = len(loop) - len(shape)
    return tuple(k for k in range(len(loop)) if loop[k] == 1 or k >= lead and shape[k - lead] != 1)


def _extent(k: int, nest: tuple[int, ...], loop: tuple[int, ...], inputs: list[Var]) -> str:
    """The length of loop axis ``k`` in ``nest`` as the kernel writes it: a literal, except
    for the innermost loop of a nest of several when it is short (under 32): there it is an
    input's length read at run time (``x0.shape[3]``), where one has it. LLVM unrolls a
    short loop of a known length completely and then no longer vectorizes it (a bias-add
    and ReLU over ``(128, 8, 8, 16)`` ran 2.5x slower so)."""
    if len(nest) > 1 and k == nest[-1] and 1 < loop[k] < 32:
        for j, v in enumerate(inputs):
            lead = len(loop) - v.aval.ndim
            if k >= lead and v.aval.shape[k - lead] == loop[k]:
                return f"x{j}.shape[{k - lead}]"
    return str(loop[k])


def kernel_source(
    members: list[Equation],
    inputs: list[Var],
    outputs: list[Var],
    loop: tuple[int, ...],
    scalars: dict[Var, object],
) -> str:
    """The Python source of the kernel (named ``kernel``) computing ``outputs`` of the
    cluster ``members`` from ``inputs``, looping over ``loop``; see the module docstring.
    ``scalars`` (constants of shape ``()``) are written into the source."""
    names: dict[Var, str] = {}  # how the value is read in the loop nest computing it
    stored: dict[Var, str] = {}  # how other nests read it: from the array it is stored in
    dtypes: dict[Var, np.dtype] = {}
    for v, value in scalars.items():
        names[v] = _literal(value, _dtype(v))
        dtypes[v] = _dtype(v)
    head: list[str] = []  # before the loops: scalar inputs, scalar equations, allocations
    tail: list[str] = []  # after: the reductions' results
    params = [f"x{k}" for k in range(len(inputs))]
    for k, v in enumerate(inputs):
        if v.aval.ndim == 0:
            head.append(f"s{k} = scalar_of(x{k})")
            names[v] = f"s{k}"
        else:
            names[v] = f"x{k}[{_index(v.aval.shape, loop)}]"
        dtypes[v] = _dtype(v)
    # each equation in the loop nest over the axes it varies along (reductions: all), so a
    # bias-shaped value of a batch-shaped cluster is computed once per element, not per row
    full = tuple(range(len(loop)))
    nest_of: dict[Var, tuple[int, ...]] = {}
    for eqn in members:
        if all(type(v) is Literal or v.aval.ndim == 0 for v in eqn.invars):
            continue
        shape = eqn.outvars[0].aval.shape
        nest_of[eqn.outvars[0]] = full if eqn.prim.name in REDUCTIONS else _nest_axes(shape, loop)
    crossing = {
        v
        for eqn in members
        for v in eqn.invars
        if v in nest_of and nest_of[v] != nest_of.get(eqn.outvars[0], nest_of[v])
    }
    bodies: dict[tuple[int, ...], list[str]] = {}
    after: dict[int, list[str]] = {}  # lines run when the main nest's loop over an axis ends
    out_set = set(outputs)
    results: dict[Var, str] = {}

    def operand(v, dtype: np.dtype, nest) -> str:
        if type(v) is Literal:
            return _literal(v.val, dtype)
        name = stored[v] if v in stored and nest_of[v] != nest else names[v]
        return name if dtypes[v] == dtype else f"{_TYPE[dtype]}({name})"

    for n, eqn in enumerate(members):
        name = eqn.prim.name
        out = eqn.outvars[0]
        nest = nest_of.get(out)
        lines = head if nest is None else bodies.setdefault(nest, [])
        t = f"t{n}"
        if name in REDUCTIONS:
            value = operand(eqn.invars[0], _dtype(out), nest)
            _reduction(eqn, t, value, loop, head, lines, after, tail)
            results[out] = t
            continue
        ins = eqn.invars
        if name in _COMPARE:
            dt = compute_dtype(eqn)
            a, b = (operand(v, dt, nest) for v in ins)
            expr = f"{a} {_COMPARE[name]} {b}"
        elif name in _PREDICATE:
            expr = _PREDICATE[name].format(operand(ins[0], _dtype(ins[0]), nest))
        elif name in _LOGIC:
            expr = _LOGIC[name].format(*(operand(v, BOOL, nest) for v in ins))
        elif name == "select":
            dt = _dtype(out)
            c, x, y = ins
            expr = f"{operand(x, dt, nest)} if {operand(c, BOOL, nest)} else {operand(y, dt, nest)}"
        elif name == "convert_element_type":
            x = operand(ins[0], _dtype(ins[0]), nest)
            expr = f"{x} != 0" if _dtype(out) == BOOL else x
        else:
            dt = _dtype(out)
            template = _UNARY.get(name) or _BINARY[name]
            expr = template.format(*(operand(v, dt, nest) for v in ins))
        lines.append(f"{t} = {_typed(expr, _dtype(out), name)}")
        names[out] = t
        dtypes[out] = _dtype(out)
        if nest is None:
            results[out] = t
        elif out in out_set or out in crossing:
            shape = out.aval.shape
            array = f"o{n}" if out in out_set else f"h{n}"
            head.append(f"{array} = np.empty({shape!r}, {_TYPE[_dtype(out)]})")
            stored[out] = f"{array}[{_index(shape, loop)}]"
            lines.append(f"{stored[out]} = {t}")
            results[out] = array
    src = [f"def kernel({', '.join(params)}):"] + [f"    {line}" for line in head]
    for nest in sorted(bodies, key=len):  # a nest reads only nests over fewer axes
        indent = "    "
        for k in nest:
            src.append(f"{indent}for i{k} in range({_extent(k, nest, loop, inputs)}):")
            indent += "    "
        src += [f"{indent}{line}" for line in bodies[nest]]
        for k in reversed(nest):
            indent = indent[:-4]
            src += [f"{indent}{line}" for line in (after.get(k, []) if nest == full else [])]
    src += [f"    {line}" for line in tail]
    src.append(f"    return ({''.join(results[v] + ', ' for v in outputs)})")
    return "\n".join(src) + "\n"


def _reduction(eqn, t, value, loop, head, body, after, tail) -> None:
    """Lines of a reduction of ``value`` (the loop's element) over ``eqn``'s axes into
    ``t``, in the output's dtype; sums add up in NumPy's order (:mod:`sum_order`): the
    elements of a trailing run are stored in a buffer, summed pairwise when the loop over
    its first axis ends, and added to the accumulator; other terms are added in turn."""
    name = eqn.prim.name
    out = eqn.outvars[0]
    dt = _dtype(out)
    typ = _TYPE[dt]
    axes = {a % len(loop) for a in eqn.params["axis"]}
    init = {"reduce_sum": 0.0, "reduce_max": -np.inf, "reduce_min": np.inf}[name]
    kept = ["0" if k in axes or loop[k] == 1 else f"i{k}" for k in range(len(loop))]
    if not eqn.params["keepdims"]:
        kept = [i for k, i in enumerate(kept) if k not in axes]
    if kept:
        acc = f"{t}a[{', '.join(kept)}{',' if len(kept) == 1 else ''}]"
        head.append(f"{t}a = np.full({out.aval.shape!r}, {_literal(init, dt)}, {typ})")
    else:
        acc = f"{t}a"
        head.append(f"{t}a = {_literal(init, dt)}")
    tail.append(f"{t} = {t}a")
    if name != "reduce_sum":
        pick = "_maximum" if name == "reduce_max" else "_minimum"
        body.append(f"{acc} = {pick}({acc}, {value})")
        return
    run = trailing_run(loop, axes)
    if not run or dt == COUNT:  # a count is exact in any order
        body.append(f"{acc} = {acc} + {value}")
        return
    size = math.prod(loop[k] for k in run)
    at = " + ".join(f"i{k} * {math.prod(loop[k + 1 :])}" for k in run)
    head.append(f"{t}b = np.empty({size}, {typ})")
    body.append(f"{t}b[{at}] = {value}")
    zero = _literal(0.0, dt)
    after.setdefault(run[0], []).append(f"{acc} = {acc} + {pairwise_call(f'{t}b', size, zero)}")


def cache_dir() -> Path:
    """Where kernel files and numba's machine code are kept (``$FGRAD_CACHE_DIR``, else
    ``~/.cache/fgrad/kernels``)."""
    root = os.environ.get("FGRAD_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fgrad" / "kernels"


_loaded: dict[str, Callable] = {}  # source hash -> numba dispatcher, per process

# no C-callable wrapper: kernels are called from Python (or from a block kernel); building
# the wrapper is about a tenth of a kernel's compile time
_DECORATOR = '@njit(cache=True, error_model="numpy", nogil=True, no_cfunc_wrapper=True)'


def _key(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:24]


def is_cached(source: str) -> bool:
    """Whether numba's disk cache holds machine code of the kernel ``source`` (for some
    argument types: the types are in numba's index, which only numba reads)."""
    name = f"fgrad_kernel_{_key(source)}"
    folder = cache_dir()
    return (folder / f"{name}.py").exists() and any(
        (folder / "__pycache__").glob(f"{name}.kernel-*.nbi")
    )


def compile_kernel(source: str) -> Callable:
    """The numba dispatcher of a kernel source (see :func:`kernel_source`); the same source
    gives the same dispatcher in a process, and reuses numba's disk cache across processes."""
    key = _key(source)
    fn = _loaded.get(key)
    if fn is not None:
        return fn
    import numba  # noqa: F401  (the optional dependency; fails here, not at import fgrad)

    text = _PRELUDE + _DECORATOR + "\n" + source
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fgrad_kernel_{key}.py"
    if not path.exists():  # numba's cache is keyed by the file's time stamp: write it once
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    name = f"fgrad_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache looks the module up by name
    spec.loader.exec_module(module)
    _loaded[key] = module.kernel
    return module.kernel
