"""The rest of ``jax.lax``'s names, and ``fgrad.lax`` on arrays of another device.

Values are checked against NumPy and closed forms, derivatives against central
finite differences in float64; the JAX comparisons run only where JAX is installed.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad import random as fr
from fgrad.core.backend import backend_of

# -- lax on arrays of another backend ------------------------------------------------------

X = np.array([0.5, -1.25, 2.0, 3.5, -0.75, 1.5, 0.25])
XI = np.array([6, 3, 12, 5, 9, 7, 10])

#: name -> (function of a float and an int operand, its value computed with NumPy)
DEVICE_CASES = {
    "reduce add": (lambda x, i: lax.reduce(x, 0.0, lax.add, (0,)), X.sum()),
    "reduce mul": (lambda x, i: lax.reduce(x, 1.0, lax.mul, (0,)), X.prod()),
    "reduce max": (lambda x, i: lax.reduce(x, -np.inf, lax.max, (0,)), X.max()),
    "reduce_and": (lambda x, i: lax.reduce_and(i, (0,)), np.bitwise_and.reduce(XI)),
    "reduce_or": (lambda x, i: lax.reduce_or(i, (0,)), np.bitwise_or.reduce(XI)),
    "reduce_xor": (lambda x, i: lax.reduce_xor(i, (0,)), np.bitwise_xor.reduce(XI)),
    "cumsum": (lambda x, i: lax.cumsum(x), np.cumsum(X)),
    "cumsum reverse": (lambda x, i: lax.cumsum(x, reverse=True), np.cumsum(X[::-1])[::-1]),
    "cumprod": (lambda x, i: lax.cumprod(x), np.cumprod(X)),
    "cummax": (lambda x, i: lax.cummax(x), np.maximum.accumulate(X)),
    "cummin reverse": (
        lambda x, i: lax.cummin(x, reverse=True),
        np.minimum.accumulate(X[::-1])[::-1],
    ),
    "cumlogsumexp": (lambda x, i: lax.cumlogsumexp(x), np.logaddexp.accumulate(X)),
    "numpy cumsum": (lambda x, i: fnp.cumsum(x), np.cumsum(X)),
    "clamp": (lambda x, i: lax.clamp(0.0, x, 2.0), np.clip(X, 0.0, 2.0)),
    "pad interior": (
        lambda x, i: lax.pad(x, 9.0, [(1, -2, 1)]),
        np.r_[9.0, np.ravel(np.c_[X, np.full(7, 9.0)])[:-1]][:-2],
    ),
    "full_like": (lambda x, i: lax.full_like(x, 2.0), np.full(7, 2.0)),
    "add scalar": (lambda x, i: lax.add(x, 1.5), X + 1.5),
    "atan2": (lambda x, i: lax.atan2(x, x[::-1]), np.arctan2(X, X[::-1])),
    "div int": (lambda x, i: lax.div(i, 4), XI // 4),
    "shift_right_arithmetic": (lambda x, i: lax.shift_right_arithmetic(-i, 1), -XI >> 1),
    "integer_pow": (lambda x, i: lax.integer_pow(x, -2), X**-2.0),
    "fori_loop": (lambda x, i: lax.fori_loop(0, 3, lambda k, v: v * 2.0 + k, x), X * 8 + 4),
    "fori_loop jit": (
        fgrad.jit(lambda x, i: lax.fori_loop(0, 3, lambda k, v: v * 2.0 + k, x)),
        X * 8 + 4,
    ),
    "reduce jit": (fgrad.jit(lambda x, i: lax.reduce(x, 1.0, lax.mul, (0,))), X.prod()),
    "dynamic_slice device start": (
        lambda x, i: lax.dynamic_slice(x, (i[1] - 1,), (3,)),
        X[2:5],
    ),
}


@pytest.mark.parametrize("name", DEVICE_CASES)
def test_lax_keeps_fill_and_init_values_on_the_operands_device(name, strict):
    """Init values, fills, padding and scalars made by fgrad.lax go where the operand is:
    the result stays on the device and equals NumPy's."""
    f, want = DEVICE_CASES[name]
    x, i = fgrad.device_put((X, XI), strict)
    got = f(x, i)
    assert backend_of(got).name == strict
    np.testing.assert_allclose(fgrad.device_get(got), want, rtol=1e-12)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: lax.reduce(x, 1.0, lax.mul, (0,)),
        lambda x: fnp.sum(lax.cumprod(x) * fnp.arange(7.0, like=x)),
        lambda x: fnp.sum(lax.pad(x, 0.5, [(2, 1, 2)]) ** 2),
        lambda x: fnp.sum(lax.cumsum(x, reverse=True) ** 2),
    ],
    ids=["reduce", "cumprod", "pad", "cumsum"],
)
def test_gradients_on_another_device_equal_numpys(f, strict):
    want = fgrad.grad(f)(X)
    got = fgrad.grad(f)(fgrad.device_put(X, strict))
    assert backend_of(got).name == strict
    np.testing.assert_allclose(fgrad.device_get(got), want, rtol=1e-12)


RANDOM_ON_DEVICE = {
    "uniform": lambda k: fr.uniform(k, (4,), minval=-1.0, maxval=2.0),
    "normal": lambda k: fr.normal(k, (4,)),
    "bernoulli": lambda k: fr.bernoulli(k, 0.3, (4,)),
    "randint": lambda k: fr.randint(k, (4,), 0, 5),
    "categorical": lambda k: fr.categorical(k, fnp.log(fgrad.device_put(X**2, backend_of(k)))),
    "permutation": lambda k: fr.permutation(k, 6),
    "choice": lambda k: fr.choice(k, 6, (3,)),
    "split": lambda k: fr.split(k, 3),
    "fold_in": lambda k: fr.fold_in(k, 7),
    "exponential": lambda k: fr.exponential(k, (4,)),
    "truncated_normal": lambda k: fr.truncated_normal(k, -1.0, 2.0, (4,)),
    "gamma": lambda k: fr.gamma(k, 0.7, (4,)),
    "loggamma": lambda k: fr.loggamma(k, 0.5, (4,)),
    "beta": lambda k: fr.beta(k, 2.0, 3.0, (4,)),
    "dirichlet": lambda k: fr.dirichlet(
        k, fgrad.device_put(np.array([0.5, 1.0, 2.0]), backend_of(k).name)
    ),
    "chisquare": lambda k: fr.chisquare(k, 3.0, (4,)),
    "t": lambda k: fr.t(k, 3.0, (4,)),
    "poisson": lambda k: fr.poisson(k, 3.0, (4,)),
    "binomial": lambda k: fr.binomial(k, 10.0, 0.3, (4,)),
}


@pytest.mark.parametrize("name", RANDOM_ON_DEVICE)
def test_random_draws_from_a_key_on_another_device_stay_there_bit_for_bit(name, strict):
    draw = RANDOM_ON_DEVICE[name]
    k = fr.key(3)
    want = draw(k)
    got = draw(fgrad.device_put(k, strict))
    assert backend_of(got).name == strict
    np.testing.assert_array_equal(fgrad.device_get(got), want)


# -- the shape operations ----------------------------------------------------------------

Z = np.arange(24.0).reshape(2, 3, 4)


def test_split_cuts_pieces_of_the_given_sizes_and_checks_they_add_up():
    pieces = lax.split(Z, [1, 0, 3], axis=2)
    for got, want in zip(pieces, [Z[..., :1], Z[..., 1:1], Z[..., 1:]]):
        np.testing.assert_array_equal(got, want)
    assert [p.shape for p in lax.split(Z, (2,), axis=-3)] == [(2, 3, 4)]
    with pytest.raises(ValueError, match=r"add up to the length 4 of axis 2"):
        lax.split(Z, [1, 2], axis=2)


def test_split_differentiates_and_batches():
    w = [np.full((2, 3, 1), 2.0), np.full((2, 3, 3), -1.0)]

    def f(x):
        a, b = lax.split(x, [1, 3], axis=2)
        return fnp.sum(a * w[0]) + fnp.sum(b**2 * w[1])

    want = np.concatenate([np.full((2, 3, 1), 2.0), -2.0 * Z[..., 1:]], axis=2)
    np.testing.assert_allclose(fgrad.grad(f)(Z), want)
    batched = fgrad.vmap(lambda x: lax.split(x, [3, 1], axis=1)[1])(Z)
    np.testing.assert_array_equal(batched, Z[..., 3:])


def test_stack_unstack_tile_collapse_against_numpy():
    np.testing.assert_array_equal(lax.stack([Z, Z + 1], axis=-1), np.stack([Z, Z + 1], -1))
    for got, want in zip(lax.unstack(Z, axis=1), np.moveaxis(Z, 1, 0)):
        np.testing.assert_array_equal(got, want)
    assert isinstance(lax.unstack(Z), tuple)
    np.testing.assert_array_equal(lax.tile(Z, (1, 2, 3)), np.tile(Z, (1, 2, 3)))
    np.testing.assert_array_equal(lax.collapse(Z, 1), Z.reshape(2, 12))
    np.testing.assert_array_equal(lax.collapse(Z, 0, 2), Z.reshape(6, 4))
    np.testing.assert_array_equal(lax.collapse(Z, -2), Z.reshape(2, 12))
    assert lax.broadcast_to_rank(np.ones(3), 3).shape == (1, 1, 3)
    np.testing.assert_array_equal(
        lax.broadcast_like(np.arange(4.0), Z), np.broadcast_to(np.arange(4.0), Z.shape)
    )
    with pytest.raises(ValueError, match="one non-negative entry per axis"):
        lax.tile(Z, (2,))
    with pytest.raises(TypeError, match="one dtype"):
        lax.stack([Z, Z.astype(np.float32)])


def test_dtype_empty_and_padtype_to_pads():
    assert lax.dtype(1.0) == np.float64 and lax.dtype(np.int8(3)) == np.int8
    assert lax.dtype(np.ones(2, np.float32)) == np.float32
    out = lax.empty((2, 3), np.float32)
    assert out.shape == (2, 3) and out.dtype == np.float32 and not out.any()
    # SAME: out = ceil(n / s), total padding max((out - 1) * s + k - n, 0), the extra one high
    assert lax.padtype_to_pads((5, 6), (3, 3), (2, 1), "SAME") == [(1, 1), (1, 1)]
    assert lax.padtype_to_pads((6,), (3,), (2,), "SAME") == [(0, 1)]
    assert lax.padtype_to_pads((6,), (3,), (2,), "SAME_LOWER") == [(1, 0)]
    assert lax.padtype_to_pads((6,), (3,), (2,), "VALID") == [(0, 0)]


# -- bits ------------------------------------------------------------------------------------

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def _ints(dtype, n=40, seed=0):
    info = np.iinfo(dtype)
    x = np.random.default_rng(seed).integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    x[:5] = [0, 1, info.max, info.min, info.max // 3]
    return x


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_clz_counts_leading_zeros_of_the_twos_complement_bits(dtype):
    x = _ints(dtype)
    bits = np.dtype(dtype).itemsize * 8
    want = [bits - (int(v) % 2**bits).bit_length() for v in x]
    got = lax.clz(x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(fgrad.jit(lax.clz)(x), want)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_mulhi_is_the_high_half_of_the_exact_product(dtype):
    x, y = _ints(dtype, seed=1), _ints(dtype, seed=2)[::-1]
    bits = np.dtype(dtype).itemsize * 8
    signed = np.dtype(dtype).kind == "i"
    high = [(int(a) * int(b)) >> bits for a, b in zip(x, y)]  # Python ints: exact, floor shift
    want = [h - (2**bits if signed and h >= 2 ** (bits - 1) else 0) for h in high]
    got = lax.mulhi(x, y)
    assert got.dtype == dtype
    assert [int(v) for v in got] == want


# -- bitcast_convert_type and reduce_precision -------------------------------------------


def test_bitcast_convert_type_reads_the_bits_in_any_width():
    x = np.array([[1.0, -2.5], [np.inf, 3.25e-300]])
    np.testing.assert_array_equal(lax.bitcast_convert_type(x, np.int64), x.view(np.int64))
    narrow = lax.bitcast_convert_type(x, np.uint16)
    assert narrow.shape == (2, 2, 4) and narrow.dtype == np.uint16
    np.testing.assert_array_equal(narrow.reshape(2, 8), x.view(np.uint16))
    np.testing.assert_array_equal(lax.bitcast_convert_type(narrow, np.float64), x)
    assert lax.bitcast_convert_type(np.float32(1.0), np.int32) == 0x3F800000
    np.testing.assert_array_equal(  # a strided view is read as its own elements
        lax.bitcast_convert_type(x.T, np.int64), np.ascontiguousarray(x.T).view(np.int64)
    )
    np.testing.assert_array_equal(
        fgrad.jit(fgrad.vmap(lambda r: lax.bitcast_convert_type(r, np.uint32), in_axes=1))(x),
        np.stack([np.ascontiguousarray(x[:, j]).view(np.uint32).reshape(2, 2) for j in range(2)]),
    )
    with pytest.raises(ValueError, match="last axis must have size 2"):
        lax.bitcast_convert_type(np.zeros(3, np.int32), np.float64)


def _rounded(v: float, mantissa_bits: int) -> float:
    """``v`` rounded to ``mantissa_bits`` explicit mantissa bits, ties to even, by Python's
    exact frexp/ldexp and banker's round (no exponent limit)."""
    if v == 0 or not np.isfinite(v):
        return v
    f, e = math.frexp(v)  # v = f * 2**e, 0.5 <= |f| < 1: the leading bit is f's first
    return math.ldexp(round(math.ldexp(f, mantissa_bits + 1)), e - mantissa_bits - 1)


@pytest.mark.parametrize("mantissa_bits", [0, 1, 7, 10, 23])
def test_reduce_precision_rounds_the_mantissa_to_nearest_even(mantissa_bits):
    rng = np.random.default_rng(mantissa_bits)
    x = rng.standard_normal(300) * np.exp(rng.uniform(-20, 20, 300))
    if mantissa_bits:  # exact ties between two representable values: the even one wins
        step = 2.0**-mantissa_bits
        x[:4] = [1 + step / 2, 1 + 3 * step / 2, -(2 + 2 * step / 2), 1 + step / 4]
    got = lax.reduce_precision(x, 11, mantissa_bits)
    np.testing.assert_array_equal(got, [_rounded(v, mantissa_bits) for v in x])


def test_reduce_precision_to_float16_and_its_range():
    x = np.array([1 / 3, -2 / 3, 1000.1, 6.0e-5, 65504.0, 65520.0, -1.0e6, 1.0e-8, np.nan])
    got = lax.reduce_precision(x, 5, 10)
    normal = np.abs(x) >= np.finfo(np.float16).tiny
    np.testing.assert_array_equal(got[normal][:5], x[normal][:5].astype(np.float16))
    # 65520 rounds up past float16's largest value: inf; below the smallest normal: zero
    assert got[5] == np.inf and got[6] == -np.inf and got[7] == 0.0 and np.isnan(got[8])
    assert got.dtype == np.float64
    f32 = np.float32(np.pi)
    assert (
        lax.reduce_precision(f32, 8, 23) == f32
        and lax.reduce_precision(f32, 8, 7).dtype == f32.dtype
    )


def test_reduce_precision_derivatives_round_the_tangent_as_jax():
    def f(x):
        return lax.reduce_precision(x, 8, 2) * 3.3

    # d/dx is the cotangent 3.3 rounded to 2 mantissa bits: 3.5
    assert fgrad.grad(f)(1.2345) == 3.5
    assert fgrad.jvp(lambda x: lax.reduce_precision(x, 8, 2), (1.2345,), (3.3,)) == (1.25, 3.5)
    x = np.linspace(-3.0, 3.0, 7)
    np.testing.assert_array_equal(fgrad.jit(fgrad.vmap(fgrad.grad(f)))(x), np.full(7, 3.5))


# -- approximate top k (exact here) -------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0])
def test_approx_max_and_min_k_are_the_exact_k_extremes_with_int32_indices(axis):
    x = np.random.default_rng(3).standard_normal((5, 7))
    values, idx = lax.approx_max_k(x, 3, reduction_dimension=axis)
    np.testing.assert_array_equal(values, -np.sort(-x, axis=axis).take(range(3), axis=axis))
    np.testing.assert_array_equal(np.take_along_axis(x, idx, axis=axis), values)
    assert idx.dtype == np.int32
    values, idx = lax.approx_min_k(x, 2, reduction_dimension=axis, recall_target=0.5)
    np.testing.assert_array_equal(values, np.sort(x, axis=axis).take(range(2), axis=axis))
    g = fgrad.grad(lambda x: fnp.sum(lax.approx_max_k(x, 2)[0]))(x)
    np.testing.assert_array_equal(g, (x >= np.sort(x, axis=-1)[:, -2:-1]).astype(float))


# -- reduce_window with a product or any computation --------------------------------------

Y = np.random.default_rng(5).uniform(0.5, 1.5, (5, 6))


def _windows_by_loops(x, window, strides, fn, pad_value, pads):
    """Reference: pad, then apply ``fn`` to each window with plain Python loops."""
    xp = np.pad(x, pads, constant_values=pad_value)
    rows = range(0, xp.shape[0] - window[0] + 1, strides[0])
    cols = range(0, xp.shape[1] - window[1] + 1, strides[1])
    return np.array([[fn(xp[i : i + window[0], j : j + window[1]]) for j in cols] for i in rows])


def test_reduce_window_product_and_its_gradient():
    got = lax.reduce_window(Y, 1.0, lax.mul, (2, 3), (1, 2), "SAME")
    want = _windows_by_loops(Y, (2, 3), (1, 2), np.prod, 1.0, ((0, 1), (0, 1)))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    np.testing.assert_allclose(
        lax.reduce_window(Y, 2.0, operator.mul, (2, 2)),
        2 * _windows_by_loops(Y, (2, 2), (1, 1), np.prod, 1.0, ((0, 0), (0, 0))),
        rtol=1e-13,
    )

    def f(x):
        return fnp.sum(lax.reduce_window(x, 1.0, lax.mul, (2, 3), (1, 2), "SAME") ** 2)

    g = fgrad.grad(f)(Y)
    h, fd = 1e-6, np.zeros_like(Y)
    for i in np.ndindex(Y.shape):
        e = np.zeros_like(Y)
        e[i] = h
        fd[i] = (f(Y + e) - f(Y - e)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


def test_reduce_window_with_any_computation_and_defaults():
    # the init value is the computation's identity (here -inf), as JAX requires
    got = lax.reduce_window(Y, -np.inf, lambda a, b: fnp.logaddexp(a, b), (2, 3))
    want = _windows_by_loops(Y, (2, 3), (1, 1), lambda w: np.log(np.exp(w).sum()), 0, 0)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    got = fgrad.jit(
        lambda x: lax.reduce_window(
            x, -np.inf, lambda a, b: fnp.maximum(a, b) + 0.0, (3, 2), (2, 2), "SAME"
        )
    )(Y)
    want = _windows_by_loops(Y, (3, 2), (2, 2), np.max, -np.inf, ((1, 1), (0, 0)))
    np.testing.assert_allclose(got, want)


def test_reduce_window_over_a_tuple_of_operands_pools_the_argmax():
    index = np.arange(Y.size).reshape(Y.shape)

    def pick(a, b):
        (av, ai), (bv, bi) = a, b
        first = (av > bv) | ((av == bv) & (ai < bi))
        return fnp.where(first, av, bv), fnp.where(first, ai, bi)

    values, where = lax.reduce_window((Y, index), (-np.inf, 0), pick, (2, 2), (2, 2), "VALID")
    want = _windows_by_loops(Y, (2, 2), (2, 2), np.max, 0, 0)
    np.testing.assert_array_equal(values, want)
    np.testing.assert_array_equal(Y.ravel()[where], want)


def test_conv_general_dilated_patches_are_the_windows_channel_major():
    x = np.random.default_rng(6).standard_normal((2, 5, 6, 3))  # NHWC
    got = lax.conv_general_dilated_patches(
        x, (2, 3), (1, 2), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    assert got.shape == (2, 4, 2, 18)
    for i, j in np.ndindex(4, 2):
        window = x[:, i : i + 2, 2 * j : 2 * j + 3, :]  # (N, 2, 3, C)
        want = np.moveaxis(window, -1, 1).reshape(2, 18)  # channel, then the window row-major
        np.testing.assert_array_equal(got[:, i, j], want)


# -- complex atan2, compiler hints -----------------------------------------------------------


def test_complex_atan2_is_the_analytic_continuation():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    y = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    # tan(atan2(x, y)) = x / y, and on real values the principal angle
    np.testing.assert_allclose(np.tan(lax.atan2(x, y)), x / y, rtol=1e-12)
    np.testing.assert_allclose(lax.atan2(1.0 + 0j, -1.0 + 0j), 3 * np.pi / 4, atol=1e-15)
    # holomorphic: the gradient of the real part is, by JAX's convention (and fgrad's),
    # the complex derivative y / (x^2 + y^2)
    g = fgrad.grad(lambda a: fnp.real(lax.atan2(a, y[0])))(x[0])
    np.testing.assert_allclose(g, y[0] / (x[0] ** 2 + y[0] ** 2), rtol=1e-12)


def test_optimization_barrier_composite_and_platform_dependent_run_the_computation():
    tree = (np.arange(3.0), {"b": 2.0})
    assert lax.optimization_barrier(tree) is tree
    assert fgrad.grad(lambda x: lax.optimization_barrier(x) ** 3)(2.0) == 12.0
    double = lax.composite(lambda x: 2 * x, name="my.double")
    assert fgrad.jit(fgrad.grad(double))(3.0) == 2.0
    assert double.__composite_name__ == ("my.double", 0)
    branch = lax.platform_dependent(2.0, cpu=lambda x: x + 1, cuda=lambda x: x * 0, default=None)
    assert branch == 3.0
    assert lax.platform_dependent(2.0, tpu=lambda x: 0.0, default=lambda x: x - 1) == 1.0
    with pytest.raises(NotImplementedError, match="no branch for fgrad's device 'cpu'"):
        lax.platform_dependent(2.0, tpu=lambda x: 0.0)


@pytest.mark.parametrize(
    "name, advice",
    [
        ("create_token", "no XLA tokens"),
        ("rng_bit_generator", "fgrad.random"),
        ("ragged_dot", "pad the groups"),
        ("conv_shape_tuple", "fgrad.eval_shape"),
        ("igamma_grad_a", "in x only"),
    ],
)
def test_lax_names_fgrad_lacks_say_what_to_use(name, advice):
    with pytest.raises(AttributeError, match=f"fgrad.lax has no {name}: .*{advice}"):
        getattr(lax, name)


def test_every_public_jax_lax_name_is_here_or_explained():
    jax_lax = pytest.importorskip("jax.lax")
    bare = []
    for name in dir(jax_lax):
        if name.startswith("_"):
            continue
        try:
            getattr(lax, name)
        except AttributeError as err:
            if "has no attribute" in str(err):
                bare.append(name)
    assert bare == []


# -- against JAX -------------------------------------------------------------------------------


def test_the_new_names_agree_with_jax():
    jax = pytest.importorskip("jax")
    jl = jax.lax
    jax.config.update("jax_enable_x64", True)
    try:
        x = np.random.default_rng(8).standard_normal((4, 6))
        xi = _ints(np.int32)
        cases = [
            (lambda m: m.clz(xi), None),
            (lambda m: m.mulhi(xi, xi[::-1]), None),
            (lambda m: m.approx_max_k(x, 3)[0], None),
            (lambda m: m.approx_min_k(x, 2, 0)[1], None),
            (lambda m: m.reduce_window(x, 1.0, m.mul, (2, 2), (1, 2), "SAME"), None),
            (lambda m: m.reduce_window(x, 0.0, m.add, (3, 2)), None),
            (lambda m: m.collapse(x, 0), None),
            (lambda m: m.tile(x, (2, 1)), None),
            (lambda m: m.split(x, (2, 4), 1)[1], None),
            (lambda m: m.reduce_precision(x * 1e3, 5, 4), None),
            (lambda m: m.bitcast_convert_type(x, np.uint16), None),
            (lambda m: m.atan2(x + 1j * x[::-1], x[:, ::-1] + 0.5j), None),
            (
                lambda m: m.conv_general_dilated_patches(
                    x.reshape(1, 1, 4, 6), (2, 3), (1, 1), "SAME", rhs_dilation=(2, 1)
                ),
                None,
            ),
        ]
        for f, _ in cases:
            np.testing.assert_allclose(f(lax), np.asarray(f(jl)), rtol=1e-12, atol=1e-14)
    finally:
        jax.config.update("jax_enable_x64", False)
