"""``fgrad.numpy``'s ufuncs against NumPy: values, NumPy 2 dtypes, broadcasting, derivatives.

One line of ``UFUNCS`` covers a function: its NumPy counterpart, a value domain per
operand (float and integer samples are drawn from it), and what its derivative is:

* ``"diff"``: checked with :func:`fgrad.test_util.check_grads` to second order in both modes;
* ``"zero"``: piecewise constant, so ``grad`` gives zeros;
* ``"none"``: boolean results, no derivative to check.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.numpy import ufuncs as ufuncs_module
from fgrad.test_util import check_grads


@dataclass(frozen=True)
class Domain:
    """Float samples in ``[lo, hi]`` (away from zero if ``away0``) and integer samples."""

    lo: float
    hi: float
    ints: tuple = (-3, -2, -1, 0, 1, 2, 3)
    away0: bool = False

    def floats(self, rng, shape):
        x = rng.uniform(self.lo, self.hi, size=shape)
        if self.away0:
            x = rng.choice([-1.0, 1.0], size=shape) * x
        return x

    def integers(self, rng, shape):
        return rng.choice(np.array(self.ints), size=shape)


NORMAL = Domain(-2.0, 2.0)
UNIT = Domain(-0.9, 0.9, ints=(0,))
CLOSED_UNIT = Domain(-0.9, 0.9, ints=(-1, 0, 1))
ABOVE1 = Domain(1.2, 3.0, ints=(1, 2, 3))
POSITIVE = Domain(0.5, 2.0, ints=(1, 2, 3, 4))
AWAY0 = Domain(0.5, 2.0, ints=(-3, -2, -1, 1, 2, 3), away0=True)
ABOVE_M1 = Domain(-0.5, 2.0, ints=(0, 1, 2, 3))
TAN = Domain(-1.2, 1.2, ints=(-1, 0, 1))
EXPONENT = Domain(-2.0, 2.0, ints=(0, 1, 2, 3))
SMALL = Domain(-1.5, 1.5, ints=(-1, 0, 1))
# x / y at least ~0.2 away from an integer, where remainder and fmod are smooth
MOD_X = Domain(0.5, 1.5, ints=(-7, -5, -1, 1, 5, 7))
MOD_Y = Domain(1.98, 2.02, ints=(-3, 3), away0=True)
# lattices a quarter apart never tie: maximum and minimum stay differentiable
LATTICE = Domain(-2.0, 2.0)


@dataclass(frozen=True)
class U:
    name: str
    domains: tuple
    kind: str = "diff"
    np_name: str = ""
    ints: bool = True  # compare integer inputs too
    kwargs: tuple = ()

    @property
    def np_fn(self):
        return getattr(np, self.np_name or self.name)

    @property
    def fn(self):
        return getattr(fnp, self.name)


def u(name, dom=NORMAL, kind="diff", **kw):
    return U(name, (dom,), kind, **kw)


def b(name, dom1=NORMAL, dom2=NORMAL, kind="diff", **kw):
    return U(name, (dom1, dom2), kind, **kw)


UFUNCS = [
    # -- arithmetic --
    b("add"),
    b("subtract"),
    b("multiply"),
    b("divide", NORMAL, AWAY0),
    b("true_divide", NORMAL, AWAY0),
    b("power", POSITIVE, EXPONENT),
    b("float_power", POSITIVE, EXPONENT),
    b("maximum", LATTICE, LATTICE),
    b("minimum", LATTICE, LATTICE),
    b("logaddexp"),
    b("logaddexp2"),
    b("arctan2", AWAY0, AWAY0),
    b("hypot", AWAY0, AWAY0),
    b("remainder", MOD_X, MOD_Y),
    b("mod", MOD_X, MOD_Y),
    b("fmod", MOD_X, MOD_Y),
    b("copysign", AWAY0, AWAY0),
    b("floor_divide", NORMAL, AWAY0, kind="zero"),
    b("heaviside", SMALL, NORMAL, kind="zero"),
    u("negative"),
    u("positive"),
    u("square"),
    u("reciprocal", AWAY0, ints=False),  # NumPy's integer reciprocal truncates 1 / x
    u("absolute", AWAY0),
    u("abs", AWAY0),
    u("fabs", AWAY0),
    b("fmax", LATTICE, LATTICE),
    b("fmin", LATTICE, LATTICE),
    # -- exponentials and logarithms --
    u("exp"),
    u("exp2"),
    u("expm1"),
    u("log", POSITIVE),
    u("log2", POSITIVE),
    u("log10", POSITIVE),
    u("log1p", ABOVE_M1),
    u("sqrt", POSITIVE),
    u("cbrt", AWAY0),
    # -- trigonometric and hyperbolic --
    u("sin"),
    u("cos"),
    u("tan", TAN),
    u("arcsin", UNIT),
    u("arccos", UNIT),
    u("arctan"),
    u("sinh"),
    u("cosh"),
    u("tanh"),
    u("arcsinh"),
    u("arccosh", ABOVE1),
    u("arctanh", UNIT),
    u("sinc"),
    # NumPy 2's array-API aliases
    u("acos", UNIT),
    u("acosh", ABOVE1),
    u("asin", UNIT),
    u("asinh"),
    u("atan"),
    u("atanh", UNIT),
    b("atan2", AWAY0, AWAY0),
    b("pow", POSITIVE, EXPONENT),
    u("deg2rad"),
    u("radians"),
    u("rad2deg"),
    u("degrees"),
    # -- rounding: zero derivative --
    u("floor", kind="zero"),
    u("ceil", kind="zero"),
    u("rint", kind="zero"),
    u("trunc", kind="zero"),
    u("fix", kind="zero"),
    u("round", kind="zero"),
    u("round_", kind="zero", np_name="round"),
    u("around", kind="zero", np_name="round"),
    u("round", kind="zero", kwargs=(("decimals", 1),)),
    u("round", kind="zero", kwargs=(("decimals", -1),)),
    u("sign", kind="zero"),
    # -- boolean results --
    u("signbit", kind="none"),
    u("isfinite", kind="none"),
    u("isnan", kind="none"),
    u("isinf", kind="none"),
    u("logical_not", kind="none"),
    b("equal", SMALL, SMALL, kind="none"),
    b("not_equal", SMALL, SMALL, kind="none"),
    b("less", SMALL, SMALL, kind="none"),
    b("less_equal", SMALL, SMALL, kind="none"),
    b("greater", SMALL, SMALL, kind="none"),
    b("greater_equal", SMALL, SMALL, kind="none"),
    b("logical_and", SMALL, SMALL, kind="none"),
    b("logical_or", SMALL, SMALL, kind="none"),
    b("logical_xor", SMALL, SMALL, kind="none"),
    u("conjugate"),
]


def _id(c: U) -> str:
    return c.name + "".join(f"-{k}={v}" for k, v in c.kwargs)


def _param(c: U):
    return pytest.param(c, id=_id(c))


def _rng(c: U, what: str):
    return np.random.default_rng(zlib.crc32(f"{_id(c)}/{what}".encode()))


def _call(c: U, mod, *args):
    kwargs = dict(c.kwargs)
    with np.errstate(all="ignore"):
        if mod is np and c.name == "fix":
            return np.trunc(*args) if _is_int(args) else np.fix(*args)
        return (c.fn if mod is fnp else c.np_fn)(*args, **kwargs)


def _is_int(args):
    return any(np.asarray(a).dtype.kind in "iu" for a in args)


def _tol(dtype) -> float:
    return {"f": {2: 2e-2, 4: 2e-6, 8: 4e-15}}.get(dtype.kind, {}).get(dtype.itemsize, 0.0)


def check_like_numpy(c: U, args):
    want = _call(c, np, *args)
    got = _call(c, fnp, *args)
    assert type(got) is type(want), (type(got), type(want))
    want, got = np.asarray(want), np.asarray(got)
    assert got.dtype == want.dtype, f"{c.name}: dtype {got.dtype}, NumPy gives {want.dtype}"
    assert got.shape == want.shape
    tol = _tol(want.dtype)
    if tol:
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


SHAPES = {1: [(2, 3)], 2: [((2, 3), (2, 3)), ((3, 1), (4,)), ((), (2,))]}


def _samples(c: U, rng, dtype, shapes):
    out = []
    for d, s in zip(c.domains, shapes):
        if np.dtype(dtype).kind in "iu":
            out.append(d.integers(rng, s).astype(dtype))
        else:
            out.append(d.floats(rng, s).astype(dtype))
    return out


def check_float_result_for_integers(c: U, dtype) -> None:
    """The one deliberate difference: ``reciprocal`` of integers is ``1 / x`` in float64.

    NumPy's integer ``reciprocal`` truncates (``1 // x``: 0 for every ``|x| > 1``), which
    has no use in differentiable code, so fgrad computes the true reciprocal.
    """
    assert c.name == "reciprocal"
    got = fnp.reciprocal(np.array([2, -4, 1], dtype))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [0.5, -0.25, 1.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int8])
@pytest.mark.parametrize("c", [_param(c) for c in UFUNCS])
def test_values_and_dtypes_like_numpy(c: U, dtype):
    if np.dtype(dtype).kind in "iu" and not c.ints:
        check_float_result_for_integers(c, dtype)
        return
    rng = _rng(c, np.dtype(dtype).name)
    shapes = SHAPES[1] if len(c.domains) == 1 else SHAPES[2]
    for s in shapes:
        check_like_numpy(c, _samples(c, rng, dtype, (s,) if len(c.domains) == 1 else s))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("c", [_param(c) for c in UFUNCS])
def test_python_scalar_operands_like_numpy(c: U, dtype):
    """NumPy 2 promotion: Python scalars are weak (``f(float32, 2.0)`` is float32)."""
    rng = _rng(c, "scalar")
    scalars = [float(d.floats(rng, ())) for d in c.domains]
    if len(c.domains) == 1:
        check_like_numpy(c, scalars)
        return
    if np.dtype(dtype).kind in "iu" and not c.ints:
        check_float_result_for_integers(c, dtype)
        return
    x, y = _samples(c, rng, dtype, ((3,), (3,)))
    check_like_numpy(c, [x, scalars[1]])
    check_like_numpy(c, [scalars[0], y])
    check_like_numpy(c, scalars)
    ints = [int(d.integers(rng, ())) for d in c.domains]
    if c.ints:
        check_like_numpy(c, [x, ints[1]])


@pytest.mark.parametrize("c", [_param(c) for c in UFUNCS if c.kind == "diff"])
def test_gradients_second_order(c: U):
    rng = _rng(c, "grad")
    shapes = [(2, 3)] if len(c.domains) == 1 else [(3, 1), (4,)]
    args = [d.floats(rng, s) for d, s in zip(c.domains, shapes)]
    if c.domains[0] is LATTICE:  # distinct quarter-lattices: no ties
        args = [np.round(a * 4) / 4 + 0.125 * i for i, a in enumerate(args)]
    check_grads(c.fn, args, order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("c", [_param(c) for c in UFUNCS if c.kind == "zero"])
def test_zero_gradients(c: U):
    rng = _rng(c, "grad")
    args = [d.floats(rng, (2, 3)) for d in c.domains]

    def f(*xs):
        return fnp.sum(c.fn(*xs, **dict(c.kwargs)) * 1.0)

    grads = fgrad.grad(f, argnums=tuple(range(len(args))))(*args)
    for g, a in zip(grads, args):
        assert g.shape == a.shape and g.dtype == a.dtype
        assert not np.any(g)
    _, t = fgrad.jvp(f, args, [np.ones_like(a) for a in args])
    assert t == 0


# ufuncs with two outputs, checked by test_two_output_ufuncs
TWO_OUTPUTS = {"divmod": (MOD_X, MOD_Y), "modf": (NORMAL,)}


@pytest.mark.parametrize("name", sorted(TWO_OUTPUTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_output_ufuncs(name, dtype):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    args = [d.floats(rng, (3, 4)).astype(dtype) for d in TWO_OUTPUTS[name]]
    got, want = getattr(fnp, name)(*args), getattr(np, name)(*args)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
    # the first output of modf (the fraction) and the second of divmod (the remainder)
    # have derivative 1 in x; the integral parts have derivative 0
    k = 0 if name == "modf" else 1
    x = args[0].astype(np.float64)
    grad = fgrad.grad(lambda x: fnp.sum(getattr(fnp, name)(x, *args[1:])[k]))(x)
    np.testing.assert_array_equal(grad, np.ones_like(x))
    grad_int = fgrad.grad(lambda x: fnp.sum(getattr(fnp, name)(x, *args[1:])[1 - k]))(x)
    np.testing.assert_array_equal(grad_int, np.zeros_like(x))


# ufuncs with integer arguments or results, checked by test_float_decomposition
FLOAT_DECOMPOSITION = {"frexp", "ldexp", "nextafter"}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_decomposition(dtype):
    x = np.array([3.0, -0.7, 1e-3, 0.0, 1024.5], dtype=dtype)
    k = np.array([1, -2, 3, 0, -4])
    for got, want in zip(fnp.frexp(x), np.frexp(x)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for got, want in [
        (fnp.ldexp(x, k), np.ldexp(x, k)),
        (fnp.nextafter(x, np.inf), np.nextafter(x, np.inf)),
        (fnp.nextafter(x, 0.0), np.nextafter(x, 0.0)),
    ]:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    x64 = x.astype(np.float64)
    mantissa_grad = fgrad.grad(lambda x: fnp.sum(fnp.frexp(x)[0]))(x64)
    np.testing.assert_array_equal(mantissa_grad, 2.0 ** -np.frexp(x64)[1])
    np.testing.assert_array_equal(fgrad.grad(lambda x: fnp.sum(fnp.ldexp(x, k)))(x64), 2.0**k)
    gx, gy = fgrad.grad(lambda x, y: fnp.sum(fnp.nextafter(x, y)), argnums=(0, 1))(x64, -x64)
    np.testing.assert_array_equal(gx, np.ones(5))
    np.testing.assert_array_equal(gy, np.zeros(5))


def test_float_decomposition_at_the_edges_of_the_float_range():
    """Exact where the arithmetic formulas overflow: a subnormal's mantissa, a scale past
    the largest float, the float next to infinity; finite derivatives there."""
    x = np.array([5e-324, 1e-310, np.inf, -np.inf, 0.0])
    for f in (fnp.frexp, fgrad.jit(fnp.frexp)):
        for got, want in zip(f(x), np.frexp(x)):
            np.testing.assert_array_equal(got, want)
    assert fnp.ldexp(0.5, 1024) == np.ldexp(0.5, 1024)  # 2**1024 itself overflows
    np.testing.assert_array_equal(fnp.nextafter(x, 0.0), np.nextafter(x, 0.0))
    with np.errstate(over="raise", invalid="raise"):  # no overflow, no inf - inf on the way
        for f in (lambda x: fnp.frexp(x)[0], lambda x: fnp.nextafter(x, 1.0)):
            _, pullback = fgrad.vjp(f, x)
            assert np.all(np.isfinite(pullback(np.ones(5))[0]))


def test_every_ufunc_in_the_namespace_is_covered():
    names = {c.name for c in UFUNCS} | set(TWO_OUTPUTS) | FLOAT_DECOMPOSITION
    ufuncs = {n for n in ufuncs_module.__all__ if isinstance(getattr(np, n, None), np.ufunc)}
    assert ufuncs <= names, sorted(ufuncs - names)


# -- special values and points -------------------------------------------------------------


def test_sinc_at_zero_value_and_derivatives():
    assert fnp.sinc(0.0) == 1.0
    assert fgrad.grad(fnp.sinc)(0.0) == 0.0
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(fnp.sinc))(0.0), -(np.pi**2) / 3, rtol=1e-12)
    x = np.array([-1e-3, -1e-4, 0.0, 1e-8, 1e-3, 0.5, 3.0])
    np.testing.assert_allclose(fnp.sinc(x), np.sinc(x), rtol=1e-15)
    # the differences straddle the switch to the series near 0, whose second derivative
    # agrees with the exact formula's to ~3e-8 there: tighter than the old defaults still
    check_grads(fnp.sinc, [np.array([-1e-3 + 1e-9, 1e-3 - 1e-9, 2e-3])], order=2, atol=1e-7,
                rtol=1e-6)


def test_hypot_gradient_at_origin_is_zero_not_nan():
    gx, gy = fgrad.grad(fnp.hypot, argnums=(0, 1))(0.0, 0.0)
    assert gx == 0.0 and gy == 0.0
    gx, gy = fgrad.grad(fnp.hypot, argnums=(0, 1))(3.0, 4.0)
    np.testing.assert_allclose([gx, gy], [0.6, 0.8])


def test_arctan2_gradient():
    gy, gx = fgrad.grad(fnp.arctan2, argnums=(0, 1))(1.0, 2.0)
    np.testing.assert_allclose([gy, gx], [2.0 / 5.0, -1.0 / 5.0])


def test_remainder_and_fmod_gradients():
    gx, gy = fgrad.grad(fnp.remainder, argnums=(0, 1))(-7.5, 2.0)
    assert (gx, gy) == (1.0, 4.0)  # floor(-3.75) == -4
    gx, gy = fgrad.grad(fnp.fmod, argnums=(0, 1))(-7.5, 2.0)
    assert (gx, gy) == (1.0, 3.0)  # trunc(-3.75) == -3


def test_copysign_gradient():
    x = np.array([1.5, -1.5, 2.0, -2.0])
    y = np.array([1.0, 1.0, -1.0, -0.0])
    gx, gy = fgrad.grad(lambda a, b: fnp.sum(fnp.copysign(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [1.0, -1.0, -1.0, 1.0])
    np.testing.assert_array_equal(gy, np.zeros(4))


def test_exp2_is_exact_and_log2_log10_within_an_ulp_on_powers():
    p = np.arange(-10, 11)
    np.testing.assert_array_equal(fnp.exp2(p.astype(float)), np.exp2(p.astype(float)))
    np.testing.assert_array_equal(fnp.exp2(p), np.exp2(p))
    np.testing.assert_allclose(fnp.log2(np.exp2(p.astype(float))), p, rtol=0, atol=4e-15)
    np.testing.assert_allclose(fnp.log10(10.0**p), p, rtol=0, atol=4e-15)


@pytest.mark.parametrize(
    "name, nargs",
    [
        ("sin", 1),
        ("add", 2),
        ("exp2", 1),
        ("round", 1),
        ("logaddexp", 2),
        ("hypot", 2),
        ("square", 1),
    ],
)
def test_out_and_where_are_refused(name, nargs):
    fn = getattr(fnp, name)
    args = [np.ones(3)] * nargs
    with pytest.raises(TypeError, match="immutable"):
        fn(*args, out=np.empty(3))
    with pytest.raises(TypeError, match="immutable"):
        fn(*args, where=np.ones(3, bool))


def test_other_ufunc_keywords_are_refused():
    with pytest.raises(TypeError, match="dtype="):
        fnp.sin(np.ones(3), dtype=np.float32)
