"""The array API standard's semantics of the functions SciPy's dispatch calls, on traced values.

SciPy (``SCIPY_ARRAY_API=1``) computes with whatever ``x.__array_namespace__()`` returns;
for fgrad's traced values that is ``fgrad.numpy``. The functions it was seen to call for
the SciPy functions of tests/test_array_api_scipy.py are: ``asarray``, ``astype``,
``sum``, ``mean``, ``std``, ``max``, ``min``, ``all``, ``any``, ``clip``, ``where``,
``abs``, ``exp``, ``log``, ``sin``, ``cos``, ``atan2``, ``round``, ``isnan``, ``sort``,
``reshape``, ``squeeze``, ``moveaxis``, ``broadcast_to``, ``full``, ``zeros_like``,
``arange``, ``fft.rfft``/``irfft``/``fft``, ``result_type``, ``isdtype``, ``finfo``
and ``__array_namespace_info__``. Each case below states what the standard requires of one
of them, as a closed form, and checks it on plain arrays, under ``jit``, under ``vmap``
(one example per row) and, for differentiable ones, ``grad`` against the closed-form
derivative or central finite differences in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import fgrad
import fgrad.numpy as xp

RNG = np.random.default_rng(19)
#: a batch of rows of distinct values away from 0 and from each other
ROWS = np.array([[0.7, -1.3, 0.4, 2.1, -0.55, 1.6], [1.1, 0.3, -0.9, -2.0, 0.45, 0.8]])


def _fd(f: Callable, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def check(f: Callable, expected: Callable, grad_of: Callable | None = None, fd=True):
    """``f(row)`` equals ``expected(row)`` on plain arrays, under jit and under vmap; the
    gradient of ``sum(f * weights)`` equals ``grad_of(row, weights)`` (if given) and
    central finite differences (if ``fd``)."""
    for row in ROWS:
        want = expected(row)
        got = f(row)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fgrad.jit(f)(row), want, rtol=1e-12, atol=1e-12)
    batched = fgrad.vmap(f)(ROWS)
    np.testing.assert_allclose(batched, np.stack([expected(r) for r in ROWS]), rtol=1e-12)
    if grad_of is None and not fd:
        return
    weights = RNG.standard_normal(np.shape(expected(ROWS[0])))

    def scalar(x):
        return xp.sum(f(x) * weights)

    for row in ROWS:
        g = fgrad.grad(scalar)(row)
        np.testing.assert_allclose(fgrad.jit(fgrad.grad(scalar))(row), g, rtol=1e-12)
        if grad_of is not None:
            np.testing.assert_allclose(g, grad_of(row, weights), rtol=1e-10, atol=1e-12)
        if fd:
            np.testing.assert_allclose(g, _fd(lambda r: float(scalar(r)), row), rtol=1e-6)
    per_row = fgrad.vmap(fgrad.grad(scalar))(ROWS)
    for row, g in zip(ROWS, per_row):
        np.testing.assert_allclose(g, fgrad.grad(scalar)(row), rtol=1e-12)


def test_namespace_of_a_traced_value_is_fgrad_numpy_with_numpys_inspection():
    seen = []

    def f(x):
        seen.append(x.__array_namespace__())
        return x

    fgrad.jit(f)(ROWS[0])
    assert seen == [xp]
    info = xp.__array_namespace_info__()
    assert info.default_dtypes() == np.__array_namespace_info__().default_dtypes()
    # traced shapes cannot depend on values under jit and vmap
    assert info.capabilities()["data-dependent shapes"] is False
    assert info.default_device() is None and info.devices() == [None]
    assert xp.__array_api_version__ == np.__array_api_version__


def test_astype_converts_copies_on_request_and_differentiates_between_floats():
    # copy=True gives a new array even for the same dtype; copy=False may share
    a = ROWS[0].copy()
    assert xp.astype(a, np.float64) is not a and xp.astype(a, np.float64, copy=False) is a
    check(
        lambda x: xp.astype(xp.astype(x, np.float32), np.float64),
        lambda x: x.astype(np.float32).astype(np.float64),
        grad_of=lambda x, w: w.astype(np.float32).astype(np.float64),  # through float32
        fd=False,  # float32 rounding
    )
    check(
        lambda x: xp.real(xp.astype(x, np.complex128, copy=False)) * x,
        lambda x: x * x,
        grad_of=lambda x, w: 2 * w * x,
    )
    assert fgrad.jit(lambda x: xp.astype(x, np.float32))(ROWS[0]).dtype == np.float32


@pytest.mark.parametrize("correction", [0, 1, 2.5])
def test_std_with_correction_divides_by_n_minus_correction(correction):
    def expected(x):
        return np.sqrt(np.sum((x - x.mean()) ** 2) / (x.size - correction))

    def grad_of(x, w):
        return w * (x - x.mean()) / ((x.size - correction) * expected(x))

    check(lambda x: xp.std(x, correction=correction), expected, grad_of)


def test_reductions_over_axis_tuples_with_keepdims():
    grid = (2, 3)
    check(
        lambda x: xp.sum(xp.reshape(x, grid), axis=(0, 1), keepdims=True),
        lambda x: np.full((1, 1), x.sum()),
        grad_of=lambda x, w: np.full(x.shape, w.sum()),
    )
    check(
        lambda x: xp.mean(xp.reshape(x, grid), axis=0),
        lambda x: x.reshape(grid).mean(axis=0),
        grad_of=lambda x, w: np.tile(w, 2) / 2,
    )
    # max and min: the derivative goes to the (unique) extreme element
    for fn, pick in ((xp.max, np.argmax), (xp.min, np.argmin)):
        check(
            lambda x, fn=fn: fn(xp.reshape(x, grid), axis=1),
            lambda x, fn=fn: getattr(np, fn.__name__)(x.reshape(grid), axis=1),
            grad_of=lambda x, w, pick=pick: np.eye(6)[
                [r * 3 + pick(x.reshape(grid)[r]) for r in range(2)]
            ].T
            @ w,
        )


def test_boolean_reductions_and_isnan_have_no_derivative_and_trace():
    def f(x):
        y = xp.where(x > 0, x, xp.nan)
        return xp.stack([xp.any(xp.isnan(y)), xp.all(xp.isnan(y)), xp.all(x != 0)])

    check(f, lambda x: np.array([np.any(x <= 0), np.all(x <= 0), True]), fd=False)


def test_clip_takes_min_and_max_keywords_and_passes_the_derivative_inside():
    check(
        lambda x: xp.clip(x, min=-1.0, max=1.0),
        lambda x: np.minimum(np.maximum(x, -1.0), 1.0),
        grad_of=lambda x, w: w * (np.abs(x) < 1),
    )


def test_where_accepts_a_python_scalar_branch_and_keeps_the_array_dtype():
    def f(x):
        return xp.where(x > 0, x**2, 0.5)

    check(f, lambda x: np.where(x > 0, x**2, 0.5), grad_of=lambda x, w: w * 2 * x * (x > 0))
    assert fgrad.jit(f)(ROWS[0].astype(np.float32)).dtype == np.float32


def test_elementwise_functions_and_their_derivatives():
    check(
        lambda x: xp.atan2(x, 1.5 + x**2),
        lambda x: np.arctan2(x, 1.5 + x**2),
        grad_of=lambda x, w: w * ((1.5 + x**2) - x * 2 * x) / (x**2 + (1.5 + x**2) ** 2),
    )
    check(
        lambda x: xp.exp(xp.sin(x)) + xp.log(xp.abs(x)) * xp.cos(x),
        lambda x: np.exp(np.sin(x)) + np.log(np.abs(x)) * np.cos(x),
        grad_of=lambda x, w: w
        * (np.exp(np.sin(x)) * np.cos(x) + np.cos(x) / x - np.log(np.abs(x)) * np.sin(x)),
    )


def test_round_is_half_to_even_and_has_zero_derivative():
    halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.2])
    np.testing.assert_array_equal(fgrad.jit(xp.round)(halves), [0, 2, 2, -0, -2, 3])
    np.testing.assert_array_equal(fgrad.grad(lambda x: xp.sum(xp.round(x)))(halves), 0)


def test_sort_orders_along_the_last_axis_and_routes_derivatives_by_the_permutation():
    def grad_of(x, w):
        g = np.zeros_like(x)
        g[np.argsort(x)] = w
        return g

    check(lambda x: xp.sort(x), np.sort, grad_of)
    check(
        lambda x: xp.sort(xp.reshape(x, (2, 3)), axis=0, stable=True),
        lambda x: np.sort(x.reshape(2, 3), axis=0),
    )


def test_shape_functions():
    check(
        lambda x: xp.moveaxis(xp.reshape(x, (1, 2, -1)), 1, -1),
        lambda x: np.moveaxis(x.reshape(1, 2, 3), 1, -1),
    )
    check(
        lambda x: xp.squeeze(xp.reshape(x, (1, 6, 1)), axis=(0, 2)),
        lambda x: x,
        grad_of=lambda x, w: w,
    )
    # broadcast_to: the derivative sums over the broadcast axis
    check(
        lambda x: xp.broadcast_to(x, (3, 6)),
        lambda x: np.broadcast_to(x, (3, 6)),
        grad_of=lambda x, w: w.sum(axis=0),
    )


def test_creation_functions_take_the_traced_values_shape_and_dtype():
    def f(x):
        n, dtype = x.shape[0], x.dtype
        return xp.zeros_like(x) + xp.full((n,), 2.0, dtype=dtype) * xp.arange(n, dtype=dtype) * x

    check(f, lambda x: 2.0 * np.arange(6) * x, grad_of=lambda x, w: 2.0 * np.arange(6) * w)
    assert fgrad.jit(f)(ROWS[0].astype(np.float32)).dtype == np.float32


def test_real_fft_round_trip_and_parseval_with_ortho_norm():
    n = ROWS.shape[1]
    check(lambda x: xp.fft.irfft(xp.fft.rfft(x), n=n), lambda x: x, grad_of=lambda x, w: w)
    check(
        lambda x: xp.sum(xp.abs(xp.fft.fft(x, norm="ortho")) ** 2),
        lambda x: np.sum(x**2),
        grad_of=lambda x, w: 2 * w * x,
    )


def test_dtype_queries_on_traced_values():
    def f(x):
        assert xp.result_type(x, np.float32) == np.float64
        assert xp.isdtype(x.dtype, "real floating") and not xp.isdtype(x.dtype, "integral")
        return x * xp.finfo(x.dtype).eps

    check(f, lambda x: x * np.finfo(np.float64).eps, grad_of=lambda x, w: w * 2.0**-52)
    assert math.isclose(float(np.finfo(np.float64).eps), 2.0**-52)


SCALAR_TYPES = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
]  # fmt: skip


@pytest.mark.parametrize("name", SCALAR_TYPES)
def test_scalar_types_equal_their_dtype_in_either_order(name):
    """The standard's dtypes are compared with ``==``; a result's ``dtype`` must be found in
    a tuple of the namespace's dtype objects (``x.dtype in (xp.float64, ...)``)."""
    ours, dtype = getattr(xp, name), np.dtype(name)
    assert ours == dtype and dtype == ours and not (ours != dtype)
    assert dtype in (ours,) and ours in (dtype,)
    assert xp.asarray(np.zeros(2, dtype)).dtype in (ours,)
    others = [getattr(xp, n) for n in SCALAR_TYPES if n != name]
    assert all(ours != other and np.dtype(other) != ours for other in others)
    assert dtype not in tuple(others)


def test_arange_takes_start_stop_and_step_by_keyword():
    np.testing.assert_array_equal(xp.arange(1, 8, step=3), [1, 4, 7])
    np.testing.assert_array_equal(xp.arange(stop=3), [0, 1, 2])
    out = xp.arange(start=2, stop=4, step=0.5, dtype=xp.float32)
    np.testing.assert_array_equal(out, [2.0, 2.5, 3.0, 3.5])
    assert out.dtype == np.float32
    # inside a traced function the range is a constant, and stays one under vmap
    np.testing.assert_array_equal(
        fgrad.vmap(lambda x: x * xp.arange(0, 6, step=1))(ROWS), ROWS * np.arange(6)
    )


@pytest.mark.parametrize("name", ["sum", "nansum", "mean", "trace"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.float32, np.complex128])
def test_reductions_return_the_requested_dtype(name, dtype):
    """``dtype=`` is the result's dtype (an integer one wraps around, as NumPy's does), not
    the 64-bit integer that small integers otherwise accumulate in; under jit too."""
    a = np.array([[100, 200, 7], [50, 3, 90]], np.uint8)
    want = getattr(np, name)(a, dtype=dtype)
    for f in (getattr(xp, name), fgrad.jit(getattr(xp, name), static_argnames="dtype")):
        got = f(a, dtype=dtype)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got, want)
    if name != "trace":
        by_column = getattr(xp, name)(a, axis=0, dtype=dtype)
        assert by_column.dtype == dtype
        np.testing.assert_array_equal(by_column, getattr(np, name)(a, axis=0, dtype=dtype))
    if np.dtype(dtype).kind in "fc":  # the derivative through a float accumulation
        w = np.arange(6.0).reshape(2, 3)
        g = fgrad.grad(lambda x: xp.real(getattr(xp, name)(x * w, dtype=dtype)))(a.astype(float))
        scale = {"mean": 1 / 6, "trace": None}.get(name, 1.0)
        expected = w * np.eye(2, 3) if scale is None else w * scale
        np.testing.assert_allclose(g, expected, rtol=1e-6)


def test_pinv_takes_one_rtol_per_matrix_traced_or_not():
    """The standard's ``rtol`` may be an array broadcasting against the batch; under jit it
    is a traced value like any other argument."""
    a = RNG.standard_normal((2, 4, 3))
    a[1] = a[1] @ np.diag([1.0, 1e-3, 1e-6])  # its two small singular values are cut at 1e-2
    rtol = np.array([1e-8, 1e-2])
    want = np.linalg.pinv(a, rtol=rtol)
    np.testing.assert_allclose(xp.linalg.pinv(a, rtol=rtol), want, rtol=1e-10, atol=1e-12)
    traced = fgrad.jit(lambda a, r: xp.linalg.pinv(a, rtol=r))(a, rtol)
    np.testing.assert_allclose(traced, want, rtol=1e-10, atol=1e-12)
    assert np.linalg.matrix_rank(traced[1]) == 1 and np.linalg.matrix_rank(traced[0]) == 3


PRODUCTS = {
    "vecdot": lambda m: m.vecdot,
    "linalg.vecdot": lambda m: m.linalg.vecdot,
    "matmul": lambda m: m.matmul,
    "inner": lambda m: m.inner,
    "dot": lambda m: m.dot,
    "vdot": lambda m: m.vdot,
}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint16, np.float32, np.complex64])
def test_products_keep_the_operands_dtype(name, dtype):
    """Products of two vectors have the operands' (promoted) dtype, small integers and bool
    included (no widening to 64 bits as plain sums do), eagerly and under jit."""
    a = np.array([1, 0, 3, 2]).astype(dtype)
    b = np.array([2, 5, 1, 1]).astype(dtype)
    want = PRODUCTS[name](np)(a, b)
    for f in (PRODUCTS[name](xp), fgrad.jit(PRODUCTS[name](xp))):
        got = f(a, b)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got, want)
