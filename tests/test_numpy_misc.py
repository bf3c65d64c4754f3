"""Conversions, introspection, selection by masks and choices, Python-function application
(apply_along_axis, vectorize, piecewise) and window functions: NumPy's values, and
derivatives through everything that selects or computes."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

RNG = np.random.default_rng(11)
X = RNG.standard_normal((2, 3, 4))


# -- conversions and introspection ------------------------------------------------------


def test_layout_conversions_like_numpy_and_transparent_to_grad():
    xt = X.transpose(2, 0, 1)
    assert fnp.ascontiguousarray(xt).flags["C_CONTIGUOUS"]
    assert fnp.asfortranarray(X).flags["F_CONTIGUOUS"]
    assert fnp.require(xt, np.float32, ["C"]).dtype == np.float32
    assert fnp.isfortran(np.asfortranarray(X)) and not fnp.isfortran(X)
    np.testing.assert_array_equal(fnp.asanyarray([1, 2]), np.asanyarray([1, 2]))
    for fn in (fnp.ascontiguousarray, fnp.asfortranarray, fnp.asanyarray, fnp.asarray_chkfinite):
        np.testing.assert_array_equal(fgrad.grad(lambda x, fn=fn: fnp.sum(fn(x) ** 2))(X), 2 * X)
    with pytest.raises(ValueError, match="infs or NaNs"):
        fnp.asarray_chkfinite([1.0, np.inf])


def test_printing_and_type_introspection_like_numpy():
    assert fnp.array_str(X[0]) == np.array_str(X[0])
    assert fnp.array_repr(X[0]) == np.array_repr(X[0])
    assert fnp.array2string(X[0], precision=2) == np.array2string(X[0], precision=2)
    assert fnp.common_type(X, np.float32(1)) is np.common_type(X, np.float32(1))
    assert fnp.common_type(np.ones(2, np.float32)) is np.float32
    assert fnp.iterable(X) and not fnp.iterable(1.0)
    assert fnp.may_share_memory(X, X[0]) and not fnp.shares_memory(X, np.ones(2))
    assert fnp.binary_repr(5) == "101" and fnp.broadcast_shapes((2, 1), (3,)) == (2, 3)

    def f(x):  # printing reads values; introspection sees shapes
        assert fnp.array_str(x) == np.array_str(X) and fnp.iterable(x)
        assert not fnp.may_share_memory(x, X)
        return fnp.sum(x)

    fgrad.grad(f)(X)


# -- selection ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["raise", "wrap", "clip"])
def test_choose_like_numpy_and_differentiable_in_choices(mode):
    choices = [RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal((3, 1))]
    index = RNG.integers(0, 3, size=(3, 4)) if mode == "raise" else RNG.integers(-2, 6, (3, 4))
    np.testing.assert_array_equal(
        fnp.choose(index, choices, mode=mode), np.choose(index, choices, mode=mode)
    )
    check_grads(lambda *cs: fnp.choose(index, list(cs), mode=mode), choices)
    grads = fgrad.grad(lambda c0: fnp.sum(fnp.choose(index, [c0, *choices[1:]], mode=mode)))(
        choices[0]
    )
    picked = np.choose(index, [0, 1, 2], mode=mode) == 0
    np.testing.assert_array_equal(grads, picked.astype(float))
    if mode == "raise":
        with pytest.raises(ValueError, match="invalid entry"):
            fnp.choose(index + 3, choices)


@pytest.mark.parametrize("axis", [None, 0, 1, 2])
def test_compress_and_extract_like_numpy(axis):
    n = X.size if axis is None else X.shape[axis]
    cond = RNG.random(n) < 0.6
    np.testing.assert_array_equal(fnp.compress(cond, X, axis), np.compress(cond, X, axis))
    check_grads(lambda x: fnp.compress(cond, x, axis), (X,))
    mask = X > 0
    np.testing.assert_array_equal(fnp.extract(mask, X), np.extract(mask, X))
    np.testing.assert_array_equal(
        fgrad.grad(lambda x: fnp.sum(fnp.extract(mask, x)))(X), mask.astype(float)
    )
    with pytest.raises(IndexError, match="compress"):
        fnp.compress(np.ones(n + 1, bool), X, axis=0 if axis is None else axis)


def test_sort_complex_like_numpy_and_differentiable():
    z = np.array([1 + 2j, 1 - 1j, 0.5 + 0j, 3.0 + 0.1j, -2.0 + 5j])
    for a in (z, z.real, z.real.astype(np.float32), z.reshape(1, 5)):
        got, want = fnp.sort_complex(a), np.sort_complex(a)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    check_grads(fnp.sort_complex, (z + np.array([0.0, 0.2, 0.0, 0.0, 0.0]),))  # no ties


# -- applying Python functions ---------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize(
    "func1d",
    [lambda v: fnp.sum(v**2), lambda v: v * fnp.arange(v.shape[0]), lambda v: fnp.outer(v, v)],
    ids=["scalar", "vector", "matrix"],
)
def test_apply_along_axis_like_numpy(axis, func1d):
    got = fnp.apply_along_axis(func1d, axis, X)
    want = np.apply_along_axis(func1d, axis, X)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-14)
    check_grads(lambda x: fnp.apply_along_axis(func1d, axis, x), (X,), order=1)


def test_apply_over_axes_and_piecewise_like_numpy():
    for axes in ([0, 2], 1, [2, 0, 1]):
        np.testing.assert_allclose(
            fnp.apply_over_axes(fnp.sum, X, axes), np.apply_over_axes(np.sum, X, axes)
        )
    x = np.linspace(-2.0, 2.0, 9)
    funcs = [lambda x: -x, lambda x: x**2]
    np.testing.assert_array_equal(
        fnp.piecewise(x, [x < 0, x >= 0], funcs), np.piecewise(x, [x < 0, x >= 0], funcs)
    )
    np.testing.assert_array_equal(
        fnp.piecewise(x, [x < -1], [lambda x: x * 3, 7.0]),
        np.piecewise(x, [x < -1], [lambda x: x * 3, 7.0]),
    )
    g = fgrad.grad(lambda x: fnp.sum(fnp.piecewise(x, [x < 0, x >= 0], funcs)))(x)
    np.testing.assert_array_equal(g, np.where(x < 0, -1.0, 2 * x))
    with pytest.raises(ValueError, match="piecewise"):
        fnp.piecewise(x, [x < 0], [funcs[0], funcs[1], funcs[0]])


def test_vectorize_calls_python_per_element_and_differentiates():
    def py(a, b):
        return a * b if a > 0 else fnp.sin(b)

    x = np.array([[-1.0, 0.5], [2.0, -0.3]])
    vf = fnp.vectorize(py)
    np.testing.assert_allclose(
        vf(x, 2.0), np.vectorize(lambda a, b: a * b if a > 0 else np.sin(b))(x, 2.0)
    )
    g = fgrad.grad(lambda y: fnp.sum(vf(x, y)))(2.0)
    assert g == pytest.approx(np.sum(np.where(x > 0, x, np.cos(2.0))))
    assert fnp.vectorize(py, otypes=[np.float32])(x, 2.0).dtype == np.float32
    assert fnp.vectorize(py, excluded={1})(x, 3.0).shape == (2, 2)


def test_fromfunction_and_windows_like_numpy():
    np.testing.assert_array_equal(
        fnp.fromfunction(lambda i, j: i * 10 + j, (2, 3)),
        np.fromfunction(lambda i, j: i * 10 + j, (2, 3)),
    )
    for name in ("bartlett", "blackman", "hamming", "hanning"):
        np.testing.assert_array_equal(getattr(fnp, name)(7), getattr(np, name)(7))
    np.testing.assert_array_equal(fnp.kaiser(6, 3.0), np.kaiser(6, 3.0))
