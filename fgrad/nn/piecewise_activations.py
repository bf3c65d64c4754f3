"""The rest of ``jax.nn``'s activations: the ELU family, the leaky and clipped ReLUs,
the "hard" piecewise-linear approximations, and a few smooth ones (``mish``,
``soft_sign``, ``squareplus``, ``glu``, ``sparse_plus``, ``sparse_sigmoid``), plus
``standardize``, ``log1mexp`` and ``logmeanexp``.

As in :mod:`fgrad.nn.activations`, each is written with ``fgrad.numpy`` (so every
transform differentiates it), keeps float32 in float32, and never evaluates an
exponential of a positive number: the ELU family takes ``expm1`` of ``min(x, 0)``, so
neither branch of its ``where`` overflows and derivatives stay finite at any input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad.nn.activations import logsumexp, sigmoid, silu, softplus

Array = Any
"""A NumPy array, a Python scalar or an fgrad tracer."""

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def elu(x: Array, alpha: float = 1.0) -> Array:
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""
    x = fnp.asarray(x)
    return fnp.where(x > 0, x, alpha * fnp.expm1(fnp.minimum(x, 0)))


def celu(x: Array, alpha: float = 1.0) -> Array:
    """Continuously differentiable ELU: ``alpha * (exp(x / alpha) - 1)`` for ``x <= 0``."""
    x = fnp.asarray(x)
    return fnp.where(x > 0, x, alpha * fnp.expm1(fnp.minimum(x, 0) / alpha))


def selu(x: Array) -> Array:
    """Scaled ELU (Klambauer et al.), with its fixed ``alpha`` and ``scale``."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise."""
    x = fnp.asarray(x)
    return fnp.where(x >= 0, x, negative_slope * x)


def relu6(x: Array) -> Array:
    """ReLU capped at 6: ``min(max(x, 0), 6)``."""
    return fnp.clip(fnp.asarray(x), 0, 6)


def hard_tanh(x: Array) -> Array:
    """``x`` clipped to ``[-1, 1]``."""
    return fnp.clip(fnp.asarray(x), -1, 1)


def hard_sigmoid(x: Array) -> Array:
    """The piecewise-linear sigmoid ``relu6(x + 3) / 6``."""
    return relu6(fnp.asarray(x) + 3) / 6


def hard_silu(x: Array) -> Array:
    """The piecewise version of ``silu``: ``x * hard_sigmoid(x)`` (also ``hard_swish``)."""
    x = fnp.asarray(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu
swish = silu


def soft_sign(x: Array) -> Array:
    """``x / (1 + |x|)``."""
    x = fnp.asarray(x)
    return x / (1 + fnp.abs(x))


def squareplus(x: Array, b: float = 4) -> Array:
    """A smooth ReLU, ``(x + sqrt(x**2 + b)) / 2``."""
    x = fnp.asarray(x)
    return (x + fnp.sqrt(fnp.square(x) + b)) / 2


def mish(x: Array) -> Array:
    """``x * tanh(softplus(x))`` (Misra)."""
    x = fnp.asarray(x)
    return x * fnp.tanh(softplus(x))


def glu(x: Array, axis: int = -1) -> Array:
    """Gated linear unit: the first half of ``x`` along ``axis`` times the sigmoid of the
    second half."""
    a, b = fnp.split(fnp.asarray(x), 2, axis=axis)
    return a * sigmoid(b)


def identity(x: Array) -> Array:
    """``x`` itself."""
    return fnp.asarray(x)


def tanh(x: Array) -> Array:
    """``fgrad.numpy.tanh``, under ``jax.nn``'s name."""
    return fnp.tanh(x)


def standardize(
    x: Array,
    axis: int | tuple[int, ...] = -1,
    mean: Array | None = None,
    variance: Array | None = None,
    epsilon: float = 1e-5,
) -> Array:
    """``(x - mean) / sqrt(variance + epsilon)`` along ``axis``.

    ``mean`` and ``variance`` default to the statistics of ``x`` along ``axis``
    (the variance as the mean squared deviation, which stays accurate when the mean is
    large, where JAX's default subtracts squared means).
    """
    x = fnp.asarray(x)
    if mean is None:
        mean = fnp.mean(x, axis=axis, keepdims=True)
    if variance is None:
        variance = fnp.mean(fnp.square(x - mean), axis=axis, keepdims=True)
    return (x - mean) / fnp.sqrt(variance + epsilon)


def sparse_plus(x: Any) -> Any:
    """A smooth ReLU with compact curvature: 0 below -1, ``(x + 1)^2 / 4`` on ``[-1, 1]``,
    ``x`` above 1 (``jax.nn.sparse_plus``)."""
    x = fnp.asarray(x)
    return fnp.where(x <= -1, fnp.zeros_like(x), fnp.where(x >= 1, x, (x + 1) ** 2 / 4))


def sparse_sigmoid(x: Any) -> Any:
    """The derivative of :func:`sparse_plus`: 0 below -1, ``(x + 1) / 2`` on ``[-1, 1]``,
    1 above (``jax.nn.sparse_sigmoid``)."""
    x = fnp.asarray(x)
    return fnp.clip((x + 1) / 2, 0, 1)


def log1mexp(x: Any) -> Any:
    """``log(1 - exp(-x))`` for ``x >= 0``, accurate at both ends (``jax.nn.log1mexp``):
    ``log(-expm1(-x))`` near 0, ``log1p(-exp(-x))`` beyond ``log 2``."""
    x = fnp.asarray(x)
    log2 = float(np.log(2.0))  # a Python float: float32 inputs stay float32
    far = x > log2
    near_x = fnp.where(far, log2, x)  # each branch sees only its own inputs
    far_x = fnp.where(far, x, 1.0)
    return fnp.where(far, fnp.log1p(-fnp.exp(-far_x)), fnp.log(-fnp.expm1(-near_x)))


def logmeanexp(x: Any, axis=None, where=None, keepdims: bool = False) -> Any:
    """``log(mean(exp(x), axis))`` without overflow (``jax.nn.logmeanexp``); ``where``
    selects the entries that count."""
    x = fnp.asarray(x)
    if where is None:
        n = x.size if axis is None else np.prod([x.shape[a] for a in np.atleast_1d(axis)])
        return logsumexp(x, axis=axis, keepdims=keepdims) - math.log(n)
    x = fnp.where(where, x, -fnp.inf)
    n = fnp.sum(fnp.broadcast_to(where, x.shape), axis=axis, keepdims=keepdims)
    return logsumexp(x, axis=axis, keepdims=keepdims) - fnp.log(n)


__all__ = [
    "celu",
    "elu",
    "glu",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "identity",
    "leaky_relu",
    "log1mexp",
    "logmeanexp",
    "mish",
    "relu6",
    "selu",
    "soft_sign",
    "sparse_plus",
    "sparse_sigmoid",
    "squareplus",
    "standardize",
    "swish",
    "tanh",
]
