"""Random straight-line programs over the NumPy API that fgrad and JAX share.

A :class:`Program` is data: the shapes of its two inputs ``x`` and ``y`` and a
list of :class:`Op` records, each naming an operation of :data:`OPS`, the
indices of its operands among the values computed so far (``0`` is ``x``,
``1`` is ``y``) and its static parameters (axes, shapes, constants). The same
record is turned into a Python function for any library by :func:`build`,
which calls the operations through a :class:`~fuzz.backends.Backend` (its
``np``, ``lax`` and ``at``). Nothing in an operation depends on which library
runs it, so a difference between two runs is a difference between the
libraries (or between one library's transforms).

:func:`generate` draws a program from a seeded ``numpy.random.Generator``. It
evaluates each candidate operation eagerly with fgrad on sample inputs and keeps
it only when the result is finite and moderate, so every program is defined,
smooth enough for finite differences at the sample point, and keeps predicates
of ``cond``/``switch`` away from their thresholds (a margin of 0.25).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from .backends import FGRAD

# -- the program record -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Op:
    """One operation: ``OPS[name](backend, *values[args], **params)``."""

    name: str
    args: tuple[int, ...]
    params: dict

    def __str__(self) -> str:
        shown = {k: _short(v) for k, v in self.params.items()}
        return f"{self.name}{self.args} {shown}" if shown else f"{self.name}{self.args}"


@dataclasses.dataclass(frozen=True)
class Program:
    """A straight-line program of two array inputs; its result is the last value."""

    seed: int
    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]
    ops: tuple[Op, ...]
    dtype: str = "float64"

    def __str__(self) -> str:
        lines = [f"program seed={self.seed} {self.dtype} x{self.x_shape} y{self.y_shape}"]
        lines += [f"  v{k + 2} = {op}" for k, op in enumerate(self.ops)]
        return "\n".join(lines)

    def names(self) -> set[str]:
        return {op.name for op in self.ops}


def _short(v):
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f":
            return f"<float array {v.shape}>"
        return v.tolist()
    if isinstance(v, float):
        return round(v, 4)
    return v


def build(program: Program, backend) -> Callable:
    """The program as a function ``f(x, y)`` calling ``backend``'s operations."""

    def f(x, y):
        values = [x, y]
        for op in program.ops:
            values.append(OPS[op.name].apply(backend, *[values[i] for i in op.args], **op.params))
        return values[-1]

    return f


# -- the vocabulary ---------------------------------------------------------
#
# Each operation is an ``apply(B, *operands, **params)`` written against a
# backend ``B`` and a ``draw(rng, values) -> (args, params) | None`` that picks
# operands among the current values (NumPy arrays from the eager run) and
# parameters valid for their shapes, or None where the operation does not apply.


@dataclasses.dataclass(frozen=True)
class OpKind:
    apply: Callable
    draw: Callable
    weight: float = 1.0


OPS: dict[str, OpKind] = {}


def _op(name: str, draw: Callable, weight: float = 1.0):
    def register(apply: Callable) -> Callable:
        OPS[name] = OpKind(apply, draw, weight)
        return apply

    return register


def _pick(rng, values, pred=lambda v: True):
    """Index of a random value satisfying ``pred`` (later values more likely), or None."""
    ok = [k for k, v in enumerate(values) if pred(v)]
    if not ok:
        return None
    w = np.arange(1, len(ok) + 1, dtype=float) ** 2
    return int(rng.choice(ok, p=w / w.sum()))


def _axis(rng, v) -> int:
    return int(rng.integers(-v.ndim, v.ndim))


def _any(rng, values):
    return (_pick(rng, values),), {}


def _nonscalar(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    return None if k is None else ((k,), {"axis": _axis(rng, values[k])})


# elementwise functions, composed so that any real input is in their domain
UNARY: dict[str, Callable] = {
    "sin": lambda B, a: B.np.sin(a),
    "cos": lambda B, a: B.np.cos(a),
    "tanh": lambda B, a: B.np.tanh(a),
    "exp": lambda B, a: B.np.exp(B.np.tanh(a)),
    "log": lambda B, a: B.np.log(1.0 + a * a),
    "log1p": lambda B, a: B.np.log1p(B.np.square(a)),
    "sqrt": lambda B, a: B.np.sqrt(a * a + 0.5),
    "abs": lambda B, a: B.np.abs(a),
    "negative": lambda B, a: -a,
    "reciprocal": lambda B, a: 1.0 / (1.0 + a**2),
    "arctan": lambda B, a: B.np.arctan(a),
    "arcsinh": lambda B, a: B.np.arcsinh(a),
    "sinh": lambda B, a: B.np.sinh(B.np.tanh(a)),
    "cosh": lambda B, a: B.np.cosh(B.np.sin(a)),
    "expm1": lambda B, a: B.np.expm1(B.np.sin(a)),
    "cube": lambda B, a: B.np.power(a, 3),
    "pow_float": lambda B, a: (a * a + 1.0) ** 1.5,
    "clip": lambda B, a: B.np.clip(a, -0.5, 0.5),
    "relu": lambda B, a: B.np.maximum(a, 0.0),
    "sigmoid": lambda B, a: 1.0 / (1.0 + B.np.exp(-a)),
    "scale": lambda B, a: 2.5 * a - 0.5,
}


def _unary_apply(fn):
    return lambda B, a: UNARY[fn](B, a)


for _name in UNARY:
    _op(f"u_{_name}", _any)(_unary_apply(_name))


def _broadcast_pair(rng, values):
    a = _pick(rng, values)
    ok = [k for k, v in enumerate(values) if _broadcasts(values[a].shape, v.shape)]
    return a, int(rng.choice(ok))


def _broadcasts(s, t) -> bool:
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


BINARY: dict[str, Callable] = {
    "add": lambda B, a, b: a + b,
    "subtract": lambda B, a, b: B.np.subtract(a, b),
    "multiply": lambda B, a, b: a * b,
    "divide": lambda B, a, b: a / (1.0 + b * b),
    "maximum": lambda B, a, b: B.np.maximum(a, b),
    "minimum": lambda B, a, b: B.np.minimum(a, b),
    "where": lambda B, a, b: B.np.where(a > b, a, b * b),
    "arctan2": lambda B, a, b: B.np.arctan2(a, b),
    "logaddexp": lambda B, a, b: B.np.logaddexp(a, b),
    "hypot": lambda B, a, b: B.np.hypot(a, b),
    "power": lambda B, a, b: (a * a + 1.0) ** B.np.tanh(b),
}


def _binary_draw(rng, values):
    return _broadcast_pair(rng, values), {}


def _binary_apply(fn):
    return lambda B, a, b: BINARY[fn](B, a, b)


for _name in BINARY:
    _op(f"b_{_name}", _binary_draw)(_binary_apply(_name))


# reductions, as functions and as array methods
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "var", "std")


def _reduce_draw(rng, values):
    k = _pick(rng, values)
    v = values[k]
    axis = None
    if v.ndim and rng.random() < 0.7:
        axes = [int(a) for a in rng.permutation(v.ndim)[: rng.integers(1, v.ndim + 1)]]
        axis = axes[0] if len(axes) == 1 and rng.random() < 0.5 else tuple(sorted(axes))
    return (k,), {
        "fn": str(rng.choice(REDUCTIONS)),
        "axis": axis,
        "keepdims": bool(rng.random() < 0.3),
        "method": bool(rng.random() < 0.3),
    }


@_op("reduce", _reduce_draw, 2.0)
def _reduce(B, a, fn, axis, keepdims, method):
    if method:
        return getattr(a, fn)(axis=axis, keepdims=keepdims)
    return getattr(B.np, fn)(a, axis=axis, keepdims=keepdims)


@_op("cumsum", _nonscalar)
def _cumsum(B, a, axis):
    return B.np.cumsum(a, axis=axis)


@_op("cumprod", _nonscalar, 0.5)
def _cumprod(B, a, axis):
    return B.np.cumprod(B.np.tanh(a) + 1.0, axis=axis)


@_op("sort", _nonscalar)
def _sort(B, a, axis):
    return B.np.sort(a, axis=axis)


@_op("flip", _nonscalar, 0.5)
def _flip(B, a, axis):
    return B.np.flip(a, axis=axis)


@_op("roll", _nonscalar, 0.5)
def _roll(B, a, axis):
    return B.np.roll(a, 1, axis=axis)


@_op("softmax", _nonscalar)
def _softmax(B, a, axis):
    e = B.np.exp(a - B.np.max(a, axis=axis, keepdims=True))
    return e / B.np.sum(e, axis=axis, keepdims=True)


@_op("log_softmax", _nonscalar)
def _log_softmax(B, a, axis):
    shifted = a - B.lax.stop_gradient(B.np.max(a, axis=axis, keepdims=True))
    return shifted - B.np.log(B.np.sum(B.np.exp(shifted), axis=axis, keepdims=True))


# shapes


def _reshape_draw(rng, values):
    k = _pick(rng, values, lambda v: v.size > 1)
    if k is None:
        return None
    n = values[k].size
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d = int(rng.choice(divisors))
    shape = [d, n // d] if rng.random() < 0.6 else [n]
    if len(shape) == 2 and rng.random() < 0.3:
        shape[int(rng.integers(2))] = -1
    return (k,), {"shape": tuple(shape)}


@_op("reshape", _reshape_draw)
def _reshape(B, a, shape):
    return B.np.reshape(a, shape)


def _transpose_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 2)
    if k is None:
        return None
    return (k,), {"axes": tuple(int(i) for i in rng.permutation(values[k].ndim))}


@_op("transpose", _transpose_draw)
def _transpose(B, a, axes):
    return B.np.transpose(a, axes)


def _any2d(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 2)
    return None if k is None else ((k,), {})


@_op("T", _any2d, 0.5)
def _swap(B, a):
    return a.T


def _expand_draw(rng, values):
    k = _pick(rng, values)
    return (k,), {"axis": int(rng.integers(-values[k].ndim - 1, values[k].ndim + 1))}


@_op("expand_dims", _expand_draw, 0.5)
def _expand_dims(B, a, axis):
    return B.np.expand_dims(a, axis)


def _squeeze_draw(rng, values):
    k = _pick(rng, values, lambda v: 1 in v.shape)
    if k is None:
        return None
    axes = [i for i, n in enumerate(values[k].shape) if n == 1]
    return (k,), {"axis": int(rng.choice(axes))}


@_op("squeeze", _squeeze_draw)
def _squeeze(B, a, axis):
    return B.np.squeeze(a, axis=axis)


@_op("ravel", _any, 0.5)
def _ravel(B, a):
    return B.np.ravel(a)


def _concat_draw(rng, values):
    a = _pick(rng, values, lambda v: v.ndim >= 1)
    if a is None:
        return None
    va = values[a]
    axis = int(rng.integers(va.ndim))
    ok = [
        k
        for k, v in enumerate(values)
        if v.ndim == va.ndim and all(v.shape[i] == va.shape[i] for i in range(va.ndim) if i != axis)
    ]
    return (a, int(rng.choice(ok))), {"axis": axis}


@_op("concatenate", _concat_draw)
def _concatenate(B, a, b, axis):
    return B.np.concatenate([a, b], axis=axis)


def _stack_draw(rng, values):
    a = _pick(rng, values)
    ok = [k for k, v in enumerate(values) if v.shape == values[a].shape]
    return (a, int(rng.choice(ok))), {"axis": int(rng.integers(values[a].ndim + 1))}


@_op("stack", _stack_draw)
def _stack(B, a, b, axis):
    return B.np.stack([a, b], axis=axis)


def _broadcast_to_draw(rng, values):
    k = _pick(rng, values)
    return (k,), {"shape": (2,) + values[k].shape}


@_op("broadcast_to", _broadcast_to_draw, 0.5)
def _broadcast_to(B, a, shape):
    return B.np.broadcast_to(a, shape) * 1.0


@_op("tile", _any, 0.5)
def _tile(B, a):
    return B.np.tile(a, 2)


@_op("repeat", _nonscalar, 0.5)
def _repeat(B, a, axis):
    return B.np.repeat(a, 2, axis=axis)


# indexing


def _index_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    if k is None:
        return None
    shape = values[k].shape
    kind = str(rng.choice(["int", "slice", "ellipsis", "array", "negstep", "mask"]))
    n = shape[0]
    if kind == "int":
        index = int(rng.integers(-n, n))
    elif kind == "slice":
        start = int(rng.integers(0, n))
        index = slice(start, int(rng.integers(start + 1, n + 1)))
    elif kind == "negstep":
        index = slice(None, None, -1 if rng.random() < 0.5 else -2)
    elif kind == "ellipsis":
        index = (Ellipsis, int(rng.integers(shape[-1])))
    elif kind == "array":
        index = rng.integers(0, n, size=int(rng.integers(1, 4)))
    else:
        index = rng.random(n) < 0.6
        if not index.any():
            index[0] = True
    return (k,), {"index": index}


@_op("getitem", _index_draw, 2.0)
def _getitem(B, a, index):
    return a[index]


@_op("take", lambda rng, values: _take_draw(rng, values))
def _take(B, a, indices, axis):
    return B.np.take(a, indices, axis=axis)


def _take_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    if k is None:
        return None
    axis = _axis(rng, values[k])
    n = values[k].shape[axis]
    return (k,), {"indices": rng.integers(0, n, size=int(rng.integers(1, 4))), "axis": axis}


def _dynamic_index_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    if k is None:
        return None
    return (k, _pick(rng, values)), {}


@_op("dynamic_index", _dynamic_index_draw)
def _dynamic_index(B, a, b):
    """``a`` indexed by an integer computed from ``b`` (traced under jit and vmap).

    Not ``a[i]``: where ``a`` is an input left unbatched, it is a NumPy array,
    which cannot be indexed by a tracer (in JAX neither).
    """
    i = B.np.argmax(B.np.ravel(b)) % a.shape[0]
    return B.at(a)[i].get() + B.np.take(a, i, axis=0)


def _at_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    if k is None:
        return None
    n = values[k].shape[0]
    index = int(rng.integers(n)) if rng.random() < 0.5 else rng.integers(0, n, size=3)
    mode = str(rng.choice(["set", "add", "multiply", "get"]))
    if mode == "set" and isinstance(index, np.ndarray):
        index = np.unique(index)
    return (k, _pick(rng, values)), {"index": index, "mode": mode}


@_op("at", _at_draw, 1.5)
def _at(B, a, b, index, mode):
    v = B.np.sum(B.np.sin(b))
    ref = B.at(a)[index]
    return ref.get() * v if mode == "get" else getattr(ref, mode)(v)


def _where_mask_draw(rng, values):
    a, b = _broadcast_pair(rng, values)
    shape = np.broadcast_shapes(values[a].shape, values[b].shape)
    return (a, b), {"mask": rng.random(shape) < 0.5}


@_op("where_mask", _where_mask_draw)
def _where_mask(B, a, b, mask):
    return B.np.where(mask, a, b)


# products


def _matmul_draw(rng, values):
    pairs = [
        (i, j)
        for i, a in enumerate(values)
        for j, b in enumerate(values)
        if a.ndim >= 1 and b.ndim >= 1 and a.shape[-1] == b.shape[-2 if b.ndim >= 2 else 0]
    ]
    if pairs and rng.random() < 0.7:
        return pairs[int(rng.integers(len(pairs)))], {"w": None}
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    if k is None:
        return None
    return (k, k), {"w": rng.normal(size=(values[k].shape[-1], int(rng.integers(1, 4))))}


@_op("matmul", _matmul_draw, 1.5)
def _matmul(B, a, b, w):
    return a @ b if w is None else B.np.matmul(a, w)


@_op("dot", _matmul_draw)
def _dot(B, a, b, w):
    return B.np.dot(a, b if w is None else w)


EINSUMS = {
    1: ["i->", "i,i->", "i,j->ij", "i->i"],
    2: ["ij->j", "ij->ji", "ij,ij->i", "ij,ij->", "ij,kj->ik", "ij,j->i", "ij,i->j"],
    3: ["ijk->ik", "ijk,ijk->j", "ijk,k->ij", "ijk->kji"],
}


def _einsum_draw(rng, values):
    k = _pick(rng, values, lambda v: 1 <= v.ndim <= 3)
    if k is None:
        return None
    a = values[k]
    spec = str(rng.choice(EINSUMS[a.ndim]))
    if "," not in spec:
        return (k, k), {"spec": spec, "w": None}
    lhs = spec.split("->")[0].split(",")
    sizes = dict(zip(lhs[0], a.shape))
    sizes.update({c: int(rng.integers(1, 4)) for c in lhs[1] if c not in sizes})
    second = tuple(sizes[c] for c in lhs[1])
    ok = [j for j, v in enumerate(values) if v.shape == second]
    if ok and rng.random() < 0.7:
        return (k, int(rng.choice(ok))), {"spec": spec, "w": None}
    return (k, k), {"spec": spec, "w": rng.normal(size=second)}


@_op("einsum", _einsum_draw)
def _einsum(B, a, b, spec, w):
    if "," not in spec:
        return B.np.einsum(spec, a)
    return B.np.einsum(spec, a, b if w is None else w)


def _square_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim == 2)
    if k is None:
        return None
    n = values[k].shape[0]
    fn = str(rng.choice(["solve", "det", "inv", "cholesky", "slogdet", "norm"]))
    return (k,), {"fn": fn, "rhs": rng.normal(size=n)}


@_op("linalg", _square_draw)
def _linalg(B, a, fn, rhs):
    """A linear algebra function of the well-conditioned ``a a^T + n I``."""
    n = a.shape[0]
    m = a @ a.T + n * B.np.eye(n)
    if fn == "solve":
        return B.np.linalg.solve(m, rhs)
    if fn == "slogdet":
        return B.np.linalg.slogdet(m)[1]
    if fn == "norm":
        return B.np.linalg.norm(a, axis=-1)
    return getattr(B.np.linalg, fn)(m)


# array methods, Python scalars and constants created inside the program

METHODS: dict[str, Callable] = {
    "reshape": lambda B, a: a.reshape(-1),
    "flatten": lambda B, a: a.flatten(),
    "transpose": lambda B, a: a.transpose(),
    "clip": lambda B, a: a.clip(-0.3, 0.4),
    "cumsum": lambda B, a: a.cumsum(),
    "squeeze": lambda B, a: a.squeeze(),
    "dot": lambda B, a: a.reshape(-1).dot(a.reshape(-1)),
    "conj": lambda B, a: a.conj() * a.real,
    "swapaxes": lambda B, a: a.swapaxes(0, -1),
    "repeat": lambda B, a: a.repeat(2),
    "take": lambda B, a: a.take(np.array([0, -1, 0])),
    "max_min": lambda B, a: a.max(axis=0) - a.min(),
    "astype": lambda B, a: a.astype(np.float64) * 1.5,
    "mean": lambda B, a: a.mean(axis=-1, keepdims=True) * a,
    "int_powers": lambda B, a: a**2 + a**3 + (a * a + 1.0) ** -1,
    "rpow": lambda B, a: 2.0 ** B.np.tanh(a),
    "int_scalars": lambda B, a: 3 - a + 2 * a / 4,
    "neg_index": lambda B, a: a[-1] * a[..., -1:],
    "none_index": lambda B, a: a[None] * a[..., None].sum(),
}


def _method_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    return None if k is None else ((k,), {"method": str(rng.choice(list(METHODS)))})


@_op("method", _method_draw, 2.0)
def _method(B, a, method):
    return METHODS[method](B, a)


CONSTANTS: dict[str, Callable] = {
    "arange": lambda B, n: B.np.arange(n) * 0.5,
    "linspace": lambda B, n: B.np.linspace(-1.0, 1.0, n),
    "ones": lambda B, n: B.np.ones(n) + B.np.zeros((n,)),
    "eye_diag": lambda B, n: B.np.diag(B.np.eye(n) * 2.0 + B.np.ones((n, n))),
    "full": lambda B, n: B.np.full((n,), 0.25) * B.np.arange(n),
}


def _constant_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    if k is None:
        return None
    return (k,), {"fn": str(rng.choice(list(CONSTANTS))), "int": bool(rng.random() < 0.3)}


@_op("constant", _constant_draw)
def _constant(B, a, fn, int):
    """``a`` combined with a constant array built inside the program (folded under jit)."""
    c = CONSTANTS[fn](B, a.shape[-1])
    if int:
        return a * B.np.arange(1, a.shape[-1] + 1) + c
    return a * c + c * c


def _two_takes_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 1)
    if k is None:
        return None
    n = values[k].shape[0]
    first = rng.integers(0, n, size=3)
    return (k,), {"first": first, "second": (first + 1) % n, "mask": rng.random(n) < 0.5}


@_op("two_takes", _two_takes_draw)
def _two_takes(B, a, first, second, mask):
    """Equations that differ only in an array parameter (apart for CSE)."""
    masked = B.np.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, 0.0)
    return a[first] * 2.0 - a[second] + B.np.sum(masked, axis=0)


def _multi_index_draw(rng, values):
    k = _pick(rng, values, lambda v: v.ndim >= 2)
    if k is None:
        return None
    shape = values[k].shape
    rows = rng.integers(0, shape[0], size=3)
    cols = rng.integers(0, shape[1], size=3)
    return (k,), {"rows": rows, "cols": cols, "kind": str(rng.choice(["pairs", "mixed", "grid"]))}


@_op("multi_index", _multi_index_draw)
def _multi_index(B, a, rows, cols, kind):
    if kind == "pairs":
        return a[rows, cols]
    if kind == "mixed":
        return a[1:, cols[:2]] * a[rows[0], ::-1][..., None]
    return a[rows[:, None], cols[None, :]]


# more of the NumPy API, each in a form defined for any real input: (ranks it takes, function)
ANY, ND1, ND2, ONLY1 = range(0, 4), range(1, 4), range(2, 4), range(1, 2)
API: dict[str, tuple[range, Callable]] = {
    "trace": (ND2, lambda B, a: B.np.trace(a)),
    "diagonal": (ND2, lambda B, a: B.np.diagonal(a, offset=1) * 2.0),
    "outer": (ND1, lambda B, a: B.np.outer(a, B.np.sin(a))),
    "kron": (ND1, lambda B, a: B.np.kron(a, B.np.ones(2) * 0.5)),
    "cross": (
        ND1,
        lambda B, a: B.np.cross(
            a[..., :3] if a.shape[-1] >= 3 else a[..., :2],
            B.np.cos(a[..., :3] if a.shape[-1] >= 3 else a[..., :2]),
        ),
    ),
    "tril": (ND2, lambda B, a: B.np.tril(a) + B.np.triu(a, 1) * 0.5),
    "pad": (ND1, lambda B, a: B.np.pad(a, 1) + B.np.pad(a, 1, mode="edge")),
    "array_split": (ND1, lambda B, a: B.np.concatenate(B.np.array_split(a, 2)[::-1])),
    "meshgrid": (ONLY1, lambda B, a: B.np.prod(B.np.stack(B.np.meshgrid(a, B.np.sin(a))), axis=0)),
    "interp": (
        ANY,
        lambda B, a: B.np.interp(a, B.np.linspace(-2, 2, 5), B.np.array([0.0, 1, -1, 2, 0])),
    ),
    "polyval": (ANY, lambda B, a: B.np.polyval(B.np.array([0.5, -1.0, 2.0]), a)),
    "polyval_coef": (ONLY1, lambda B, a: B.np.polyval(a, 0.7) * a),
    "convolve": (ONLY1, lambda B, a: B.np.convolve(a, B.np.array([1.0, -2.0, 0.5]))),
    "correlate": (ONLY1, lambda B, a: B.np.correlate(a, B.np.cos(a), mode="same")),
    "sinc": (ANY, lambda B, a: B.np.sinc(a)),
    "average": (
        ND1,
        lambda B, a: B.np.average(a, axis=0, weights=B.np.arange(1.0, a.shape[0] + 1)),
    ),
    "median": (ND1, lambda B, a: B.np.median(a, axis=-1)),
    "percentile": (ND1, lambda B, a: B.np.percentile(a, 30.0, axis=0)),
    "quantile": (ND1, lambda B, a: B.np.quantile(a, 0.7)),
    "logaddexp2": (ANY, lambda B, a: B.np.logaddexp2(a, 0.5)),
    "degrees": (ANY, lambda B, a: B.np.deg2rad(a) + B.np.degrees(a) * 0.01 + B.np.radians(a)),
    "cbrt": (ANY, lambda B, a: B.np.cbrt(a * a + 1.0)),
    "exp2_log2": (
        ANY,
        lambda B, a: B.np.exp2(B.np.tanh(a)) + B.np.log2(a * a + 1) + B.np.log10(2 + a),
    ),
    "rounding": (
        ANY,
        lambda B, a: a * (B.np.floor(a) + B.np.ceil(a) + B.np.round(a, 1) + B.np.trunc(a)),
    ),
    "mod": (ANY, lambda B, a: B.np.mod(a, 0.7) + B.np.fmod(a, 0.6) + B.np.remainder(a, 0.9)),
    "floor_divide": (ANY, lambda B, a: B.np.floor_divide(a, 0.5) * a),
    "sign": (ANY, lambda B, a: B.np.sign(a) * a + B.np.copysign(a * a, a)),
    "heaviside": (ANY, lambda B, a: B.np.heaviside(a, 0.5) * a),
    "diff": (ND1, lambda B, a: B.np.diff(a, axis=0)),
    "ediff1d": (ND1, lambda B, a: B.np.ediff1d(a)),
    "gradient": (ONLY1, lambda B, a: B.np.gradient(a)),
    "nan_reductions": (
        ND1,
        lambda B, a: (
            B.np.nansum(a, axis=0)
            + B.np.nanmean(a, axis=0)
            + B.np.nanmax(a, axis=0)
            + B.np.nanvar(a, axis=0)
        ),
    ),
    "nancumsum": (ND1, lambda B, a: B.np.nancumsum(a, axis=-1)),
    "ptp": (ND1, lambda B, a: B.np.ptp(a, axis=-1)),
    "cov": (ND2, lambda B, a: B.np.cov(a)),
    "corrcoef": (ND2, lambda B, a: B.np.corrcoef(a)),
    "take_along_axis": (
        ND1,
        lambda B, a: B.np.take_along_axis(a, B.np.argsort(a, axis=-1), axis=-1),
    ),
    "select": (ANY, lambda B, a: B.np.select([a > 0.5, a < -0.5], [a * 2.0, a * a], default=a)),
    "piecewise": (
        ANY,
        lambda B, a: B.np.piecewise(a, [a < 0, a >= 0], [lambda v: v * v, B.np.sin]),
    ),
    "rot90": (ND2, lambda B, a: B.np.rot90(a)),
    "fliplr": (ND2, lambda B, a: B.np.fliplr(a) + B.np.flipud(a)),
    "moveaxis": (ND2, lambda B, a: B.np.moveaxis(a, 0, -1) * 2.0),
    "atleast_3d": (ANY, lambda B, a: B.np.atleast_3d(a) * 1.5),
    "hstack": (ND1, lambda B, a: B.np.hstack([a, a * 2.0])),
    "vstack": (ND1, lambda B, a: B.np.vstack([a, a * 2.0])),
    "dstack": (ND1, lambda B, a: B.np.dstack([a, B.np.sin(a)])),
    "column_stack": (range(1, 3), lambda B, a: B.np.column_stack([a, a * a])),
    "append": (ND1, lambda B, a: B.np.append(a, a[:1], axis=0)),
    "insert": (ND1, lambda B, a: B.np.insert(a, 1, 5.0, axis=0)),
    "delete": (ND1, lambda B, a: B.np.delete(a, 0, axis=-1) * 2.0),
    "resize": (ND1, lambda B, a: B.np.resize(a, (7,))),
    "diagflat": (ND1, lambda B, a: B.np.diagflat(a[:4])),
    "vander": (ONLY1, lambda B, a: B.np.vander(a, 3)),
    "polyint": (
        ONLY1,
        lambda B, a: B.np.polyint(a) + B.np.pad(B.np.polyder(a), (2, 0))[: a.shape[0] + 1],
    ),
    "tensordot": (ND1, lambda B, a: B.np.tensordot(a, B.np.sin(a), axes=a.ndim)),
    "inner": (ND1, lambda B, a: B.np.inner(a, a) + B.np.vdot(a, a)),
    "fft": (ND1, lambda B, a: B.np.abs(B.np.fft.fft(a)) + B.np.real(B.np.fft.ifft(a))),
    "rfft": (
        ND1,
        lambda B, a: (
            B.np.fft.irfft(B.np.fft.rfft(a) * 0.5j, n=a.shape[-1])
            + B.np.abs(B.np.fft.rfft(a)).sum()
        ),
    ),
    "fft2": (ND2, lambda B, a: B.np.real(B.np.fft.fft2(a) * (1.0 - 2.0j))),
    "complex": (
        ANY,
        lambda B, a: (
            B.np.real(B.np.exp(1j * a) * (a + 2j))
            + B.np.angle(a + 0.5j)
            + B.np.imag(B.np.conj(a * (1 + 1j)))
            + B.np.abs(a + 2j)
        ),
    ),
    "float_power": (ANY, lambda B, a: B.np.float_power(a * a + 1, 0.5) + B.np.positive(a)),
    "inverse_trig": (
        ANY,
        lambda B, a: (
            B.np.arccosh(a * a + 1.5)
            + B.np.arctanh(B.np.tanh(a) * 0.9)
            + B.np.arcsin(B.np.tanh(a) * 0.9)
            + B.np.arccos(B.np.tanh(a) * 0.5)
            + B.np.tan(B.np.tanh(a))
        ),
    ),
    "fmax": (ANY, lambda B, a: B.np.fmax(a, 0.2) + B.np.fmin(a, -0.1)),
    "ddof": (ND1, lambda B, a: B.np.var(a, axis=-1, ddof=1) + B.np.std(a, ddof=1)),
    "apply_along_axis": (ND1, lambda B, a: B.np.apply_along_axis(lambda r: B.np.sum(r * r), -1, a)),
    "vectorize": (ANY, lambda B, a: B.np.vectorize(lambda u: B.np.sin(u) * u)(a)),
    "pinv": (ND2, lambda B, a: B.np.linalg.pinv(a[:2, :2] + 2.0 * B.np.eye(2))),
    "eigvalsh": (ND2, lambda B, a: B.np.linalg.eigvalsh(a @ B.np.swapaxes(a, -1, -2))),
    "svd": (ND2, lambda B, a: B.np.linalg.svd(a + B.np.eye(*a.shape[-2:]), compute_uv=False)),
    "matrix_power": (
        ND2,
        lambda B, a: B.np.linalg.matrix_power(a[..., :1, :1] * a[..., :1, :1], 3),
    ),
    "multi_dot": (range(2, 3), lambda B, a: B.np.linalg.multi_dot([a, a.T, a])),
    "norm_ord": (ONLY1, lambda B, a: B.np.linalg.norm(a, ord=1) + B.np.linalg.norm(a, ord=3)),
    "norm_axis": (ND2, lambda B, a: B.np.linalg.norm(a, axis=(0, 1), keepdims=True) * a),
}


# integers, booleans, size-0 axes and Python numbers meeting the float values
MIXED: dict[str, tuple[range, Callable]] = {
    "int_arange": (ND1, lambda B, a: a * (B.np.arange(a.shape[-1]) % 3 + 1) - B.np.arange(2)[0]),
    "bool_mask": (ANY, lambda B, a: (a > 0) * a + (a < -0.5) * 2 - B.np.where(a > 1, 1, 0)),
    "bool_sum": (ND1, lambda B, a: B.np.sum(a > 0, axis=-1, keepdims=True) * a + B.np.mean(a < 0)),
    "int_argmax": (ND1, lambda B, a: a * (B.np.argmax(a, axis=-1)[..., None] + 1)),
    "int_power": (ND1, lambda B, a: a * (B.np.arange(a.shape[-1]) ** 2 % 5) + a // 1),
    "int_mean": (ND1, lambda B, a: a * B.np.mean(B.np.arange(a.shape[-1])) + B.np.sum(a, axis=0)),
    "logical": (
        ANY,
        lambda B, a: (
            B.np.logical_and(a > -1, a < 1) * a
            + B.np.logical_or(a > 1, a < -1) * B.np.sin(a)
            + B.np.any(a > 0.5)
            - B.np.all(a > -3) * 0.5
            + B.np.count_nonzero(a > 0)
        ),
    ),
    "where_scalar": (ANY, lambda B, a: B.np.where(a > 0, a, 0.5) + B.np.where(a < 0.2, 1, a)),
    "searchsorted": (
        ANY,
        lambda B, a: a * (B.np.searchsorted(B.np.array([-1.0, 0.0, 1.0]), a) + 1),
    ),
    "empty_axis": (
        ND1,
        lambda B, a: (
            B.np.concatenate([a, a[:0]], axis=0)
            + B.np.sum(a[..., :0], axis=-1, keepdims=True)
            + B.np.prod(a[:0], axis=0)
        ),
    ),
    "size_one_axis": (ND1, lambda B, a: B.np.squeeze(a[None, ..., :1] * a[..., :1], axis=0) + a),
    "python_numbers": (
        ANY,
        lambda B, a: (2**3 - 1.5) * a + True * a - (7 // 2) * a**2 + -(1 + 2j).real * a,
    ),
    "keepdims_chain": (
        ND1,
        lambda B, a: (
            a - B.np.mean(a, axis=0, keepdims=True)
            + B.np.max(a, axis=-1, keepdims=True) * B.np.min(a, keepdims=True)
        ),
    ),
    "vector_matmul": (
        ND1,
        lambda B, a: a * (a.ravel() @ B.np.cos(a.ravel())) + B.np.dot(a.ravel()[:1], a.ravel()[:1]),
    ),
    "matrix_vector": (ND2, lambda B, a: a @ a[0] if a.shape[-1] == a.shape[-2] else a[..., 0] @ a),
    "cumulative": (ANY, lambda B, a: B.np.cumsum(a) * 0.5 + B.np.cumprod(B.np.tanh(a) * 0.5 + 1)),
    "sort_flat": (ANY, lambda B, a: B.np.sort(a, axis=None) + B.np.sort(-a, axis=None)[::-1]),
    "float32_mixed": (
        ANY,
        lambda B, a: a * B.np.float32(0.5) + B.np.asarray(1.5, dtype=B.np.float32) * a,
    ),
}


def _mixed_draw(rng, values):
    name = str(rng.choice(list(MIXED)))
    k = _pick(rng, values, lambda v: v.ndim in MIXED[name][0])
    return None if k is None else ((k,), {"fn": name})


@_op("mixed", _mixed_draw, 3.0)
def _mixed(B, a, fn):
    return MIXED[fn][1](B, a)


def _api_draw(rng, values):
    name = str(rng.choice(list(API)))
    k = _pick(rng, values, lambda v: v.ndim in API[name][0])
    return None if k is None else ((k,), {"fn": name})


@_op("api", _api_draw, 4.0)
def _api(B, a, fn):
    return API[fn][1](B, a)


# custom derivative rules (correct ones: finite differences must agree) and checkpoint


def _custom_draw(rng, values):
    a = _pick(rng, values)
    b = _pick(rng, values, lambda v: _broadcasts(v.shape, values[a].shape))
    return (a, b), {"kind": str(rng.choice(["jvp", "vjp", "checkpoint"]))}


@_op("custom", _custom_draw, 3.0)
def _custom(B, a, b, kind):
    """``u * tanh(w)`` with its derivative given by a custom rule (or rematerialised)."""

    def primal(u, w):
        return u * B.np.tanh(w)

    if kind == "checkpoint":
        return B.checkpoint(primal)(a, b * 1.0)
    if kind == "jvp":
        fn = B.custom_jvp(primal)

        @fn.defjvp
        def _(primals, tangents):
            (u, w), (du, dw) = primals, tangents
            t = B.np.tanh(w)
            return u * t, du * t + u * (1.0 - t * t) * dw

        return fn(a, b * 1.0)
    fn = B.custom_vjp(primal)

    def fwd(u, w):
        t = B.np.tanh(w)
        return u * t, (u, t)

    def bwd(res, g):
        u, t = res
        gu = g * t
        gw = g * u * (1.0 - t * t)
        return _unbroadcast(B, gu, u), _unbroadcast(B, gw, t)

    fn.defvjp(fwd, bwd)
    return fn(a, b * 1.0)


def _unbroadcast(B, g, like):
    """``g`` summed down to the shape of ``like`` (a custom_vjp returns input shapes)."""
    extra = g.ndim - like.ndim
    g = B.np.sum(g, axis=tuple(range(extra))) if extra else g
    axes = tuple(i for i, n in enumerate(like.shape) if n == 1 and g.shape[i] != 1)
    return B.np.sum(g, axis=axes, keepdims=True) if axes else g


# structured control flow (fgrad.lax / jax.lax)


def _branch_draw(rng, values, n):
    p = _pick(rng, values)
    a = _pick(rng, values)
    c = _pick(rng, values, lambda v: _broadcasts(v.shape, values[a].shape))
    s = float(np.sum(values[p]))
    # thresholds at least 0.25 away from the predicate's value at the sample point
    offsets = np.sort(rng.uniform(0.25, 1.5, size=n - 1) * rng.choice([-1, 1], size=n - 1))
    thresholds = [s + float(o) for o in offsets]
    fns = [str(f) for f in rng.choice(list(UNARY), size=n)]
    return (p, a, c), {"thresholds": thresholds, "fns": fns, "shift": int(rng.integers(-1, 2))}


def _branches(B, fns, c):
    return [lambda u, fn=fn, k=k: UNARY[fn](B, u) * (k + 1.0) + c for k, fn in enumerate(fns)]


@_op("cond", lambda rng, values: _branch_draw(rng, values, 2), 1.5)
def _cond(B, p, a, c, thresholds, fns, shift):
    true_fun, false_fun = _branches(B, fns, c)
    return B.lax.cond(B.np.sum(p) > thresholds[0], true_fun, false_fun, a)


def _switch_draw(rng, values):
    return _branch_draw(rng, values, int(rng.integers(2, 5)))


@_op("switch", _switch_draw, 1.5)
def _switch(B, p, a, c, thresholds, fns, shift):
    """``switch`` on the number of thresholds below ``sum(p)``, plus ``shift`` (clamped)."""
    s = B.np.sum(p)
    index = shift
    for t in thresholds:
        index = index + B.np.where(s > t, 1, 0)
    return B.lax.switch(index, _branches(B, fns, c), a)


def _loop_draw(rng, values):
    a = _pick(rng, values)
    c = _pick(rng, values, lambda v: _broadcasts(v.shape, values[a].shape))
    return (a, c), {"n": int(rng.integers(0, 4)), "fn": str(rng.choice(list(UNARY)))}


def _loop_body(B, fn, c):
    # cos of ``i * 0.5 + 0 * c``, not of the Python number ``i * 0.5``: see known.ACCEPTED
    return lambda i, u: UNARY[fn](B, u) * 0.5 + c * 0.25 + B.np.cos(i * 0.5 + c * 0) * 0.1


@_op("fori_loop", _loop_draw, 1.5)
def _fori_loop(B, a, c, n, fn):
    return B.lax.fori_loop(0, n, _loop_body(B, fn, c), a * 1.0)


@_op("while_loop", _loop_draw)
def _while_loop(B, a, c, n, fn):
    body = _loop_body(B, fn, c)
    _, out = B.lax.while_loop(lambda s: s[0] < n, lambda s: (s[0] + 1, body(s[0], s[1])), (0, a))
    return out


def _scan_draw(rng, values):
    xs = _pick(rng, values, lambda v: v.ndim >= 1)
    if xs is None:
        return None
    step = values[xs].shape[1:]
    init = _pick(rng, values, lambda v: _broadcasts(v.shape, step))
    return (xs, init), {
        "fn": str(rng.choice(list(UNARY))),
        "reverse": bool(rng.random() < 0.3),
        "out": str(rng.choice(["carry", "ys", "both"])),
    }


@_op("scan", _scan_draw, 1.5)
def _scan(B, xs, init, fn, reverse, out):
    carry0 = init + B.np.zeros(xs.shape[1:])

    def step(carry, x):
        new = UNARY[fn](B, carry) * 0.5 + B.np.tanh(x) * carry * 0.5
        return new, B.np.sin(new) + x

    carry, ys = B.lax.scan(step, carry0, xs, reverse=reverse)
    if out == "carry":
        return carry
    return ys if out == "ys" else ys * carry


def _pair_loop_draw(rng, values):
    a = _pick(rng, values)
    b = _pick(rng, values)
    return (a, b), {"n": int(rng.integers(1, 4)), "fn": str(rng.choice(list(UNARY)))}


@_op("fori_loop_pair", _pair_loop_draw)
def _fori_loop_pair(B, a, b, n, fn):
    """A loop whose carry is a tuple of two arrays of different shapes."""

    def body(i, carry):
        u, v = carry
        return UNARY[fn](B, u) * 0.5 + B.np.sum(v) * 0.1, v * 0.9 + B.np.mean(u) * 0.1

    u, v = B.lax.fori_loop(0, n, body, (a * 1.0, b * 1.0))
    return u * B.np.sum(v)


def _while_value_draw(rng, values):
    """A limit on ``sum(v * v)`` away from every value the loop passes (margin 10%)."""
    (a, b), params = _pair_loop_draw(rng, values)
    v, norms = values[a], []
    for _ in range(params["n"] + 2):
        norms.append(float(np.sum(v * v)))
        v = np.asarray(_while_body(FGRAD, params["fn"], v))
    cut = int(rng.integers(len(norms)))
    limit = norms[cut] * 0.95 if cut else max(norms) * 1.1 + 1.0
    if any(abs(x - limit) < 0.05 * limit for x in norms):
        return None
    return (a, b), params | {"limit": limit}


def _while_body(B, fn, v):
    return UNARY[fn](B, v) + v * 1.1


@_op("while_value", _while_value_draw)
def _while_value(B, a, b, n, fn, limit):
    """A loop whose trip count depends on the values (differs across a vmap batch)."""

    def cond(s):
        return (s[0] < n + 2) & (B.np.sum(s[1] * s[1]) < limit)

    def body(s):
        return s[0] + 1, _while_body(B, fn, s[1])

    _, out = B.lax.while_loop(cond, body, (0, a * 1.0))
    return out * B.np.sum(B.np.sin(b))


@_op("cond_tuple", lambda rng, values: _branch_draw(rng, values, 2))
def _cond_tuple(B, p, a, c, thresholds, fns, shift):
    """``cond`` with two operands and a tuple result."""

    def branch(fn, k):
        return lambda u, w: (UNARY[fn](B, u) * k, w * B.np.sum(u))

    u, w = B.lax.cond(B.np.sum(p) < thresholds[0], branch(fns[0], 2.0), branch(fns[1], -1.0), a, c)
    return u + B.np.sum(w)


@_op("lax_map", _loop_draw, 0.5)
def _lax_map(B, a, c, n, fn):
    xs = B.np.reshape(a, (-1,))
    return B.lax.map(lambda u: UNARY[fn](B, u) + u * u, xs)


# -- generation -------------------------------------------------------------

X_SHAPES = [(3,), (2, 3), (3, 2), (4,), (2, 1, 2)]
Y_SHAPES = [(), (3,), (2,), (2, 3), (1,), (4,)]
FLOAT32_SHARE = 0.2


def sample_inputs(program: Program, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of the program's shapes and dtype, normal with standard deviation 1."""
    rng = np.random.default_rng(seed)
    return tuple(
        rng.normal(size=shape).astype(program.dtype) for shape in (program.x_shape, program.y_shape)
    )


def generate(seed: int, length: tuple[int, int] = (2, 7), exclude: frozenset = frozenset()):
    """Draw a program from ``seed``, evaluating each candidate operation on sample inputs.

    Parameters
    ----------
    seed
        Seeds both the program and :func:`sample_inputs` (same seed).
    length
        Bounds of the number of operations (inclusive, exclusive).
    exclude
        Operation names never drawn.
    """
    rng = np.random.default_rng(seed)
    x_shape = X_SHAPES[int(rng.integers(len(X_SHAPES)))]
    y_shape = Y_SHAPES[int(rng.integers(len(Y_SHAPES)))]
    dtype = "float32" if rng.random() < FLOAT32_SHARE else "float64"
    probe = Program(seed, x_shape, y_shape, (), dtype)
    values = [np.asarray(v) for v in sample_inputs(probe, seed)]
    names = [n for n in OPS if n not in exclude]
    weights = np.array([OPS[n].weight for n in names])
    ops: list[Op] = []
    target = int(rng.integers(*length))
    attempts = 0
    while len(ops) < target and attempts < 20 * target:
        attempts += 1
        name = str(rng.choice(names, p=weights / weights.sum()))
        drawn = OPS[name].draw(rng, values)
        if drawn is None:
            continue
        args, params = drawn
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a non-finite candidate is dropped below
                out = np.asarray(OPS[name].apply(FGRAD, *[values[i] for i in args], **params))
        except Exception:  # a combination the drawing did not rule out (shapes)
            continue
        if (
            out.dtype.kind != "f"
            or out.size == 0
            or out.size > 64
            or not np.all(np.isfinite(out))
            or np.max(np.abs(out)) > 1e3
        ):
            continue
        ops.append(Op(name, tuple(args), params))
        values.append(out)
    return Program(seed, x_shape, y_shape, tuple(ops), dtype)
