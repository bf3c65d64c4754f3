"""Blocks: runs of a fused program, matrix products and reshapes included, as one numba kernel.

:mod:`fgrad.transforms.fusion` turns each cluster of elementwise work into one kernel, but
the ``dot_general``, ``transpose``, ``reshape`` and ``broadcast_to`` equations between the
clusters, and elementwise equations left alone, are still one NumPy call each: on a small
program (an MLP step on a batch of 16) those calls are most of its time. A *block* is one
kernel computing a run of such equations in program order, each statement on whole arrays:
a cluster's kernel is called from it (a numba function calling another, no Python in
between), a lone elementwise equation is a one-equation cluster, and the structural
operations are loops or numba's array methods::

    def kernel(x0, x1, x2):
        v0 = np.dot(np.ascontiguousarray(x0), np.ascontiguousarray(x1))
        v1, v2 = k0(v0, x2)
        ...
        return (v1, v2, )

**Partition.** One pass in program order over the fused program keeps one open block, as
fusion does for clusters: an equation a block computes (:func:`lowerable`) joins it; any
other one stays a NumPy call and closes the block only if it reads one of its values. A
block of one equation is left as it was.

**Products.** A ``dot_general`` without batch axes on floats is BLAS's ``gemm`` (numba's
``np.dot`` calls it with no Python in between), after moving the operands' contracted axes
last/first as the replay does, so its numbers are the replay's BLAS numbers. Batched
products (``vmap`` of a matrix product), integer products, and float products of at most
:data:`LOOP_MACS` multiply-adds are loops: each output element sums its products in the
contracted axes' order (C order), float32 accumulated in float64 and rounded once,
integers in int64 and wrapped to their dtype as NumPy's do. That order differs from
BLAS's (which blocks and vectorises the sum), so those results differ from the replay's
in the last bits (``rtol`` 1e-12 in float64, an ulp or two in float32). Batched float
products above :data:`BATCHED_LOOP_MACS` multiply-adds stay NumPy calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Var
from fgrad.core.optional import installed
from fgrad.transforms.numba_lowering import kernel_source, kind

#: float products without batch axes of at most this many multiply-adds are loops in a block,
#: larger ones BLAS calls. 0: all are BLAS's, whose numbers are the replay's bit for bit (a
#: loop's sum in another order is not: a run resumed on the fused tier would drift from one
#: run on the replay in the last bits)
LOOP_MACS = 0
#: batched float products of at most this many multiply-adds are loops in a block; larger
#: ones stay NumPy calls (``matmul`` on stacks)
BATCHED_LOOP_MACS = 1 << 17
#: float products without batch axes of more than this many multiply-adds stay NumPy calls.
#: numba's ``np.dot`` reaches the BLAS that SciPy bundles, a second OpenBLAS beside NumPy's:
#: once a product is large enough for OpenBLAS to use its threads (from 4 x 65536
#: multiply-adds), the two thread pools compete for the cores (a 784-512-512 MLP step ran
#: 1.6x slower, the CNN step 2x); below, each product runs on the calling thread
BLAS_IN_BLOCK_MACS = 1 << 16
#: transposes, reshapes and broadcasts of more elements stay NumPy calls: a block copies
#: them element by element, where NumPy's copy loops (or a view) are faster on large arrays
STRUCTURAL_MAX_SIZE = 1 << 14
#: the most equations one block holds (numba's compile time grows with a kernel's length)
MAX_MEMBERS = 64

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_STRUCTURAL = ("transpose", "reshape", "broadcast_to")
# numba calls the C library's scalar exp, log, ... (~12 ns an element); NumPy's SIMD loops
# take ~2 ns plus its ~0.6 us call: a lone transcendental function on a larger array than
# this stays NumPy's
_LIBM_MAX_SIZE = 128
_LIBM = frozenset(
    "exp log log1p expm1 sin cos tan tanh arcsin arccos arctan sinh cosh arcsinh arccosh "
    "arctanh arctan2 hypot pow".split()
)


def _dtype(v) -> np.dtype:
    return np.dtype(v.aval.dtype)


def _supported(v) -> bool:
    ok = type(v) is Var and (_dtype(v) in _FLOATS or _dtype(v).kind in "biu")
    return ok and 0 not in v.aval.shape


def _is_cluster(eqn: Equation) -> bool:
    """Whether ``eqn`` is a fused cluster's kernel (it carries its kernel's source; a loop
    kernel of :mod:`fgrad.transforms.fusion_loops` does too, but stays its own call: it
    falls back to its loop's replay where it raises)."""
    prim = eqn.prim
    return isinstance(getattr(prim, "source", None), str) and not getattr(prim, "is_loop", False)


def lowerable(eqn: Equation) -> bool:
    """Whether a block computes ``eqn``: a cluster's kernel, an equation fusion's kernels
    compute (but a transcendental function of a large array), ``transpose``, ``reshape``,
    ``broadcast_to`` and ``dot_general`` on bool/int/float arrays (see the module
    docstring for which products)."""
    if _is_cluster(eqn):
        return True
    name = eqn.prim.name
    if kind(eqn) is not None:
        return name not in _LIBM or math.prod(eqn.outvars[0].aval.shape) <= _LIBM_MAX_SIZE
    if name in _STRUCTURAL:
        small = math.prod(eqn.outvars[0].aval.shape) <= STRUCTURAL_MAX_SIZE
        return small and _supported(eqn.invars[0]) and _supported(eqn.outvars[0])
    if name == "dot_general":
        x, y = eqn.invars
        out = eqn.outvars[0]
        if not (_supported(x) and _supported(y) and _supported(out)):
            return False
        if _dtype(out).kind == "b":
            return False
        (_, _), (xb, _) = eqn.params["dimension_numbers"]
        if xb and _dtype(out).kind == "f":
            return _macs(eqn) <= BATCHED_LOOP_MACS
        if not _uses_blas(eqn):
            return True
        return _blas_available() and _macs(eqn) <= BLAS_IN_BLOCK_MACS
    return False


def _blas_available() -> bool:
    """Whether numba's ``np.dot`` can call BLAS: it takes it from SciPy; without SciPy,
    products BLAS would compute stay NumPy calls."""
    return installed("scipy")


def _uses_blas(eqn: Equation) -> bool:
    (_, _), (xb, _) = eqn.params["dimension_numbers"]
    dt = _dtype(eqn.outvars[0])
    return not xb and dt in _FLOATS and _macs(eqn) > LOOP_MACS


def _macs(eqn: Equation) -> int:
    """Multiply-adds of a ``dot_general``: its output's size times the contracted size."""
    x = eqn.invars[0]
    (xc, _), _ = eqn.params["dimension_numbers"]
    k = math.prod(x.aval.shape[i] for i in xc)
    return math.prod(eqn.outvars[0].aval.shape) * k


# What a block saves, in nanoseconds (timed on this project's 2-core x86 machine; see also
# fusion's cost model): the Python-side cost of each call it replaces, against the one call
# of its kernel. The arithmetic inside is about the same either way.
_NUMPY_CALL_NS = 600.0
_MATMUL_CALL_NS = 1000.0
_KERNEL_CALL_NS = 1500.0
_KERNEL_ARG_NS = 100.0


def _kernel_call_ns(n_args: int) -> float:
    return _KERNEL_CALL_NS + _KERNEL_ARG_NS * n_args


def _pays_off(block: list[Equation], n_inputs: int) -> bool:
    """Whether the calls of ``block``'s equations cost more than one call of its kernel."""
    return sum(map(_call_ns, block)) > _kernel_call_ns(n_inputs)


def _call_ns(eqn: Equation) -> float:
    """The Python-side cost of ``eqn``'s call in the replay (see the constants above)."""
    if _is_cluster(eqn):
        return _kernel_call_ns(len(eqn.invars))
    return _MATMUL_CALL_NS if eqn.prim.name == "dot_general" else _NUMPY_CALL_NS


def join_blocks(closed: ClosedJaxpr, make_kernel: Callable[..., object]) -> ClosedJaxpr | None:
    """``closed`` (a fused program, see :func:`fgrad.transforms.fusion.fuse`) with its
    blocks (see the module docstring) each replaced by one equation of the pseudo-primitive
    ``make_kernel(name, source, outputs, members, inputs)``; None where none is estimated
    to pay off (its equations' calls cost more than the kernel's call; see the constants
    above)."""
    jaxpr = closed.jaxpr
    consumers = jaxpr.readers()
    returned = {v for v in jaxpr.outvars if type(v) is Var}
    eqns: list[Equation] = []
    members: list[tuple[int, Equation]] = []
    made: set[Var] = set()
    n_blocks = 0

    def close() -> None:
        nonlocal n_blocks
        block = [e for _, e in members]
        inputs: list[Var] = []
        for e in block:
            for v in e.invars:
                if type(v) is Var and v not in made and v not in inputs:
                    inputs.append(v)
        if len(members) > 1 and _pays_off(block, len(inputs)):
            indices = {k for k, _ in members}
            outputs = [
                v
                for e in block
                for v in e.outvars
                if v in returned or consumers.get(v, set()) - indices
            ]
            source = block_source(block, inputs, outputs)
            prim = make_kernel(f"block{n_blocks}", source, outputs, block, inputs)
            eqns.append(Equation(prim, inputs, outputs, {}))
            n_blocks += 1
        else:
            eqns.extend(e for _, e in members)
        members.clear()
        made.clear()

    for k, eqn in enumerate(jaxpr.eqns):
        if not lowerable(eqn):
            if any(type(v) is Var and v in made for v in eqn.invars):
                close()
            eqns.append(eqn)
            continue
        if len(members) == MAX_MEMBERS:
            close()
        members.append((k, eqn))
        made.update(eqn.outvars)
    close()
    if not n_blocks:
        return None
    blocked = Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)
    return ClosedJaxpr(blocked, closed.consts, closed.in_tree, closed.out_tree)


# a block's helpers are called from the block kernel alone: without the wrappers that make
# a numba function callable from Python or C, a block compiles ~15% faster
_DECORATOR = (
    '@njit(cache=True, error_model="numpy", nogil=True, no_cpython_wrapper=True, '
    "no_cfunc_wrapper=True)"
)


def _np_type(dtype: np.dtype) -> str:
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


def block_source(members: list[Equation], inputs: list[Var], outputs: list[Var]) -> str:
    """The source of the kernel (named ``kernel``) of a block: ``members`` in order, reading
    ``inputs``, returning ``outputs``; then the kernels it calls (see the module docstring)."""
    names: dict[Var, str] = {}
    lines: list[str] = []
    helpers: list[str] = []
    for k, v in enumerate(inputs):
        if v.aval.ndim == 0:
            lines.append(f"s{k} = scalar_of(x{k})")
            names[v] = f"s{k}"
        else:
            names[v] = f"x{k}"
    fresh = iter(range(1 << 30))

    def new() -> str:
        return f"v{next(fresh)}"

    for eqn in members:
        outs = [new() for _ in eqn.outvars]
        if _is_cluster(eqn) or kind(eqn) is not None:
            helper = f"k{len(helpers)}"
            if _is_cluster(eqn):
                src = eqn.prim.source
                args = [names[v] for v in eqn.invars]
            else:
                ins = list(dict.fromkeys(v for v in eqn.invars if type(v) is Var))
                red = kind(eqn) == "reduce"
                loop = (eqn.invars[0] if red else eqn.outvars[0]).aval.shape
                src = kernel_source([eqn], ins, list(eqn.outvars), tuple(loop), {})
                args = [names[v] for v in ins]
            helpers.append(_DECORATOR + "\n" + src.replace("def kernel(", f"def {helper}(", 1))
            lines.append(f"{', '.join(outs)}, = {helper}({', '.join(args)})")
        else:
            lowering = (
                _dot if eqn.prim.name == "dot_general" else _STRUCTURAL_LOWERING[eqn.prim.name]
            )
            lines.extend(lowering(eqn, [names.get(v) for v in eqn.invars], outs[0], new))
        names.update(zip(eqn.outvars, outs))
    lines.append(f"return ({''.join(names[v] + ', ' for v in outputs)})")
    head = f"def kernel({', '.join(f'x{k}' for k in range(len(inputs)))}):"
    body = "\n".join([head] + [f"    {line}" for line in lines])
    return "\n\n\n".join([body] + helpers) + "\n"


def _loops(shape: tuple[int, ...], index: str = "i", depth: int = 0) -> tuple[list[str], str]:
    """``for`` headers over ``shape`` (indices ``{index}0``, ...) and the body's indent."""
    heads = []
    for k, size in enumerate(shape):
        heads.append("    " * (depth + k) + f"for {index}{k} in range({size}):")
    return heads, "    " * (depth + len(shape))


def _copy(out: str, shape, dtype: np.dtype, source_index: Callable[[list[str]], str]) -> list[str]:
    """Lines filling a fresh ``out`` of ``shape`` elementwise from ``source_index(indices)``."""
    heads, indent = _loops(shape)
    idx = [f"i{k}" for k in range(len(shape))]
    return [
        f"{out} = np.empty({tuple(shape)!r}, {_np_type(dtype)})",
        *heads,
        f"{indent}{out}[{', '.join(idx)}] = {source_index(idx)}",
    ]


def _transpose(eqn: Equation, args: list[str], out: str, new) -> list[str]:
    (x,) = args
    if eqn.invars[0].aval.ndim == 0:
        return [f"{out} = {x}"]
    perm = eqn.params["permutation"]

    def src(idx: list[str]) -> str:
        at = [""] * len(perm)
        for k, axis in enumerate(perm):
            at[axis] = idx[k]
        return f"{x}[{', '.join(at)}]"

    v = eqn.outvars[0]
    return _copy(out, v.aval.shape, _dtype(v), src)


def _broadcast_to(eqn: Equation, args: list[str], out: str, new) -> list[str]:
    (x,) = args
    src_shape = eqn.invars[0].aval.shape
    v = eqn.outvars[0]
    shape = v.aval.shape
    if not src_shape:
        return [f"{out} = np.full({tuple(shape)!r}, {x}, {_np_type(_dtype(v))})"]
    lead = len(shape) - len(src_shape)

    def src(idx: list[str]) -> str:
        at = [
            "0" if d == 1 and shape[lead + k] != 1 else idx[lead + k]
            for k, d in enumerate(src_shape)
        ]
        return f"{x}[{', '.join(at)}]"

    return _copy(out, shape, _dtype(v), src)


def _reshape(eqn: Equation, args: list[str], out: str, new) -> list[str]:
    (x,) = args
    src_shape = eqn.invars[0].aval.shape
    v = eqn.outvars[0]
    shape = v.aval.shape
    if not src_shape:
        return (
            [f"{out} = {x}"]
            if not shape
            else [f"{out} = np.full({tuple(shape)!r}, {x}, {_np_type(_dtype(v))})"]
        )
    if not shape:
        return [f"{out} = np.ascontiguousarray({x}).ravel()[0]"]
    return [f"{out} = np.ascontiguousarray({x}).reshape({tuple(shape)!r})"]


_STRUCTURAL_LOWERING = {"transpose": _transpose, "reshape": _reshape, "broadcast_to": _broadcast_to}


def _free(ndim: int, contract, batch) -> list[int]:
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot(eqn: Equation, args: list[str], out: str, new) -> list[str]:
    """Lines of a ``dot_general``: BLAS or loops (see the module docstring)."""
    if _uses_blas(eqn):
        return _dot_blas(eqn, args, out, new)
    return _dot_loops(eqn, args, out)


def _as_matrix(name: str, var: Var, rows: list[int], cols: list[int], dt: np.dtype, new, lines):
    """An expression of ``var`` as a 2-D ``(prod rows, prod cols)`` contiguous matrix of ``dt``
    (a view where the axes are already in order), lines computing it appended to ``lines``."""
    shape = var.aval.shape
    m = math.prod(shape[i] for i in rows)
    n = math.prod(shape[i] for i in cols)
    src = name
    if var.aval.ndim == 0:
        t = new()
        lines.append(f"{t} = np.full((1, 1), {src}, {_np_type(dt)})")
        return t
    if _dtype(var) != dt:
        src = f"{src}.astype({_np_type(dt)})"
    order = rows + cols
    if len(shape) == 2 and order == [1, 0]:
        return f"np.ascontiguousarray({src}).T"
    t = new()
    if order == list(range(len(shape))):
        lines.append(f"{t} = np.ascontiguousarray({src}).reshape(({m}, {n}))")
    else:
        perm = tuple(order)
        lines.append(f"{t} = np.ascontiguousarray({src}.transpose({perm!r})).reshape(({m}, {n}))")
    return t


def _dot_blas(eqn: Equation, args: list[str], out: str, new) -> list[str]:
    x, y = eqn.invars
    (xc, yc), _ = eqn.params["dimension_numbers"]
    dt = _dtype(eqn.outvars[0])
    lines: list[str] = []
    a = _as_matrix(args[0], x, _free(x.aval.ndim, xc, ()), list(xc), dt, new, lines)
    b = _as_matrix(args[1], y, list(yc), _free(y.aval.ndim, yc, ()), dt, new, lines)
    shape = eqn.outvars[0].aval.shape
    if not shape:
        lines.append(f"{out} = np.dot({a}, {b})[0, 0]")
    elif len(shape) == 2 and len(_free(x.aval.ndim, xc, ())) == 1:
        lines.append(f"{out} = np.dot({a}, {b})")
    else:
        lines.append(f"{out} = np.dot({a}, {b}).reshape({tuple(shape)!r})")
    return lines


def _dot_loops(eqn: Equation, args: list[str], out: str) -> list[str]:
    """Each output element's sum in the contracted axes' C order, in a float64/int64
    accumulator; the innermost loop runs over ``y``'s free axes when they are long enough
    to vectorise, else over the contracted ones (a register accumulator)."""
    x, y = eqn.invars
    (xc, yc), (xb, yb) = eqn.params["dimension_numbers"]
    v = eqn.outvars[0]
    dt = _dtype(v)
    acc_dt = "np.float64" if dt.kind == "f" else "np.int64"
    xf, yf = _free(x.aval.ndim, xc, xb), _free(y.aval.ndim, yc, yb)
    sizes = {}
    b_idx = [f"b{k}" for k in range(len(xb))]
    i_idx = [f"i{k}" for k in range(len(xf))]
    j_idx = [f"j{k}" for k in range(len(yf))]
    p_idx = [f"p{k}" for k in range(len(xc))]
    for names, axes, arr in ((b_idx, xb, x), (i_idx, xf, x), (j_idx, yf, y), (p_idx, xc, x)):
        for n, a in zip(names, axes):
            sizes[n] = arr.aval.shape[a]
    xi = [""] * x.aval.ndim
    for names, axes in ((b_idx, xb), (i_idx, xf), (p_idx, xc)):
        for n, a in zip(names, axes):
            xi[a] = n
    yi = [""] * y.aval.ndim
    for names, axes in ((b_idx, yb), (j_idx, yf), (p_idx, yc)):
        for n, a in zip(names, axes):
            yi[a] = n
    xa = f"{args[0]}[{', '.join(xi)}]" if xi else args[0]
    ya = f"{args[1]}[{', '.join(yi)}]" if yi else args[1]
    prod = f"{acc_dt}({xa}) * {acc_dt}({ya})"
    oi = b_idx + i_idx + j_idx
    n_inner = math.prod(sizes[j] for j in j_idx)
    lines: list[str] = []
    acc = f"{out}a"

    def nest(order: list[str], depth: int) -> str:
        for k, n in enumerate(order):
            lines.append("    " * (depth + k) + f"for {n} in range({sizes[n]}):")
        return "    " * (depth + len(order))

    if oi and n_inner >= 8:
        lines.append(f"{acc} = np.zeros({tuple(v.aval.shape)!r}, {acc_dt})")
        ind = nest(b_idx + i_idx + p_idx + j_idx, 0)
        lines.append(f"{ind}{acc}[{', '.join(oi)}] += {prod}")
        cast = f"{acc}.astype({_np_type(dt)})" if acc_dt != _np_type(dt) else acc
        lines.append(f"{out} = {cast}")
        return lines
    if oi:
        lines.append(f"{out} = np.empty({tuple(v.aval.shape)!r}, {_np_type(dt)})")
    ind = nest(oi, 0)
    lines.append(f"{ind}{acc} = {acc_dt}(0)")
    inner = nest(p_idx, len(oi))
    lines.append(f"{inner}{acc} += {prod}")
    target = f"{out}[{', '.join(oi)}]" if oi else out
    lines.append(f"{ind}{target} = {_np_type(dt)}({acc})")
    return lines
