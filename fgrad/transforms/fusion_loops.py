"""Staged loops as single numba kernels: the loop, its carry and its body in compiled code.

Under ``jit`` a ``fori_loop``/``scan`` is one ``scan`` equation and a ``while_loop`` (or a
``fori_loop`` with a traced bound) one ``while_loop`` equation; their replay calls the body's
NumPy replay once per iteration, so a body of many small operations pays NumPy's per-call
floor per operation and iteration. :func:`fused_loop` writes such an equation as one kernel
(its source is readable in ``jit(f).lower(*args).as_text()``)::

    def kernel(x0, x1):
        c0 = x0.copy()                        # the carry, in local variables
        y0 = np.empty((500, 3), np.float64)   # the stacked ys, preallocated
        for n0 in range(500):
            i0 = n0                           # (length - 1 - n0 when reverse)
            t0 = c0 * x1[i0]                  # the body: one statement per equation
            ...
            c0 = t5
            y0[i0] = t5
        return (c0, y0, )

A ``while_loop`` becomes ``while True:`` with its predicate computed inside; a loop in the
body becomes a loop nested in the kernel. Each equation is one statement on whole arrays
(numba's array expressions) or on scalars (values of shape ``()``), with every operand cast
to the dtype NumPy computes in (NEP 50, as :mod:`fgrad.transforms.numba_lowering` does), so
float32 stays float32. Besides elementwise arithmetic, comparisons, ``select`` and casts, a
kernel computes integer scalar arithmetic (the loop index), full and single-axis sums, full
maxima and minima, basic indexing (``getitem``, ``index_add``, ``index_set`` with ints,
slices, ``None`` and ``...``), ``reshape``, ``transpose``, ``broadcast_to``,
``concatenate``, ``dot_general`` without batch dimensions on small operands (at most
:data:`SMALL_DOT` multiply-adds), and ``linalg_solve`` of one small matrix (at most
:data:`SMALL_SOLVE` rows, by LU with partial pivoting, as LAPACK's ``getrf``/``getrs``; a
zero pivot raises ``LinAlgError("Singular matrix")`` as NumPy does).

A loop whose body (or nested body) has any other equation (gathers with index arrays,
``cond``, large products, other linalg, ...) is left as it is: its replay runs exactly as
without fusion. Numbers are NumPy's to the last bit for ``+ - * /``, ``sqrt``, comparisons,
casts, indexing and data movement; transcendental functions and ``pow`` come from the C
library (NumPy's SIMD versions differ by about an ulp), and products and the solve
accumulate in loop order (BLAS/LAPACK kernels may use another order or fused
multiply-adds): differences at the ulp level, which a long loop can carry along but not
amplify beyond the conditioning of the computation itself. Float sums over trailing or
leading axes follow NumPy's order (:mod:`fgrad.transforms.sum_order`), bit for bit.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Literal, Var
from fgrad.transforms.numba_lowering import compile_kernel, compute_dtype, kind
from fgrad.transforms.optimize import optimize
from fgrad.transforms.sum_order import pairwise_call, pairwise_text, trailing_run

#: the loop primitives a kernel can run
LOOPS = ("scan", "while_loop")
#: the most multiply-adds of a ``dot_general`` computed inside a loop kernel
SMALL_DOT = 4096
#: the most rows of a matrix ``linalg_solve`` factors inside a loop kernel
SMALL_SOLVE = 16
#: the most elements of a value a loop kernel keeps in scalar locals
SCALAR_SIZE = 64
#: the most lines of a kernel with values in scalars (beyond, compiling takes too long)
SCALAR_LINES = 4000

_TYPE = {
    "float32": "np.float32",
    "float64": "np.float64",
    "bool": "np.bool_",
    "int8": "np.int8",
    "int16": "np.int16",
    "int32": "np.int32",
    "int64": "np.int64",
    "uint8": "np.uint8",
    "uint16": "np.uint16",
    "uint32": "np.uint32",
    "uint64": "np.uint64",
}
_UNARY = frozenset(
    "exp log log1p expm1 sin cos tan tanh sqrt abs arcsin arccos arctan sinh cosh "
    "arcsinh arccosh arctanh floor ceil trunc".split()
)
_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
_BITWISE = {"bitwise_and": "{0} & {1}", "bitwise_or": "{0} | {1}", "bitwise_xor": "{0} ^ {1}"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_INTEGER_OPS = ("add", "sub", "mul", "neg", "max", "min")

# helpers every loop kernel file defines after ``kernel`` (numba resolves them when it
# compiles ``kernel``, on its first call)
_HELPERS = """

@njit(inline="always")
def _item(x):
    return x.ravel()[0]


@njit(inline="always")
def _contiguous(x):
    return np.ascontiguousarray(x)


@njit
def _matmul(a, b, out):
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            acc = a[i, 0] * b[0, j]
            for k in range(1, a.shape[1]):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc
    return out


@njit
def _row_sums(rows, zero):
    flat = rows.ravel()
    out = np.empty(rows.shape[0], rows.dtype)
    for i in range(rows.shape[0]):
        out[i] = zero + _pairwise(flat, i * rows.shape[1], rows.shape[1], zero)
    return out


@njit
def _solve(a, b):
    x = b.copy()
    _solve_in_place(a.copy(), x)
    return x


@njit
def _solve_in_place(lu, x):
    n = lu.shape[0]
    for j in range(n):
        p = j
        for r in range(j + 1, n):
            if abs(lu[r, j]) > abs(lu[p, j]):
                p = r
        if lu[p, j] == 0:
            raise np.linalg.LinAlgError("Singular matrix")
        if p != j:
            for c in range(n):
                lu[j, c], lu[p, c] = lu[p, c], lu[j, c]
            for c in range(x.shape[1]):
                x[j, c], x[p, c] = x[p, c], x[j, c]
        for r in range(j + 1, n):
            lu[r, j] = lu[r, j] / lu[j, j]
            for c in range(j + 1, n):
                lu[r, c] -= lu[r, j] * lu[j, c]
    for c in range(x.shape[1]):
        for r in range(n):
            for k in range(r):
                x[r, c] -= lu[r, k] * x[k, c]
        for r in range(n - 1, -1, -1):
            for k in range(r + 1, n):
                x[r, c] -= lu[r, k] * x[k, c]
            x[r, c] = x[r, c] / lu[r, r]
"""


class Unsupported(Exception):
    """An equation a loop kernel cannot compute: the loop stays on its NumPy replay."""


class FusedLoop:
    """The pseudo-primitive of one loop kernel (like :class:`fusion.FusedKernel`): called
    with the loop equation's operands, it returns its results (NumPy scalars for shape
    ``()``). Constants the loop's bodies hold are passed after the operands. Where the
    kernel raises (a singular matrix), the loop's own replay runs instead, so the error
    is the one NumPy raises, explained as without fusion."""

    multiple_results = True
    returns_views = False
    effectful = False
    is_loop = True  # fused_blocks leaves it a call of its own

    def __init__(self, name: str, source: str, loop: Equation, extra: list):
        self.name = name
        self.source = source
        self.extra = tuple(extra)
        self._loop = loop
        self._kernel = None
        self._boxes = [
            np.dtype(v.aval.dtype).type if v.aval.ndim == 0 else None for v in loop.outvars
        ]

    @property
    def kernel_text(self) -> str:
        """What ``compile_kernel`` compiles: the source and the helpers it calls."""
        return self.source + _HELPERS

    def kernel_args(self, args: tuple) -> tuple:
        """The arguments its numba kernel is called with: the operands, then the constants."""
        return (*args, *self.extra)

    def numpy_outputs(self, *args) -> list:
        """Its outputs computed by the loop's NumPy replay (no kernel compiled)."""
        return list(self._loop.prim.impl(*args, **self._loop.params))

    def impl(self, *args):
        kernel = self._kernel
        if kernel is None:
            kernel = self._kernel = compile_kernel(self.kernel_text)
        try:
            outs = kernel(*args, *self.extra)
        except Exception:
            return self.numpy_outputs(*args)
        return [x if box is None else box(x) for x, box in zip(outs, self._boxes)]

    def abstract_eval(self, *avals):
        """The loop's (read when a failure is explained)."""
        return self._loop.prim.abstract_eval(*avals, **self._loop.params)

    def __repr__(self) -> str:
        return self.name


def fused_loop(eqn: Equation, name: str) -> Equation | None:
    """``eqn`` as one :class:`FusedLoop` equation, or None where ``eqn`` is not a loop or
    its body has an equation no kernel computes (see the module docstring)."""
    if eqn.prim.name not in LOOPS or any(
        type(v) is Literal and not isinstance(v.val, (bool, int, float)) for v in eqn.invars
    ):
        return None
    for writer in (_ScalarWriter(), _Writer()):
        try:
            source = writer.kernel(eqn)
        except Unsupported:
            continue
        if isinstance(writer, _ScalarWriter) and len(writer.lines) > SCALAR_LINES:
            continue
        return Equation(
            FusedLoop(name, source, eqn, writer.extra), list(eqn.invars), eqn.outvars, {}
        )
    return None


def _dt(v) -> np.dtype:
    return np.dtype(v.aval.dtype)


def _type(dtype: np.dtype) -> str:
    name = _TYPE.get(np.dtype(dtype).name)
    if name is None:
        raise Unsupported(f"dtype {dtype}")
    return name


def _literal(val, dtype: np.dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return repr(bool(val))
    if dtype.kind in "iu":  # a bare int is numba's int64
        return str(int(val)) if dtype == np.int64 else f"{_type(dtype)}({int(val)})"
    x = float(val)
    text = (
        repr(x) if np.isfinite(x) else ("np.nan" if x != x else ("-np.inf" if x < 0 else "np.inf"))
    )
    return text if dtype == np.float64 else f"{_type(dtype)}({text})"


def _index_text(index: tuple, ndim: int) -> str:
    """A static basic index as source; ``...`` is spelled out as slices."""
    parts: list[str] = []
    for i in index:
        if i is Ellipsis:
            taken = sum(1 for j in index if j is not None and j is not Ellipsis)
            parts += [":"] * (ndim - taken)
        elif i is None:
            parts.append("None")
        elif isinstance(i, slice):
            if any(
                not (s is None or isinstance(s, (int, np.integer)))
                for s in (i.start, i.stop, i.step)
            ):
                raise Unsupported("slice bounds")
            start, stop, step = (
                ("" if s is None else str(int(s))) for s in (i.start, i.stop, i.step)
            )
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        elif isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            parts.append(str(int(i)))
        else:
            raise Unsupported("an index array")
    return ", ".join(parts) + ("," if len(parts) == 1 else "")


class _Writer:
    """Writes the source of one loop kernel, values being whole arrays (see the module
    docstring); :class:`_ScalarWriter` keeps small arrays in scalars instead. A value is
    the source text of an expression here."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.count = 0
        self.extra: list = []  # array constants of the bodies, passed after the operands

    def fresh(self, prefix: str = "t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def kernel(self, eqn: Equation) -> str:
        params = [f"x{k}" for k in range(len(eqn.invars))]
        p = eqn.params
        first_xs = p["n_consts"] + p["n_carry"] if eqn.prim.name == "scan" else len(params)
        ins = []
        for k, (p, v) in enumerate(zip(params, eqn.invars)):
            if type(v) is Literal:
                ins.append(self.literal(v.val, _dt(v)))
            elif v.aval.ndim == 0:
                name = self.fresh("s")
                self.line(f"{name} = {_type(_dt(v))}(scalar_of({p}))")
                ins.append(self.literal(name, None))
            else:
                ins.append(p if k >= first_xs else self.argument(p, v))
        outs = self.loop(eqn, ins)
        returned = [self.result(out, v) for v, out in zip(eqn.outvars, outs)]
        self.line(f"return ({''.join(r + ', ' for r in returned)})")
        extra = [f"e{k}" for k in range(len(self.extra))]
        head = f"def kernel({', '.join(params + extra)}):"
        return "\n".join([head, *self.lines]) + "\n"

    # -- how values are held (overridden by _ScalarWriter) ----------------------------------

    def literal(self, val, dtype: np.dtype | None):
        """A scalar value: a literal of ``dtype``, or (dtype None) the local named ``val``."""
        return val if dtype is None else _literal(val, dtype)

    def argument(self, name: str, v):
        """The kernel's array argument ``name`` (not one a scan slices: that is its name)."""
        return name

    def constant(self, array: np.ndarray):
        """An array constant of a body: an extra argument of the kernel."""
        _type(array.dtype)
        self.extra.append(array)
        return f"e{len(self.extra) - 1}"

    def result(self, value, v) -> str:
        """A returned value: arrays are copied, so none is a kernel argument."""
        return f"{value}.copy()" if v.aval.ndim else value

    def carry(self, values: list, avals: list) -> list:
        """Local variables holding a loop's carry, set to its initial values."""
        names = []
        for text, v in zip(values, avals):
            name = self.fresh("c")
            # a copy makes every array carry a writeable C-ordered array, one numba type
            self.line(f"{name} = {text}.copy()" if v.aval.ndim else f"{name} = {text}")
            names.append(name)
        return names

    def update(self, carry: list, values: list) -> None:
        if carry:
            self.line(f"{', '.join(carry)} = {', '.join(values)}")

    def stacked(self, v) -> str:
        """A preallocated array of ys."""
        name = self.fresh("y")
        self.line(f"{name} = np.empty({v.aval.shape!r}, {_type(_dt(v))})")
        return name

    def store(self, ys: str, index: str, value, v) -> None:
        self.line(f"{ys}[{index}] = {value}")

    def slice(self, xs, index: str, v):
        """Step ``index``'s slice of the scanned array ``xs`` (of aval ``v``)."""
        return f"{xs}[{index}]"

    def predicate(self, value) -> str:
        return value

    def held(self, name: str, v):
        """The value of the array variable ``name`` (of aval ``v``)."""
        return name

    def prepared_xs(self, value, v):
        """``xs`` in a form :meth:`slice` reads."""
        return value

    # -- loops ------------------------------------------------------------------------------

    def loop(self, eqn: Equation, ins: list) -> list:
        if eqn.prim.name == "scan":
            return self.scan(eqn, ins)
        return self.while_loop(eqn, ins)

    def body(self, traced) -> ClosedJaxpr:
        if not hasattr(traced, "jaxpr") or not hasattr(traced, "n_consts"):
            raise Unsupported("a loop body that is not a traced function")
        return optimize(ClosedJaxpr(traced.jaxpr, []))

    def scan(self, eqn: Equation, ins: list) -> list:
        p = eqn.params
        n_consts, n_carry, length = p["n_consts"], p["n_carry"], p["length"]
        body = self.body(p["body"])
        xs_vars = eqn.invars[n_consts + n_carry :]
        consts = ins[:n_consts]
        xs = [self.prepared_xs(x, v) for x, v in zip(ins[n_consts + n_carry :], xs_vars)]
        carry = self.carry(
            ins[n_consts : n_consts + n_carry], eqn.invars[n_consts : n_consts + n_carry]
        )
        ys = [self.stacked(v) for v in eqn.outvars[n_carry:]]
        step, index = self.fresh("n"), self.fresh("i")
        self.line(f"for {step} in range({length}):")
        self.depth += 1
        self.line(f"{index} = {length - 1} - {step}" if p["reverse"] else f"{index} = {step}")
        slices = [self.slice(x, index, v) for x, v in zip(xs, xs_vars)]
        outs = self.jaxpr(body, consts + carry + slices)
        for y, out, v in zip(ys, outs[n_carry:], eqn.outvars[n_carry:]):
            self.store(y, index, out, v)  # before the carry: a y may be the carry entering
        self.update(carry, outs[:n_carry])
        self.depth -= 1
        return carry + [self.held(y, v) for y, v in zip(ys, eqn.outvars[n_carry:])]

    def while_loop(self, eqn: Equation, ins: list) -> list:
        cond, body = eqn.params["cond"], eqn.params["body"]
        n_cond, n_body = cond.n_consts, body.n_consts
        cond_jaxpr, body_jaxpr = self.body(cond), self.body(body)
        carry = self.carry(ins[n_cond + n_body :], eqn.invars[n_cond + n_body :])
        self.line("while True:")
        self.depth += 1
        (pred,) = self.jaxpr(cond_jaxpr, ins[:n_cond] + carry)
        self.line(f"if not {self.predicate(pred)}:")
        self.line("    break")
        outs = self.jaxpr(body_jaxpr, ins[n_cond : n_cond + n_body] + carry)
        self.update(carry, outs)
        self.depth -= 1
        return carry

    # -- bodies -----------------------------------------------------------------------------

    def jaxpr(self, closed: ClosedJaxpr, ins: list) -> list:
        """Lines computing ``closed`` on the values named ``ins``; the names of its results."""
        jaxpr: Jaxpr = closed.jaxpr
        names: dict[Var, str] = dict(zip(jaxpr.invars, ins))
        for v, value in zip(jaxpr.constvars, closed.consts):
            if np.ndim(value) == 0:
                names[v] = self.literal(np.asarray(value).item(), _dt(v))
            else:
                names[v] = self.constant(np.asarray(value))

        def atom(v):
            return self.literal(v.val, _dt(v)) if type(v) is Literal else names[v]

        for eqn in jaxpr.eqns:
            if eqn.prim.effectful:
                raise Unsupported(eqn.prim.name)
            ins = [atom(v) for v in eqn.invars]
            outs = self.loop(eqn, ins) if eqn.prim.name in LOOPS else self.equation(eqn, ins)
            names.update(zip(eqn.outvars, outs))
        return [atom(v) for v in jaxpr.outvars]

    def cast(self, v, text: str, dtype: np.dtype) -> str:
        """``text`` (the value of ``v``) in ``dtype``."""
        if type(v) is Literal:
            return _literal(v.val, dtype)
        if _dt(v) == dtype:
            return text
        return f"{text}.astype({_type(dtype)})" if v.aval.ndim else f"{_type(dtype)}({text})"

    def equation(self, eqn: Equation, ins: list[str]) -> list[str]:
        """One statement computing ``eqn``'s single result into a fresh local; its name."""
        if eqn.prim.multiple_results or len(eqn.outvars) != 1:
            raise Unsupported(eqn.prim.name)
        out = eqn.outvars[0]
        expr = self.expression(eqn, ins, out)
        t = self.fresh()
        if out.aval.ndim == 0 and expr.startswith("@"):  # a scalar in the result's dtype
            expr = f"{_type(_dt(out))}({expr[1:]})"
        self.line(f"{t} = {expr}")
        return [t]

    def expression(self, eqn: Equation, ins: list[str], out) -> str:
        name = eqn.prim.name
        vs = eqn.invars
        shape = out.aval.shape
        arrays = any(type(v) is not Literal and v.aval.ndim for v in vs)
        if name == "stop_gradient":
            return ins[0] if arrays else f"@{ins[0]}"
        if name == "convert_element_type":
            x = vs[0]
            _type(_dt(out)), _type(_dt(x))
            if _dt(out).kind == "b":
                return f"{ins[0]} != 0"
            return self.cast(x, ins[0], _dt(out)) if x.aval.ndim else f"@{ins[0]}"
        if self.mappable(eqn):
            return self.elementwise(eqn, ins, out, arrays)
        if name in ("reduce_sum", "reduce_max", "reduce_min"):
            return self.reduction(eqn, ins[0])
        if name == "getitem":
            x = vs[0]
            if len(vs) != 1 or x.aval.ndim == 0:
                raise Unsupported("getitem")
            text = f"{ins[0]}[{_index_text(eqn.params['index'], x.aval.ndim)}]"
            return text if out.aval.ndim else f"@{text}"
        if name in ("index_add", "index_set"):
            return self.scatter(eqn, ins)
        if name == "reshape":
            x = vs[0]
            if x.aval.ndim == 0:
                return f"np.full({shape!r}, {ins[0]}, {_type(_dt(out))})"
            if not shape:
                return f"_item({ins[0]})"
            return f"_contiguous({ins[0]}).reshape({shape!r})"
        if name == "broadcast_to":
            x = vs[0]
            if x.aval.ndim == 0:
                return f"np.full({shape!r}, {ins[0]}, {_type(_dt(out))})"
            return f"np.broadcast_to({ins[0]}, {shape!r})"
        if name == "transpose":
            if vs[0].aval.ndim == 0:
                return ins[0]
            return f"np.transpose({ins[0]}, {tuple(eqn.params['permutation'])!r})"
        if name == "concatenate":
            if any(type(v) is Literal or v.aval.ndim == 0 or _dt(v) != _dt(out) for v in vs):
                raise Unsupported("concatenate")
            return f"np.concatenate(({''.join(t + ', ' for t in ins)}), axis={eqn.params['axis']})"
        if name == "dot_general":
            return self.dot(eqn, ins, out)
        if name == "linalg_solve":
            a, b = vs
            if (
                a.aval.ndim != 2
                or b.aval.ndim != 2
                or a.aval.shape[0] > SMALL_SOLVE
                or {_dt(a), _dt(b), _dt(out)} != {_dt(out)}
                or _dt(out).kind != "f"
            ):
                raise Unsupported("linalg_solve")
            return f"_solve({ins[0]}, {ins[1]})"
        raise Unsupported(name)

    def mappable(self, eqn: Equation) -> bool:
        """Whether ``eqn`` is elementwise work a kernel computes as NumPy does: float
        arithmetic (integer operands cast first, as NumPy casts them), integer addition,
        subtraction, multiplication, maxima and minima (wrapping around alike), comparisons."""
        name = eqn.prim.name
        if name == "select":  # a choice between values of the result's dtype
            c, *ops = eqn.invars
            out = _dt(eqn.outvars[0])
            return (
                type(c) is Var
                and _dt(c).kind == "b"
                and out.kind in "biuf"
                and all(type(v) is Literal or _dt(v) == out for v in ops)
            )
        if name in ("isnan", "isinf", "isfinite", "not", "and", "or"):
            return kind(eqn) == "map"
        if name in _BITWISE:  # on booleans, or on integers of one dtype
            dtypes = {_dt(v) for v in eqn.invars} | {_dt(eqn.outvars[0])}
            return (
                len(dtypes) == 1
                and dtypes.pop().kind in "biu"
                and all(type(v) is Var for v in eqn.invars)
            )
        known = name in _UNARY or name in _OPERATORS or name in _COMPARE
        if not (known or name in ("neg", "max", "min", "arctan2", "hypot")):
            return False
        if any(type(v) is Literal and type(v.val) not in (bool, int, float) for v in eqn.invars):
            return False
        if any(_dt(v).kind not in "biuf" for v in eqn.invars):
            return False
        try:
            dt = compute_dtype(eqn)
        except TypeError:  # no NumPy loop for these dtypes (arithmetic on booleans)
            return False
        if name in _COMPARE:
            return dt.kind in "iuf"
        if _dt(eqn.outvars[0]) != dt:
            return False
        return dt.kind == "f" or (dt.kind in "iu" and name in _INTEGER_OPS)

    def elementwise(self, eqn: Equation, ins: list[str], out, arrays: bool) -> str:
        name = eqn.prim.name
        vs = eqn.invars
        if name == "select":
            dt = _dt(out)
            c = ins[0]
            x, y = (self.cast(v, t, dt) for v, t in zip(vs[1:], ins[1:]))
            if not arrays:
                return f"{x} if {c} else {y}"
            shape = out.aval.shape
            return (
                f"np.where({self.full(vs[0], c, shape)}, {self.full(vs[1], x, shape)}, "
                f"{self.full(vs[2], y, shape)})"
            )
        if name in ("isnan", "isinf", "isfinite"):
            return f"np.{name}({ins[0]})"
        if name in _BITWISE:
            return _BITWISE[name].format(*ins)
        if name in ("not", "and", "or"):
            if not arrays:
                return {"not": "not {0}", "and": "{0} and {1}", "or": "{0} or {1}"}[name].format(
                    *ins
                )
            return {"not": "~{0}", "and": "{0} & {1}", "or": "{0} | {1}"}[name].format(*ins)
        dt = compute_dtype(eqn)
        ops = [self.cast(v, t, dt) for v, t in zip(vs, ins)]
        scalar = "@" if not arrays else ""
        if name in _COMPARE:
            return f"{ops[0]} {_COMPARE[name]} {ops[1]}"
        if name in _OPERATORS:
            return f"{scalar}{ops[0]} {_OPERATORS[name]} {ops[1]}"
        if name == "neg":
            return f"{scalar}-{ops[0]}"
        if name in ("max", "min"):
            if arrays:
                return f"np.{name}imum({ops[0]}, {ops[1]})"
            return f"{scalar}_{name}imum({ops[0]}, {ops[1]})"
        if name in _UNARY or name in ("arctan2", "hypot"):
            return f"{scalar}np.{name}({', '.join(ops)})"
        raise Unsupported(name)

    def full(self, v, text: str, shape: tuple) -> str:
        """``text`` as an array of ``shape`` (``np.where`` of numba wants equal shapes)."""
        if type(v) is Literal or v.aval.ndim == 0:
            return f"np.full({shape!r}, {text})"
        return text if v.aval.shape == shape else f"np.broadcast_to({text}, {shape!r})"

    def reduction(self, eqn: Equation, x: str) -> str:
        v, out = eqn.invars[0], eqn.outvars[0]
        name = eqn.prim.name
        axes = tuple(eqn.params["axis"])
        nd = v.aval.ndim
        if nd == 0 or 0 in v.aval.shape or _dt(v) != _dt(out):
            raise Unsupported(name)
        fn = {"reduce_sum": "np.sum", "reduce_max": "np.max", "reduce_min": "np.min"}[name]
        axes = sorted(a % nd for a in axes)
        zero = _literal(0, _dt(out))
        shape = out.aval.shape
        if name == "reduce_sum" and _dt(out).kind == "f":  # in NumPy's order (sum_order)
            run = trailing_run(v.aval.shape, axes)
            if all(a in run or v.aval.shape[a] == 1 for a in axes):
                n = int(np.prod([v.aval.shape[a] for a in run]))
                rows = f"_contiguous({x}).reshape((-1, {n}))"
                if not shape:
                    return f"@{zero} + {pairwise_call(f'{rows}.ravel()', n, zero)}"
                return f"_row_sums({rows}, {zero}).reshape({shape!r})"
            if run:
                raise Unsupported("a sum over a run and over leading axes")
        elif axes == list(range(nd)):
            expr = f"{fn}({x})"
            return f"np.full({shape!r}, {expr}, {_type(_dt(out))})" if shape else f"@{expr}"
        if name != "reduce_sum":
            raise Unsupported(name)
        if len(axes) != 1:
            raise Unsupported(name)
        expr = f"np.sum({x}, axis={axes[0]})"
        return f"_contiguous({expr}).reshape({shape!r})" if eqn.params["keepdims"] else expr

    def scatter(self, eqn: Equation, ins: list[str]) -> str:
        x, v = eqn.invars[:2]
        if len(eqn.invars) != 2 or x.aval.ndim == 0 or _dt(x) != _dt(v) and type(v) is not Literal:
            raise Unsupported(eqn.prim.name)
        index = _index_text(eqn.params["index"], x.aval.ndim)
        value = self.cast(v, ins[1], _dt(x))
        t = self.fresh("w")
        self.line(f"{t} = {ins[0]}.copy()")
        if eqn.prim.name == "index_add":
            self.line(f"{t}[{index}] = {t}[{index}] + {value}")
        else:
            self.line(f"{t}[{index}] = {value}")
        return t

    def dot(self, eqn: Equation, ins: list[str], out) -> str:
        a, b = eqn.invars
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        dt = _dt(out)
        if (
            lb
            or rb
            or type(a) is Literal
            or type(b) is Literal
            or dt.kind != "f"
            or _dt(a) != dt
            or _dt(b) != dt
        ):
            raise Unsupported("dot_general")
        sa, sb = a.aval.shape, b.aval.shape
        free_a = [d for d in range(len(sa)) if d not in lc]
        free_b = [d for d in range(len(sb)) if d not in rc]
        m = int(np.prod([sa[d] for d in free_a]))
        k = int(np.prod([sa[d] for d in lc]))
        n = int(np.prod([sb[d] for d in free_b]))
        if m * k * n > SMALL_DOT:
            raise Unsupported("a large dot_general")
        left = self.matrix(a, ins[0], tuple(free_a) + tuple(lc), (m, k))
        right = self.matrix(b, ins[1], tuple(rc) + tuple(free_b), (k, n))
        expr = f"_matmul({left}, {right}, np.empty(({m}, {n}), {_type(dt)}))"
        if not out.aval.shape:
            return f"{expr}[0, 0]"
        return f"{expr}.reshape({out.aval.shape!r})"

    def matrix(self, v, text: str, perm: tuple, shape: tuple) -> str:
        """``v`` with its axes in ``perm``'s order, as a 2-D array of ``shape``."""
        if v.aval.ndim == 0:
            return f"np.full({shape!r}, {text}, {_type(_dt(v))})"
        if perm != tuple(range(v.aval.ndim)):
            text = f"np.transpose({text}, {perm!r})"
        return f"_contiguous({text}).reshape({shape!r})"


def _elements(shape: tuple, text) -> np.ndarray:
    """An object array of ``shape`` holding ``text(index)`` at each index."""
    out = np.empty(shape, object)
    for idx in np.ndindex(*shape):
        out[idx] = text(idx)
    return out


def _at(idx: tuple) -> str:
    return ", ".join(str(i) for i in idx)


def _small(shape: tuple) -> None:
    if int(np.prod(shape)) > SCALAR_SIZE:
        raise Unsupported(f"a value of shape {shape}, too large to be held in scalars")


class _ScalarWriter(_Writer):
    """A loop kernel whose values are all small (at most :data:`SCALAR_SIZE` elements):
    each element is a scalar local, so the body allocates nothing. A value is an object
    array of the value's shape holding each element's source text; data movement
    (``getitem``, ``reshape``, ``transpose``, ``concatenate``, ...) is done on those arrays
    while the source is written, and costs nothing at run time."""

    def __init__(self) -> None:
        super().__init__()
        self.bases: dict[int, tuple[np.ndarray, str]] = {}  # elements -> the array holding them

    def literal(self, val, dtype):
        return np.array(val if dtype is None else _literal(val, dtype), object)

    def argument(self, name: str, v):
        _small(v.aval.shape)
        return self.held(name, v)

    def held(self, name: str, v):
        if np.prod(v.aval.shape) > SCALAR_SIZE:  # only a nested scan or the result reads it
            return name
        elements = _elements(v.aval.shape, lambda idx: f"{name}[{_at(idx)}]")
        self.bases[id(elements)] = (elements, name)
        return elements

    def constant(self, array: np.ndarray):
        _type(array.dtype)
        _small(array.shape)
        return _elements(array.shape, lambda idx: _literal(array[idx], array.dtype))

    def result(self, value, v) -> str:
        if isinstance(value, str):  # a fresh array of ys
            return value
        if v.aval.ndim == 0:
            return value[()]
        name = self.fresh("o")
        self.line(f"{name} = np.empty({v.aval.shape!r}, {_type(_dt(v))})")
        for idx in np.ndindex(*v.aval.shape):
            self.line(f"{name}[{_at(idx)}] = {value[idx]}")
        return name

    def carry(self, values: list, avals: list) -> list:
        carry = []
        for value in values:
            if isinstance(value, str):
                raise Unsupported("a large array in a loop's carry")
            names = _elements(value.shape, lambda idx: self.fresh("c"))
            for idx in np.ndindex(*value.shape):
                self.line(f"{names[idx]} = {value[idx]}")
            carry.append(names)
        return carry

    def update(self, carry: list, values: list) -> None:
        targets = [t for c in carry for t in c.ravel()]
        if targets:
            sources = [s for v in values for s in v.ravel()]
            self.line(f"{', '.join(targets)} = {', '.join(sources)}")

    def store(self, ys: str, index: str, value, v) -> None:
        for idx in np.ndindex(*value.shape):
            self.line(f"{ys}[{', '.join([index, *map(str, idx)])}] = {value[idx]}")

    def prepared_xs(self, value, v) -> str:
        if isinstance(value, str):  # an argument of the kernel
            return value
        known = self.bases.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        name = self.fresh("m")  # a value of the body scanned by a nested loop: stored once
        self.line(f"{name} = np.empty({v.aval.shape!r}, {_type(_dt(v))})")
        for idx in np.ndindex(*v.aval.shape):
            self.line(f"{name}[{_at(idx)}] = {value[idx]}")
        return name

    def slice(self, xs: str, index: str, v):
        return _elements(
            v.aval.shape[1:], lambda idx: f"{xs}[{', '.join([index, *map(str, idx)])}]"
        )

    def predicate(self, value) -> str:
        return value[()]

    def cast(self, v, text: str, dtype: np.dtype) -> str:
        if type(v) is Literal:
            return _literal(v.val, dtype)
        return text if _dt(v) == dtype else f"{_type(dtype)}({text})"

    def assign(self, expr: str, dtype: np.dtype) -> str:
        """A fresh local set to the scalar ``expr`` (``@``: cast to ``dtype`` if not float64
        or int64, whose arithmetic numba already does in that type)."""
        if expr.startswith("@"):
            expr = expr[1:] if dtype in (np.float64, np.int64) else f"{_type(dtype)}({expr[1:]})"
        t = self.fresh()
        self.line(f"{t} = {expr}")
        return t

    def equation(self, eqn: Equation, ins: list) -> list:
        if eqn.prim.multiple_results or len(eqn.outvars) != 1:
            raise Unsupported(eqn.prim.name)
        if any(isinstance(x, str) for x in ins):
            raise Unsupported("a large array in a loop body")
        if eqn.prim.name == "stop_gradient":
            return [ins[0]]
        name, vs, out = eqn.prim.name, eqn.invars, eqn.outvars[0]
        shape, dt = out.aval.shape, _dt(out)
        _type(dt)
        _small(shape)
        if name == "convert_element_type":
            _type(_dt(vs[0]))
            expr = "{0} != 0" if dt.kind == "b" else "@{0}"
            return [_elements(shape, lambda idx: self.assign(expr.format(ins[0][idx]), dt))]
        if self.mappable(eqn):
            parts = [np.broadcast_to(x, shape) for x in ins]
            return [
                _elements(
                    shape,
                    lambda idx: self.assign(
                        self.elementwise(eqn, [p[idx] for p in parts], out, False), dt
                    ),
                )
            ]
        if name in ("reduce_sum", "reduce_max", "reduce_min"):
            return [self.reduction(eqn, ins[0])]
        x = ins[0]
        if name == "getitem":
            if len(vs) != 1 or x.ndim == 0:
                raise Unsupported("getitem")
            return [np.asarray(x[eqn.params["index"]], object)]
        if name == "reshape":
            return [x.reshape(shape)]
        if name == "broadcast_to":
            return [np.broadcast_to(x, shape)]
        if name == "transpose":
            return [x.transpose(eqn.params["permutation"]) if x.ndim else x]
        if name == "concatenate":
            if any(type(v) is Literal or v.aval.ndim == 0 or _dt(v) != dt for v in vs):
                raise Unsupported("concatenate")
            return [np.concatenate(ins, axis=eqn.params["axis"])]
        if name in ("index_add", "index_set"):
            return [self.scatter(eqn, ins)]
        if name == "dot_general":
            return [self.dot(eqn, ins, out)]
        if name == "linalg_solve":
            return [self.solve(eqn, ins)]
        raise Unsupported(name)

    def reduction(self, eqn: Equation, x: np.ndarray) -> np.ndarray:
        v, out = eqn.invars[0], eqn.outvars[0]
        name, dt = eqn.prim.name, _dt(out)
        axes = sorted(a % max(x.ndim, 1) for a in eqn.params["axis"])
        if x.ndim == 0 or 0 in x.shape or (name != "reduce_sum" and _dt(v) != dt):
            raise Unsupported(name)
        kept = [a for a in range(x.ndim) if a not in axes]
        runs = x.transpose(kept + axes).reshape([x.shape[a] for a in kept] + [-1])
        zero = _literal(0, dt)
        # NumPy's order (sum_order): each contiguous run pairwise, runs and terms of a kept
        # last axis in sequence; integers in sequence (their sums do not depend on it)
        run = trailing_run(x.shape, axes) if dt.kind == "f" else ()
        n_run = int(np.prod([x.shape[a] for a in run]))

        def reduce(idx) -> str:
            terms = [self.cast(v, t, dt) for t in runs[idx]]
            if name == "reduce_sum":
                expr = zero
                for k in range(0, len(terms), n_run):
                    chunk = terms[k : k + n_run]
                    expr = f"({expr} + {pairwise_text(chunk, zero) if run else chunk[0]})"
                return self.assign(f"@{expr}", dt)
            pick = "_maximum" if name == "reduce_max" else "_minimum"
            expr = terms[0]
            for t in terms[1:]:
                expr = f"{pick}({expr}, {t})"
            return self.assign(f"@{expr}", dt)

        result = _elements(runs.shape[:-1], reduce)
        return result.reshape(out.aval.shape)

    def scatter(self, eqn: Equation, ins: list) -> np.ndarray:
        x, v = eqn.invars[:2]
        if (
            len(eqn.invars) != 2
            or ins[0].ndim == 0
            or (type(v) is not Literal and _dt(v) != _dt(x))
        ):
            raise Unsupported(eqn.prim.name)
        dt = _dt(x)
        new = ins[0].copy().ravel()
        where = np.arange(new.size).reshape(ins[0].shape)[eqn.params["index"]]
        values = np.broadcast_to(ins[1], np.shape(where))
        for pos, val in zip(np.ravel(where), values.ravel()):
            val = self.cast(v, val, dt)
            if eqn.prim.name == "index_add":
                new[pos] = self.assign(f"@{new[pos]} + {val}", dt)
            else:
                new[pos] = val
        return new.reshape(ins[0].shape)

    def dot(self, eqn: Equation, ins: list, out) -> np.ndarray:
        a, b = eqn.invars
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        dt = _dt(out)
        if (
            type(a) is Literal
            or type(b) is Literal
            or dt.kind != "f"
            or _dt(a) != dt
            or _dt(b) != dt
        ):
            raise Unsupported("dot_general")
        x, y = ins
        free_a = [d for d in range(x.ndim) if d not in lc and d not in lb]
        free_b = [d for d in range(y.ndim) if d not in rc and d not in rb]
        batch = int(np.prod([x.shape[d] for d in lb]))
        left = x.transpose(list(lb) + free_a + list(lc)).reshape(
            batch, -1, max(1, int(np.prod([x.shape[d] for d in lc])))
        )
        right = y.transpose(list(rb) + list(rc) + free_b).reshape(batch, left.shape[2], -1)

        def entry(idx) -> str:
            n, i, j = idx
            terms = [f"{left[n, i, k]} * {right[n, k, j]}" for k in range(left.shape[2])]
            return self.assign("@" + " + ".join(terms), dt)

        return _elements((batch, left.shape[1], right.shape[2]), entry).reshape(out.aval.shape)

    def solve(self, eqn: Equation, ins: list) -> np.ndarray:
        a, b = eqn.invars
        out = eqn.outvars[0]
        if (
            a.aval.ndim != 2
            or b.aval.ndim != 2
            or {_dt(a), _dt(b)} != {_dt(out)}
            or _dt(out).kind != "f"
        ):
            raise Unsupported("linalg_solve")
        t = _type(_dt(out))
        lu, rhs = self.fresh("lu"), self.fresh("rhs")
        for name, value in ((lu, ins[0]), (rhs, ins[1])):
            self.line(f"{name} = np.empty({value.shape!r}, {t})")
            for idx in np.ndindex(*value.shape):
                self.line(f"{name}[{_at(idx)}] = {value[idx]}")
        self.line(f"_solve_in_place({lu}, {rhs})")
        return _elements(ins[1].shape, lambda idx: self.assign(f"{rhs}[{_at(idx)}]", _dt(out)))
