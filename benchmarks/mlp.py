"""The MLP shared by ``mlp_small``, ``mlp_large`` and ``erm_epoch``: init, forward, losses,
hand backward.

The workloads are the same network family with a different size, dtype, hidden activation
(tanh, or ReLU for ``erm_epoch``) and loss, so the model is written once here.  The forward
pass and losses take the array namespace ``xp`` so the very same code runs under NumPy,
autograd, JAX, torch (via an adapter) and fgrad.  The backward pass is derived and written by
hand in NumPy; it is the correctness reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from harness import Problem

Params = list[dict[str, np.ndarray]]
"""One ``{"W": (fan_in, fan_out), "b": (fan_out,)}`` dict per layer, input to output."""


def init_params(sizes: Sequence[int], dtype: np.dtype, rng: np.random.Generator) -> Params:
    """Scaled-normal weights (variance 1/fan_in, keeps tanh out of saturation) and small
    random biases (non-zero so a wrong bias gradient cannot hide)."""
    return [
        {
            "W": (rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype),
            "b": (0.1 * rng.standard_normal(n)).astype(dtype),
        }
        for m, n in zip(sizes[:-1], sizes[1:])
    ]


ACTIVATIONS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[np.ndarray], Any]]] = {
    "tanh": (lambda xp, a: xp.tanh(a), lambda h: 1 - h * h),
    "relu": (lambda xp, a: xp.maximum(a, 0.0), lambda h: h > 0),
}
"""Hidden activation name -> (``act(xp, a)``, its derivative written in terms of its output
``h = act(a)``, for the hand-written backward pass)."""


def forward(xp: Any, params: Params, x: Any, activation: str = "tanh") -> Any:
    """``activation`` on every hidden layer, linear output layer."""
    act = ACTIVATIONS[activation][0]
    h = x
    for layer in params[:-1]:
        h = act(xp, h @ layer["W"] + layer["b"])
    return h @ params[-1]["W"] + params[-1]["b"]


def mse_loss(xp: Any, params: Params, x: Any, y: Any) -> Any:
    """Mean squared error over every output entry."""
    err = forward(xp, params, x) - y
    return xp.mean(err * err)


def softmax_cross_entropy_loss(
    xp: Any, params: Params, x: Any, onehot: Any, activation: str = "tanh"
) -> Any:
    """Mean softmax cross-entropy with a numerically stable log-softmax.

    Subtracting the row max keeps ``exp`` from overflowing; its gradient cancels exactly
    (softmax sums to one), so no stop-gradient is needed and every framework can run it.
    Labels are one-hot so no framework needs integer gather support.
    """
    logits = forward(xp, params, x, activation)
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_probs = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return -xp.mean(xp.sum(onehot * log_probs, axis=1))


# ---------------------------------------------------------------------------------------------
# Hand-written backward pass (the reference)
# ---------------------------------------------------------------------------------------------


def _hand_backward(
    params: Params,
    acts: list[np.ndarray],
    dout: np.ndarray,
    activation: str = "tanh",
    per_example: bool = False,
) -> Params:
    """Backprop ``dout = dL/d(logits)`` through the layers.

    ``acts[i]`` is the input of layer ``i`` (``acts[0] = x``, later ones are activation
    outputs).  For ``a = h @ W + b``: ``dW = h.T @ da``, ``db = sum_batch(da)``,
    ``dh = da @ W.T``; and through ``h = act(a_prev)``: ``da_prev = dh * act'``, with
    ``act' = 1 - h**2`` for tanh and ``h > 0`` for ReLU.  ``per_example``: one gradient per
    row instead of their sum, ``dW[k] = outer(h[k], da[k])`` and ``db[k] = da[k]``.
    """
    dact = ACTIVATIONS[activation][1]
    grads: Params = [{} for _ in params]
    d = dout
    for i in range(len(params) - 1, -1, -1):
        h = acts[i]
        if per_example:
            grads[i] = {"W": np.einsum("ki,kj->kij", h, d), "b": d}
        else:
            grads[i] = {"W": h.T @ d, "b": d.sum(axis=0)}
        if i:
            d = (d @ params[i]["W"].T) * dact(h)
    return grads


def _hand_forward(
    params: Params, x: np.ndarray, activation: str = "tanh"
) -> tuple[np.ndarray, list[np.ndarray]]:
    act = ACTIVATIONS[activation][0]
    acts = [x]
    for layer in params[:-1]:
        acts.append(act(np, acts[-1] @ layer["W"] + layer["b"]))
    return acts[-1] @ params[-1]["W"] + params[-1]["b"], acts


def hand_mse(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[Any, Params]:
    """Loss and grads of :func:`mse_loss`: ``dL/dout = 2 (out - y) / out.size``."""
    out, acts = _hand_forward(params, x)
    err = out - y
    return np.mean(err * err), _hand_backward(params, acts, err * (2 / err.size))


def hand_mse_per_example(params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """The gradient of :func:`mse_loss` on each row alone (a batch of one), stacked:
    ``dL_k/dout_k = 2 (out_k - y_k) / out_k.size``."""
    out, acts = _hand_forward(params, x)
    err = out - y
    return _hand_backward(params, acts, err * (2 / err.shape[1]), per_example=True)


def hand_softmax_cross_entropy(
    params: Params, x: np.ndarray, onehot: np.ndarray, activation: str = "tanh"
) -> tuple[Any, Params]:
    """Loss and grads of :func:`softmax_cross_entropy_loss`:
    ``dL/dlogits = (softmax(logits) - onehot) / batch``."""
    logits, acts = _hand_forward(params, x, activation)
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(onehot * (z - np.log(s)), axis=1))
    return loss, _hand_backward(params, acts, (e / s - onehot) * (1 / len(x)), activation)


# ---------------------------------------------------------------------------------------------
# Problem builders
# ---------------------------------------------------------------------------------------------

LOSSES: dict[str, tuple[Callable[..., Any], Callable[..., tuple[Any, Params]]]] = {
    "mse": (mse_loss, hand_mse),
    "softmax_xent": (softmax_cross_entropy_loss, hand_softmax_cross_entropy),
}


def make_problem(
    sizes: Sequence[int], batch: int, dtype: type, loss: str, lr: float, seed: int = 0
) -> Problem:
    """An MLP training-step problem with deterministic synthetic data.

    ``mse``: a smooth regression target; ``softmax_xent``: uniform "pixels" in [0, 1) with
    random one-hot labels over ``sizes[-1]`` classes.
    """
    rng = np.random.default_rng(seed)
    params = init_params(sizes, np.dtype(dtype), rng)
    if loss == "mse":
        x = rng.standard_normal((batch, sizes[0]))
        y = np.sin(x.sum(axis=1, keepdims=True)) * np.ones((1, sizes[-1]))
    else:
        x = rng.random((batch, sizes[0]))
        y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], size=batch)]
    loss_fn, hand = LOSSES[loss]
    return Problem(
        loss=loss_fn,
        params=params,
        data=(x.astype(dtype), y.astype(dtype)),
        hand_value_and_grad=hand,
        lr=lr,
    )
