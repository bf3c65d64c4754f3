"""Summaries of samples: ``mode``, ``rankdata``, ``sem`` (``scipy.stats``' functions).

``mode`` and ``rankdata`` compare every pair of entries along the axis (``n^2``
comparisons, no sorting), so they trace under ``jit`` and batch under ``vmap``;
``sem`` is differentiable.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api


class ModeResult(NamedTuple):
    """The most frequent value along an axis and how often it occurs."""

    mode: object
    count: object


def _last(a, axis):
    """``a`` with ``axis`` moved last (``axis=None``: flattened)."""
    a = fnp.asarray(a)
    return fnp.ravel(a) if axis is None else fnp.moveaxis(a, axis, -1)


def mode(a, axis: int | None = 0, nan_policy: str = "propagate", keepdims: bool = False):
    """The smallest most frequent value along ``axis`` and its count (``scipy.stats.mode``).

    Parameters
    ----------
    a
        The sample.
    axis
        The axis (``None``: all entries).
    nan_policy
        Only ``"propagate"``.
    keepdims
        Keep the reduced axis with length one.

    Returns
    -------
    ModeResult
        ``(mode, count)``.
    """
    if nan_policy != "propagate":
        raise NotImplementedError("mode: only nan_policy='propagate' is supported")
    x = fnp.sort(_last(a, axis), axis=-1)
    counts = fnp.sum(x[..., :, None] == x[..., None, :], axis=-1)
    best = fnp.argmax(counts, axis=-1)[..., None]  # first maximum: the smallest value
    value = fnp.take_along_axis(x, best, axis=-1)[..., 0]
    count = fnp.take_along_axis(counts, best, axis=-1)[..., 0]
    if keepdims:
        where = 0 if axis is None else axis
        value, count = fnp.expand_dims(value, where), fnp.expand_dims(count, where)
        if axis is None:
            shape = (1,) * fnp.ndim(a)
            value, count = fnp.reshape(value, shape), fnp.reshape(count, shape)
    return ModeResult(value, count)


def rankdata(a, method: str = "average", *, axis: int | None = None,
             nan_policy: str = "propagate"):
    """Ranks from 1 of the entries along ``axis`` (``scipy.stats.rankdata``).

    Parameters
    ----------
    a
        The data.
    method
        How ties are ranked: ``"average"``, ``"min"``, ``"max"``, ``"dense"`` or
        ``"ordinal"`` (in order of appearance).
    axis
        The axis (``None``: the flattened data).
    nan_policy
        Only ``"propagate"``.

    Returns
    -------
    array
        float64 for ``"average"``, integers otherwise, as SciPy.
    """
    if nan_policy != "propagate":
        raise NotImplementedError("rankdata: only nan_policy='propagate' is supported")
    x = _last(a, axis)
    left, right = x[..., :, None], x[..., None, :]
    below = fnp.sum(right < left, axis=-1)
    ties = fnp.sum(right == left, axis=-1)
    if method == "average":
        ranks = below + (ties + 1) / 2.0
    elif method == "min":
        ranks = below + 1
    elif method == "max":
        ranks = below + ties
    elif method == "ordinal":
        n = x.shape[-1]
        earlier = np.tril(np.ones((n, n), bool), -1)  # earlier[i, j]: j comes before i
        ranks = below + fnp.sum((right == left) & earlier, axis=-1) + 1
    elif method == "dense":
        first = fnp.sum((right == left) & np.tril(np.ones((x.shape[-1],) * 2, bool), -1),
                        axis=-1) == 0  # the first occurrence of each value
        ranks = fnp.sum((right < left) & first[..., None, :], axis=-1) + 1
    else:
        raise ValueError(
            f"rankdata: unknown method {method!r}; use average, min, max, dense or ordinal"
        )
    return ranks if axis is None else fnp.moveaxis(ranks, -1, axis)


def sem(a, axis: int | None = 0, ddof: int = 1, nan_policy: str = "propagate", *,
        keepdims: bool = False):
    """The standard error of the mean, ``std(a, ddof) / sqrt(n)`` (``scipy.stats.sem``).

    Parameters
    ----------
    a
        The sample.
    axis
        The axis (``None``: all entries).
    ddof
        Delta degrees of freedom of the standard deviation.
    nan_policy
        ``"propagate"``, or ``"omit"`` to ignore NaNs.
    keepdims
        Keep the reduced axis with length one.

    Returns
    -------
    array
    """
    x = fnp.asarray(a)
    if nan_policy == "omit":
        n = fnp.sum(~fnp.isnan(x), axis=axis, keepdims=keepdims)
        return fnp.nanstd(x, axis=axis, ddof=ddof, keepdims=keepdims) / fnp.sqrt(n)
    if nan_policy != "propagate":
        raise NotImplementedError("sem: nan_policy must be 'propagate' or 'omit'")
    n = x.size if axis is None else x.shape[axis]
    return fnp.std(x, axis=axis, ddof=ddof, keepdims=keepdims) / math.sqrt(n)


__all__ = ["ModeResult", "mode", "rankdata", "sem"]

public_api(globals(), ["mode", "rankdata", "sem"])
