"""The rest of ``jax.lax``'s names, and ``fgrad.lax`` on arrays of another device.

Values are checked against NumPy and closed forms, derivatives against central
finite differences in float64; the JAX comparisons run only where JAX is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad import random as fr
from fgrad.core.backend import backend_of
from tests.strict_backend import registered as strict_registered

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


@pytest.fixture
def strict():
    """The strict stand-in backend of ``tests/strict_backend.py`` (no implicit NumPy)."""
    with strict_registered() as backend:
        yield backend.name


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
}


@pytest.mark.parametrize("name", RANDOM_ON_DEVICE)
def test_random_draws_from_a_key_on_another_device_stay_there_bit_for_bit(name, strict):
    draw = RANDOM_ON_DEVICE[name]
    k = fr.key(3)
    want = draw(k)
    got = draw(fgrad.device_put(k, strict))
    assert backend_of(got).name == strict
    np.testing.assert_array_equal(fgrad.device_get(got), want)
