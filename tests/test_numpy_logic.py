"""Whole-array comparisons and properties (isclose, allclose, ndim, ...), array operators
added for NumPy parity (``%``, ``//``, ``divmod``, ``numpy.sum(tracer)``), std at zero."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

A = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9, 2.0, -0.0])
B = np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 0.0, 2.1, 0.0])


@pytest.mark.parametrize("equal_nan", [False, True])
@pytest.mark.parametrize("tols", [{}, {"rtol": 0.1}, {"atol": 1e-12, "rtol": 0.0}])
def test_isclose_like_numpy(equal_nan, tols):
    kw = dict(tols, equal_nan=equal_nan)
    np.testing.assert_array_equal(fnp.isclose(A, B, **kw), np.isclose(A, B, **kw))
    assert fnp.allclose(A, B, **kw) == np.allclose(A, B, **kw)


def test_array_equal_and_equiv_like_numpy():
    for a, b in [(A, A), (A, B), (np.ones(3), np.ones((2, 3))), (np.ones(3), np.ones(4))]:
        assert fnp.array_equal(a, b) == np.array_equal(a, b)
        assert fnp.array_equal(a, b, equal_nan=True) == np.array_equal(a, b, equal_nan=True)
        assert fnp.array_equiv(a, b) == np.array_equiv(a, b)


def test_shape_properties_on_arrays_and_tracers():
    x = np.ones((2, 3))
    assert (fnp.ndim(x), fnp.shape(x), fnp.size(x), fnp.size(x, 1)) == (2, (2, 3), 6, 3)
    assert (fnp.ndim(2.0), fnp.shape([[1, 2]]), fnp.isscalar(2.0)) == (0, (1, 2), True)

    def f(x):
        assert (fnp.ndim(x), fnp.shape(x), fnp.size(x), fnp.isscalar(x)) == (2, (2, 3), 6, False)
        return fnp.sum(x * fnp.isclose(x, 1.0))

    np.testing.assert_array_equal(fgrad.grad(f)(x), np.ones((2, 3)))


def test_allclose_needs_concrete_values_under_make_jaxpr():
    with pytest.raises(fgrad.ConcretizationError):
        fgrad.make_jaxpr(lambda x: fnp.allclose(x, 1.0))(np.ones(3))


def test_mod_floordiv_divmod_operators_on_tracers():
    x, y = np.array([5.3, -2.2, 7.9]), np.array([2.0, 1.5, -3.0])

    def f(x, y):
        q, r = divmod(x, y)
        return fnp.sum(x % y + 1.7 % (y * y) + (x // y) * r + q)

    want = np.sum(x % y + 1.7 % (y * y) + (x // y) * (x % y) + x // y)
    assert f(x, y) == pytest.approx(want)
    check_grads(f, (x, y), order=2)
    # d/dx of x % y is 1, d/dy is -floor(x / y)
    gx, gy = fgrad.grad(lambda x, y: fnp.sum(x % y), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, np.ones(3))
    np.testing.assert_allclose(gy, -np.floor(x / y))


def test_plain_numpy_reductions_accept_tracers():
    # numpy.sum(tracer) calls tracer.sum(axis=None, dtype=None, out=None)
    x = np.array([0.5, 1.5, 2.0])
    for np_fn, fnp_fn in [(np.sum, fnp.sum), (np.mean, fnp.mean), (np.max, fnp.max)]:
        got = fgrad.grad(lambda x, fn=np_fn: fn(x * x))(x)
        np.testing.assert_allclose(got, fgrad.grad(lambda x, fn=fnp_fn: fn(x * x))(x))
    with pytest.raises(TypeError, match="immutable"):
        fgrad.grad(lambda x: x.sum(out=np.zeros(())))(x)


def test_std_has_zero_gradient_where_the_variance_is_zero():
    assert fgrad.grad(fnp.std)(3.0) == 0.0
    g = fgrad.grad(lambda x: fnp.sum(fnp.std(x, axis=0)))(np.array([[1.0, 2.0, 4.0]]))
    np.testing.assert_array_equal(g, np.zeros((1, 3)))
    x = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(fgrad.grad(fnp.std)(x), (x - x.mean()) / (3 * np.std(x)))


def test_numpy_dtype_names_and_helpers_are_numpys():
    for name in ["floating", "integer", "errstate", "finfo"]:
        assert getattr(fnp, name) is getattr(np, name)
    # concrete scalar types subclass NumPy's (they also convert traced values)
    for name in ["longdouble", "clongdouble", "double", "intp", "bool"]:
        ours, numpys = getattr(fnp, name), getattr(np, name)
        assert ours == numpys and issubclass(ours, numpys) and np.dtype(ours) == np.dtype(numpys)
    assert fnp.__version__ == np.__version__
    assert fnp.issubdtype(fnp.float32, fnp.floating)
