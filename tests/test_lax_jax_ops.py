"""``fgrad.lax``'s element-wise, shape, product and reduction operations (jax.lax's names).

Each is checked against NumPy closed forms, against ``jax.lax`` (values, dtypes, and that
JAX's errors are errors here) when JAX is installed, by central finite differences in
float64 where it is differentiable, and under ``jit`` and ``vmap`` against eager calls.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core.errors import DtypeError, ShapeError

RNG = np.random.default_rng(0)

# name -> (NumPy closed form, sampler of valid float inputs, accepted dtype kinds)
UNARY = {
    "neg": (np.negative, "any", "iufc"),
    "abs": (np.abs, "any", "ifc"),
    "sign": (np.sign, "any", "iufc"),
    "square": (np.square, "any", "iufc"),
    "reciprocal": (np.reciprocal, "pos", "fc"),
    "exp": (np.exp, "any", "fc"),
    "exp2": (np.exp2, "any", "fc"),
    "log": (np.log, "pos", "fc"),
    "log1p": (np.log1p, "pos", "fc"),
    "expm1": (np.expm1, "any", "fc"),
    "sqrt": (np.sqrt, "pos", "fc"),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "pos", "fc"),
    "cbrt": (np.cbrt, "any", "f"),
    "sin": (np.sin, "any", "fc"),
    "cos": (np.cos, "any", "fc"),
    "tan": (np.tan, "any", "fc"),
    "asin": (np.arcsin, "unit", "fc"),
    "acos": (np.arccos, "unit", "fc"),
    "atan": (np.arctan, "any", "fc"),
    "sinh": (np.sinh, "any", "fc"),
    "cosh": (np.cosh, "any", "fc"),
    "tanh": (np.tanh, "any", "fc"),
    "asinh": (np.arcsinh, "any", "fc"),
    "acosh": (np.arccosh, "above1", "fc"),
    "atanh": (np.arctanh, "unit", "fc"),
    "logistic": (lambda x: 1 / (1 + np.exp(-x)), "any", "fc"),
    "floor": (np.floor, "any", "f"),
    "ceil": (np.ceil, "any", "f"),
    "round": (lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5), "any", "f"),
    "is_finite": (np.isfinite, "any", "f"),
    "real": (np.real, "any", "c"),
    "imag": (np.imag, "any", "c"),
    "conj": (lambda x: np.conj(x.astype(np.result_type(x, np.complex64))), "any", "fc"),
    "bitwise_not": (np.invert, "any", "biu"),
}
NONDIFF = {"sign", "floor", "ceil", "round", "is_finite", "bitwise_not"}

# name -> (NumPy closed form, accepted dtype kinds, whether differentiable)
BINARY = {
    "add": (np.add, "iufc", True),
    "sub": (np.subtract, "iufc", True),
    "mul": (np.multiply, "iufc", True),
    "div": (np.divide, "fc", True),
    "rem": (np.fmod, "f", True),
    "pow": (np.power, "fc", True),
    "max": (np.maximum, "biufc", True),
    "min": (np.minimum, "biufc", True),
    "atan2": (np.arctan2, "f", True),
    "nextafter": (np.nextafter, "f", False),
    "bitwise_and": (np.bitwise_and, "biu", False),
    "bitwise_or": (np.bitwise_or, "biu", False),
    "bitwise_xor": (np.bitwise_xor, "biu", False),
    "eq": (np.equal, "biufc", False),
    "ne": (np.not_equal, "biufc", False),
    "lt": (np.less, "biuf", False),
    "le": (np.less_equal, "biuf", False),
    "gt": (np.greater, "biuf", False),
    "ge": (np.greater_equal, "biuf", False),
    "complex": (lambda x, y: x + 1j * y, "f", True),
}
DTYPES = ["float32", "float64", "complex64", "complex128", "int32", "int8", "uint8", "bool"]


def sample(kind: str, dtype, shape=(2, 3), rng=RNG):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low = 0 if dtype.kind == "u" or kind in ("pos", "above1") else -5
        return rng.integers(low, 6, shape).astype(dtype)
    x = {
        "any": lambda: rng.uniform(-2, 2, shape),
        "pos": lambda: rng.uniform(0.2, 3, shape),
        "unit": lambda: rng.uniform(-0.9, 0.9, shape),
        "above1": lambda: rng.uniform(1.2, 3, shape),
    }[kind]()
    if dtype.kind == "c":
        x = x + 1j * rng.uniform(-0.5, 0.5, shape)
        if kind == "above1":  # off the cut along (-inf, 1]
            x = x + 0.5j
    return x.astype(dtype)


def central_difference(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        dx = np.zeros_like(x)
        dx[i] = eps
        g[i] = (f(x + dx) - f(x - dx)) / (2 * eps)
    return g


@pytest.fixture
def jlax():
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax.lax
    jax.config.update("jax_enable_x64", before)


def outcome(f):
    """``("ok", value)`` or ``("error", exception type)``."""
    try:
        return "ok", np.asarray(f())
    except (TypeError, ValueError, IndexError, OverflowError, NotImplementedError) as err:
        return "error", type(err)


def assert_same_outcome(ours, theirs, rtol):
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        got, want = ours[1], theirs[1]
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def tolerance(dtype) -> float:
    return 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12


# ---------------------------------------------------------------- element-wise, NumPy


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_closed_form(name):
    closed, domain, kinds = UNARY[name]
    for dtype in ("float64", "complex128", "int64"):
        if np.dtype(dtype).kind not in kinds:
            continue
        x = sample(domain, dtype)
        out = getattr(lax, name)(x)
        np.testing.assert_allclose(out, closed(x), rtol=1e-13, atol=1e-15)
        assert np.asarray(out).dtype == np.asarray(closed(x)).dtype


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_rejects_the_kinds_lax_rejects(name):
    kinds = UNARY[name][2]
    for dtype in ("float64", "complex128", "int32", "uint8", "bool"):
        if np.dtype(dtype).kind not in kinds:
            with pytest.raises(DtypeError, match=f"lax.{name}: .*{dtype}"):
                getattr(lax, name)(sample("any", dtype))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_closed_form(name):
    closed, kinds, _ = BINARY[name]
    for dtype in ("float64", "complex128", "int64", "bool"):
        if np.dtype(dtype).kind not in kinds:
            continue
        x = sample("pos", dtype)
        y = sample("pos", dtype)
        np.testing.assert_allclose(getattr(lax, name)(x, y), closed(x, y), rtol=1e-13)


def test_integer_div_truncates_and_rem_takes_the_dividend_sign():
    x = np.array([-7, 7, -7, 7, 5, -5], np.int32)
    y = np.array([2, 2, -2, -2, 0, 0], np.int32)
    np.testing.assert_array_equal(lax.div(x, y), [-3, 3, 3, -3, -1, -1])
    np.testing.assert_array_equal(lax.rem(x, y), [-1, 1, -1, 1, 5, -5])
    assert lax.div(x, y).dtype == np.int32
    np.testing.assert_array_equal(lax.div(np.array([7], np.uint8), np.array([0], np.uint8)), [255])


def test_shifts_follow_xla_for_out_of_range_amounts():
    x = np.array([-8, -8, -8, -8, 1, 1], np.int32)
    s = np.array([1, 0, 32, 40, 31, -1], np.int32)
    np.testing.assert_array_equal(lax.shift_left(x, s), [-16, -8, 0, 0, -(2**31), 0])
    np.testing.assert_array_equal(lax.shift_right_arithmetic(x, s), [-4, -8, -1, -1, 0, 0])
    np.testing.assert_array_equal(lax.shift_right_logical(x, s), [2**31 - 4, -8, 0, 0, 0, 0])


def test_round_methods():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994, 2.4])
    np.testing.assert_array_equal(lax.round(x), [1, 2, 3, -1, -3, 0, 2])
    np.testing.assert_array_equal(
        lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN), [0, 2, 2, -0.0, -2, 0, 2]
    )
    np.testing.assert_array_equal(lax.round(x, 1), np.round(x))


def test_integer_pow_and_pow():
    x = np.array([1.5, -2.0, 0.5], np.float32)
    for n in (0, 1, 2, 3, 7, -1, -3):
        out = lax.integer_pow(x, n)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, x.astype(np.float64) ** n, rtol=1e-6)
    np.testing.assert_array_equal(lax.integer_pow(np.array([3, -2], np.int8), 3), [27, -8])
    with pytest.raises(DtypeError, match="negative power"):
        lax.integer_pow(np.array([2]), -1)
    out = lax.pow(x, np.array([2, 3, -1], np.int64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [2.25, -8.0, 2.0])
    assert lax.pow(x, 2).dtype == np.float32
    np.testing.assert_allclose(lax.pow(x, 2), x**2)
    with pytest.raises(DtypeError, match="lax.pow: the base"):
        lax.pow(np.array([2]), np.array([2]))


# ---------------------------------------------------------------- the operand rules


def test_python_scalars_take_the_other_operands_dtype():
    x32 = np.ones(3, np.float32)
    assert lax.add(x32, 2.0).dtype == np.float32
    assert lax.mul(3.0, x32).dtype == np.float32
    assert lax.add(np.ones(3, np.int8), 2).dtype == np.int8
    assert lax.complex(x32, 2.0).dtype == np.complex64
    assert lax.add(2.0, 3.0).dtype == np.float64
    with pytest.raises(DtypeError, match=r"lax.add: a Python int .* float32"):
        lax.add(x32, 2)
    with pytest.raises(DtypeError, match="a Python float"):
        lax.add(np.ones(3, np.int32), 2.5)
    with pytest.raises(DtypeError, match="one dtype, got int64 and float64"):
        lax.add(2, 3.0)
    with pytest.raises(OverflowError, match="300"):
        lax.add(np.ones(3, np.int8), 300)


def test_traced_python_scalars_are_weak_too():
    x32 = np.ones(3, np.float32)
    out = fgrad.jit(lambda x, s: lax.mul(x, s))(x32, 2.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, 2 * x32)


def test_mismatched_dtypes_and_shapes_are_errors_that_say_what_to_do():
    with pytest.raises(DtypeError, match=r"lax.add: .*float32 and float64.*fgrad.numpy.add"):
        lax.add(np.ones(3, np.float32), np.ones(3))
    with pytest.raises(DtypeError, match=r"float32 and float64"):
        lax.add(np.ones(3, np.float32), np.float64(2))
    with pytest.raises(ShapeError, match=r"lax.sub: .*\(3,\) and \(2, 3\).*broadcast_in_dim"):
        lax.sub(np.ones(3), np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(3, 3\)"):
        lax.mul(np.ones((2, 3)), np.ones((3, 3)))
    np.testing.assert_array_equal(lax.add(np.ones((2, 1)), np.ones((1, 3))), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(lax.add(np.ones((2, 3)), np.array(1.0)), np.full((2, 3), 2.0))
    with pytest.raises(TypeError, match="list"):
        lax.add(np.ones(3), [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- against JAX


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_against_jax(jlax, name):
    domain = UNARY[name][1]
    for dtype in DTYPES:
        x = sample(domain, dtype)
        ours = outcome(lambda x=x: getattr(lax, name)(x))
        theirs = outcome(lambda x=x: getattr(jlax, name)(x))
        assert_same_outcome(ours, theirs, tolerance(dtype))


@pytest.mark.parametrize(
    "name",
    sorted(BINARY) + ["shift_left", "shift_right_logical", "shift_right_arithmetic", "rem", "div"],
)
def test_binary_against_jax(jlax, name):
    for dtype in DTYPES:
        x = sample("pos", dtype)
        y = sample("pos", dtype)
        if np.dtype(dtype).kind in "iu":
            y = np.where(y == 0, 3, y).astype(dtype)
        if name == "atan2" and np.dtype(dtype).kind == "c":
            continue  # JAX takes complex operands here; NumPy's arctan2 (and fgrad) do not
        if name.startswith("shift") and np.dtype(dtype).kind in "iu":
            y = (y % 9).astype(dtype)
        assert_same_outcome(
            outcome(lambda x=x, y=y: getattr(lax, name)(x, y)),
            outcome(lambda x=x, y=y: getattr(jlax, name)(x, y)),
            tolerance(dtype),
        )


@pytest.mark.parametrize(
    "case",
    [
        lambda L: L.add(np.ones(3, np.float32), np.ones(3)),
        lambda L: L.add(np.ones(3, np.float32), np.ones(3, np.float16)),
        lambda L: L.add(np.ones(3), np.ones((2, 3))),
        lambda L: L.add(np.ones((2, 1)), np.ones((1, 3))),
        lambda L: L.add(np.ones((2, 3)), np.ones(())),
        lambda L: L.max(np.array([np.nan, 1.0]), np.array([1.0, np.nan])),
        lambda L: L.add(np.ones(3, np.int32), 2.5),
        lambda L: L.add(np.ones(3), 2.0),
        lambda L: L.add(np.ones(3, np.int64), 2),
        lambda L: L.sub(np.array([True]), np.array([False])),
        lambda L: L.div(np.array([-7, 7, 1, -1]), np.array([2, -2, 0, 0])),
        lambda L: L.rem(np.array([-7, 7, 1, -1]), np.array([2, -2, 0, 0])),
        lambda L: L.shift_left(np.array([-8, 1, 1], np.int32), np.array([1, 32, 40], np.int32)),
        lambda L: L.shift_right_logical(
            np.array([-8, -8, -8], np.int32), np.array([1, 32, -1], np.int32)
        ),
        lambda L: L.shift_right_arithmetic(
            np.array([-8, -8, 8], np.int32), np.array([1, 32, 40], np.int32)
        ),
        lambda L: L.integer_pow(np.array([1.5, -2.0]), -3),
        lambda L: L.integer_pow(np.array([3, -2], np.int8), 3),
        lambda L: L.integer_pow(np.array([2]), -1),
        lambda L: L.pow(np.array([1.5, 2.0]), np.array([2, 3])),
        lambda L: L.pow(np.array([2, 3]), np.array([2, 3])),
        lambda L: L.pow(np.array([1.5, -2.0]), 3),
        lambda L: L.pow(np.array([1.5, 2.0]), 0.5),
        lambda L: L.round(np.array([0.5, 1.5, 2.5, -0.5])),
        lambda L: L.round(np.array([0.5, 1.5, 2.5, -0.5]), L.RoundingMethod.TO_NEAREST_EVEN),
        lambda L: L.conj(np.ones(3, np.float32)),
        lambda L: L.abs(np.array([1 + 1j])),
        lambda L: L.sign(np.array([1 + 1j, 0])),
        lambda L: L.exp(2.0),
        lambda L: L.exp(2),
        lambda L: L.nextafter(np.ones(2, np.float32), np.array([2, 0], np.float32)),
    ],
)
def test_rules_against_jax(jlax, case):
    assert_same_outcome(outcome(lambda: case(lax)), outcome(lambda: case(jlax)), 1e-12)


STRUCTURAL = [
    lambda L, a: L.convert_element_type(a, np.int8),
    lambda L, a: L.convert_element_type(np.array([2.7, -2.7, 1e10, -1e10, np.nan]), np.int32),
    lambda L, a: L.convert_element_type(np.array([300, -1]), np.uint8),
    lambda L, a: L.convert_element_type(np.array([-1.5, 300.0]), np.uint8),
    lambda L, a: L.convert_element_type(np.array([1 + 2j]), np.float32),
    lambda L, a: L.convert_element_type(np.array([2.5, 0.0]), np.bool_),
    lambda L, a: L.convert_element_type(a, np.complex64),
    lambda L, a: L.broadcast(a, (4,)),
    lambda L, a: L.broadcast_in_dim(a[0], (2, 3), (1,)),
    lambda L, a: L.broadcast_in_dim(a[:, :1], (2, 4), (0, 1)),
    lambda L, a: L.broadcast_in_dim(a.T, (2, 3), (1, 0)),
    lambda L, a: L.broadcast_in_dim(a, (2, 5, 3), (0, 2)),
    lambda L, a: L.broadcast_in_dim(a[0], (3, 4), (1,)),
    lambda L, a: L.broadcast_in_dim(2.0, (2, 3), ()),
    lambda L, a: L.reshape(a, (3, 2)),
    lambda L, a: L.reshape(a, (3, 2), (1, 0)),
    lambda L, a: L.reshape(a, (-1,)),
    lambda L, a: L.reshape(a, (4, 2)),
    lambda L, a: L.transpose(a, (1, 0)),
    lambda L, a: L.transpose(a, (-1, 0)),
    lambda L, a: L.transpose(a, (0,)),
    lambda L, a: L.squeeze(a[None, :, :, None], (0, 3)),
    lambda L, a: L.squeeze(a[None, :, :, None], (-1,)),
    lambda L, a: L.squeeze(a[None], (1,)),
    lambda L, a: L.expand_dims(a, (0, 3)),
    lambda L, a: L.expand_dims(a, (-1,)),
    lambda L, a: L.expand_dims(a, (0, 0)),
    lambda L, a: L.concatenate([a, a, a[:1]], 0),
    lambda L, a: L.concatenate([a, a.astype(np.int32)], 1),
    lambda L, a: L.concatenate([a, a[0]], 0),
    lambda L, a: L.concatenate([a, a], -1),
    lambda L, a: L.pad(a, 0.0, [(1, 2, 1), (-1, 0, 0)]),
    lambda L, a: L.pad(a, -1.0, [(0, 0, 2), (2, -2, 1)]),
    lambda L, a: L.pad(a, 0.0, [(-3, 0, 1), (0, 0, 0)]),
    lambda L, a: L.pad(a, 0.0, [(-2, -2, 1), (0, 0, 0)]),
    lambda L, a: L.pad(a, 0.0, [(0, 0, -1), (0, 0, 0)]),
    lambda L, a: L.pad(a, 0.0, [(1, 2, 1)]),
    lambda L, a: L.pad(a, 0, [(1, 1, 0), (0, 0, 0)]),
    lambda L, a: L.pad(a.astype(np.int32), np.int32(7), [(1, 1, 1), (0, 1, 0)]),
    lambda L, a: L.slice(a, (0, 1), (2, 3)),
    lambda L, a: L.slice(a, (0, 0), (2, 3), (2, 2)),
    lambda L, a: L.slice(a, (0, 0), (3, 3)),
    lambda L, a: L.slice(a, (1, 0), (0, 3)),
    lambda L, a: L.slice(a, (-1, 0), (2, 3)),
    lambda L, a: L.slice_in_dim(a, 1, None, axis=1),
    lambda L, a: L.slice_in_dim(a, -2, -1, axis=1),
    lambda L, a: L.slice_in_dim(a, 0, 3, 2, 1),
    lambda L, a: L.index_in_dim(a, 1, 1),
    lambda L, a: L.index_in_dim(a, -1, 1, keepdims=False),
    lambda L, a: L.index_in_dim(a, 5, 1),
    lambda L, a: L.dynamic_index_in_dim(a, 5, 1),
    lambda L, a: L.dynamic_index_in_dim(a, 1, 1, False),
    lambda L, a: L.dynamic_update_index_in_dim(a, np.ones(2), 1, 1),
    lambda L, a: L.dynamic_update_index_in_dim(a, np.ones((2, 1)), 1, 1),
    lambda L, a: L.dynamic_update_index_in_dim(a, np.ones(3), 0, 0),
    lambda L, a: L.rev(a, (0,)),
    lambda L, a: L.rev(a, (0, 1)),
    lambda L, a: L.rev(a, (-1,)),
    lambda L, a: L.iota(np.int32, 4),
    lambda L, a: L.iota(np.float32, 4),
    lambda L, a: L.broadcasted_iota(np.int32, (2, 3), 1),
    lambda L, a: L.broadcasted_iota(np.float64, (2, 3, 4), 0),
    lambda L, a: L.full((2,), 3.0, np.int32),
    lambda L, a: L.full((2, 2), np.float32(3)),
    lambda L, a: L.full_like(a, 2),
    lambda L, a: L.full_like(a, 2, np.int32, (4,)),
    lambda L, a: L.dot(a, a.T),
    lambda L, a: L.dot(a[0], a[1]),
    lambda L, a: L.dot_general(a, a, (((1,), (1,)), ((), ())), precision=L.Precision.HIGHEST),
    lambda L, a: L.dot(a, a[0]),
    lambda L, a: L.dot(a.astype(np.int32), a.astype(np.int32).T, preferred_element_type=np.float32),
    lambda L, a: L.dot(a.astype(np.float32), a.T),
    lambda L, a: L.dot(np.ones((2, 2, 3)), np.ones((3, 4))),
    lambda L, a: L.dot_general(
        np.arange(30.0).reshape(5, 2, 3),
        np.arange(60.0).reshape(5, 3, 4),
        (((2,), (1,)), ((0,), (0,))),
    ),
    lambda L, a: L.dot_general(
        np.arange(30.0).reshape(2, 5, 3),
        np.arange(60.0).reshape(3, 4, 5),
        (((2,), (0,)), ((1,), (2,))),
    ),
    lambda L, a: L.dot_general(
        np.arange(24.0).reshape(2, 3, 4),
        np.arange(24.0).reshape(4, 3, 2),
        (((1, 2), (1, 0)), ((), ())),
    ),
    lambda L, a: L.dot_general(np.ones((2, 3)), np.ones((4, 4)), (((1,), (0,)), ((), ()))),
    lambda L, a: L.batch_matmul(np.arange(30.0).reshape(5, 2, 3), np.arange(60.0).reshape(5, 3, 4)),
    lambda L, a: L.batch_matmul(a, a.T),
    lambda L, a: L.reduce_sum(a, (0,)),
    lambda L, a: L.reduce_sum(a.astype(np.int32), (0, 1)),
    lambda L, a: L.reduce_sum(a, (-1,)),
    lambda L, a: L.reduce_sum(a, (0, 0)),
    lambda L, a: L.reduce_max(a, (1,)),
    lambda L, a: L.reduce_min(a.astype(np.int32), (0, 1)),
    lambda L, a: L.reduce_prod(a.astype(np.int32), (1,)),
    lambda L, a: L.reduce_and(a > 2, (1,)),
    lambda L, a: L.reduce_and(np.array([[7, 5], [6, 3]], np.int32), (1,)),
    lambda L, a: L.reduce_or(np.array([[1, 4], [6, 3]], np.int8), (0,)),
    lambda L, a: L.reduce_or(a, (1,)),
    lambda L, a: L.reduce_xor(a > 2, (1,)),
    lambda L, a: L.reduce_xor(np.array([[7, 5, 1], [6, 3, 3]], np.int32), (1,)),
    lambda L, a: L.argmax(a, 1, np.int32),
    lambda L, a: L.argmin(a, 0, np.int64),
    lambda L, a: L.argmax(a, -1, np.int32),
    lambda L, a: L.argmax(np.array([np.nan, 1.0, np.nan]), 0, np.int32),
    lambda L, a: L.argmax(np.ones((0, 3)), 0, np.int32),
    lambda L, a: L.argmax(a, 1, np.float32),
    lambda L, a: L.reduce_window(a, -np.inf, L.max, (2, 2), (1, 1), "VALID"),
    lambda L, a: L.reduce_window(a, 0.0, L.add, (1, 2), (1, 1), "SAME"),
    lambda L, a: L.reduce_window(a, np.inf, L.min, (2, 1), (1, 1), "VALID"),
    lambda L, a: L.reduce(a, 1.0, L.mul, (1,)),
    lambda L, a: L.reduce(a, -np.inf, L.max, (0,)),
    lambda L, a: L.associative_scan(L.add, a, axis=1),
    lambda L, a: L.associative_scan(L.max, a[:, ::-1], axis=1),
]


@pytest.mark.parametrize("i", range(len(STRUCTURAL)))
def test_structural_against_jax(jlax, i):
    a = np.array([[0.5, 1.0, 2.0], [3.0, -4.0, 5.0]])
    assert_same_outcome(
        outcome(lambda: STRUCTURAL[i](lax, a)), outcome(lambda: STRUCTURAL[i](jlax, a)), 1e-12
    )


# ---------------------------------------------------------------- NumPy closed forms


def test_shape_ops_closed_forms():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(
        lax.pad(a, -1.0, [(1, 0, 1), (0, -1, 0)]),
        [[-1, -1], [0, 1], [-1, -1], [3, 4]],
    )
    np.testing.assert_array_equal(
        lax.broadcast_in_dim(a[:, 0], (2, 4), (0,)), np.repeat(a[:, :1], 4, 1)
    )
    np.testing.assert_array_equal(lax.broadcasted_iota(np.int32, (2, 3), 0), [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(lax.slice(a, (0, 0), (2, 3), (1, 2)), a[:, ::2])
    np.testing.assert_array_equal(lax.rev(a, (1,)), a[:, ::-1])
    np.testing.assert_array_equal(lax.reshape(a, (3, 2), (1, 0)), a.T.reshape(3, 2))
    x, y = RNG.normal(size=(4, 2, 3, 5)), RNG.normal(size=(5, 3, 4, 6))
    out = lax.dot_general(x, y, (((2,), (1,)), ((0, 3), (2, 0))))
    np.testing.assert_allclose(out, np.einsum("bikn,nkbj->bnij", x, y), rtol=1e-12)
    i8 = np.full((2, 300), 100, np.int8)
    total = lax.dot(i8, i8.T, preferred_element_type=np.int32)
    assert total.dtype == np.int32
    np.testing.assert_array_equal(total, np.full((2, 2), 300 * 10000))
    assert lax.reduce_sum(np.ones((2, 3), np.int32), (1,)).dtype == np.int32


def test_reduce_window_and_reduce_take_lax_computations():
    x = RNG.normal(size=(4, 6))
    np.testing.assert_allclose(
        lax.reduce_window(x, -np.inf, lax.max, (2, 2), (2, 2), "VALID"),
        x.reshape(2, 2, 3, 2).max(axis=(1, 3)),
    )
    np.testing.assert_allclose(
        lax.reduce_window(x, 0.0, lax.add, (2, 2), (2, 2), "VALID"),
        x.reshape(2, 2, 3, 2).sum(axis=(1, 3)),
    )
    np.testing.assert_allclose(lax.reduce(x, 1.0, lax.mul, (0,)), x.prod(0), rtol=1e-12)
    np.testing.assert_allclose(lax.associative_scan(lax.add, x, axis=1), np.cumsum(x, 1))


# ---------------------------------------------------------------- derivatives


@pytest.mark.parametrize("name", sorted(set(UNARY) - NONDIFF - {"bitwise_not", "real", "imag"}))
def test_unary_grad_by_finite_differences(name):
    x = sample(UNARY[name][1], "float64", (4,))
    f = getattr(lax, name)

    def loss(v):
        out = f(v)
        return fnp.sum(fnp.real(out) * np.arange(1.0, 5.0))

    numeric = central_difference(lambda v: float(loss(v)), x)
    np.testing.assert_allclose(fgrad.grad(loss)(x), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(n for n, (_, kinds, d) in BINARY.items() if d))
def test_binary_grad_by_finite_differences(name):
    x, y = sample("pos", "float64", (4,)), sample("pos", "float64", (4,)) + 0.1
    f = getattr(lax, name)
    w = np.arange(1.0, 5.0)

    def loss(a, b):
        return fnp.sum(fnp.real(f(a, b)) * w)

    gx, gy = fgrad.grad(loss, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, central_difference(lambda v: float(loss(v, y)), x), rtol=1e-6)
    np.testing.assert_allclose(gy, central_difference(lambda v: float(loss(x, v)), y), rtol=1e-6)


SHAPE_FUNCTIONS = {
    "pad": lambda a: lax.pad(a, 0.5, [(1, -1, 2), (-1, 2, 1)]),
    "broadcast_in_dim": lambda a: lax.broadcast_in_dim(a, (2, 4, 3), (0, 2)),
    "broadcast": lambda a: lax.broadcast(a, (2,)),
    "reshape": lambda a: lax.reshape(a, (3, 2), (1, 0)),
    "transpose": lambda a: lax.transpose(a, (1, 0)),
    "slice": lambda a: lax.slice(a, (0, 1), (2, 3), (1, 2)),
    "slice_in_dim": lambda a: lax.slice_in_dim(a, 1, 3, axis=1),
    "index_in_dim": lambda a: lax.index_in_dim(a, 1, 1, False),
    "dynamic_index_in_dim": lambda a: lax.dynamic_index_in_dim(a, 1, 0),
    "dynamic_update_index_in_dim": lambda a: lax.dynamic_update_index_in_dim(a, a[0] * 2.0, 1, 0),
    "rev": lambda a: lax.rev(a, (0, 1)),
    "concatenate": lambda a: lax.concatenate([a, lax.exp(a)], 1),
    "expand_squeeze": lambda a: lax.squeeze(lax.expand_dims(a, (0,)), (0,)),
    "convert_element_type": lambda a: lax.real(lax.convert_element_type(a, np.complex128)),
    "dot_general": lambda a: lax.dot_general(a, lax.sin(a), (((0,), (0,)), ((), ()))),
    "batch_matmul": lambda a: lax.batch_matmul(a[None], lax.transpose(a, (1, 0))[None]),
    "dot": lambda a: lax.dot(a, a[0]),
    "reduce_sum": lambda a: lax.reduce_sum(a, (1,)),
    "reduce_max": lambda a: lax.reduce_max(a, (0,)),
    "reduce_min": lambda a: lax.reduce_min(a, (0, 1)),
    "reduce_prod": lambda a: lax.reduce_prod(a, (1,)),
    "full_like": lambda a: lax.full_like(a, 2.0) * a,
}


@pytest.mark.parametrize("name", sorted(SHAPE_FUNCTIONS))
def test_shape_ops_grad_by_finite_differences(name):
    a = RNG.normal(size=(2, 3))
    f = SHAPE_FUNCTIONS[name]
    w = RNG.normal(size=np.shape(f(a)))

    def loss(v):
        return fnp.sum(f(v) * w)

    numeric = central_difference(lambda v: float(loss(v)), a)
    np.testing.assert_allclose(fgrad.grad(loss)(a), numeric, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- jit and vmap


TRANSFORMED = {
    **{f"shape-{k}": v for k, v in SHAPE_FUNCTIONS.items()},
    "add": lambda a: lax.add(a, 2.0),
    "div": lambda a: lax.div(a, lax.exp(a)),
    "rem": lambda a: lax.rem(a, 0.7),
    "int-div": lambda a: lax.div(lax.convert_element_type(a * 10, np.int32), 3),
    "shifts": lambda a: lax.shift_right_logical(
        lax.convert_element_type(a * 10, np.int32), lax.full(np.shape(a), 2, np.int32)
    ),
    "round": lambda a: lax.round(a * 3),
    "integer_pow": lambda a: lax.integer_pow(a, 3),
    "pow": lambda a: lax.pow(lax.abs(a), a),
    "compare": lambda a: lax.select(lax.gt(a, 0.0), a, lax.neg(a)),
    "complex": lambda a: lax.abs(lax.complex(a, lax.cos(a))),
    "argmax": lambda a: lax.argmax(a, 0, np.int32),
    "iota": lambda a: a + lax.broadcasted_iota(np.float64, np.shape(a), 0),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMED))
def test_jit_and_vmap_equal_eager(name):
    f = TRANSFORMED[name]
    batch = RNG.normal(size=(3, 2, 3))
    eager = np.stack([np.asarray(f(b)) for b in batch])
    np.testing.assert_allclose(fgrad.vmap(f)(batch), eager, rtol=1e-13)
    np.testing.assert_allclose(fgrad.jit(f)(batch[0]), eager[0], rtol=1e-13)
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(f))(batch), eager, rtol=1e-13)


def test_jvp_of_pad_and_dot_general_is_linear():
    a, t = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    for f in (SHAPE_FUNCTIONS["pad"], SHAPE_FUNCTIONS["dot_general"]):
        primal, tangent = fgrad.jvp(f, (a,), (t,))
        np.testing.assert_allclose(primal, f(a))
        eps = 1e-6
        np.testing.assert_allclose(
            tangent,
            (np.asarray(f(a + eps * t)) - np.asarray(f(a - eps * t))) / (2 * eps),
            rtol=1e-6,
            atol=1e-8,
        )


def test_help_finds_the_docs():
    for name in ("add", "exp", "shift_right_logical"):
        f = getattr(lax, name)
        assert f.__name__ == name and f"jax.lax.{name}" in f.__doc__
    for f in (lax.pad, lax.dot_general, lax.broadcast_in_dim, lax.reduce_sum, lax.round):
        assert "jax.lax" in f.__doc__

    from fgrad.lax import add, dot_general  # the way JAX programs import them

    assert add is lax.add and dot_general is lax.dot_general
