"""The small JAX APIs of issue 15 item 5: each against a closed form or NumPy, and under
the transforms where they mean something."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp


# --------------------------------------------------------------------------------------
# jit as a decorator factory
# --------------------------------------------------------------------------------------
def test_jit_decorator_factory_static_argnums():
    traces = []

    @fgrad.jit(static_argnums=1)
    def power(x, n):
        traces.append(n)
        return x**n

    assert power(2.0, 3) == 8.0
    assert power(3.0, 3) == 27.0
    assert power(2.0, 4) == 16.0
    assert traces == [3, 4]  # one trace per static value, replayed for new x


def test_jit_decorator_factory_static_argnames_and_partial():
    @fgrad.jit(static_argnames="training")
    def f(x, training):
        return x * 2.0 if training else x

    @functools.partial(fgrad.jit, static_argnames=("training",))
    def g(x, training):
        return x * 2.0 if training else x

    for h in (f, g):
        np.testing.assert_allclose(h(np.ones(3), training=True), 2 * np.ones(3))
        np.testing.assert_allclose(h(np.ones(3), training=False), np.ones(3))
    np.testing.assert_allclose(fgrad.grad(lambda x: fnp.sum(f(x, training=True)))(np.ones(2)),
                               [2.0, 2.0])
