"""One rule-check harness over the whole primitive registry.

Every registered primitive has cases in ``CASES``: arguments (shapes and a value
domain suited to the primitive, or fixed arrays) and static params. Each case is
checked, in float64, for

* abstract eval: ``abstract_eval`` of the input avals gives the impl's shape and dtype;
* primal outputs: ``jvp`` and ``vjp`` return exactly ``impl``'s result, with its dtype;
* jvp against central finite differences along a random tangent (for a primitive that
  differentiates on a subspace, e.g. Cholesky on Hermitian matrices, a random tangent in
  that subspace, and its cotangents must lie in it);
* vjp against jvp through the dot-product identity ``<vjp(u), v> == <u, jvp(v)>``;
* second order: forward and reverse mode over the pullback (vjp rules) and over the
  tangent map (jvp rules), against their finite differences: the rules must
  themselves be differentiable (skipped at the kinks in ``KINKS``);
* for primitives without a derivative: zero tangents and cotangents, and a zero
  derivative when composed into a differentiable function;
* the batch rule (``vmap``) against a loop over examples, with the batch axis first,
  last, and absent from the first argument; and the jvp and vjp rules under ``vmap``
  (what per-example gradients run) against the same loop.

A new primitive costs one line in ``CASES``; ``test_every_primitive_has_cases``
fails until it has one. Bad shapes raise :class:`fgrad.ShapeError` naming the
primitive (``BAD_SHAPES``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

import fgrad
from fgrad.core.abstract import get_aval
from fgrad.core.primitive import Primitive, bind, registry
from fgrad.core.rules import axis_batch_rules
from fgrad.primitives.elementwise import convert_element_type, gt_p, mul, real
from fgrad.primitives.indexing import OPERAND
from fgrad.primitives.structural import reduce_sum
from fgrad.random import incomplete_gamma  # noqa: F401 - registers its primitive (lazy module)

# -- argument domains ------------------------------------------------------------------


def _distinct(rng, shape, offset=0.0):
    """Distinct values at least 0.25 apart: no ties within an array (reduce_max, sort-like)."""
    n = int(np.prod(shape, dtype=np.int64))
    return ((rng.permutation(n) - n / 2) * 0.25 + offset).reshape(shape)


def _lattice(offset):
    """Values on a grid shifted by ``offset``: two lattices never tie (max, min)."""
    return lambda rng, shape: rng.integers(-8, 8, size=shape) * 0.25 + offset


def _away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def _special(rng, shape):
    return rng.choice([0.0, -1.5, 2.0, np.inf, -np.inf, np.nan], size=shape)


DOMAINS: dict[str, Callable] = {
    "normal": lambda rng, shape: rng.standard_normal(shape),
    "positive": lambda rng, shape: rng.uniform(0.5, 2.0, size=shape),
    "away0": _away_from_zero,
    "above-1": lambda rng, shape: rng.uniform(-0.5, 2.0, size=shape),
    "tan": lambda rng, shape: rng.uniform(-1.2, 1.2, size=shape),
    "exponent": lambda rng, shape: rng.uniform(-2.0, 2.0, size=shape),
    "distinct": _distinct,
    "lattice0": _lattice(0.0),
    "lattice1": _lattice(0.125),
    "small-int": lambda rng, shape: rng.integers(-1, 2, size=shape).astype(np.float64),
    "special": _special,
    "bool": lambda rng, shape: rng.random(shape) < 0.5,
    "open-unit": lambda rng, shape: rng.uniform(0.1, 0.9, size=shape),
    "(0,2)": lambda rng, shape: rng.uniform(0.2, 1.8, size=shape),
    # complex inputs, checked with JAX's convention (see _vdot)
    "complex": lambda rng, shape: rng.standard_normal(shape) + 1j * rng.standard_normal(shape),
    "complex-away0": lambda rng, shape: (
        _away_from_zero(rng, shape) * np.exp(1j * rng.uniform(-3.0, 3.0, size=shape))
    ),
    "float32": lambda rng, shape: rng.standard_normal(shape).astype(np.float32),
    # index arrays passed as operands (values unknown while tracing), for axes of size >= 3
    "index3": lambda rng, shape: rng.integers(-3, 3, size=shape),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, size=shape),
    # integers for the bit operations: any bits, and shift counts
    "bits": lambda rng, shape: rng.integers(-64, 64, size=shape),
    "shift": lambda rng, shape: rng.integers(0, 4, size=shape),
    ">1": lambda rng, shape: rng.uniform(1.2, 3.0, size=shape),
    # x / y stays at least 0.19 from an integer: remainder and fmod are smooth there
    "mod-x": lambda rng, shape: (
        rng.integers(-2, 3, size=shape) * 2.0 + rng.uniform(0.5, 1.5, size=shape)
    ),
    "mod-y": lambda rng, shape: (
        rng.choice([-1.0, 1.0], size=shape) * rng.uniform(1.98, 2.02, size=shape)
    ),
}


@dataclass(frozen=True)
class Const:
    """An argument passed as is and never differentiated (a Python scalar, a fixed array)."""

    value: object


@dataclass
class Case:
    """One call of a primitive: ``args`` are ``(shape, domain)`` pairs, fixed arrays or Consts.

    Float arguments are differentiated; ``marks`` takes e.g. ``pytest.mark.xfail(strict=True)``
    for a known bug outside ``fgrad/primitives``.
    """

    name: str
    args: tuple
    params: dict = field(default_factory=dict)
    label: str = ""
    eps: float = 1e-6
    rtol: float = 1e-6
    dot_rtol: float = 1e-10
    second_order: bool = True
    marks: tuple = ()
    #: projection of input tangents onto the space the rules differentiate on, when that is
    #: not the whole space (Cholesky: Hermitian matrices); ``None``: every direction
    tangent_space: Callable | None = None

    @property
    def prim(self) -> Primitive:
        return registry[self.name]

    @property
    def id(self) -> str:
        shapes = "x".join(_shape_str(_spec_shape(a)) for a in self.args)
        label = self.label or ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}-{shapes}" + (f"-{label}" if label else "").replace(" ", "")

    def materialize(self, example: int = 0) -> tuple[list, list[bool]]:
        """The arguments (seeded by the case id) and which of them are differentiated.

        ``example`` > 0 draws another example from the same domains (fixed float arrays
        are scaled by ``1 + example / 4``, which keeps their ties and definiteness).
        """
        salt = f"#{example}" if example else ""
        rng = np.random.default_rng(zlib.crc32((self.id + salt).encode()))
        args, diff = [], []
        for a in self.args:
            if isinstance(a, Const):
                args.append(a.value)
                diff.append(False)
                continue
            if isinstance(a, np.ndarray):
                x = a * (1 + example / 4) if a.dtype.kind in "fc" else np.array(a)
            else:
                x = DOMAINS[a[1]](rng, a[0])
            args.append(np.asarray(x))
            diff.append(np.asarray(x).dtype.kind in "fc")
        return args, diff

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


def _spec_shape(a) -> tuple:
    if isinstance(a, Const):
        return np.shape(a.value)
    return a.shape if isinstance(a, np.ndarray) else a[0]


def _shape_str(shape) -> str:
    return str(tuple(shape)).replace(" ", "")


# -- table builders: one line per primitive --------------------------------------------

UNARY_SHAPES = [(), (5,), (2, 3), (1, 1), (0,), (2, 0)]
BINARY_SHAPES = [
    ((3, 1), (1, 4)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((4,), (3, 4)),
    ((2, 3), (2, 3)),
    ((1, 1), (1,)),
    ((0,), (0,)),
    ((2, 0), (2, 1)),
    ((0, 3), (1, 3)),
    # a lower-rank operand that also broadcasts a size-1 axis, on either side
    ((3, 1), (2, 3, 4)),
    ((2, 1, 4), (3, 1)),
]


#: broadcasting, a scalar against a vector, and empty arrays
SMALL_BINARY_SHAPES = [((3, 1), (1, 4)), ((), (2,)), ((0,), (0,))]


def unary(name: str, domain: str = "normal", shapes=UNARY_SHAPES, **params) -> list[Case]:
    return [Case(name, ((s, domain),), params) for s in shapes]


def binary(name: str, domains=("normal", "normal"), shapes=BINARY_SHAPES) -> list[Case]:
    return [Case(name, ((s, domains[0]), (t, domains[1]))) for s, t in shapes]


def case(name: str, *args, label: str = "", **params) -> Case:
    return Case(name, tuple(args), params, label=label)


def dot(x_shape, y_shape, contract, batch=((), ()), label: str = "") -> Case:
    return case(
        "dot_general",
        (x_shape, "normal"),
        (y_shape, "normal"),
        dimension_numbers=(contract, batch),
        label=label,
    )


def idx(*ints) -> np.ndarray:
    return np.array(ints, dtype=np.intp)


#: a two-way tie for the maximum of every row (central differences see the mean of the two)
TIES_IN_ROWS = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 5.0, -1.0, 5.0], [0.0, -4.0, -2.0, 0.0]])
_ = slice(None)

CASES: list[Case] = [
    # -- elementwise arithmetic --
    *binary("add"),
    *binary("sub"),
    *binary("mul"),
    case("mul", ((2, 3), "normal"), Const(2.5), label="python-scalar"),
    *binary("div", domains=("normal", "away0")),
    *unary("neg"),
    *binary("pow", domains=("positive", "exponent")),
    case("pow", ((3,), "positive"), np.array([0.0, 2.0, -1.0]), label="zero-exponent"),
    case("pow", ((2, 3), "positive"), Const(2.0), label="python-exponent"),
    case("pow", ((2, 3), "positive"), Const(0), label="python-zero-exponent"),
    *binary("max", domains=("lattice0", "lattice1")),
    *binary("min", domains=("lattice0", "lattice1")),
    # -- unary functions --
    *unary("exp"),
    *unary("log", "positive"),
    *unary("log1p", "above-1"),
    *unary("expm1"),
    *unary("sin"),
    *unary("cos"),
    *unary("tan", "tan"),
    *unary("tanh"),
    *unary("sqrt", "positive"),
    *unary("abs", "away0"),
    *unary("arcsin", "unit"),
    *unary("arccos", "unit"),
    *unary("arctan"),
    *unary("sinh"),
    *unary("cosh"),
    *unary("arcsinh"),
    *unary("arccosh", ">1"),
    *unary("arctanh", "unit"),
    *unary("cbrt", "away0"),
    # -- binary functions --
    *binary("arctan2", domains=("away0", "away0")),
    *binary("hypot"),
    *binary("remainder", domains=("mod-x", "mod-y")),
    *binary("fmod", domains=("mod-x", "mod-y")),
    *binary("copysign", domains=("away0", "away0")),
    # -- select, conversion --
    case("select", ((3, 1), "bool"), ((1, 4), "normal"), ((), "normal")),
    case("select", ((2, 3), "bool"), ((2, 3), "normal"), ((2, 3), "normal")),
    case("select", ((), "bool"), ((2, 3), "normal"), ((3,), "normal")),
    case("select", ((4,), "bool"), ((1,), "normal"), ((4,), "normal")),
    case("select", ((0, 2), "bool"), ((0, 2), "normal"), ((1, 2), "normal")),
    case("select", ((1, 1), "bool"), ((1, 1), "normal"), ((1, 1), "normal")),
    *unary("convert_element_type", new_dtype=np.dtype(np.float64)),
    Case(
        "convert_element_type",
        (((2, 3), "normal"),),
        {"new_dtype": np.dtype(np.float32)},
        label="f64-to-f32",
        eps=1e-3,
        rtol=1e-3,
        dot_rtol=1e-5,
    ),
    Case(
        "convert_element_type",
        (((2, 3), "float32"),),
        {"new_dtype": np.dtype(np.float64)},
        label="f32-to-f64",
        eps=1e-3,
        rtol=1e-3,
        dot_rtol=1e-5,
    ),
    # -- without derivative --
    *unary("sign", "small-int", shapes=[(), (2, 3), (0,)]),
    *unary("stop_gradient", shapes=[(), (2, 3), (0,)]),
    *[
        c
        for n in ("eq", "ne", "lt", "le", "gt", "ge")
        for c in binary(n, ("small-int", "small-int"), shapes=BINARY_SHAPES[:3] + [((0,), (0,))])
    ],
    *unary("not", "bool", shapes=[(), (2, 3), (0,)]),
    *binary("and", ("bool", "bool"), shapes=SMALL_BINARY_SHAPES),
    *binary("or", ("bool", "bool"), shapes=SMALL_BINARY_SHAPES),
    *unary("isfinite", "special", shapes=[(), (3, 4), (0,)]),
    *unary("isnan", "special", shapes=[(), (3, 4), (0,)]),
    *unary("isinf", "special", shapes=[(), (3, 4), (0,)]),
    *[c for n in ("floor", "ceil", "rint", "trunc") for c in unary(n, shapes=[(), (3, 4), (0,)])],
    *unary("round", shapes=[(), (3, 4), (0,)], decimals=0),
    *unary("round", shapes=[(), (3, 4)], decimals=2),
    *unary("round", shapes=[(3, 4)], decimals=-1),
    *unary("signbit", "special", shapes=[(), (3, 4), (0,)]),
    *unary("spacing", "special", shapes=[(), (3, 4), (0,)]),
    *unary("frexp_exponent", "special", shapes=[(), (3, 4), (0,)]),
    *binary("nextafter", ("normal", "normal"), shapes=SMALL_BINARY_SHAPES),
    *binary("ldexp", ("special", "bits"), shapes=SMALL_BINARY_SHAPES),
    *[
        c
        for n in ("bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm")
        for c in binary(n, ("bits", "bits"), shapes=SMALL_BINARY_SHAPES)
    ],
    *binary("bitwise_and", ("bool", "bool"), shapes=[((2, 3), (2, 3))]),
    *[
        c
        for n in ("left_shift", "right_shift")
        for c in binary(n, ("bits", "shift"), shapes=SMALL_BINARY_SHAPES)
    ],
    *[c for n in ("invert", "bitwise_count") for c in unary(n, "bits", shapes=[(), (3, 4), (0,)])],
    *unary("invert", "bool", shapes=[(2, 3)]),
    *[
        c
        for dtype in (np.int64, np.uint32, np.float16, np.uint8)
        for c in unary("bitcast_convert_type", shapes=[(), (3, 4), (0,)], new_dtype=np.dtype(dtype))
    ],
    case("bitcast_convert_type", ((3, 2), "bits"), new_dtype=np.dtype(np.complex128)),
    # at the dtype's own precision the rounding is the identity, and the rules are checkable
    # by finite differences; tests/test_lax_more_names.py checks real roundings against JAX
    *unary("reduce_precision", shapes=[(), (3, 4)], exponent_bits=11, mantissa_bits=52),
    *binary("floor_divide", ("normal", "away0"), shapes=BINARY_SHAPES[:3] + [((0,), (0,))]),
    *binary("heaviside", ("small-int", "normal"), shapes=BINARY_SHAPES[:3] + [((0,), (0,))]),
    # -- reductions --
    case("reduce_sum", ((3, 4), "normal"), axis=(1,), keepdims=False),
    case("reduce_sum", ((3, 4), "normal"), axis=(0,), keepdims=True),
    case("reduce_sum", ((3, 4), "normal"), axis=(0, 1), keepdims=False),
    case("reduce_sum", ((2, 3, 4), "normal"), axis=(0, 2), keepdims=True),
    case("reduce_sum", ((2, 3), "normal"), axis=(), keepdims=False),
    case("reduce_sum", ((), "normal"), axis=(), keepdims=False),
    case("reduce_sum", ((0, 3), "normal"), axis=(0,), keepdims=False),
    case("reduce_sum", ((2, 0), "normal"), axis=(1,), keepdims=True),
    case("reduce_sum", ((1, 1), "normal"), axis=(0, 1), keepdims=False),
    *[
        c
        for n in ("reduce_max", "reduce_min")
        for c in [
            case(n, ((3, 4), "distinct"), axis=(1,), keepdims=False),
            case(n, ((3, 4), "distinct"), axis=(0,), keepdims=True),
            case(n, ((2, 3, 4), "distinct"), axis=(0, 2), keepdims=False),
            case(n, ((5,), "distinct"), axis=(0,), keepdims=False),
            case(n, ((), "distinct"), axis=(), keepdims=False),
            case(n, ((0, 3), "distinct"), axis=(1,), keepdims=False),
            case(n, ((1, 1), "distinct"), axis=(0,), keepdims=True),
        ]
    ],
    *[
        case(n, ((3, 4), "distinct"), axis=axis, keepdims=keepdims)
        for n in ("argmax", "argmin")
        for axis, keepdims in ((1, False), (0, True), (None, False), (None, True))
    ],
    case("argmax", ((1, 1), "distinct"), axis=0, keepdims=False),
    # the derivative weights of reduce_max/min: 1/k at each of k tied extrema
    case(
        "tie_weights", TIES_IN_ROWS, TIES_IN_ROWS.max(1, keepdims=True), axis=(1,),
        dtype=np.dtype(np.float64), label="rows",
    ),
    case(
        "tie_weights", TIES_IN_ROWS, TIES_IN_ROWS.min(0, keepdims=True), axis=(0,),
        dtype=np.dtype(np.float32), label="columns-float32",
    ),
    case(
        "tie_weights", TIES_IN_ROWS.reshape(3, 2, 2), np.full((1, 1, 1), 5.0), axis=(0, 1, 2),
        dtype=np.dtype(np.float64), label="all",
    ),
    case("argmin", ((5,), "distinct"), axis=0, keepdims=False),
    case("argsort", ((3, 4), "distinct"), axis=1, kind=None),
    case("argsort", ((3, 4), "distinct"), axis=0, kind="stable"),
    case("argsort", np.array([2.0, 1.0, 2.0, 0.0, 1.0]), axis=0, kind="stable", label="ties"),
    *[
        case("searchsorted", np.array([-1.0, 0.0, 0.0, 0.5, 2.0]), v, side=side)
        for side in ("left", "right")
        for v in (((3, 2), "normal"), np.array([0.0, 0.5, -3.0, 5.0]))  # ties and the ends
    ],
    case("argsort", ((0, 2), "distinct"), axis=0, kind=None),
    # -- shape --
    case("broadcast_to", ((3, 1), "normal"), shape=(3, 4)),
    case("broadcast_to", ((), "normal"), shape=(2, 3)),
    case("broadcast_to", ((4,), "normal"), shape=(2, 3, 4)),
    case("broadcast_to", ((2, 1, 3), "normal"), shape=(2, 4, 3)),
    case("broadcast_to", ((1, 1), "normal"), shape=(1, 1)),
    case("broadcast_to", ((1,), "normal"), shape=(0,)),
    case("broadcast_to", ((0, 1), "normal"), shape=(2, 0, 3)),
    case("reshape", ((2, 3), "normal"), shape=(3, 2)),
    case("reshape", ((6,), "normal"), shape=(1, 2, 3, 1)),
    case("reshape", ((), "normal"), shape=(1, 1)),
    case("reshape", ((1,), "normal"), shape=()),
    case("reshape", ((0, 3), "normal"), shape=(3, 0)),
    case("reshape", ((2, 0), "normal"), shape=(0,)),
    case("transpose", ((2, 3), "normal"), permutation=(1, 0)),
    case("transpose", ((2, 3, 4), "normal"), permutation=(2, 0, 1)),
    case("transpose", ((2, 3, 4), "normal"), permutation=(0, 2, 1)),
    case("transpose", ((3,), "normal"), permutation=(0,)),
    case("transpose", ((), "normal"), permutation=()),
    case("transpose", ((0, 2, 1), "normal"), permutation=(1, 2, 0)),
    case("concatenate", ((2, 3), "normal"), ((4, 3), "normal"), axis=0),
    case("concatenate", ((2, 1), "normal"), ((2, 3), "normal"), ((2, 0), "normal"), axis=1),
    case("concatenate", ((3,), "normal"), axis=0),
    case("concatenate", ((0, 2), "normal"), ((1, 2), "normal"), axis=0),
    case("concatenate", ((2, 3, 1), "normal"), ((2, 3, 2), "normal"), axis=2),
    # -- dot_general --
    dot((3, 4), (4, 5), ((1,), (0,)), label="matmul"),
    dot((3, 4), (4,), ((1,), (0,)), label="matvec"),
    dot((4,), (4, 5), ((0,), (0,)), label="vecmat"),
    dot((4,), (4,), ((0,), (0,)), label="vecvec"),
    dot((4, 3), (5, 4), ((0,), (1,)), label="contract-non-last"),
    dot((2, 3, 4), (2, 4, 5), ((2,), (1,)), ((0,), (0,)), label="batched-matmul"),
    dot((3, 2, 4), (4, 5, 2), ((2,), (0,)), ((1,), (2,)), label="batch-not-leading"),
    dot((2, 3, 4), (3, 4, 5), ((1, 2), (0, 1)), label="tensordot-2"),
    dot((2, 3, 4), (4, 3, 5), ((1, 2), (1, 0)), label="tensordot-2-crossed"),
    dot((2, 3), (2, 4), ((), ()), ((0,), (0,)), label="batch-no-contraction"),
    dot((3,), (4,), ((), ()), label="outer"),
    dot((), (2, 3), ((), ()), label="scalar"),
    dot((1, 1), (1, 1), ((1,), (0,)), label="matmul-1x1"),
    dot((3, 0), (0, 4), ((1,), (0,)), label="matmul-empty-contraction"),
    dot((0, 4), (4, 5), ((1,), (0,)), label="matmul-empty-rows"),
    dot((2, 3, 0), (2, 0, 5), ((2,), (1,)), ((0,), (0,)), label="batched-empty-contraction"),
    dot((0, 3, 4), (0, 4, 5), ((2,), (1,)), ((0,), (0,)), label="batched-empty-batch"),
    # -- indexing --
    # index arrays as operands: OPERAND marks their places
    case("getitem", ((5,), "normal"), ((3,), "index3"), index=(OPERAND,), label="operand"),
    case("getitem", ((3, 4, 5), "normal"), ((2,), "index3"), index=(_, OPERAND), label="operand"),
    case(
        "getitem",
        ((3, 4, 5), "normal"),
        ((2, 1), "index3"),
        ((3,), "index3"),
        index=(OPERAND, _, OPERAND),
        label="operands-split",
    ),
    case("index_add", ((5,), "normal"), ((4,), "normal"), ((4,), "index3"), index=(OPERAND,)),
    case(
        "index_add",
        ((3, 4, 5), "normal"),
        ((2, 4), "normal"),
        ((2,), "index3"),
        ((2,), "index3"),
        index=(OPERAND, _, OPERAND),
        label="operands-split",
    ),
    case(
        "index_set",
        ((3, 4), "normal"),
        ((3,), "normal"),
        ((3,), "index3"),
        index=(OPERAND, 2),
        label="operand-int",
    ),
    case("index_set", ((4, 3), "normal"), ((1,), "normal"), ((5,), "index3"), index=(OPERAND,)),
    case("getitem", ((5,), "normal"), index=(slice(1, 4),), label="slice"),
    case("getitem", ((6,), "normal"), index=(slice(None, None, -2),), label="step-2"),
    case(
        "getitem",
        ((4, 5), "normal"),
        index=(slice(None, None, -1), slice(3, 0, -2)),
        label="negstep",
    ),
    case("getitem", ((3, 4), "normal"), index=(None, Ellipsis, 1), label="None-Ellipsis"),
    case("getitem", ((3, 4), "normal"), index=(-1, 2), label="scalar"),
    case("getitem", ((3, 4), "normal"), index=(1,), label="row"),
    case("getitem", ((5,), "normal"), index=(idx(0, 2, 2, 4, 0),), label="repeated"),
    case("getitem", ((4, 3), "normal"), index=(np.array([[0, 1], [1, 3]]), _), label="2d-index"),
    case("getitem", ((3, 4, 5), "normal"), index=(_, idx(0, 0, 2), idx(1, 3, 1)), label="mixed"),
    case(
        "getitem", ((3, 4, 5), "normal"), index=(idx(0, 2), slice(1, 3), idx(1, 1)), label="split"
    ),
    case("getitem", ((0, 3), "normal"), index=(_, 1), label="empty-rows"),
    case("getitem", ((3, 4), "normal"), index=(slice(2, 2),), label="empty-slice"),
    case("getitem", ((1, 1), "normal"), index=(0, 0), label="1x1"),
    case("getitem", ((4,), "normal"), index=(idx(),), label="empty-index"),
    case("index_add", ((5,), "normal"), ((3,), "normal"), index=(idx(0, 2, 0),), label="repeated"),
    case("index_add", ((5,), "normal"), ((1,), "normal"), index=(idx(1, 1, 3),), label="bcast-rep"),
    case("index_add", ((4, 3), "normal"), ((3,), "normal"), index=(slice(1, 3),), label="bcast"),
    case("index_add", ((4, 3), "normal"), ((2, 3), "normal"), index=(idx(1, 1),), label="rep-rows"),
    case("index_add", ((3, 4), "normal"), ((), "normal"), index=(1, _), label="scalar-row"),
    case(
        "index_add", ((3, 4), "normal"), ((2,), "normal"), index=(idx(0, 0), idx(1, 1)), label="2d"
    ),
    case(
        "index_add",
        ((3, 4, 5), "normal"),
        ((3, 3), "normal"),
        index=(_, idx(0, 3, 0), slice(None, None, -2)),
        label="mixed",
    ),
    # advanced indices split by a slice: NumPy puts their axes first (and vmap's batch after)
    case(
        "index_add",
        ((3, 4, 5), "normal"),
        ((2, 1), "normal"),
        index=(idx(0, 2), slice(1, 3), idx(1, 1)),
        label="split",
    ),
    case(
        "index_set", ((3, 4, 5), "normal"), ((4,), "normal"), index=(1, _, idx(0, 3)), label="split"
    ),
    case("getitem", ((3, 4, 5), "normal"), index=(1, _, idx(0, 3, 3)), label="int-split"),
    case("index_add", ((0, 3), "normal"), ((0, 3), "normal"), index=(_,), label="empty"),
    case("index_add", ((4,), "normal"), ((0,), "normal"), index=(idx(),), label="empty-index"),
    case("index_set", ((5,), "normal"), ((2,), "normal"), index=(idx(0, 3),), label="array"),
    case("index_set", ((4, 3), "normal"), ((3,), "normal"), index=(slice(1, 3),), label="bcast"),
    case("index_set", ((3, 4), "normal"), ((), "normal"), index=(1, _), label="scalar-row"),
    case(
        "index_set",
        ((3, 4), "normal"),
        ((2, 2), "normal"),
        index=(idx(0, 2), slice(0, 4, 2)),
        label="arr-slice",
    ),
    case("index_set", ((5,), "normal"), ((3,), "normal"), index=(idx(0, 2, 0),), label="repeated"),
    case("index_set", ((5,), "normal"), ((1,), "normal"), index=(idx(1, 1, 3),), label="bcast-rep"),
    case(
        "index_set",
        ((3, 4), "normal"),
        ((3,), "normal"),
        index=(idx(0, 0, 2), idx(1, 1, 3)),
        label="2d-rep",
    ),
    case(
        "index_set", ((3, 4), "normal"), ((3, 2), "normal"), index=(_, idx(1, 1)), label="rep-cols"
    ),
    case("index_set", ((0, 3), "normal"), ((0, 3), "normal"), index=(_,), label="empty"),
]


#: points where a rule's one-sided behaviour matters: ties and kinks. Central differences
#: average the two sides, as the rules do; second derivatives are not defined there.
def hermitian_part(v: np.ndarray) -> np.ndarray:
    """The tangent space of functions of Hermitian matrices: ``(v + v^H) / 2``."""
    return 0.5 * (v + np.conj(np.swapaxes(v, -1, -2)))


# a well-conditioned system: the identity plus a small random matrix
WELL_CONDITIONED = np.eye(3) + 0.3 * np.random.default_rng(0).standard_normal((3, 3))
SPD_UNREAD_UPPER = WELL_CONDITIONED @ WELL_CONDITIONED.T + np.triu(WELL_CONDITIONED, 1)
CASES += [
    case("linalg_solve", WELL_CONDITIONED, ((3, 2), "normal")),
    case("linalg_solve", np.stack([WELL_CONDITIONED, WELL_CONDITIONED.T]), ((2, 3, 1), "normal")),
    case("linalg_solve", WELL_CONDITIONED, ((3, 0), "normal")),
    # symmetric positive definite; the upper triangle, never read, is made not to match.
    # The rules treat the input as symmetric (JAX's convention): tangents are symmetric
    replace(
        case("linalg_cholesky", SPD_UNREAD_UPPER),
        tangent_space=hermitian_part,
    ),
    replace(
        case("linalg_cholesky", np.stack([np.eye(2) * 2, [[2.0, 0.5], [0.5, 1.0]]])),
        tangent_space=hermitian_part,
    ),
    case("linalg_det", WELL_CONDITIONED),
    case("linalg_det", np.stack([WELL_CONDITIONED, -WELL_CONDITIONED.T])),
]

# Fourier transforms: real and complex inputs, every norm, one and two axes
CASES += [
    *[
        case(
            "fft",
            ((3, 4), dom),
            kind=kind,
            axes=axes,
            n_last=0,
            norm=norm,
            label=f"{kind},{dom},{axes},{norm}",
        )
        for kind, dom in (
            ("fft", "normal"),
            ("fft", "complex"),
            ("ifft", "complex"),
            ("rfft", "normal"),
        )
        for axes in ((1,), (0, 1))
        for norm in ("backward", "ortho", "forward")
    ],
    *[
        case("fft", ((3, m), "complex"), kind="irfft", axes=(0, 1), n_last=n, norm=norm)
        for m, n in ((3, 4), (3, 5))
        for norm in ("backward", "ortho")
    ],
]

# special functions (SciPy impls): the differentiable argument is the last one
CASES += [
    *[case(n, ((2, 3), "normal")) for n in ("erf", "erfc", "log_ndtr")],
    case("erf", ((3,), "complex"), label="complex"),
    *[case(n, (s, "positive")) for n in ("gammaln", "digamma") for s in ((0,), (1, 1), ())],
    case("gammainc", Const(1.5), ((0, 2), "positive")),
    *[case(n, ((2, 3), "unit")) for n in ("erfinv",)],
    *[case(n, ((2, 3), "(0,2)")) for n in ("erfcinv",)],
    *[case(n, ((2, 3), "open-unit")) for n in ("ndtri",)],
    *[case(n, ((2, 3), "positive")) for n in ("gammaln", "digamma", "gamma")],
    *[case(n, ((2, 3), ">1")) for n in ("i0", "i1", "i0e", "i1e", "j0", "j1", "y0", "y1")],
    *[case(n, ((2, 3), "normal"), label="both signs") for n in ("i0e", "i1e")],
    case("zeta", Const(3.0), ((2, 3), "positive")),
    case("gammasgn", ((2, 3), "normal")),
    *[
        case(n, Const(np.array([0, 1, 2])), ((2, 3), "positive"))
        for n in ("polygamma", "jv", "yv", "iv", "ive")
    ],
    *[case(n, Const(1.5), ((2, 3), "positive")) for n in ("gammainc", "gammaincc")],
    case("betainc", Const(2.0), Const(3.0), ((2, 3), "open-unit")),
    *[case(n, ((2, 3), "normal")) for n in ("erfcx", "dawsn")],
    *[case(n, ((2, 3), "positive")) for n in ("exp1", "expi", "spence", "loggamma")],
    case("expn", Const(np.array([0, 1, 2])), ((2, 3), "positive")),
    case("hyp1f1", Const(1.5), Const(2.5), ((2, 3), "normal")),
    case("hyp2f1", Const(0.5), Const(1.5), Const(2.5), ((2, 3), "open-unit")),
    case("owens_t", Const(0.7), ((2, 3), "normal")),
    *[case(n, ((2, 3), "positive")) for n in ("sici_si", "sici_ci")],
    case("sici_si", ((2, 3), "normal"), label="both signs"),
    *[case(n, ((2, 3), "normal")) for n in ("fresnel_s", "fresnel_c")],
]

# windows (the convolution is not a primitive: im2col by ``window_patches`` and a
# ``dot_general``, checked by tests/test_conv_composite.py)


def patches(name, x, window, strides, padding, base, wdil, label, **extra) -> Case:
    geometry = dict(
        window_dimensions=window,
        window_strides=strides,
        padding=padding,
        base_dilation=base,
        window_dilation=wdil,
    )
    return case(name, x, label=label, **geometry, **extra)


CASES += [
    *[
        patches(
            "window_patches", ((3, 5), dom), (2, 2), (1, 2), pads, (1, 1), (1, 1), lab, fill=f,
            materialize=m,
        )
        for dom, pads, f, lab, m in (
            ("normal", ((0, 0), (0, 0)), 0.0, "valid", False),
            ("normal", ((1, 0), (1, 1)), 0.0, "padded", False),
            ("normal", ((1, -1), (0, 1)), 1.5, "fill", False),
            ("normal", ((1, -1), (0, 1)), 1.5, "fill-materialized", True),
        )
    ],
    *[
        patches(
            "window_patches", ((4, 3), "normal"), (2, 2), (2, 1), ((0, 1),) * 2, (2, 1), (1, 2),
            lab, fill=0.0, materialize=m,
        )
        for lab, m in (("dilated", False), ("dilated-materialized", True))
    ],  # fmt: skip
    patches(
        "window_patches_transpose",
        ((2, 2, 2, 2), "normal"),
        (2, 2),
        (1, 2),
        ((0, 0), (0, 0)),
        (1, 1),
        (1, 1),
        "valid",
        in_shape=(3, 5),
    ),
    patches(
        "window_patches_transpose",
        ((4, 1, 2, 2), "normal"),
        (2, 2),
        (2, 1),
        ((0, 1), (1, -1)),
        (2, 1),
        (1, 2),
        "dilated",
        in_shape=(4, 3),
    ),
]

# max/min pools whose windows tile the input: the extremum, its tangent map and their
# transposes (ties share; the trailing operands only choose the weights: Consts)
TILED = np.array(
    [[1.0, 3.0, 3.0, 0.0, 2.0], [2.0, 5.0, -1.0, 5.0, 9.0], [0.0, -4.0, -2.0, 0.0, 1.0]]
)  # 2x2 tiles of the first two rows: maxima 5 (once), 5 (twice); the rest in no tile
TILED_MAX = np.array([[5.0, 5.0]])

CASES += [
    *[
        case("tile_extremum", ((4, 6), "distinct"), window=w, kind=k, label=f"{k}-{lab}")
        for k in ("max", "min")
        for w, lab in (((2, 3), "tiles"), ((1, 2), "rows"))
    ],
    case("tile_extremum", ((5, 7, 2), "distinct"), window=(2, 3, 1), kind="max", label="cut"),
    case("tile_ties", ((3, 5), "normal"), Const(TILED), Const(TILED_MAX), window=(2, 2)),
    case(
        "tile_ties_transpose", ((1, 2), "normal"), Const(TILED), Const(TILED_MAX), window=(2, 2)
    ),
]

# complex inputs: holomorphic rules need no conjugation under JAX's convention; abs, real,
# imag and conj are not holomorphic; mixed real/complex operands need real cotangents
C = "complex"
COMPLEX_CASES: list[Case] = [
    *binary("add", domains=(C, C), shapes=BINARY_SHAPES[:3]),
    *binary("sub", domains=(C, "normal"), shapes=BINARY_SHAPES[:3]),
    *binary("mul", domains=(C, C), shapes=BINARY_SHAPES[:3]),
    *binary("mul", domains=("normal", C), shapes=BINARY_SHAPES[3:5]),
    *binary("div", domains=(C, "complex-away0"), shapes=BINARY_SHAPES[:3]),
    case("pow", ((2, 3), "complex-away0"), ((2, 3), C)),
    *[case(n, ((2, 3), C)) for n in ("neg", "exp", "sin", "cos", "tan", "tanh", "expm1")],
    *[case(n, ((2, 3), "complex-away0")) for n in ("log", "log1p", "sqrt", "abs")],
    *[case(n, ((2, 3), "complex-away0")) for n in ("sinh", "cosh", "arctan")],
    case("abs", ((0,), C)),
    *[case(n, ((2, 3), C)) for n in ("real", "imag", "conj")],
    *[case(n, ((3,), "normal"), label="real-input") for n in ("real", "imag", "conj")],
    case("convert_element_type", ((2, 3), "normal"), new_dtype=np.dtype(np.complex128)),
    Case(
        "convert_element_type",
        (((2, 3), C),),
        {"new_dtype": np.dtype(np.float64)},
        label="c-to-f",  # keeps the real part, warning as NumPy's astype does
        marks=(pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning"),),
    ),
    case("select", ((2, 3), "bool"), ((2, 3), C), ((3,), "normal")),
    case("reduce_sum", ((2, 3), C), axis=(1,), keepdims=False),
    *[
        Case(
            "dot_general",
            (((2, 3), d1), ((3, 4), d2)),
            {"dimension_numbers": (((1,), (0,)), ((), ()))},
            label=label,
        )
        for d1, d2, label in ((C, "normal", "lhs"), (C, C, "both"))
    ],
    case("transpose", ((2, 3), C), permutation=(1, 0)),
    case("reshape", ((2, 3), C), shape=(3, 2)),
    case("broadcast_to", ((3,), C), shape=(2, 3)),
    case("concatenate", ((2, 3), C), ((1, 3), "normal"), axis=0),
]
COMPLEX_CASES = [
    replace(c, label=f"complex,{c.label}" if c.label else "complex") for c in COMPLEX_CASES
]
CASES += COMPLEX_CASES


def kink(name: str, *args, label: str, **params) -> Case:
    return Case(name, args, params, label=label, second_order=False)


KINKS: list[Case] = [
    kink("max", np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.5]), label="tie"),
    kink("min", np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.5]), label="tie"),
    kink("abs", np.array([0.0, -1.0, 2.0]), label="zero"),
    kink("reduce_max", TIES_IN_ROWS, axis=(1,), keepdims=False, label="tie"),
    kink("reduce_min", -TIES_IN_ROWS.T, axis=(0,), keepdims=True, label="tie"),
]
CASES += KINKS

# primitives whose derivative rules refuse (NotImplementedError) instead of returning a
# silent zero: fgrad.random's gamma draws are differentiable once in their shape parameter
REFUSING: list[Case] = [
    case("gamma_log_draw_derivative", ((2, 3), "positive"), ((2, 3), "normal")),
    case("gamma_log_draw_derivative", ((3, 1), "positive"), ((1, 4), "normal")),
]
CASES += REFUSING

DIFF_CASES = [c for c in CASES if c.prim.differentiable and c not in REFUSING]
NONDIFF_CASES = [c for c in CASES if not c.prim.differentiable]

# -- the harness ---------------------------------------------------------------------------


def closed_over(c: Case, args: list, diff: list[bool]) -> Callable:
    """The primitive as a function of its differentiated arguments only."""
    pos = [i for i, d in enumerate(diff) if d]

    def f(*xs):
        full = list(args)
        for i, x in zip(pos, xs):
            full[i] = x
        return bind(c.prim, *full, **c.params)

    return f


def _normal_like(rng, x) -> np.ndarray:
    dtype = get_aval(x).dtype
    v = rng.standard_normal(np.shape(x))
    if dtype.kind == "c":
        v = v + 1j * rng.standard_normal(np.shape(x))
    return v.astype(dtype)


def _directions(rng, xs, space: Callable | None) -> list[np.ndarray]:
    """Random tangents for ``xs``, projected onto ``space`` when one is given."""
    vs = [_normal_like(rng, x) for x in xs]
    return vs if space is None else [space(v).astype(v.dtype) for v in vs]


def _wide(x) -> np.ndarray:
    """``x`` in float64, or complex128 if it is complex: the precision of the checks."""
    return np.asarray(x, np.complex128 if np.iscomplexobj(x) else np.float64)


def _shift(xs, vs, eps):
    return [(x + eps * v).astype(x.dtype) for x, v in zip(xs, vs)]


def _vdot(a, b) -> float:
    """``Re(sum(a * b))``, without conjugation: with JAX's convention for complex
    derivatives, ``<u, jvp(v)> == <vjp(u), v>`` holds for this pairing."""
    return float(np.real(np.sum(_wide(a) * _wide(b))))


def _central_difference(f, xs, vs, eps):
    plus, minus = f(*_shift(xs, vs, eps)), f(*_shift(xs, vs, -eps))

    def diff(p, m):
        return (_wide(p) - _wide(m)) / (2 * eps)

    if isinstance(plus, tuple):
        return tuple(diff(p, m) for p, m in zip(plus, minus))
    return diff(plus, minus)


def _real(x):
    return real(x) if get_aval(x).dtype.kind == "c" else x


def check_same(got, want, what: str) -> None:
    """``got`` is exactly ``want``: same shape, dtype and values (NaNs in the same places)."""
    assert isinstance(got, np.ndarray | np.generic), f"{what}: {type(got).__name__}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, impl gives {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, impl gives {want.dtype}"
    np.testing.assert_array_equal(got, want, err_msg=what)


def check_jvp_fd(f, xs, rng, eps=1e-6, rtol=1e-6, atol=1e-8, space=None):
    """``jvp(f)`` along a random tangent equals central finite differences; returns (v, jvp)."""
    vs = _directions(rng, xs, space)
    _, t_out = fgrad.jvp(f, xs, vs)
    fd = _central_difference(f, xs, vs, eps)
    np.testing.assert_allclose(_wide(t_out), fd, rtol=rtol, atol=atol)
    return vs, t_out


def check_vjp_dot(f, xs, rng, rtol=1e-10, space=None):
    """``<vjp(u), v> == <u, jvp(v)>`` summed over all inputs, for random ``u`` and ``v``;
    with a tangent ``space``, ``v`` lies in it and so must the cotangents."""
    vs = _directions(rng, xs, space)
    out, t_out = fgrad.jvp(f, xs, vs)
    u = _normal_like(rng, out)
    _, pullback = fgrad.vjp(f, *xs)
    cts = pullback(u)
    assert len(cts) == len(xs)
    for ct, x in zip(cts, xs):
        assert ct.shape == x.shape and ct.dtype == x.dtype, (ct.shape, ct.dtype, x.shape)
        if space is not None:
            np.testing.assert_allclose(ct, space(ct), rtol=1e-12, atol=1e-14, err_msg="space")
    lhs = sum(_vdot(ct, v) for ct, v in zip(cts, vs))
    rhs = _vdot(u, t_out)
    scale = sum(np.sum(np.abs(ct * v)) for ct, v in zip(cts, vs)) + np.sum(np.abs(u * t_out))

    np.testing.assert_allclose(lhs, rhs, rtol=rtol, atol=1e-13 * scale)


def check_derivative_of(d, xs, rng, eps=1e-6, rtol=1e-6, atol=1e-8, space=None):
    """Differentiate ``d`` (a tuple of arrays of ``xs``) forward and reverse; compare with FD."""
    vs = _directions(rng, xs, space)
    _, tangents = fgrad.jvp(d, xs, vs)
    fd = _central_difference(d, xs, vs, eps)
    for t, want in zip(tangents, fd):
        np.testing.assert_allclose(_wide(t), want, rtol=rtol, atol=atol)

    ws = [_normal_like(rng, y) for y in d(*xs)]

    def weighted(*ys):  # a real scalar function of d
        return sum(_real(reduce_sum(mul(y, w), tuple(range(w.ndim)))) for y, w in zip(d(*ys), ws))

    grads = fgrad.grad(weighted, argnums=tuple(range(len(xs))))(*xs)
    got = sum(_vdot(g, v) for g, v in zip(grads, vs))
    want = float(_central_difference(weighted, xs, vs, eps))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def check_second_order(f, xs, rng, eps=1e-6, rtol=1e-6, atol=1e-8, space=None):
    """The jvp and vjp rules are differentiable: forward and reverse over each of them."""
    u = _normal_like(rng, f(*xs))
    vs = _directions(rng, xs, space)

    def pullback(*ys):  # runs the vjp rules
        return tuple(fgrad.vjp(f, *ys)[1](u))

    def tangent(*ys):  # runs the jvp rules
        return (fgrad.jvp(f, ys, vs)[1],)

    check_derivative_of(pullback, xs, rng, eps, rtol, atol, space)
    check_derivative_of(tangent, xs, rng, eps, rtol, atol, space)


def check_abstract_eval(prim: Primitive, args, params) -> None:
    out = np.asarray(prim.impl(*args, **params))
    aval = prim.abstract_eval(*[get_aval(a) for a in args], **params)
    assert aval.shape == out.shape, f"abstract_eval shape {aval.shape}, impl gives {out.shape}"
    assert aval.dtype == out.dtype, f"abstract_eval dtype {aval.dtype}, impl gives {out.dtype}"


# -- coverage --------------------------------------------------------------------------------


def test_every_primitive_has_cases():
    # multi-output primitives have no rules of their own: the functions that bind them
    # are checked, staged and replayed in tests/test_linalg.py and tests/test_lax.py
    multi = {name for name, p in registry.items() if p.multiple_results}
    # collectives mean something only under a named axis: tests/test_collectives.py checks
    # their rules there (finite differences, transposition, against loops and JAX)
    collectives = {p.name for p in axis_batch_rules}
    missing = sorted(set(registry) - multi - collectives - {c.name for c in CASES})
    assert not missing, f"primitives registered without rule-check cases: {missing}"


def test_cases_name_registered_primitives():
    unknown = sorted({c.name for c in CASES} - set(registry))
    assert not unknown, f"cases for primitives that are not registered: {unknown}"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


# -- per-case checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("c", [c.param() for c in CASES])
def test_abstract_eval_matches_impl(c: Case):
    args, _ = c.materialize()
    check_abstract_eval(c.prim, args, c.params)


@pytest.mark.parametrize("c", [c.param() for c in DIFF_CASES])
def test_primal_outputs_match_impl(c: Case):
    args, diff = c.materialize()
    xs = [a for a, d in zip(args, diff) if d]
    f = closed_over(c, args, diff)
    want = np.asarray(c.prim.impl(*args, **c.params))
    out, t_out = fgrad.jvp(f, xs, [np.zeros_like(x) for x in xs])
    check_same(out, want, "jvp primal")
    assert t_out.shape == want.shape and t_out.dtype == want.dtype
    out, _ = fgrad.vjp(f, *xs)
    check_same(out, want, "vjp primal")


@pytest.mark.parametrize("c", [c.param() for c in DIFF_CASES])
def test_jvp_matches_central_differences(c: Case):
    args, diff = c.materialize()
    xs = [a for a, d in zip(args, diff) if d]
    rng = np.random.default_rng(1)
    f = closed_over(c, args, diff)
    check_jvp_fd(f, xs, rng, eps=c.eps, rtol=c.rtol, space=c.tangent_space)


@pytest.mark.parametrize("c", [c.param() for c in DIFF_CASES])
def test_vjp_jvp_dot_product_identity(c: Case):
    args, diff = c.materialize()
    xs = [a for a, d in zip(args, diff) if d]
    f = closed_over(c, args, diff)
    check_vjp_dot(f, xs, np.random.default_rng(2), rtol=c.dot_rtol, space=c.tangent_space)


@pytest.mark.parametrize("c", [c.param() for c in DIFF_CASES if c.second_order])
def test_rules_are_differentiable(c: Case):
    args, diff = c.materialize()
    xs = [a for a, d in zip(args, diff) if d]
    check_second_order(
        closed_over(c, args, diff),
        xs,
        np.random.default_rng(3),
        eps=c.eps,
        rtol=c.rtol,
        space=c.tangent_space,
    )


@pytest.mark.parametrize("c", [c.param() for c in NONDIFF_CASES])
def test_nondifferentiable_primitive_has_zero_derivative(c: Case):
    args, _ = c.materialize()
    want = np.asarray(c.prim.impl(*args, **c.params))
    # boolean and integer arguments are fed from float carriers, through a comparison or a
    # conversion, so that every primitive here can sit inside a function that grad accepts
    dtypes = [np.asarray(a).dtype for a in args]
    carriers = [
        np.where(a, 1.0, -1.0) if d == np.bool_ else a.astype(np.float64) if d.kind in "iu" else a
        for a, d in zip(args, dtypes)
    ]

    def f(*xs):
        ins = [
            bind(gt_p, x, 0.0)
            if d == np.bool_
            else convert_element_type(x, d)
            if d.kind in "iu"
            else x
            for x, d in zip(xs, dtypes)
        ]
        return bind(c.prim, *ins, **c.params)

    out, pullback = fgrad.vjp(f, *carriers)
    check_same(out, want, "vjp primal")
    for ct, x in zip(pullback(np.ones(want.shape)), carriers):
        check_same(ct, np.zeros_like(x), "cotangent")
    out, t_out = fgrad.jvp(f, carriers, [np.ones_like(x) for x in carriers])
    check_same(out, want, "jvp primal")
    assert t_out.shape == want.shape and not np.any(t_out)

    # composed: d/dx0 sum(x0 * s) with s = sum(prim(...)) as a constant is s everywhere
    def composed(*xs):
        s = reduce_sum(convert_element_type(f(*xs), np.float64), tuple(range(want.ndim)))
        return reduce_sum(mul(xs[0], s), tuple(range(xs[0].ndim)))

    with np.errstate(invalid="ignore"):  # inf * 0 in the primal; the gradient is finite
        grads = fgrad.grad(composed, argnums=tuple(range(len(carriers))))(*carriers)
    s = np.sum(want.astype(np.float64))
    check_same(grads[0], np.full(carriers[0].shape, s), "gradient of x0")
    for g, x in zip(grads[1:], carriers[1:]):
        check_same(g, np.zeros_like(x), "gradient")


@pytest.mark.parametrize("c", [c.param() for c in REFUSING])
def test_refusing_primitive_raises_when_differentiated(c: Case):
    args, _ = c.materialize()
    for argnum in range(len(args)):

        def f(x, argnum=argnum):
            return bind(c.prim, *args[:argnum], x, *args[argnum + 1 :])

        x = args[argnum]
        with pytest.raises(NotImplementedError, match="differentiable once"):
            fgrad.jvp(f, (x,), (np.ones_like(x),))
        with pytest.raises(NotImplementedError, match="differentiable once"):
            fgrad.vjp(f, x)[1](np.ones(np.broadcast_shapes(*map(np.shape, args))))


# -- batch rules (vmap) ------------------------------------------------------------------------

BATCH = 3


def _examples(c: Case) -> list[tuple[list, list[bool]]]:
    return [c.materialize(k) for k in range(BATCH)]


def _stack_along(values: list, axis) -> np.ndarray:
    return values[0] if axis is None else np.stack(values, axis=axis)


def _layouts(c: Case) -> list[str]:
    n_arrays = sum(not isinstance(a, Const) for a in c.args)
    return ["front", "back"] + (["first-unbatched"] if n_arrays > 1 else [])


def _in_axes(c: Case, layout: str, args: list) -> list:
    axes = []
    for k, (spec, a) in enumerate(zip(c.args, args)):
        if isinstance(spec, Const) or (layout == "first-unbatched" and k == 0):
            axes.append(None)
        else:
            axes.append(0 if layout == "front" else np.ndim(a))
    return axes


def check_close(got, want, what: str) -> None:
    """Same shape and dtype, values equal up to rounding (batched BLAS may sum differently)."""
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, loop gives {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, loop gives {want.dtype}"
    if want.dtype.kind in "fc":
        scale = np.max(np.abs(want[np.isfinite(want)]), initial=1.0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13 * scale, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


BATCH_CASES = [
    pytest.param(c, layout, id=f"{c.id}-{layout}", marks=c.marks)
    for c in CASES
    for layout in _layouts(c)
]


@pytest.mark.parametrize("c, layout", BATCH_CASES)
def test_batch_rule_matches_loop(c: Case, layout: str):
    examples = _examples(c)
    axes = _in_axes(c, layout, examples[0][0])
    per_example = [
        [ex[0][i] if ax is not None else examples[0][0][i] for i, ax in enumerate(axes)]
        for ex in examples
    ]
    with np.errstate(all="ignore"):
        want = np.stack([np.asarray(c.prim.impl(*args, **c.params)) for args in per_example])
        batched = [_stack_along([p[i] for p in per_example], ax) for i, ax in enumerate(axes)]
        got = fgrad.vmap(lambda *xs: bind(c.prim, *xs, **c.params), in_axes=tuple(axes))(*batched)
    check_close(got, want, f"vmap of {c.name} ({layout})")


@pytest.mark.parametrize("c", [c.param() for c in DIFF_CASES])
def test_derivative_rules_under_vmap(c: Case):
    """``vmap`` over jvp and vjp, as ``vmap(grad(f))`` runs them, equals a loop."""
    examples = _examples(c)
    args0, diff = examples[0]
    f = closed_over(c, args0, diff)
    rng = np.random.default_rng(4)
    xs = [[a for a, d in zip(ex[0], diff) if d] for ex in examples]
    vs = [[_normal_like(rng, x) for x in ex] for ex in xs]
    us = [_normal_like(rng, f(*ex)) for ex in xs]

    def both(xs, vs, u):
        t = fgrad.jvp(f, xs, vs)[1]
        return t, tuple(fgrad.vjp(f, *xs)[1](u))

    with np.errstate(all="ignore"):
        loop = [both(x, v, u) for x, v, u in zip(xs, vs, us)]
        got_t, got_cts = fgrad.vmap(both)(
            [np.stack(col) for col in zip(*xs)], [np.stack(col) for col in zip(*vs)], np.stack(us)
        )
    check_close(got_t, np.stack([np.asarray(t) for t, _ in loop]), "tangent")
    for k, ct in enumerate(got_cts):
        check_close(ct, np.stack([np.asarray(cts[k]) for _, cts in loop]), f"cotangent {k}")
    # anchored to truth: the batched tangent of the first example is its central difference,
    # so a rule wrong in the loop and the batch alike cannot pass (float64 inputs along
    # unconstrained directions; the others are anchored by test_jvp_matches_central_differences)
    wide = (np.float64, np.complex128)
    if c.tangent_space is None and all(np.asarray(x).dtype in wide for x in [got_t, *xs[0]]):
        with np.errstate(all="ignore"):
            fd = _central_difference(f, xs[0], vs[0], c.eps)
        np.testing.assert_allclose(_wide(np.asarray(got_t)[0]), fd, rtol=c.rtol, atol=1e-8)


# -- bad shapes --------------------------------------------------------------------------------

BAD_SHAPES = [
    case("add", ((3,), "normal"), ((4,), "normal")),
    case("mul", ((2, 3), "normal"), ((3, 2), "normal")),
    case("max", ((2,), "normal"), ((3,), "normal")),
    case("select", ((2,), "bool"), ((3,), "normal"), ((3,), "normal")),
    case("reshape", ((2, 3), "normal"), shape=(4,)),
    case("broadcast_to", ((3,), "normal"), shape=(4,)),
    case("broadcast_to", ((2, 3), "normal"), shape=(3,)),
    case("transpose", ((2, 3), "normal"), permutation=(0,)),
    case("transpose", ((2, 3), "normal"), permutation=(0, 0)),
    case("concatenate", ((2, 3), "normal"), ((2, 4), "normal"), axis=0),
    case("concatenate", ((2, 3), "normal"), ((3,), "normal"), axis=0),
    case("concatenate", ((2, 3), "normal"), ((2, 3), "normal"), axis=2),
    case("reduce_sum", ((3, 4), "normal"), axis=(2,), keepdims=False),
    case("reduce_max", ((3, 4), "normal"), axis=(0, 0), keepdims=False),
    case("reduce_min", ((3, 4), "normal"), axis=(5,), keepdims=True),
    case("argmax", ((3, 4), "normal"), axis=2, keepdims=False),
    case("argmin", ((3, 4), "normal"), axis=-3, keepdims=False),
    case("argsort", ((3, 4), "normal"), axis=2, kind=None),
    dot((3, 4), (5, 6), ((1,), (0,)), label="contraction-mismatch"),
    dot((2, 3, 4), (3, 4, 5), ((2,), (1,)), ((0,), (0,)), label="batch-mismatch"),
    dot((3, 4), (4, 5), ((1,), ()), label="unpaired"),
    dot((3, 4), (4, 5), ((2,), (0,)), label="axis-out-of-range"),
    case("index_add", ((5,), "normal"), ((4,), "normal"), index=(slice(0, 3),), label="slice"),
    case("index_add", ((5,), "normal"), ((2,), "normal"), index=(idx(0, 1, 1),), label="array"),
    case("index_set", ((3, 4), "normal"), ((3,), "normal"), index=(1, _), label="row"),
    case("linalg_solve", ((3, 4), "normal"), ((3, 1), "normal"), label="not-square"),
    case("linalg_solve", ((3, 3), "normal"), ((4, 1), "normal"), label="rhs-mismatch"),
]


@pytest.mark.parametrize("c", [c.param() for c in BAD_SHAPES])
def test_bad_shapes_raise_shape_error(c: Case):
    args, _ = c.materialize()
    with pytest.raises(fgrad.ShapeError, match=c.name):
        c.prim.abstract_eval(*[get_aval(a) for a in args], **c.params)
    with pytest.raises(fgrad.ShapeError, match=c.name):
        bind(c.prim, *args, **c.params)
    diff = [np.asarray(a).dtype.kind == "f" for a in args]
    xs = [a for a, d in zip(args, diff) if d]
    with pytest.raises(fgrad.ShapeError, match=c.name):
        fgrad.vjp(closed_over(c, args, diff), *xs)
    with pytest.raises(fgrad.ShapeError, match=c.name):
        fgrad.jvp(closed_over(c, args, diff), xs, [np.zeros_like(x) for x in xs])
