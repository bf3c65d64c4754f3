"""Loss functions and the L2 penalty, stable and differentiable to any order.

Every loss takes ``reduction``: ``"mean"`` (the default) averages the
per-example losses, ``"sum"`` adds them, ``"none"`` returns them unreduced.
Targets are converted to the dtype of the predictions, so float32 predictions
give a float32 loss and float32 gradients even with float64 (or integer)
targets. Predictions and targets must have matching shapes: silently
broadcasting ``(n, 1)`` against ``(n,)`` would compare every prediction with
every target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.backend import device_get
from fgrad.core.pytree import tree_leaves
from fgrad.core.tracer import known_value
from fgrad.nn.activations import log_softmax, one_hot, relu, softplus_parts

Array = Any
"""A NumPy array, a Python scalar or an fgrad tracer."""

__all__ = [
    "hinge",
    "l2_penalty",
    "mean_squared_error",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, fn: str) -> None:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(losses: Array, reduction: str) -> Array:
    if reduction == "mean":
        return fnp.mean(losses)
    if reduction == "sum":
        return fnp.sum(losses)
    return losses


def _as_float(x: Array) -> Array:
    """``x`` as an array of a float dtype (integers become float64)."""
    x = fnp.asarray(x)
    return x if x.dtype.kind == "f" else fnp.astype(x, np.float64)


def _host_values(x: Array) -> np.ndarray | None:
    """The values of ``x`` when they are known (always, except under ``make_jaxpr``)."""
    x = known_value(x)
    return None if x is None else device_get(x)  # a host copy, for validating labels


def _targets_like(predictions: Array, targets: Array, fn: str, what: str) -> Array:
    """``targets`` in the dtype of ``predictions``, after checking that their shapes match."""
    targets = fnp.asarray(targets)
    if targets.shape != predictions.shape:
        raise ValueError(
            f"{fn}: {what} of shape {targets.shape} do not match the predictions' shape "
            f"{predictions.shape}; reshape one of them (broadcasting would silently compare "
            "every prediction with every target)"
        )
    return fnp.astype(targets, predictions.dtype)


def softmax_cross_entropy(logits: Array, labels: Array, reduction: str = "mean") -> Array:
    """Cross-entropy between ``softmax(logits)`` and the labels, over the last axis.

    Computed from ``log_softmax``, so it never overflows: logits of +-1000 give
    exact losses and the exact gradient ``softmax(logits) - labels``.

    Parameters
    ----------
    logits : array_like, shape (..., num_classes)
    labels : array_like
        Either integer class indices of shape ``logits.shape[:-1]``, or rows of
        class probabilities (one-hot or soft labels) of shape ``logits.shape``.
        The kind is told apart by dtype and number of dimensions. A class whose
        probability is 0 contributes nothing, even where its logit is ``-inf``
        (a masked class).
    reduction : {"mean", "sum", "none"}
        How the per-example losses (shape ``logits.shape[:-1]``) are combined.

    Returns
    -------
    array
        The loss, with the logits' float dtype.

    Raises
    ------
    ValueError
        For shapes that fit neither kind of labels, class indices out of range,
        or an unknown ``reduction``. Indices are checked where their values are
        known (eagerly, under ``grad``/``jvp``); under ``jit``, ``vmap`` and
        ``make_jaxpr`` an index out of range gives a NaN loss instead.
    """
    fn = "softmax_cross_entropy"
    _check_reduction(reduction, fn)
    logits, labels = _as_float(logits), fnp.asarray(labels)
    if logits.ndim == 0:
        raise ValueError(f"{fn}: logits must have a class axis (the last one), got a scalar")
    num_classes = logits.shape[-1]
    log_p = log_softmax(logits, axis=-1)
    if labels.dtype.kind in "iu" and labels.ndim == logits.ndim - 1:
        if labels.shape != logits.shape[:-1]:
            raise ValueError(
                f"{fn}: integer labels of shape {labels.shape} do not match the logits' "
                f"batch shape {logits.shape[:-1]} (logits have shape {logits.shape})"
            )
        _check_classes(labels, num_classes, fn)
        picked = fnp.where(one_hot(labels, num_classes, dtype=bool), log_p, 0)
        # where the indices could not be checked (jit, vmap), an out-of-range one gives
        # NaN, not the zero loss of its all-zero one-hot row
        outside = fnp.logical_or(labels < 0, labels >= num_classes)
        nan_outside = fnp.astype(fnp.where(outside, np.nan, 0), log_p.dtype)
        return _reduce(nan_outside - fnp.sum(picked, axis=-1), reduction)
    if labels.ndim == logits.ndim:
        labels = _targets_like(logits, labels, fn, "label probabilities")
        # 0 * log_p must be 0 where a masked class has log_p = -inf; replacing log_p
        # there (not the product) keeps both branches finite for the derivatives.
        masked = fnp.logical_and(labels == 0, log_p == -np.inf)
        return _reduce(-fnp.sum(labels * fnp.where(masked, 0, log_p), axis=-1), reduction)
    raise ValueError(
        f"{fn}: labels of shape {labels.shape} and dtype {labels.dtype} fit neither integer "
        f"class indices of shape {logits.shape[:-1]} nor probability rows of shape "
        f"{logits.shape} (logits have shape {logits.shape})"
    )


def sigmoid_binary_cross_entropy(logits: Array, labels: Array, reduction: str = "mean") -> Array:
    """Binary cross-entropy of ``sigmoid(logits)`` against labels in ``[0, 1]``.

    Computed as ``max(x, 0) - x * y + log1p(exp(-|x|))`` from the logits ``x``,
    never from ``sigmoid(x)``, so it neither overflows nor takes ``log(0)``:
    logits of +-1000 give exact losses and the exact gradient
    ``sigmoid(x) - y``.

    Parameters
    ----------
    logits : array_like
    labels : array_like
        Same shape as ``logits``: 0/1 (or boolean) targets, or probabilities.
    reduction : {"mean", "sum", "none"}
        How the elementwise losses are combined.

    Returns
    -------
    array
        The loss, with the logits' float dtype.
    """
    fn = "sigmoid_binary_cross_entropy"
    _check_reduction(reduction, fn)
    logits = _as_float(logits)
    labels = _targets_like(logits, labels, fn, "labels")
    relu_x, tail = softplus_parts(logits)
    return _reduce((relu_x - logits * labels) + tail, reduction)


def mean_squared_error(predictions: Array, targets: Array, reduction: str = "mean") -> Array:
    """Squared error ``(predictions - targets) ** 2``, elementwise, then reduced.

    Parameters
    ----------
    predictions, targets : array_like
        Same shape.
    reduction : {"mean", "sum", "none"}
        ``"mean"`` averages over every element (not only over the first axis).

    Returns
    -------
    array
        The loss, with the predictions' float dtype.
    """
    fn = "mean_squared_error"
    _check_reduction(reduction, fn)
    predictions = _as_float(predictions)
    diff = predictions - _targets_like(predictions, targets, fn, "targets")
    return _reduce(diff * diff, reduction)


def hinge(scores: Array, labels: Array, reduction: str = "mean") -> Array:
    """Hinge loss ``max(0, 1 - y * s)`` of scores ``s`` against labels ``y`` in {-1, +1}.

    Parameters
    ----------
    scores : array_like
    labels : array_like
        Same shape as ``scores``, with values in {-1, +1}, or in {0, 1}: a label
        0 counts as -1, by the same ``where`` in every mode, so ``jit``, ``vmap``
        and ``grad`` give the eager loss. The values are checked only where they
        are known (eagerly, under ``grad``/``jvp``); under ``jit``, ``vmap`` and
        ``make_jaxpr`` other values enter the formula unchecked.
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    array
        The loss, with the scores' float dtype. The derivative at the kink
        ``y * s == 1`` is taken as 0.

    Raises
    ------
    ValueError
        For labels with other values (where they are known), mismatched shapes
        or an unknown ``reduction``.
    """
    fn = "hinge"
    _check_reduction(reduction, fn)
    scores = _as_float(scores)
    labels = _targets_like(scores, labels, fn, "labels")
    _check_signs(labels, fn)
    # the same formula at every label value: 0 counts as -1, whether or not the values
    # are known now (under jit and vmap they are not)
    labels = fnp.where(labels == 0, -1, labels)
    return _reduce(relu(1 - labels * scores), reduction)


def _check_classes(labels: Array, num_classes: int, fn: str) -> None:
    """Refuse class indices outside ``[0, num_classes)``, where their values are known."""
    values = _host_values(labels)
    if values is not None and values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(
            f"{fn}: class indices must lie in [0, {num_classes}), got values from "
            f"{values.min()} to {values.max()}"
        )


def _check_signs(labels: Array, fn: str) -> None:
    """Refuse hinge labels other than -1/+1 or 0/1, where their values are known."""
    values = _host_values(labels)
    if values is not None:
        seen = set(np.unique(values).tolist())
        if not (seen <= {-1, 1} or seen <= {0, 1}):
            raise ValueError(
                f"{fn}: labels must be -1/+1 (or 0/1), got the values {sorted(seen)[:10]}"
            )


def l2_penalty(params: Any) -> Array:
    """Half the sum of squares of every leaf of a pytree: ``0.5 * sum(p ** 2)``.

    Multiply by a weight-decay coefficient and add it to a loss; its gradient
    is the parameters themselves. Every leaf counts, biases included: pass a
    sub-tree (``[layer["W"] for layer in params]``) to penalise only some.

    Parameters
    ----------
    params : pytree of arrays

    Returns
    -------
    scalar
        ``0.0`` for a tree without leaves; otherwise the leaves' (promoted)
        float dtype.
    """
    total = 0.0
    for leaf in tree_leaves(params):
        leaf = fnp.asarray(leaf)
        total = total + fnp.sum(leaf * leaf)
    return 0.5 * total
