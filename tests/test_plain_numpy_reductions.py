"""NumPy's reduction masks (``where=``, ``initial=``, ``mean=``) and the joining functions'
``dtype=``/``casting=``, called as plain NumPy on traced values and as fgrad.numpy.

Values are checked against NumPy on the same plain arrays, derivatives against closed
forms and central finite differences (``check_grads``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

X = np.array([[0.3, -1.2, 2.0, 0.7], [1.1, 0.4, -0.5, 2.5], [-0.8, 1.9, 0.2, 0.0]])
M = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])
ROW_MASK = np.array([True, False, True, True])  # broadcasts against X, as NumPy allows


@pytest.mark.parametrize("mask", [M, ROW_MASK], ids=["full", "broadcast"])
@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize(
    "fn, extra",
    [
        ("sum", {}),
        ("sum", {"initial": 2.5}),
        ("prod", {}),
        ("mean", {}),
        ("var", {}),
        ("var", {"ddof": 1}),
        ("std", {}),
        ("max", {"initial": -5.0}),
        ("min", {"initial": 5.0}),
        ("nansum", {}),
        ("nanprod", {"initial": 2.0}),
    ],
)
def test_masked_reductions_match_numpy_eager_and_under_jit(fn, extra, axis, mask):
    want = getattr(np, fn)(X, axis=axis, where=mask, **extra)
    np.testing.assert_allclose(getattr(fnp, fn)(X, axis=axis, where=mask, **extra), want,
                               rtol=1e-13)
    got = fgrad.jit(lambda x: getattr(np, fn)(x, axis=axis, where=mask, **extra))(X)
    np.testing.assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("fn", ["all", "any"])
def test_masked_truth_reductions_match_numpy(fn):
    b = X > 0.5
    for axis in (None, 0, 1):
        want = getattr(np, fn)(b, axis=axis, where=M)
        np.testing.assert_array_equal(getattr(fnp, fn)(b, axis=axis, where=M), want)


def test_masked_sum_and_mean_gradients_are_the_mask():
    g = fgrad.grad(lambda x: np.sum(x, where=M))(X)
    np.testing.assert_array_equal(g, M.astype(float))
    # each kept entry of a row contributes 1 / (entries kept in its row)
    g = fgrad.grad(lambda x: np.sum(np.mean(x, axis=1, where=M)))(X)
    np.testing.assert_allclose(g, M / M.sum(axis=1, keepdims=True), rtol=1e-15)


def test_masked_max_gradient_picks_the_largest_kept_entry():
    g = fgrad.grad(lambda x: np.sum(np.max(x, axis=1, where=M, initial=-np.inf)))(X)
    want = np.zeros_like(X)
    for i, row in enumerate(np.where(M, X, -np.inf)):
        want[i, np.argmax(row)] = 1.0
    np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("fn", ["var", "std", "mean", "prod"])
def test_masked_reductions_derivatives_match_finite_differences(fn):
    check_grads(lambda x: getattr(np, fn)(x, axis=1, where=M), (X,), order=2)


def test_max_where_without_initial_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError):
        np.max(X, where=M)
    with pytest.raises(ValueError, match="initial"):
        fnp.max(X, where=M)


def test_var_with_a_precomputed_mean():
    mu = X.mean(axis=1, keepdims=True)
    want = np.var(X, axis=1, mean=mu)
    np.testing.assert_allclose(fnp.var(X, axis=1, mean=mu), want, rtol=1e-13)
    np.testing.assert_allclose(fnp.std(X, axis=1, mean=mu), np.sqrt(want), rtol=1e-13)
    # a mean computed inside the function carries its own derivative: the usual one
    g = fgrad.grad(lambda x: np.sum(np.var(x, axis=1, mean=np.mean(x, axis=1, keepdims=True))))(X)
    np.testing.assert_allclose(g, 2 * (X - mu) / X.shape[1], rtol=1e-12)


# -- joining with dtype= and casting= ---------------------------------------------------------

A, B = X[:2], np.arange(8).reshape(2, 4)


@pytest.mark.parametrize(
    "fn, kwargs",
    [
        ("concatenate", {"axis": 1, "dtype": np.float32}),
        ("concatenate", {"axis": None, "dtype": np.int64, "casting": "unsafe"}),
        ("stack", {"axis": 1, "dtype": np.float32}),
        ("vstack", {"dtype": np.float32}),
        ("hstack", {"dtype": np.complex128}),
        ("concat", {"axis": 0, "dtype": np.float64, "casting": "safe"}),
    ],
)
def test_joining_with_dtype_matches_numpy(fn, kwargs):
    want = getattr(np, fn)([A, B], **kwargs)
    got = getattr(fnp, fn)([A, B], **kwargs)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    traced = fgrad.jit(lambda a: getattr(np, fn)([a, B], **kwargs))(A)
    assert traced.dtype == want.dtype
    np.testing.assert_array_equal(traced, want)


@pytest.mark.parametrize("fn", ["concatenate", "stack", "vstack", "hstack"])
def test_a_cast_the_rule_forbids_raises_as_in_numpy(fn):
    with pytest.raises(TypeError):
        getattr(np, fn)([A, B], dtype=np.int64, casting="same_kind")
    with pytest.raises(TypeError, match="casting='same_kind'"):
        getattr(fnp, fn)([A, B], dtype=np.int64, casting="same_kind")


def test_row_stack_passes_casting_and_is_differentiable():
    row_stack = getattr(np, "row_stack", None)
    if row_stack is None:
        pytest.skip("this NumPy has no row_stack")
    w = np.arange(12.0).reshape(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy deprecates the alias
        g = fgrad.grad(lambda a: np.sum(row_stack([a, a[0]]) * w))(A)
    want = w[:2].copy()
    want[0] += w[2]
    np.testing.assert_array_equal(g, want)


def test_joining_cast_derivative_flows_through_float32():
    # the gradient of a float64 input through a float32 join is the float32 one cast back
    g = fgrad.grad(lambda a: np.sum(np.concatenate([a, a], dtype=np.float32) ** 2))(A)
    np.testing.assert_allclose(g, 4 * A, rtol=1e-6)


def test_std_of_a_nan_variance_is_nan_and_of_equal_entries_zero_with_zero_derivative():
    x = np.array([[np.nan, 1.0, 2.0], [3.0, 3.0, 3.0]])
    got = fnp.std(x, axis=1)
    np.testing.assert_array_equal(np.isnan(got), [True, False])
    assert got[1] == 0.0
    g = fgrad.grad(lambda r: np.std(r))(x[1])
    np.testing.assert_array_equal(g, np.zeros(3))


@pytest.mark.parametrize("fn, initial", [("sum", 2.5), ("max", 7.5), ("min", -0.5), ("prod", 2.0)])
def test_initial_is_cast_to_the_arrays_dtype_as_in_numpy(fn, initial):
    ints = np.arange(1, 7).reshape(2, 3)
    want = getattr(np, fn)(ints, axis=1, initial=initial)
    got = getattr(fnp, fn)(ints, axis=1, initial=initial)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


XN = np.where(M, X, np.nan)  # NaN where M is False
KEEP = np.array([[True, True, False, True], [True, True, True, True], [False, True, True, True]])


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize(
    "fn, kwargs",
    [
        ("nanmax", {"initial": -3.0, "where": KEEP}),
        ("nanmin", {"initial": 3.0, "where": KEEP}),
        ("nanmax", {"initial": 0.5}),
        ("nanmax", {}),
        ("nanmin", {}),
        ("nanmean", {}),
        ("nanmean", {"where": KEEP}),
        ("nanvar", {"correction": 1}),
        ("nanstd", {"correction": 1}),
    ],
)
def test_nan_reductions_masks_and_correction_match_numpy(fn, kwargs, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's empty-slice warnings
        want = getattr(np, fn)(XN, axis=axis, **({"ddof": 1} if "correction" in kwargs else kwargs))
        got = getattr(fnp, fn)(XN, axis=axis, **kwargs)
        traced = fgrad.jit(lambda x: getattr(np, fn)(x, axis=axis, **kwargs))(XN)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    np.testing.assert_allclose(traced, want, rtol=1e-13)


def test_nanmean_with_a_mask_differentiates_the_kept_non_nan_entries():
    g = fgrad.grad(lambda x: np.sum(np.nanmean(x, axis=1, where=KEEP)))(XN)
    kept = M & KEEP
    np.testing.assert_allclose(g, kept / kept.sum(axis=1, keepdims=True), rtol=1e-15)
