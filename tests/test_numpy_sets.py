"""Set operations: NumPy's values, and derivatives that follow the kept elements."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

A = np.array([3.0, 1.0, 2.0, 3.0, 1.0, 5.0, -0.5])
B = np.array([2.0, 7.0, 1.0, 1.0, -0.5, 9.0])


@pytest.mark.parametrize("name", ["intersect1d", "union1d", "setdiff1d", "setxor1d"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_binary_set_operations_like_numpy(name, dtype):
    a, b = A.astype(dtype), B.astype(dtype)
    got, want = getattr(fnp, name)(a, b), getattr(np, name)(a, b)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    ua, ub = np.unique(a), np.unique(b)
    if name != "union1d":
        np.testing.assert_array_equal(
            getattr(fnp, name)(ua, ub, assume_unique=True),
            getattr(np, name)(ua, ub, assume_unique=True),
        )


def test_intersect1d_return_indices_like_numpy():
    for got, want in zip(
        fnp.intersect1d(A, B, return_indices=True), np.intersect1d(A, B, return_indices=True)
    ):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["unique_values", "unique_counts", "unique_inverse", "unique_all"])
def test_unique_family_like_numpy(name):
    x = A.reshape(1, 7) if name != "unique_values" else A
    got, want = getattr(fnp, name)(x), getattr(np, name)(x)
    if name == "unique_values":
        got, want = (got,), (want,)
    else:
        assert type(got) is type(want) and got._fields == want._fields
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_derivatives_follow_the_kept_elements():
    # union1d keeps the first occurrence of each value, scanning A then B
    grad_a, grad_b = fgrad.grad(lambda a, b: fnp.sum(fnp.union1d(a, b) ** 2), argnums=(0, 1))(
        A, B
    )
    np.testing.assert_array_equal(grad_a, [6.0, 2.0, 4.0, 0.0, 0.0, 10.0, -1.0])
    np.testing.assert_array_equal(grad_b, [0.0, 14.0, 0.0, 0.0, 0.0, 18.0])
    # finite differences would break the ties that decide membership; cross-check the
    # transforms instead: forward and reverse Jacobians, each a 0/1 selection matrix
    for fn in (fnp.intersect1d, fnp.setdiff1d, fnp.setxor1d, fnp.union1d):
        jf = fgrad.jacfwd(fn, argnums=(0, 1))(A, B)
        jr = fgrad.jacrev(fn, argnums=(0, 1))(A, B)
        for f_block, r_block in zip(jf, jr):
            np.testing.assert_array_equal(f_block, r_block)
        selection = np.concatenate(jf, axis=1)
        assert set(np.unique(selection)) <= {0.0, 1.0}
        np.testing.assert_array_equal(selection.sum(axis=1), np.ones(fn(A, B).size))
    # with distinct values, no tie is near: finite differences apply
    check_grads(lambda a: fnp.unique_all(a).values ** 3, (np.array([3.0, 1.0, 2.0, -0.5]),))


def test_make_jaxpr_needs_values():
    with pytest.raises(fgrad.ConcretizationError):
        fgrad.make_jaxpr(fnp.unique_values)(A)
