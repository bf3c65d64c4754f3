"""A multilayer perceptron as two pure functions: parameters in, parameters or logits out.

The parameters are a plain pytree, a list with one ``{"W": (in, out), "b":
(out,)}`` dict per layer, so ``fgrad.grad`` returns gradients of the same
shape and ``fgrad.optim`` updates them directly.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad.nn.generator_init import check_rng, glorot_uniform, zeros

__all__ = ["mlp_apply", "mlp_init"]

Array = Any
"""A NumPy array, a Python scalar or an fgrad tracer."""

Initializer = Callable[[np.random.Generator, tuple[int, ...], Any], np.ndarray]
"""``init(rng, shape, dtype) -> array``, as :func:`fgrad.nn.glorot_uniform`."""


def mlp_init(
    rng: np.random.Generator,
    sizes: Sequence[int],
    dtype=np.float64,
    init: Initializer = glorot_uniform,
) -> list[dict[str, np.ndarray]]:
    """Parameters of a dense network with layer widths ``sizes``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Weights are drawn from it layer by layer, so a seed fixes the network.
    sizes : sequence of int
        ``[n_inputs, hidden_1, ..., n_outputs]``: at least two positive widths.
    dtype : floating dtype
        Of every weight and bias.
    init : callable
        ``init(rng, (n_in, n_out), dtype)`` for the weights; biases start at 0.

    Returns
    -------
    list of dict
        ``len(sizes) - 1`` layers, each ``{"W": (n_in, n_out), "b": (n_out,)}``.
    """
    check_rng(rng, "mlp_init")
    sizes = [operator.index(s) for s in sizes]
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(
            f"mlp_init: sizes must be at least two positive widths [n_inputs, ..., n_outputs], "
            f"got {sizes}"
        )
    return [
        {"W": init(rng, (n_in, n_out), dtype), "b": zeros((n_out,), dtype)}
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]


def mlp_apply(
    params: Sequence[dict[str, Array]],
    x: Array,
    activation: Callable[[Array], Array] = fnp.tanh,
) -> Array:
    """Run the network: ``activation(x @ W + b)`` for every layer but the last.

    Parameters
    ----------
    params : list of dict
        As returned by :func:`mlp_init` (or gradients/updates of it).
    x : array_like, shape (..., n_inputs)
        A batch of inputs (or a single one).
    activation : callable
        Applied after every hidden layer (``fnp.tanh``, ``fgrad.nn.relu``, ...).

    Returns
    -------
    array, shape (..., n_outputs)
        The last layer's pre-activation: logits, to feed to a loss such as
        :func:`fgrad.nn.softmax_cross_entropy`, which applies the softmax itself.
    """
    if len(params) == 0:
        raise ValueError("mlp_apply: params has no layers; create them with mlp_init")
    h = fnp.asarray(x)
    for layer in params[:-1]:
        h = activation(fnp.matmul(h, layer["W"]) + layer["b"])
    last = params[-1]
    return fnp.matmul(h, last["W"]) + last["b"]
