"""``jit(f).lower(*args).as_text()``: the program ``jit`` runs, as text (JAX's spelling)."""

from __future__ import annotations

import numpy as np

import fgrad
import fgrad.numpy as fnp


def test_lower_shows_the_generated_replay_and_runs_nothing():
    calls = []

    def f(x, w):
        calls.append(1)
        return fnp.tanh(x @ w) * 2.0

    x, w = np.ones((2, 3)), np.full((3, 4), 0.5)
    text = fgrad.jit(f).lower(x, w).as_text()
    assert ("np_matmul(" in text or "block0(" in text) and "tanh" in text  # replay or block
    # the text is the program: replaying it gives f's values
    np.testing.assert_allclose(fgrad.jit(f)(x, w), np.tanh(x @ w) * 2.0, rtol=1e-15)
    assert len(calls) == 2  # one trace for lower, one for the call: lower compiled nothing


def test_lower_honours_static_arguments():
    def power(x, n):
        out = x
        for _ in range(n - 1):
            out = out * x
        return out

    def products(text: str) -> int:  # in the replay, or inside a fused kernel (numba)
        return text.count("mul(") + text.count(" * x0[")

    jitted = fgrad.jit(power, static_argnums=1)
    assert products(jitted.lower(np.ones(3), 3).as_text()) == 2
    assert products(jitted.lower(np.ones(3), 5).as_text()) == 4
    np.testing.assert_allclose(jitted(np.full(3, 2.0), 5), np.full(3, 32.0))

    named = fgrad.jit(power, static_argnames="n")
    assert products(named.lower(np.ones(3), 3).as_text()) == 2
