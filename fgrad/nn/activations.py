"""Activation functions, normalisers (softmax, logsumexp) and ``one_hot``.

Every function here is built from ``fgrad.numpy``, so it is differentiable to
any order, works on plain arrays and on tracers, and keeps float32 inputs in
float32. Each is written so that no intermediate overflows for finite inputs:
exponentials are only taken of non-positive numbers (``exp(-|x|)``,
``exp(x - max)``), never of ``x`` itself. Where
a value is chosen with ``where``, both branches are finite at every point, so
derivatives are never ``0 * inf = nan`` (see ``where`` in docs/architecture.md).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad.primitives.special import erfc

Array = Any
"""A NumPy array, a Python scalar or an fgrad tracer."""

__all__ = [
    "gelu",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "one_hot",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
]

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_SQRT_HALF = float(np.sqrt(0.5))


def relu(x: Array) -> Array:
    """Rectified linear unit, ``max(x, 0)``.

    Parameters
    ----------
    x : array_like

    Returns
    -------
    array
        Same shape and dtype as ``x``. The derivative is 1 where ``x > 0`` and 0
        elsewhere, including at 0 (as in JAX and PyTorch). NaN inputs stay NaN.
    """
    x = fnp.asarray(x)
    return fnp.where(x <= 0, 0, x)


def softplus_parts(x: Array) -> tuple[Array, Array]:
    """``relu(x)`` and ``log1p(exp(-|x|))``, whose sum is ``softplus(x)``.

    Kept apart so callers can subtract a term of the size of ``relu(x)`` before
    adding the small tail, which keeps full relative accuracy (binary
    cross-entropy). ``|x|`` is taken from the same branch as ``relu`` so the
    derivative at 0 comes out as ``sigmoid(0) = 1/2``.

    Parameters
    ----------
    x : array

    Returns
    -------
    relu_x, tail : array
        Each of the shape of ``x``.
    """
    positive = x > 0
    return fnp.where(positive, x, 0), fnp.log1p(fnp.exp(-fnp.where(positive, x, -x)))


def softplus(x: Array) -> Array:
    """``log(1 + exp(x))``, computed without overflow.

    Evaluated as ``max(x, 0) + log1p(exp(-|x|))``: exact for large ``|x|``
    (``softplus(1000) == 1000``, ``softplus(-1000) == 0``) and accurate in
    relative terms in the left tail, where it is ``exp(x)``.

    Parameters
    ----------
    x : array_like

    Returns
    -------
    array
        Same shape as ``x``; float dtype of ``x`` kept. Its derivative is
        ``sigmoid(x)``.
    """
    relu_x, tail = softplus_parts(fnp.asarray(x))
    return relu_x + tail


def sigmoid(x: Array) -> Array:
    """The logistic function ``1 / (1 + exp(-x))``, computed without overflow.

    With ``z = exp(-|x|)`` (never above 1), the value is ``1 / (1 + z)`` for
    ``x >= 0`` and ``z / (1 + z)`` for ``x < 0``. Saturated inputs give exactly
    1 and 0 and a derivative of exactly 0; small values in the left tail keep
    their relative accuracy (``sigmoid(-40)`` is ``exp(-40)`` to the last bit,
    not 0).

    Parameters
    ----------
    x : array_like

    Returns
    -------
    array
        Values in ``[0, 1]``, same shape as ``x``; float dtype of ``x`` kept.
    """
    x = fnp.asarray(x)
    nonneg = x >= 0
    z = fnp.exp(fnp.where(nonneg, -x, x))
    return fnp.where(nonneg, 1, z) / (1 + z)


def log_sigmoid(x: Array) -> Array:
    """``log(sigmoid(x)) = -softplus(-x)``, without overflow or ``log(0)``.

    Returns
    -------
    array
        Non-positive values; ``log_sigmoid(-1000) == -1000`` and
        ``log_sigmoid(1000) == 0``. Its derivative is ``sigmoid(-x)``.
    """
    return -softplus(-fnp.asarray(x))


def gelu(x: Array, approximate: bool = True) -> Array:
    """Gaussian error linear unit (Hendrycks and Gimpel).

    With ``approximate=True`` (the default, as ``jax.nn.gelu``):
    ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))``, computed as
    ``x * sigmoid(2 * sqrt(2/pi) * (x + 0.044715 x**3))``, the same function
    written so that the left tail keeps its relative accuracy. (The cube
    overflows, with a warning, only beyond ``|x| ~ 5e102`` in float64 and
    ``|x| ~ 7e12`` in float32.) With ``approximate=False``: the exact
    ``x * Phi(x) = 0.5 * x * erfc(-x / sqrt(2))``, through fgrad's ``erfc``
    primitive, which needs SciPy at call time.

    Parameters
    ----------
    x : array_like
    approximate : bool
        The tanh form (True), within 5e-4 of the exact one, or the exact form.
    """
    x = fnp.asarray(x)
    if not approximate:
        return 0.5 * x * erfc(x * -_SQRT_HALF)
    inner = x + 0.044715 * (x * x * x)
    return x * sigmoid((2 * _SQRT_2_OVER_PI) * inner)


def silu(x: Array) -> Array:
    """Sigmoid linear unit (swish), ``x * sigmoid(x)``.

    Returns
    -------
    array
        Same shape as ``x``; ``silu(-1000) == 0`` with derivative 0.
    """
    x = fnp.asarray(x)
    return x * sigmoid(x)


def _shift_and_normalise(x: Array, axis):
    """The pieces of every softmax-like function along ``axis`` (all kept as reduced axes).

    Returns ``(m, shifted, exp_shifted, total, empty)``: ``m`` is the maximum
    along ``axis`` (0 where that is not finite), held constant for
    differentiation, since the results do not depend on it mathematically;
    ``shifted = x - m`` is at most 0, so ``exp`` cannot overflow; ``total`` is
    the sum of ``exp(shifted)``, at least 1 unless the whole slice is ``-inf``
    (``empty``).
    """
    m = fnp.max(fnp.stop_gradient(x), axis=axis, keepdims=True)
    m = fnp.where(fnp.isfinite(m), m, 0)
    shifted = x - m
    exp_shifted = fnp.exp(shifted)
    total = fnp.sum(exp_shifted, axis=axis, keepdims=True)
    return m, shifted, exp_shifted, total, total <= 0


def logsumexp(x: Array, axis=None, keepdims: bool = False) -> Array:
    """``log(sum(exp(x), axis))``, computed without overflow.

    The maximum along ``axis`` is factored out (and held constant for
    differentiation). A slice that is entirely ``-inf`` gives ``-inf`` with a
    zero derivative, not NaN; ``+inf`` anywhere gives ``+inf``.

    Parameters
    ----------
    x : array_like
    axis : None, int or tuple of ints
        Axes to reduce, as in ``numpy.sum``; None reduces all of them.
    keepdims : bool
        Keep the reduced axes with length 1.

    Returns
    -------
    array
        The reduction, with ``x``'s float dtype. Its derivative is
        ``softmax(x, axis)``.
    """
    x = fnp.asarray(x)
    m, _, _, total, empty = _shift_and_normalise(x, axis)
    out = fnp.where(empty, -np.inf, fnp.log(fnp.where(empty, 1, total))) + m
    return out if keepdims else fnp.squeeze(out, axis=axis)


def log_softmax(x: Array, axis: int | tuple[int, ...] = -1) -> Array:
    """``x - logsumexp(x, axis, keepdims=True)``: log-probabilities, without overflow.

    Parameters
    ----------
    x : array_like
        Logits.
    axis : int or tuple of ints
        The class axis (the last one by default).

    Returns
    -------
    array
        Same shape and float dtype as ``x``; ``log_softmax([1000, -1000])`` is
        ``[0, -2000]`` exactly. A slice that is entirely ``-inf`` (every class
        masked) gives ``-inf`` everywhere, with finite derivatives.
    """
    x = fnp.asarray(x)
    _, shifted, _, total, empty = _shift_and_normalise(x, axis)
    return shifted - fnp.log(fnp.where(empty, 1, total))


def softmax(x: Array, axis: int | tuple[int, ...] = -1) -> Array:
    """``exp(x) / sum(exp(x), axis)``: probabilities along ``axis``, without overflow.

    Parameters
    ----------
    x : array_like
        Logits.
    axis : int or tuple of ints
        The class axis (the last one by default).

    Returns
    -------
    array
        Same shape and float dtype as ``x``, summing to 1 along ``axis``;
        ``softmax([1000, -1000])`` is ``[1, 0]`` exactly. A slice that is
        entirely ``-inf`` (every class masked) gives zeros there, not NaN.
    """
    x = fnp.asarray(x)
    _, _, exp_shifted, total, empty = _shift_and_normalise(x, axis)
    return exp_shifted / fnp.where(empty, 1, total)


def one_hot(labels: Array, num_classes: int, dtype=np.float64) -> Array:
    """Integer class labels as one-hot rows: ``out[..., k] = (labels[...] == k)``.

    Parameters
    ----------
    labels : array_like of int
        Any shape.
    num_classes : int
        Length of the new last axis.
    dtype : dtype
        Of the result (float64 by default; ``bool`` gives a mask).

    Returns
    -------
    array
        Shape ``labels.shape + (num_classes,)``. A label outside
        ``[0, num_classes)`` gives a row of zeros, as in JAX.

    Raises
    ------
    TypeError
        If ``labels`` are not integers.
    """
    labels = fnp.asarray(labels)
    num_classes = operator.index(num_classes)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"one_hot: labels must be integer class indices, got dtype {labels.dtype}; "
            "convert them with labels.astype(int) if they hold whole numbers"
        )
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be non-negative, got {num_classes}")
    mask = fnp.expand_dims(labels, -1) == fnp.arange(num_classes, like=labels)
    return fnp.astype(mask, dtype)
