"""ERM training steps as pure functions: reproducible, non-mutating, dtype-preserving."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import fgrad
from fgrad import data, nn, optim


def make_problem(dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(96, 5)).astype(dtype)
    y = (x @ rng.normal(size=(5,)) > 0).astype(np.int64) + (x[:, 0] > 1)
    params = nn.mlp_init(rng, [5, 16, 3], dtype=dtype)
    return params, x, y


def objective(params, x, y):
    logits = nn.mlp_apply(params, x, activation=nn.relu)
    return nn.softmax_cross_entropy(logits, y) + 1e-3 * nn.l2_penalty(params)


def make_step(opt):
    def step(params, opt_state, x, y):
        loss, grads = fgrad.value_and_grad(objective)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    return step


def optimiser():
    return optim.chain(
        optim.clip_by_global_norm(1.0), optim.adamw(optim.cosine_decay(1e-2, 60), weight_decay=1e-3)
    )


def train(dtype, seed: int = 0, epochs: int = 4):
    params, x, y = make_problem(dtype, seed)
    opt = optimiser()
    opt_state = opt.init(params)
    step = make_step(opt)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        for xb, yb in data.minibatches((x, y), 16, rng=rng):
            params, opt_state, loss = step(params, opt_state, xb, yb)
            losses.append(loss)
    return params, losses


def test_same_seed_gives_bit_identical_losses():
    _, first = train(np.float64)
    _, second = train(np.float64)
    assert [float(a) for a in first] == [float(b) for b in second]
    assert first[-1] < 0.6 * first[0]  # and it does learn


def test_step_does_not_mutate_its_inputs():
    params, x, y = make_problem(np.float64)
    opt = optimiser()
    opt_state = opt.init(params)
    step = make_step(opt)
    params, opt_state, _ = step(params, opt_state, x, y)  # a non-trivial state
    before = copy.deepcopy((params, opt_state, x, y))
    step(params, opt_state, x, y)
    for a, b in zip(fgrad.tree_leaves((params, opt_state, x, y)), fgrad.tree_leaves(before)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_keeps_the_parameter_dtype(dtype):
    params, losses = train(dtype, epochs=1)
    for leaf in fgrad.tree_leaves(params):
        assert leaf.dtype == dtype
    assert all(np.asarray(loss).dtype == dtype for loss in losses)


def test_float32_and_float64_training_agree_closely():
    p32, l32 = train(np.float32, epochs=2)
    p64, l64 = train(np.float64, epochs=2)
    np.testing.assert_allclose(np.array(l32, np.float64), np.array(l64), rtol=2e-3)
