"""Functional updates ``x.at[idx].op(v)``: NumPy's ``ufunc.at`` semantics (repeated indices
apply once per occurrence), on plain arrays and tracers, differentiable in ``x`` and ``v``."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

RNG = np.random.default_rng(13)
UFUNCS = {
    "add": np.add,
    "multiply": np.multiply,
    "divide": np.divide,
    "power": np.power,
    "min": np.minimum,
    "max": np.maximum,
}
INDICES = [
    (np.array([0, 2, 2, 4, 2]),),
    (slice(1, 4),),
    (3,),
    (np.array([0, 0, 2]), slice(None)),
    (np.array([1, 1]), np.array([2, 2])),
]


def _x(index):
    return RNG.uniform(0.5, 1.5, (5,) if len(index) == 1 else (3, 4))


@pytest.mark.parametrize("name", sorted(UFUNCS))
@pytest.mark.parametrize("index", INDICES, ids=["repeated", "slice", "int", "rows", "pairs"])
def test_like_numpy_ufunc_at_and_differentiable(name, index):
    x = _x(index)
    shape = np.empty(x.shape)[index].shape
    v = RNG.uniform(0.5, 1.5, shape)
    want = x.copy()
    UFUNCS[name].at(want, index, v)
    got = getattr(fnp.at(x)[index], name)(v)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    # the same on a traced array, through the method form
    traced = fgrad.jvp(lambda x: getattr(x.at[index], name)(v), (x,), (np.zeros_like(x),))[0]
    np.testing.assert_allclose(traced, want, rtol=1e-14)
    check_grads(lambda x, v: getattr(fnp.at(x)[index], name)(v), (x, v), order=2)


def test_repeated_multiply_compounds_and_its_gradient_is_the_product_rule():
    x = np.array([2.0, 3.0])
    idx = np.array([0, 0, 0])
    v = np.array([1.5, 2.0, 0.5])
    np.testing.assert_allclose(fnp.at(x)[idx].multiply(v), [2.0 * 1.5 * 2.0 * 0.5, 3.0])
    gx, gv = fgrad.grad(lambda x, v: fnp.sum(fnp.at(x)[idx].multiply(v)), argnums=(0, 1))(x, v)
    np.testing.assert_allclose(gx, [1.5, 1.0])
    np.testing.assert_allclose(gv, 2.0 * np.prod(v) / v)


def test_get_set_add_and_scalars():
    x = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(fnp.at(x)[1, 2:].get(), x[1, 2:])
    y = fnp.at(x)[np.array([0, 0])].add(1.0)
    np.testing.assert_allclose(y[0], x[0] + 2.0)
    z = fnp.at(x)[:, 1].set(0.0)
    assert np.all(z[:, 1] == 0) and np.all(x[:, 1] != 0)  # x itself is untouched
