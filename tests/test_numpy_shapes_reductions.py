"""Reductions, shape and indexing functions of fgrad.numpy against NumPy, with gradients."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
from fgrad import numpy as fnp
from fgrad.test_util import check_grads

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 4))
V = RNG.normal(size=5)
ORDER = np.argsort(X, axis=1)

# name -> function of (namespace, x) for a (3, 4) float64 x; differentiable in x
DIFFERENTIABLE = {
    "prod": lambda m, a: m.prod(a, axis=1),
    "prod-with-zero": lambda m, a: m.prod(a * np.array([1.0, 0.0, 1.0, 1.0]), axis=1),
    "cumsum": lambda m, a: m.cumsum(a, axis=1),
    "cumprod": lambda m, a: m.cumprod(a, axis=0),
    "median": lambda m, a: m.median(a, axis=1),
    "percentile": lambda m, a: m.percentile(a, 30, axis=0),
    "quantile": lambda m, a: m.quantile(a, 0.7, axis=1),
    "average": lambda m, a: m.average(a, axis=1, weights=np.arange(1.0, 5.0)),
    "ptp": lambda m, a: m.ptp(a, axis=0),
    "nansum": lambda m, a: m.nansum(a),
    "nanmean": lambda m, a: m.nanmean(a, axis=0),
    "sort": lambda m, a: m.sort(a, axis=1),
    "tile": lambda m, a: m.tile(a, (2, 1)),
    "repeat": lambda m, a: m.repeat(a, 2, axis=0),
    "flip": lambda m, a: m.flip(a, axis=1),
    "fliplr": lambda m, a: m.fliplr(a),
    "flipud": lambda m, a: m.flipud(a),
    "roll": lambda m, a: m.roll(a, 2, axis=1),
    "rot90": lambda m, a: m.rot90(a),
    "pad": lambda m, a: m.pad(a, ((1, 0), (2, 1))),
    "pad-reflect": lambda m, a: m.pad(a, 1, mode="reflect"),
    "pad-edge": lambda m, a: m.pad(a, 1, mode="edge"),
    "diag": lambda m, a: m.diag(a),
    "diagonal": lambda m, a: m.diagonal(a, 1),
    "trace": lambda m, a: m.trace(a),
    "tril": lambda m, a: m.tril(a),
    "triu": lambda m, a: m.triu(a, 1),
    "take": lambda m, a: m.take(a, [0, 5, 5]),
    "take_along_axis": lambda m, a: m.take_along_axis(a, ORDER, axis=1),
    "hstack": lambda m, a: m.hstack([a, a]),
    "vstack": lambda m, a: m.vstack([a, a[:1]]),
    "dstack": lambda m, a: m.dstack([a, a]),
    "column_stack": lambda m, a: m.column_stack([a[0], a[1]]),
    "split": lambda m, a: m.split(a, 2, axis=1)[1],
    "array_split": lambda m, a: m.array_split(a, 3, axis=1)[0],
    "atleast_3d": lambda m, a: m.atleast_3d(a),
    "broadcast_arrays": lambda m, a: m.broadcast_arrays(a[:, :1], a)[0],
    "select": lambda m, a: m.select([a > 0, a < -1], [a, a**2], 0.5),
    "nan_to_num": lambda m, a: m.nan_to_num(a),
    "meshgrid": lambda m, a: m.meshgrid(a[0], a[1])[1],
}

WITHOUT_DERIVATIVE = {
    "argsort": lambda m, a: m.argsort(a, axis=1),
    "all": lambda m, a: m.all(a > 0, axis=1),
    "any": lambda m, a: m.any(a > 1),
    "count_nonzero": lambda m, a: m.count_nonzero(a > 0),
    "tri": lambda m, a: m.tri(3, 4, 1),
    "logspace": lambda m, a: m.logspace(0, 2, 5),
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE) + sorted(WITHOUT_DERIVATIVE))
def test_values_and_dtypes_match_numpy(name):
    f = DIFFERENTIABLE.get(name) or WITHOUT_DERIVATIVE[name]
    want, got = f(np, X), f(fnp, X)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_gradients_against_finite_differences(name):
    check_grads(lambda a: DIFFERENTIABLE[name](fnp, a), (X,), order=2)


def test_prod_gradient_with_zeros_is_exact():
    # d/dx_i prod(x) = product of the others: with one zero only that entry's is non-zero
    np.testing.assert_array_equal(fgrad.grad(fnp.prod)(np.array([2.0, 0.0, 3.0])), [0, 6, 0])
    np.testing.assert_array_equal(fgrad.grad(fnp.prod)(np.array([2.0, 0.0, 0.0])), [0, 0, 0])


def test_sort_gradient_follows_each_entry():
    x = np.array([3.0, 1.0, 2.0])
    g = fgrad.grad(lambda a: fnp.sum(fnp.sort(a) * np.array([1.0, 10.0, 100.0])))(x)
    np.testing.assert_array_equal(g, [100.0, 1.0, 10.0])
