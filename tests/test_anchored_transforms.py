"""Cross-transform comparisons anchored to truth.

Comparing fgrad under one transform with fgrad under another (``vmap`` against a loop,
``jit`` against eager) checks plumbing: a wrong rule shared by both sides passes. Each
test here computes the same quantity under several transforms AND compares one of them
with NumPy, a closed form or central finite differences. The optimiser steps run a
jitted training step against a NumPy transcription of the published update rules.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax, optim

RNG = np.random.default_rng(2026)


def close(got, want, tol=1e-11):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


# -- derivative rules under vmap, jvp and grad --------------------------------------------

UNARY = {
    "tanh": (fnp.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sin": (fnp.sin, np.cos),
    "cos": (fnp.cos, lambda x: -np.sin(x)),
    "exp": (fnp.exp, np.exp),
    "log1p": (lambda x: fnp.log1p(x * x), lambda x: 2 * x / (1 + x * x)),
    "sqrt": (lambda x: fnp.sqrt(1 + x * x), lambda x: x / np.sqrt(1 + x * x)),
    "arctan": (fnp.arctan, lambda x: 1 / (1 + x * x)),
    "sinh": (fnp.sinh, np.cosh),
    "abs": (fnp.abs, np.sign),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_anchored_unary_rules_under_vmap_jit_and_both_modes(name):
    f, df = UNARY[name]
    x = RNG.standard_normal(6)
    want = df(x)
    close(fgrad.vmap(fgrad.grad(f))(x), want)
    close(fgrad.jit(fgrad.vmap(fgrad.grad(f)))(x), want)
    close(fgrad.vmap(lambda x: fgrad.jvp(f, (x,), (1.0,))[1])(x), want)
    u = RNG.standard_normal(6)
    close(fgrad.vjp(f, x)[1](u)[0], u * want)
    close(fgrad.jacfwd(f)(x), np.diag(want))


def test_anchored_binary_rules_under_vmap():
    x, y = RNG.standard_normal(5), RNG.standard_normal(5) + 3.0
    gx, gy = fgrad.vmap(fgrad.grad(lambda x, y: x / y, argnums=(0, 1)))(x, y)
    close(gx, 1 / y)
    close(gy, -x / y**2)
    gx, gy = fgrad.vmap(fgrad.grad(lambda x, y: fnp.arctan2(x, y), argnums=(0, 1)))(x, y)
    close(gx, y / (x * x + y * y))
    close(gy, -x / (x * x + y * y))
    gx, gy = fgrad.vmap(fgrad.grad(lambda x, y: y**x, argnums=(0, 1)))(x, y)
    close(gx, y**x * np.log(y))
    close(gy, x * y ** (x - 1))


def test_anchored_mlp_gradient_eager_jit_vmap_against_finite_differences():
    W1, W2 = RNG.standard_normal((3, 4)), RNG.standard_normal((4,))
    xs = RNG.standard_normal((5, 3))

    def loss(W1, x):
        return fnp.tanh(fnp.tanh(x @ W1) @ W2)

    def fd(W1, x, eps=1e-6):
        g = np.zeros_like(W1)
        for i in np.ndindex(W1.shape):
            e = np.zeros_like(W1)
            e[i] = eps
            g[i] = (float(loss(W1 + e, x)) - float(loss(W1 - e, x))) / (2 * eps)
        return g

    want = np.stack([fd(W1, x) for x in xs])
    per_example = fgrad.vmap(fgrad.grad(loss), in_axes=(None, 0))(W1, xs)
    close(per_example, want, 1e-8)
    close(fgrad.jit(fgrad.grad(loss))(W1, xs[0]), want[0], 1e-8)
    close(fgrad.jacrev(lambda W: fgrad.vmap(loss, in_axes=(None, 0))(W, xs))(W1), want, 1e-8)


# -- control flow ------------------------------------------------------------------------


def _branchy(x):
    return lax.cond(x > 0, lambda x: fnp.sin(x) * 3.0, lambda x: x * x, x)


def test_anchored_cond_with_a_batched_predicate():
    x = np.array([-1.5, 0.3, 2.0, -0.2, 0.0])
    want = np.where(x > 0, 3 * np.sin(x), x * x)
    want_g = np.where(x > 0, 3 * np.cos(x), 2 * x)
    close(fgrad.vmap(_branchy)(x), want)
    close(fgrad.jit(fgrad.vmap(_branchy))(x), want)
    close(fgrad.vmap(fgrad.grad(_branchy))(x), want_g)
    close(fgrad.grad(lambda x: fnp.sum(fgrad.vmap(_branchy)(x)))(x), want_g)
    close(fgrad.jit(fgrad.grad(lambda x: fnp.sum(fgrad.vmap(_branchy)(x))))(x), want_g)
    close(fgrad.vmap(lambda x: fgrad.jvp(_branchy, (x,), (1.0,))[1])(x), want_g)


def test_anchored_switch_under_jit_clamps_the_index():
    branches = [lambda x: x + 1.0, lambda x: x * 2.0, lambda x: -x]
    f = fgrad.jit(lambda i, x: lax.switch(i, branches, x))
    for i, want in [(-3, 4.0), (0, 4.0), (1, 6.0), (2, -3.0), (7, -3.0)]:
        close(f(np.int32(i), 3.0), want)
    close(fgrad.vmap(f, in_axes=(0, None))(np.array([-1, 1, 5], np.int32), 3.0), [4.0, 6.0, -3.0])


def test_anchored_loops():
    x = RNG.standard_normal(3)
    # x_{k+1} = x_k * c + k for k = 0..3, in closed form: a polynomial in c
    c = 0.7

    def f(x):
        return lax.fori_loop(0, 4, lambda i, v: v * c + i, x)

    want = x * c**4 + (0 * c**3 + 1 * c**2 + 2 * c + 3)
    close(f(x), want)
    close(fgrad.jit(f)(x), want)
    close(fgrad.vmap(f)(x), want)
    close(fgrad.jacfwd(fgrad.jit(f))(x), np.eye(3) * c**4)
    close(fgrad.grad(lambda x: fnp.sum(fgrad.jit(f)(x)))(x), np.full(3, c**4))

    xs = RNG.standard_normal((4, 2))

    def run(c0, reverse):
        return lax.scan(lambda c, x: (c * 0.5 + x, c), c0, xs, reverse=reverse)

    for reverse in (False, True):
        carry, ys = fgrad.jit(run, static_argnums=1)(np.zeros(2), reverse)
        c_np, ys_np = np.zeros(2), []
        for k in (range(3, -1, -1) if reverse else range(4)):
            ys_np.append(c_np)
            c_np = c_np * 0.5 + xs[k]
        close(carry, c_np)
        close(ys, np.stack(ys_np[::-1] if reverse else ys_np))


def test_anchored_while_loop_under_vmap_and_jit():
    def halvings(x):
        return lax.while_loop(lambda s: s[0] > 1.0, lambda s: (s[0] / 2.0, s[1] + 1), (x, 0))

    x = np.array([0.5, 3.0, 17.0])
    n_want = np.array([0, 2, 5])
    for fn in (fgrad.vmap(halvings), fgrad.jit(fgrad.vmap(halvings))):
        v, n = fn(x)
        np.testing.assert_array_equal(n, n_want)
        close(v, x / 2.0**n_want)


# -- optimisers: a jitted training step against NumPy ----------------------------------

A = RNG.standard_normal((5, 3))
B = RNG.standard_normal(5)


def _loss(p):
    r = A @ p["w"] - B
    return 0.5 * fnp.sum(r * r) + 0.5 * fnp.sum(p["b"] * p["b"])


def _grad_np(p):
    return {"w": A.T @ (A @ p["w"] - B), "b": p["b"].copy()}


def _reference(name, p, steps):
    """The optimiser's published update, transcribed in NumPy, on the closed-form gradient."""
    lr, b1, b2, eps, wd, mom, decay = 0.1, 0.8, 0.9, 0.1, 0.05, 0.7, 0.6
    st = {k: {"m": np.zeros_like(v), "v": np.zeros_like(v), "s": np.full_like(v, 0.1)}
          for k, v in p.items()}
    p = {k: v.copy() for k, v in p.items()}
    for t in range(1, steps + 1):
        g = _grad_np(p)
        if name == "clipped_sgd":
            n = np.sqrt(sum(np.sum(v * v) for v in g.values()))
            g = {k: v * min(1.0, 0.5 / n) for k, v in g.items()}
        for k in p:
            s = st[k]
            if name in ("adam", "adamw"):
                s["m"] = b1 * s["m"] + (1 - b1) * g[k]
                s["v"] = b2 * s["v"] + (1 - b2) * g[k] ** 2
                u = (s["m"] / (1 - b1**t)) / (np.sqrt(s["v"] / (1 - b2**t)) + eps)
                if name == "adamw":
                    u = u + wd * p[k]
            elif name == "nesterov":
                s["m"] = g[k] + mom * s["m"]
                u = g[k] + mom * s["m"]
            elif name == "rmsprop":
                s["v"] = decay * s["v"] + (1 - decay) * g[k] ** 2
                u = g[k] / np.sqrt(s["v"] + eps)
            elif name == "adagrad":
                s["s"] = s["s"] + g[k] ** 2
                u = g[k] / np.sqrt(s["s"] + eps)
            else:  # clipped_sgd
                u = g[k]
            p[k] = p[k] - lr * u
    return p


OPTIMISERS = {
    "adam": lambda: optim.adam(0.1, b1=0.8, b2=0.9, eps=0.1),
    "adamw": lambda: optim.adamw(0.1, b1=0.8, b2=0.9, eps=0.1, weight_decay=0.05),
    "nesterov": lambda: optim.sgd(0.1, momentum=0.7, nesterov=True),
    "rmsprop": lambda: optim.rmsprop(0.1, decay=0.6, eps=0.1),
    "adagrad": lambda: optim.adagrad(0.1, initial_accumulator_value=0.1, eps=0.1),
    "clipped_sgd": lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.sgd(0.1)),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_anchored_training_steps(name, compiled):
    opt = OPTIMISERS[name]()
    p0 = {"w": RNG.standard_normal(3), "b": RNG.standard_normal(2)}

    def step(p, state):
        g = fgrad.grad(_loss)(p)
        updates, state = opt.update(g, state, p)
        return optim.apply_updates(p, updates), state

    step = fgrad.jit(step) if compiled else step
    p, state = p0, opt.init(p0)
    for _ in range(4):
        p, state = step(p, state)
    want = _reference(name, p0, 4)
    close(p["w"], want["w"], 1e-10)
    close(p["b"], want["b"], 1e-10)


# -- vmap's axes --------------------------------------------------------------------------


def test_anchored_vmap_in_and_out_axes():
    x = RNG.standard_normal((3, 4))
    close(fgrad.vmap(lambda r: fnp.sin(r) * 2, out_axes=1)(x), (np.sin(x) * 2).T)
    close(fgrad.vmap(fnp.cumsum, in_axes=1, out_axes=1)(x), np.cumsum(x, axis=0))
    total, doubled = fgrad.vmap(lambda r: (fnp.sum(r), r * 2), out_axes=(0, -1))(x)
    close(total, x.sum(axis=1))
    close(doubled, (2 * x).T)
    g = fgrad.vmap(fgrad.grad(lambda r: fnp.sum(r**3)), in_axes=1, out_axes=1)(x)
    close(g, 3 * x**2)


# -- pooling against NumPy loops ----------------------------------------------------------


def _pool_np(x, window, pads, reduce):
    """(H, W, C) pooling with stride 1 and explicit (lo, hi) pads filled with NaN."""
    (a, b), (c, d) = pads
    xp = np.pad(x, ((a, b), (c, d), (0, 0)), constant_values=np.nan)
    h, w = xp.shape[0] - window[0] + 1, xp.shape[1] - window[1] + 1
    return np.stack([np.stack([reduce(xp[i : i + window[0], j : j + window[1]])
                               for j in range(w)]) for i in range(h)])


def test_anchored_pooling_with_padding_and_gradients():
    x = -np.abs(RNG.standard_normal((4, 5, 2))) - 0.1  # all negative: padding must never win
    pads = ((1, 1), (0, 2))
    want_max = _pool_np(x, (2, 3), pads, lambda w: np.nanmax(w, axis=(0, 1)))
    close(fgrad.nn.max_pool(x, (2, 3), padding=pads), want_max)
    close(fgrad.jit(lambda x: fgrad.nn.max_pool(x, (2, 3), padding=pads))(x), want_max)
    want_avg = _pool_np(x, (2, 3), pads, lambda w: np.nansum(w, axis=(0, 1)) / 6.0)
    close(fgrad.nn.avg_pool(x, (2, 3), padding=pads), want_avg)
    counted = _pool_np(x, (2, 3), pads, lambda w: np.nanmean(w, axis=(0, 1)))
    close(fgrad.nn.avg_pool(x, (2, 3), padding=pads, count_include_pad=False), counted)
    # the average pool's gradient: each input gets 1/6 per window that holds it
    g = fgrad.grad(lambda x: fnp.sum(fgrad.nn.avg_pool(x, (2, 3), padding=pads)))(x)
    cover = np.zeros((4, 5, 2))
    for i in range(want_avg.shape[0]):  # window (i, j) starts at row i - 1, column j
        for j in range(want_avg.shape[1]):
            cover[max(i - 1, 0) : i + 1, j : j + 3] += 1.0
    close(g, cover / 6.0)
