"""This repository's examples as plain NumPy programs, differentiated unchanged.

Two kinds (docs/plain_numpy.md says why the examples themselves stay as they are):

* examples whose model is written with ``fnp`` alone (``pinn_bvp``, ``taylor_ode``;
  ``sine_rnn`` is in test_numpy_protocols.py) are loaded a second time with ``fnp`` bound
  to NumPy itself, the same source;
* examples whose model uses ``fgrad.nn`` layers (``train_digits`` and
  ``train_digits_dp``'s MLP objective, ``train_digits_cnn``, ``logistic_regression``)
  have their model and loss written again below with ``import numpy as np`` only, as a
  NumPy user would write them (convolution by shifted slices, pooling by reshaping).

Each plain version gives the example's loss value, and its ``grad``, ``jit(grad)`` and
per-example ``vmap(grad)`` equal the example's own (fgrad.numpy) gradients and central
finite differences in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_tree_allclose, load_example, random_like, tree_vdot

import fgrad

RNG = np.random.default_rng(41)


# -- the models of the fgrad.nn examples, written with plain NumPy ----------------------------


def mlp_objective(params: list, x, y, weight_decay: float):
    """train_digits.objective: a ReLU MLP, mean softmax cross-entropy of integer labels, and
    half the squared weights (not the biases) times ``weight_decay``."""
    h = x
    for layer in params[:-1]:
        h = np.maximum(h @ layer["W"] + layer["b"], 0.0)
    logits = h @ params[-1]["W"] + params[-1]["b"]
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    cross_entropy = -np.mean(np.take_along_axis(log_probs, y[:, None], axis=1))
    penalty = 0.5 * sum(np.sum(layer["W"] ** 2) for layer in params)
    return cross_entropy + weight_decay * penalty


def logistic_loss(params: dict, x, y, l2: float = 1e-3):
    """logistic_regression.loss: binary cross-entropy of the logits, in its stable form."""
    logits = x @ params["w"] + params["b"]
    bce = np.maximum(logits, 0.0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    return np.mean(bce) + l2 * np.sum(params["w"] ** 2)


def conv3x3_same(x, kernel):
    """A 3x3 convolution with zero padding, NHWC images and HWIO kernels."""
    height, width = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = 0.0
    for i in range(3):
        for j in range(3):
            out = out + padded[:, i : i + height, j : j + width, :] @ kernel[i, j]
    return out


def cnn_loss(params: dict, x, y):
    """train_digits_cnn.loss_fn without dropout: two convolutions, a 2x2 max pool, two
    dense layers, mean softmax cross-entropy."""
    for name in ("conv1", "conv2"):
        x = np.maximum(conv3x3_same(x, params[name]["w"]) + params[name]["b"], 0.0)
    n, height, width, channels = x.shape
    x = np.max(x.reshape(n, height // 2, 2, width // 2, 2, channels), axis=(2, 4))
    x = np.maximum(x.reshape(n, -1) @ params["dense1"]["w"] + params["dense1"]["b"], 0.0)
    logits = x @ params["dense2"]["w"] + params["dense2"]["b"]
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.take_along_axis(log_probs, y[:, None], axis=1))


# -- comparisons ------------------------------------------------------------------------------


def assert_same_gradients(plain, ours, params, *data, per_example: bool = True):
    """The plain program against the example's: value, grad, jit(grad), finite differences
    along a random direction and, with ``per_example``, vmap(grad) over the batch."""
    np.testing.assert_allclose(plain(params, *data), ours(params, *data), rtol=1e-12)
    g = fgrad.grad(plain)(params, *data)
    assert_tree_allclose(g, fgrad.grad(ours)(params, *data), rtol=1e-10, atol=1e-13)
    assert_tree_allclose(fgrad.jit(fgrad.grad(plain))(params, *data), g, rtol=1e-10, atol=1e-13)
    direction = random_like(RNG, params)
    h = 1e-6

    def moved(t):
        return fgrad.tree_map(lambda p, d: p + t * d, params, direction)

    fd = (plain(moved(h), *data) - plain(moved(-h), *data)) / (2 * h)
    np.testing.assert_allclose(tree_vdot(g, direction), fd, rtol=1e-6, atol=1e-9)
    if not per_example:
        return
    batched = fgrad.vmap(fgrad.grad(plain), in_axes=(None,) + (0,) * len(data))(
        params, *(d[:, None] for d in data)
    )
    for i in range(len(data[0])):
        single = fgrad.grad(ours)(params, *(d[i : i + 1] for d in data))
        assert_tree_allclose(fgrad.tree_map(lambda b, i=i: b[i], batched), single, rtol=1e-9)


def digits_like(n: int):
    """Standardised 8x8 'images' and integer labels shaped like scikit-learn's digits."""
    return RNG.standard_normal((n, 64)), RNG.integers(0, 10, n)


def test_train_digits_mlp_objective_in_plain_numpy():
    example = load_example("train_digits")
    params = fgrad.nn.mlp_init(RNG, [64, 32, 10])
    params = fgrad.tree_map(lambda p: p + 0.05 * RNG.standard_normal(p.shape), params)
    x, y = digits_like(6)
    assert_same_gradients(
        lambda p, x, y: mlp_objective(p, x, y, 1e-3),
        lambda p, x, y: example.objective(p, x, y, 1e-3),
        params,
        x,
        y,
    )


def test_logistic_regression_loss_in_plain_numpy():
    example = load_example("logistic_regression")
    params = {"w": 0.3 * RNG.standard_normal(5), "b": np.asarray(0.1)}
    x, y = RNG.standard_normal((7, 5)), RNG.integers(0, 2, 7).astype(float)
    assert_same_gradients(logistic_loss, example.loss, params, x, y)


def test_train_digits_cnn_loss_in_plain_numpy():
    pytest.importorskip("sklearn")  # the example imports train_digits' data loader
    example = load_example("train_digits_cnn")
    params = example.init_params(RNG, (3, 4), 8)
    params = fgrad.tree_map(lambda p: p + 0.05 * RNG.standard_normal(p.shape), params)
    x, y = RNG.standard_normal((3, 8, 8, 1)), RNG.integers(0, 10, 3)
    assert_same_gradients(cnn_loss, example.loss_fn, params, x, y)


def test_pinn_loss_with_fnp_bound_to_numpy():
    """The PINN's residual needs u'' through ``fgrad.jet`` of the plain NumPy network,
    then ``grad`` of that, under ``jit``."""
    plain, ours = load_example("pinn_bvp", plain=True), load_example("pinn_bvp")
    params = ours.init_params(np.random.default_rng(2))
    x = np.linspace(0.0, 1.0, 9)
    assert_same_gradients(plain.loss, ours.loss, params, x, per_example=False)
    # u'' of the plain network against finite differences of its values
    u = plain.network(params, x)
    h = 1e-4
    second = (plain.network(params, x + h) - 2 * u + plain.network(params, x - h)) / h**2
    _, (_, u_xx) = fgrad.jet(lambda t: plain.network(params, t), (x,), ([np.ones(9), np.zeros(9)],))
    np.testing.assert_allclose(u_xx, second, rtol=1e-5, atol=1e-6)


def test_taylor_ode_coefficients_with_fnp_bound_to_numpy():
    """Taylor coefficients of the Kepler flow through ``fgrad.jet`` of a plain NumPy vector
    field: equal to the example's, eager and under jit, and the first ones by hand."""
    plain, ours = load_example("taylor_ode", plain=True), load_example("taylor_ode")
    y0 = ours.initial_state()
    c = plain.taylor_coefficients(plain.kepler, 6)(y0)
    np.testing.assert_allclose(c, ours.taylor_coefficients(ours.kepler, 6)(y0), rtol=1e-12)
    np.testing.assert_allclose(
        fgrad.jit(plain.taylor_coefficients(plain.kepler, 6))(y0), c, rtol=1e-12
    )
    q, p = y0[:2], y0[2:]
    r3 = np.sum(q * q) ** 1.5
    np.testing.assert_allclose(c[1], np.concatenate([p, -q / r3]), rtol=1e-14)
    # y'' = f'(y) f(y): the second coefficient is half of it
    accel = -q / r3
    jac_q = -np.eye(2) / r3 + 3 * np.outer(q, q) / np.sum(q * q) ** 2.5
    np.testing.assert_allclose(c[2], 0.5 * np.concatenate([accel, jac_q @ p]), rtol=1e-12)
