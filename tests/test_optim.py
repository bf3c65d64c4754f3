"""Tests of fgrad.optim: optimisers, building blocks and schedules.

Every optimiser is checked against a plain-NumPy implementation of its published
formula written here, step by step, without calling fgrad.optim. The reference
functions work on one array: all the formulas are elementwise, except global-norm
clipping, which gets its own test.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
import fgrad.optim as optim

STEPS = 12


# -- a small problem: a dict with a matrix and a vector, and a sequence of gradients ------
def make_params(dtype=np.float64):
    rng = np.random.default_rng(0)
    return {"W": rng.normal(size=(3, 4)).astype(dtype), "b": rng.normal(size=4).astype(dtype)}


def make_grads(params, steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [
        {k: rng.normal(size=v.shape).astype(v.dtype) for k, v in params.items()}
        for _ in range(steps)
    ]


def run_optimizer(opt, params, grads_seq):
    """Updates and parameters after each step, fgrad.optim's way."""
    state = opt.init(params)
    updates_seq, params_seq = [], []
    for g in grads_seq:
        updates, state = opt.update(g, state, params)
        params = optim.apply_updates(params, updates)
        updates_seq.append(updates)
        params_seq.append(params)
    return updates_seq, params_seq


def check_against_reference(opt, reference, rtol=1e-12):
    """Run ``opt`` and, leaf by leaf, ``reference(p0, grads) -> list of updates``."""
    params = make_params()
    grads_seq = make_grads(params)
    got_updates, got_params = run_optimizer(opt, params, grads_seq)
    for key, p0 in params.items():
        expected = reference(p0.copy(), [g[key] for g in grads_seq])
        assert len(expected) == STEPS
        p = p0
        for step, u in enumerate(expected):
            p = p + u
            np.testing.assert_allclose(got_updates[step][key], u, rtol=rtol, atol=1e-15)
            np.testing.assert_allclose(got_params[step][key], p, rtol=rtol, atol=1e-15)


# -- plain-NumPy references of the published formulas ---------------------------------
def ref_sgd(lr, momentum=None, nesterov=False):
    def run(p, grads):
        m = np.zeros_like(p)
        out = []
        for g in grads:
            if momentum is None:
                u = -lr * g
            else:
                m = momentum * m + g
                u = -lr * (g + momentum * m) if nesterov else -lr * m
            out.append(u)
        return out

    return run


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    """Kingma & Ba, Algorithm 1; with weight_decay, Loshchilov & Hutter's AdamW.

    ``lr`` is a number or a function of the step index t = 0, 1, ...
    """

    def run(p, grads):
        m, v = np.zeros_like(p), np.zeros_like(p)
        out = []
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            m_hat = m / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            rate = lr(t - 1) if callable(lr) else lr
            u = -rate * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * p)
            p = p + u
            out.append(u)
        return out

    return run


def ref_rmsprop(lr, decay=0.9, eps=1e-8, momentum=None, eps_in_sqrt=True):
    def run(p, grads):
        ms, buf = np.zeros_like(p), np.zeros_like(p)
        out = []
        for g in grads:
            ms = decay * ms + (1 - decay) * g**2
            denom = np.sqrt(ms + eps) if eps_in_sqrt else np.sqrt(ms) + eps
            step = lr * g / denom
            if momentum is not None:
                buf = momentum * buf + step
                step = buf
            out.append(-step)
        return out

    return run


def ref_adagrad(lr, initial_accumulator_value=0.1, eps=1e-7):
    def run(p, grads):
        acc = np.full_like(p, initial_accumulator_value)
        out = []
        for g in grads:
            acc = acc + g**2
            out.append(-lr * g / np.sqrt(acc + eps))
        return out

    return run


def cosine_closed_form(init, steps, alpha, t):
    t = min(t, steps)
    return init * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t / steps)) + alpha)


OPTIMIZERS = {
    "sgd": (lambda: optim.sgd(0.1), ref_sgd(0.1)),
    "sgd_momentum": (lambda: optim.sgd(0.1, momentum=0.9), ref_sgd(0.1, 0.9)),
    "sgd_nesterov": (
        lambda: optim.sgd(0.1, momentum=0.9, nesterov=True),
        ref_sgd(0.1, 0.9, nesterov=True),
    ),
    "adam": (lambda: optim.adam(0.01), ref_adam(0.01)),
    "adam_betas": (
        lambda: optim.adam(0.03, b1=0.5, b2=0.9, eps=1e-3),
        ref_adam(0.03, b1=0.5, b2=0.9, eps=1e-3),
    ),
    "adam_cosine_schedule": (
        lambda: optim.adam(optim.cosine_decay(0.1, 8, alpha=0.2)),
        ref_adam(lambda t: cosine_closed_form(0.1, 8, 0.2, t)),
    ),
    "adamw": (
        lambda: optim.adamw(0.01, weight_decay=0.5),
        ref_adam(0.01, weight_decay=0.5),
    ),
    "adamw_default_decay": (lambda: optim.adamw(0.01), ref_adam(0.01, weight_decay=1e-4)),
    "rmsprop": (lambda: optim.rmsprop(0.01), ref_rmsprop(0.01)),
    "rmsprop_momentum": (
        lambda: optim.rmsprop(0.01, decay=0.8, momentum=0.9),
        ref_rmsprop(0.01, decay=0.8, momentum=0.9),
    ),
    "adagrad": (lambda: optim.adagrad(0.1), ref_adagrad(0.1)),
    "adagrad_options": (
        lambda: optim.adagrad(0.3, initial_accumulator_value=1.0, eps=1e-3),
        ref_adagrad(0.3, initial_accumulator_value=1.0, eps=1e-3),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_published_formula(name):
    make_opt, reference = OPTIMIZERS[name]
    check_against_reference(make_opt(), reference)


def test_rmsprop_with_eps_outside_the_root():
    opt = optim.chain(optim.scale_by_rms(0.9, 1e-3, eps_in_sqrt=False), optim.scale(-0.01))
    check_against_reference(opt, ref_rmsprop(0.01, 0.9, 1e-3, eps_in_sqrt=False))


def test_adamw_differs_from_adam_with_l2_in_the_gradient():
    # Decoupled: the decay is added after Adam's rescaling, not to the gradient.
    params = make_params()
    grads_seq = make_grads(params, steps=3)
    decoupled, _ = run_optimizer(optim.adamw(0.01, weight_decay=0.5), params, grads_seq)
    l2 = optim.chain(optim.add_decayed_weights(0.5), optim.adam(0.01))
    coupled, _ = run_optimizer(l2, params, grads_seq)
    assert not np.allclose(decoupled[-1]["W"], coupled[-1]["W"])


def test_adamw_mask_skips_parameters():
    params = make_params()
    grads_seq = make_grads(params, steps=4)
    masked = optim.adamw(0.01, weight_decay=0.5, mask=lambda p: {"W": True, "b": False})
    got, _ = run_optimizer(masked, params, grads_seq)
    decayed, _ = run_optimizer(optim.adamw(0.01, weight_decay=0.5), params, grads_seq)
    plain, _ = run_optimizer(optim.adam(0.01), params, grads_seq)
    np.testing.assert_allclose(got[-1]["W"], decayed[-1]["W"])
    np.testing.assert_allclose(got[-1]["b"], plain[-1]["b"])


def test_learning_rate_schedule_starts_at_count_zero():
    seen = []

    def schedule(count):
        seen.append(int(count))
        return 0.1

    params = make_params()
    run_optimizer(optim.sgd(schedule), params, make_grads(params, steps=3))
    assert seen == [0, 1, 2]


# -- building blocks ------------------------------------------------------------------
def tree_norm(tree):
    return np.linalg.norm(np.concatenate([x.ravel() for x in fgrad.tree_leaves(tree)]))


@pytest.mark.parametrize("max_norm_factor", [0.25, 4.0])
def test_clip_by_global_norm(max_norm_factor):
    params = make_params()
    g = make_grads(params, steps=1)[0]
    norm = tree_norm(g)
    max_norm = max_norm_factor * norm
    clip = optim.clip_by_global_norm(max_norm)
    updates, _ = clip.update(g, clip.init(params))
    if norm > max_norm:
        expected = {k: v * (max_norm / norm) for k, v in g.items()}
        assert tree_norm(updates) == pytest.approx(max_norm)
    else:
        expected = g
    for k in g:
        np.testing.assert_allclose(updates[k], expected[k], rtol=1e-13)
    assert optim.global_norm(g) == pytest.approx(norm)


def test_clip_by_global_norm_leaves_updates_below_threshold_bit_identical():
    g = {"a": np.array([3.0, 4.0])}
    clip = optim.clip_by_global_norm(5.0)
    updates, _ = clip.update(g, clip.init(g))
    assert np.array_equal(updates["a"], g["a"])


def test_add_decayed_weights():
    params = make_params()
    g = make_grads(params, steps=1)[0]
    t = optim.add_decayed_weights(0.3)
    updates, _ = t.update(g, t.init(params), params)
    for k in g:
        np.testing.assert_allclose(updates[k], g[k] + 0.3 * params[k], rtol=1e-15)


def test_add_decayed_weights_with_mask_tree():
    params = make_params()
    g = make_grads(params, steps=1)[0]
    t = optim.add_decayed_weights(0.3, mask={"W": False, "b": True})
    updates, _ = t.update(g, t.init(params), params)
    assert np.array_equal(updates["W"], g["W"])
    np.testing.assert_allclose(updates["b"], g["b"] + 0.3 * params["b"], rtol=1e-15)


def test_add_decayed_weights_needs_params():
    params = make_params()
    t = optim.add_decayed_weights(0.3)
    with pytest.raises(ValueError, match="needs the parameters"):
        t.update(params, t.init(params))


def test_scale():
    params = make_params()
    g = make_grads(params, steps=1)[0]
    t = optim.scale(-2.5)
    updates, state = t.update(g, t.init(params))
    assert state == optim.EmptyState()
    for k in g:
        np.testing.assert_allclose(updates[k], -2.5 * g[k], rtol=1e-15)


def test_chain_applies_transforms_in_order():
    params = make_params()
    g = make_grads(params, steps=1)[0]
    scale_then_decay = optim.chain(optim.scale(2.0), optim.add_decayed_weights(0.1))
    decay_then_scale = optim.chain(optim.add_decayed_weights(0.1), optim.scale(2.0))
    u1, s1 = scale_then_decay.update(g, scale_then_decay.init(params), params)
    u2, _ = decay_then_scale.update(g, decay_then_scale.init(params), params)
    for k in g:
        np.testing.assert_allclose(u1[k], 2.0 * g[k] + 0.1 * params[k], rtol=1e-15)
        np.testing.assert_allclose(u2[k], 2.0 * (g[k] + 0.1 * params[k]), rtol=1e-15)
    assert isinstance(s1, tuple) and len(s1) == 2


def test_chain_refuses_a_state_of_another_chain():
    params = make_params()
    opt = optim.chain(optim.scale(2.0), optim.scale(3.0))
    with pytest.raises(ValueError, match="2 transformations"):
        opt.update(params, (optim.EmptyState(),), params)


def test_identity():
    params = make_params()
    t = optim.identity()
    updates, state = t.update(params, t.init(params))
    assert updates is params and state == optim.EmptyState()


def test_scale_by_rss_is_zero_where_the_accumulator_is_zero():
    g = {"a": np.array([0.0, 2.0])}
    t = optim.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    with np.errstate(all="raise"):
        updates, _ = t.update(g, t.init(g))
    np.testing.assert_array_equal(updates["a"], [0.0, 1.0])


def test_clip_by_global_norm_refuses_non_positive_max_norm():
    with pytest.raises(ValueError, match="positive"):
        optim.clip_by_global_norm(0.0)


# -- schedules ------------------------------------------------------------------------
SCHEDULE_CASES = {
    "constant": (optim.constant_schedule(0.3), lambda t: 0.3),
    "exponential": (optim.exponential_decay(2.0, 10, 0.5), lambda t: 2.0 * 0.5 ** (t / 10)),
    "exponential_staircase": (
        optim.exponential_decay(2.0, 10, 0.5, staircase=True),
        lambda t: 2.0 * 0.5 ** (t // 10),
    ),
    "exponential_end_value": (
        optim.exponential_decay(2.0, 10, 0.5, end_value=0.4),
        lambda t: max(2.0 * 0.5 ** (t / 10), 0.4),
    ),
    "exponential_growth_end_value": (
        optim.exponential_decay(1.0, 5, 2.0, end_value=10.0),
        lambda t: min(2.0 ** (t / 5), 10.0),
    ),
    "exponential_transition_begin": (
        optim.exponential_decay(1.0, 10, 0.1, transition_begin=5),
        lambda t: 0.1 ** (max(t - 5, 0) / 10),
    ),
    "cosine": (
        optim.cosine_decay(2.0, 20),
        lambda t: 2.0 * 0.5 * (1 + math.cos(math.pi * min(t, 20) / 20)),
    ),
    "cosine_alpha": (
        optim.cosine_decay(2.0, 20, alpha=0.1),
        lambda t: cosine_closed_form(2.0, 20, 0.1, t),
    ),
    "linear": (
        optim.linear_schedule(1.0, 0.1, 10, transition_begin=5),
        lambda t: 1.0 + (0.1 - 1.0) * min(max(t - 5, 0), 10) / 10,
    ),
    "linear_warmup": (optim.linear_warmup(0.5, 8), lambda t: 0.5 * min(t, 8) / 8),
    "linear_warmup_from": (
        optim.linear_warmup(0.5, 8, init_value=0.1),
        lambda t: 0.1 + 0.4 * min(t, 8) / 8,
    ),
    "warmup_cosine": (
        optim.warmup_cosine_decay(0.0, 1.0, 10, 30, end_value=0.1),
        lambda t: (
            t / 10 if t < 10 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t - 10, 20) / 20))
        ),
    ),
    "warmup_cosine_no_warmup": (
        optim.warmup_cosine_decay(0.0, 1.0, 0, 20),
        lambda t: 0.5 * (1 + math.cos(math.pi * min(t, 20) / 20)),
    ),
    "join": (
        optim.join_schedules(
            [optim.constant_schedule(1.0), optim.linear_schedule(0.5, 0.0, 10)], [5]
        ),
        lambda t: 1.0 if t < 5 else 0.5 - 0.05 * min(t - 5, 10),
    ),
}

SCHEDULE_STEPS = [0, 1, 3, 5, 8, 10, 15, 20, 25, 30, 100]


@pytest.mark.parametrize("name", sorted(SCHEDULE_CASES))
def test_schedule_closed_form(name):
    schedule, closed_form = SCHEDULE_CASES[name]
    for t in SCHEDULE_STEPS:
        assert float(schedule(t)) == pytest.approx(closed_form(t), rel=1e-12, abs=1e-15), t
        # the optimiser's step count is a 0-d int32 array
        assert float(schedule(np.asarray(t, np.int32))) == pytest.approx(closed_form(t))
    values = schedule(np.arange(40))
    np.testing.assert_allclose(values, [closed_form(t) for t in range(40)], rtol=1e-12)


def test_schedule_spot_values():
    assert float(optim.exponential_decay(1.0, 10, 0.5, staircase=True)(19)) == 0.5
    assert float(optim.cosine_decay(1.0, 10, alpha=0.2)(10)) == pytest.approx(0.2)
    assert float(optim.warmup_cosine_decay(0.0, 2.0, 4, 14)(4)) == pytest.approx(2.0)
    assert float(optim.warmup_cosine_decay(0.0, 2.0, 4, 14)(9)) == pytest.approx(1.0)


def test_as_schedule():
    assert optim.as_schedule(0.5)(7) == 0.5
    assert isinstance(optim.as_schedule(np.float64(0.5))(7), float)
    s = optim.cosine_decay(1.0, 10)
    assert optim.as_schedule(s) is s


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.exponential_decay(1.0, 0, 0.5),
        lambda: optim.cosine_decay(1.0, 0),
        lambda: optim.linear_schedule(1.0, 0.0, 0),
        lambda: optim.warmup_cosine_decay(0.0, 1.0, 10, 10),
        lambda: optim.join_schedules([optim.constant_schedule(1.0)], [3]),
    ],
)
def test_schedule_refuses_bad_arguments(make):
    with pytest.raises(ValueError):
        make()


# -- purity, state pytrees, dtypes ----------------------------------------------------
ALL_OPTIMIZERS = sorted(OPTIMIZERS) + ["clip_chain"]


def make_optimizer(name):
    if name == "clip_chain":
        return optim.chain(optim.clip_by_global_norm(0.5), optim.adamw(1e-2, weight_decay=0.1))
    return OPTIMIZERS[name][0]()


def assert_trees_equal(a, b):
    leaves_a, def_a = fgrad.tree_flatten(a)
    leaves_b, def_b = fgrad.tree_flatten(b)
    assert def_a == def_b
    for x, y in zip(leaves_a, leaves_b):
        assert type(x) is type(y)
        assert np.array_equal(x, y)
        assert np.asarray(x).dtype == np.asarray(y).dtype


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_update_does_not_modify_its_inputs(name):
    opt = make_optimizer(name)
    params = make_params()
    grads_seq = make_grads(params, steps=3)
    params_copy = copy.deepcopy(params)
    state = opt.init(params)
    assert_trees_equal(params, params_copy)
    for g in grads_seq:
        g_copy, state_copy, params_copy = copy.deepcopy((g, state, params))
        updates, new_state = opt.update(g, state, params)
        new_params = optim.apply_updates(params, updates)
        assert_trees_equal(g, g_copy)
        assert_trees_equal(state, state_copy)
        assert_trees_equal(params, params_copy)
        state, params = new_state, new_params


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_state_is_a_pytree_that_round_trips(name):
    opt = make_optimizer(name)
    params = make_params()
    grads_seq = make_grads(params, steps=4)
    state = opt.init(params)
    for g in grads_seq[:2]:
        _, state = opt.update(g, state, params)
    leaves, treedef = fgrad.tree_flatten(state)
    for leaf in leaves:
        assert isinstance(leaf, np.ndarray)
    rebuilt = fgrad.tree_unflatten(treedef, leaves)
    deep = copy.deepcopy(state)
    assert_trees_equal(rebuilt, state)
    assert_trees_equal(deep, state)
    # the rebuilt states carry on exactly as the original
    for g in grads_seq[2:]:
        u, state = opt.update(g, state, params)
        u_rebuilt, rebuilt = opt.update(g, rebuilt, params)
        u_deep, deep = opt.update(g, deep, params)
        assert_trees_equal(u, u_rebuilt)
        assert_trees_equal(u, u_deep)
    assert_trees_equal(state, rebuilt)


def test_step_counts_are_0d_int32_arrays():
    params = make_params()
    opt = optim.adam(optim.cosine_decay(0.1, 10))
    state = opt.init(params)
    _, state = opt.update(make_grads(params, steps=1)[0], state, params)
    adam_state, schedule_state = state
    for count, expected in [(adam_state.count, 1), (schedule_state.count, 1)]:
        assert isinstance(count, np.ndarray) and count.shape == () and count.dtype == np.int32
        assert int(count) == expected


FLOAT32_OPTIMIZERS = {
    **{name: OPTIMIZERS[name][0] for name in OPTIMIZERS},
    "numpy_float64_hyperparameters": lambda: optim.adamw(
        np.float64(0.01), b1=np.float64(0.9), b2=np.float64(0.99), weight_decay=np.float64(0.1)
    ),
    "float64_schedules": lambda: optim.chain(
        optim.clip_by_global_norm(np.float64(0.1)),
        optim.sgd(optim.warmup_cosine_decay(0.0, 0.1, 2, 10), momentum=np.float64(0.9)),
    ),
    "rmsprop_schedule": lambda: optim.rmsprop(optim.exponential_decay(0.1, 2, 0.5), momentum=0.5),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_OPTIMIZERS))
def test_float32_in_float32_out(name):
    opt = FLOAT32_OPTIMIZERS[name]()
    params = make_params(np.float32)
    state = opt.init(params)
    for g in make_grads(params, steps=3):
        updates, state = opt.update(g, state, params)
        params = optim.apply_updates(params, updates)
        for tree in (updates, params):
            assert {k: v.dtype for k, v in tree.items()} == {"W": np.float32, "b": np.float32}
        for leaf in fgrad.tree_leaves(state):
            assert leaf.dtype in (np.float32, np.int32), (name, leaf.dtype)


def test_apply_updates_keeps_the_parameter_dtype():
    params = {"w": np.ones(3, np.float32)}
    new = optim.apply_updates(params, {"w": np.full(3, 0.5, np.float64)})
    assert new["w"].dtype == np.float32
    np.testing.assert_array_equal(new["w"], [1.5, 1.5, 1.5])


# -- end to end -----------------------------------------------------------------------
END_TO_END = {
    "sgd": (lambda: optim.sgd(0.1), 100),
    "sgd_momentum": (lambda: optim.sgd(0.05, momentum=0.9), 100),
    "sgd_nesterov": (lambda: optim.sgd(0.05, momentum=0.9, nesterov=True), 100),
    "adam": (lambda: optim.adam(0.05), 200),
    "adam_schedule": (lambda: optim.adam(optim.warmup_cosine_decay(0.0, 0.1, 10, 200)), 200),
    "adamw": (lambda: optim.adamw(0.05, weight_decay=1e-4), 200),
    "rmsprop": (lambda: optim.rmsprop(0.01), 300),
    "rmsprop_momentum": (lambda: optim.rmsprop(0.005, momentum=0.9), 300),
    "adagrad": (lambda: optim.adagrad(0.5), 200),
    "clipped_sgd": (lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(0.1)), 200),
}


@pytest.mark.parametrize("name", sorted(END_TO_END))
def test_minimises_a_quadratic(name):
    make_opt, steps = END_TO_END[name]
    rng = np.random.default_rng(3)
    target = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}

    def loss(params):
        return sum(fnp.sum((params[k] - target[k]) ** 2) for k in params)

    params = {k: np.zeros_like(v) for k, v in target.items()}
    opt = make_opt()
    state = opt.init(params)
    first = float(loss(params))
    for _ in range(steps):
        value, grads = fgrad.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    assert float(loss(params)) < first / 100


# -- differentiating through an update ------------------------------------------------
def test_gradient_of_the_loss_after_one_sgd_step_wrt_the_learning_rate():
    # loss(W) = sum((W - T)**2); one step W - lr * 2 (W - T) leaves (1 - 2 lr)**2 * loss(W),
    # so d/dlr = -4 (1 - 2 lr) * loss(W).
    rng = np.random.default_rng(4)
    W, T = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))

    def loss(w):
        return fnp.sum((w - T) ** 2)

    def loss_after_step(lr):
        opt = optim.sgd(lr)
        grads = fgrad.grad(loss)(W)
        updates, _ = opt.update(grads, opt.init(W), W)
        return loss(optim.apply_updates(W, updates))

    lr = 0.1
    expected = -4 * (1 - 2 * lr) * np.sum((W - T) ** 2)
    assert float(fgrad.grad(loss_after_step)(lr)) == pytest.approx(expected, rel=1e-12)


def test_gradient_through_a_clipped_adamw_step_matches_finite_differences():
    # f(p) = loss(p after one step from p): its gradient goes through grad(loss),
    # the global-norm clipping, Adam's rescaling and the weight decay.
    rng = np.random.default_rng(5)
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=3)}
    direction = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=3)}
    opt = optim.chain(optim.clip_by_global_norm(0.5), optim.adamw(0.1, eps=1e-3, weight_decay=0.1))

    def loss(p):
        return fnp.sum(fnp.sin(p["W"])) + fnp.sum(p["b"] ** 3)

    def loss_after_step(p):
        updates, _ = opt.update(fgrad.grad(loss)(p), opt.init(p), p)
        return loss(optim.apply_updates(p, updates))

    assert float(optim.global_norm(fgrad.grad(loss)(params))) > 0.5  # clipping is active
    g = fgrad.grad(loss_after_step)(params)
    analytic = sum(np.sum(g[k] * direction[k]) for k in g)
    h = 1e-6
    shifted = [
        float(loss_after_step({k: params[k] + sign * h * direction[k] for k in params}))
        for sign in (1, -1)
    ]
    numeric = (shifted[0] - shifted[1]) / (2 * h)
    assert analytic == pytest.approx(numeric, rel=1e-6)
