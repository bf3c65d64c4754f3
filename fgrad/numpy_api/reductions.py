"""Reductions with NumPy's ``axis``/``keepdims``/``dtype``: sum, mean, var, std, max, min, ..."""

from __future__ import annotations

import operator

import numpy as np

from fgrad.core.primitive import bind
from fgrad.numpy_api.creation import as_array, astype
from fgrad.primitives import reductions as red
from fgrad.primitives.elementwise import sqrt


def normalize_axes(axis, ndim: int, fn: str) -> tuple[int, ...]:
    """NumPy's ``axis`` (None, int or tuple, negatives allowed) as sorted non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(
                f"{fn}: axis {a} is out of bounds for an array of dimension {ndim}"
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: duplicate value in 'axis': {axis}")
    return tuple(sorted(out))


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def sum(a, axis=None, dtype=None, keepdims: bool = False):  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (``numpy.sum``)."""
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    return red.reduce_sum(a, normalize_axes(axis, a.ndim, "sum"), keepdims)


def mean(a, axis=None, dtype=None, keepdims: bool = False):
    """Arithmetic mean over ``axis`` (``numpy.mean``); integers average in float64."""
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    axes = normalize_axes(axis, a.ndim, "mean")
    return red.reduce_sum(a, axes, keepdims) / _count(a.shape, axes)


def var(a, axis=None, dtype=None, ddof: int = 0, keepdims: bool = False):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom (``numpy.var``)."""
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    axes = normalize_axes(axis, a.ndim, "var")
    centred = a - mean(a, axes, keepdims=True)
    return red.reduce_sum(centred * centred, axes, keepdims) / (_count(a.shape, axes) - ddof)


def std(a, axis=None, dtype=None, ddof: int = 0, keepdims: bool = False):
    """Standard deviation over ``axis`` (``numpy.std``)."""
    return sqrt(var(a, axis, dtype, ddof, keepdims))


def max(a, axis=None, keepdims: bool = False):  # noqa: A001 - NumPy's name
    """Maximum over ``axis``; tied maxima share the derivative equally."""
    a = as_array(a)
    return red.reduce_max(a, normalize_axes(axis, a.ndim, "max"), keepdims)


def min(a, axis=None, keepdims: bool = False):  # noqa: A001 - NumPy's name
    """Minimum over ``axis``; tied minima share the derivative equally."""
    a = as_array(a)
    return red.reduce_min(a, normalize_axes(axis, a.ndim, "min"), keepdims)


amax = max
amin = min


def _arg_axis(a, axis, fn: str) -> int | None:
    return None if axis is None else normalize_axes(axis, a.ndim, fn)[0]


def argmax(a, axis=None, keepdims: bool = False):
    """Index of the maximum (``numpy.argmax``); an integer result with no derivative."""
    a = as_array(a)
    return bind(red.argmax_p, a, axis=_arg_axis(a, axis, "argmax"), keepdims=keepdims)


def argmin(a, axis=None, keepdims: bool = False):
    """Index of the minimum (``numpy.argmin``); an integer result with no derivative."""
    a = as_array(a)
    return bind(red.argmin_p, a, axis=_arg_axis(a, axis, "argmin"), keepdims=keepdims)

__all__ = [
    "amax",
    "amin",
    "argmax",
    "argmin",
    "max",
    "mean",
    "min",
    "std",
    "sum",
    "var",
]
