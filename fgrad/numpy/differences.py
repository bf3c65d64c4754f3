"""Finite differences and integrals: ``diff``, ``ediff1d``, ``gradient``, ``trapezoid``,
``cumulative_sum``, ``cumulative_prod``, ``unwrap``.

All are slices, subtractions and sums of the input, so they are linear (or, for
``cumulative_prod`` and ``unwrap``, composed of differentiable pieces).
"""

from __future__ import annotations

import numpy as np

from fgrad.numpy import reductions as red
from fgrad.numpy.conversion import as_array, asarray, check_no_out
from fgrad.numpy.creation import full
from fgrad.numpy.manipulation import broadcast_to, concatenate, moveaxis, ravel, reshape
from fgrad.numpy.ufuncs import remainder, where


def _slice(a, axis: int, s: slice):
    index = [slice(None)] * a.ndim
    index[axis] = s
    return a[tuple(index)]


def diff(a, n: int = 1, axis: int = -1, prepend=None, append=None):
    """The ``n``-th discrete difference along ``axis`` (``numpy.diff``)."""
    a = as_array(a)
    if n < 0:
        raise ValueError(f"diff: order must be non-negative but got {n}")
    if a.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = axis % a.ndim
    pieces = []
    for extra in (prepend, append):
        if extra is None:
            pieces.append(None)
            continue
        extra = as_array(extra)
        if extra.ndim == 0:
            shape = list(a.shape)
            shape[axis] = 1
            extra = broadcast_to(extra, tuple(shape))
        pieces.append(extra)
    parts = [p for p in (pieces[0], a, pieces[1]) if p is not None]
    if len(parts) > 1:
        a = concatenate(parts, axis=axis)
    for _ in range(n):
        if a.dtype == np.bool_:
            a = _slice(a, axis, slice(1, None)) != _slice(a, axis, slice(None, -1))
        else:
            a = _slice(a, axis, slice(1, None)) - _slice(a, axis, slice(None, -1))
    return a


def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with optional values at the ends."""
    d = diff(ravel(as_array(ary)))
    parts = [ravel(as_array(v)) for v in (to_begin,) if v is not None]
    parts.append(d)
    parts += [ravel(as_array(v)) for v in (to_end,) if v is not None]
    return concatenate(parts) if len(parts) > 1 else d


def gradient(f, *varargs, axis=None, edge_order: int = 1):
    """The gradient by central differences inside and one-sided at the edges
    (``numpy.gradient``), with scalar or coordinate-array spacings."""
    f = as_array(f)
    if f.dtype.kind in "biu":
        f = f.astype(np.float64)
    axes = (
        list(range(f.ndim))
        if axis is None
        else [ax % f.ndim for ax in ((axis,) if isinstance(axis, int) else axis)]
    )
    if edge_order not in (1, 2):
        raise ValueError("gradient: edge_order must be 1 or 2")
    if len(varargs) == 0:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("gradient: invalid number of arguments for the spacings")
    out = []
    for ax, h in zip(axes, spacings):
        if f.shape[ax] < edge_order + 1:
            raise ValueError(
                "Shape of array too small to calculate a numerical gradient, at least "
                "(edge_order + 1) elements are required."
            )
        out.append(_gradient_along(f, ax, h, edge_order))
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_along(f, ax: int, h, edge_order: int):
    f = moveaxis(f, ax, -1)
    n = f.shape[-1]
    if np.ndim(h) == 0:
        interior = (f[..., 2:] - f[..., :-2]) / (2.0 * h)
        if edge_order == 1:
            first = (f[..., 1:2] - f[..., 0:1]) / h
            last = (f[..., -1:] - f[..., -2:-1]) / h
        else:
            first = (-1.5 * f[..., 0:1] + 2.0 * f[..., 1:2] - 0.5 * f[..., 2:3]) / h
            last = (0.5 * f[..., -3:-2] - 2.0 * f[..., -2:-1] + 1.5 * f[..., -1:]) / h
    else:  # coordinates: second-order accurate non-uniform differences
        x = asarray(h)
        if x.shape != (n,):
            raise ValueError("gradient: coordinate arrays must match the length of the axis")
        dx = x[1:] - x[:-1]
        dx1, dx2 = dx[:-1], dx[1:]
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        interior = a * f[..., :-2] + b * f[..., 1:-1] + c * f[..., 2:]
        if edge_order == 1:
            first = (f[..., 1:2] - f[..., 0:1]) / dx[0]
            last = (f[..., -1:] - f[..., -2:-1]) / dx[-1]
        else:
            d1, d2 = dx[0], dx[1]
            first = (
                -(2.0 * d1 + d2) / (d1 * (d1 + d2)) * f[..., 0:1]
                + (d1 + d2) / (d1 * d2) * f[..., 1:2]
                - d1 / (d2 * (d1 + d2)) * f[..., 2:3]
            )
            d1, d2 = dx[-2], dx[-1]
            last = (
                d2 / (d1 * (d1 + d2)) * f[..., -3:-2]
                - (d2 + d1) / (d1 * d2) * f[..., -2:-1]
                + (2.0 * d2 + d1) / (d2 * (d1 + d2)) * f[..., -1:]
            )
    return moveaxis(concatenate([first, interior, last], axis=-1), -1, ax)


def trapezoid(y, x=None, dx: float = 1.0, axis: int = -1):
    """Integrate ``y`` along ``axis`` by the trapezoidal rule (``numpy.trapezoid``)."""
    y = as_array(y)
    axis = axis % y.ndim
    avg = (_slice(y, axis, slice(1, None)) + _slice(y, axis, slice(None, -1))) / 2.0
    if x is None:
        return red.sum(avg, axis=axis) * dx
    x = as_array(x)
    widths = diff(x, axis=-1 if x.ndim == 1 else axis)
    if x.ndim == 1:
        shape = [1] * y.ndim
        shape[axis] = widths.shape[0]
        widths = reshape(widths, tuple(shape))
    return red.sum(avg * widths, axis=axis)


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial: bool = False):
    """NumPy 2's ``cumulative_sum``: ``cumsum`` with an optional leading 0."""
    check_no_out(out, "cumulative_sum")
    return _cumulative(red.cumsum, 0, x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial: bool = False):
    """NumPy 2's ``cumulative_prod``: ``cumprod`` with an optional leading 1."""
    check_no_out(out, "cumulative_prod")
    return _cumulative(red.cumprod, 1, x, axis, dtype, include_initial)


def _cumulative(fn, initial, x, axis, dtype, include_initial):
    x = as_array(x)
    if axis is None:
        if x.ndim > 1:
            raise ValueError("cumulative functions need axis= for arrays of more than 1 dim")
        axis = 0
    out = fn(x, axis=axis, dtype=dtype)
    if include_initial:
        shape = list(out.shape)
        shape[axis % out.ndim] = 1
        out = concatenate([full(tuple(shape), initial, out.dtype), out], axis=axis)
    return out


def unwrap(p, discont=None, axis: int = -1, *, period: float = 2 * np.pi):
    """Remove jumps larger than ``discont`` by adding multiples of ``period`` (``numpy.unwrap``).

    The correction is piecewise constant, so the derivative is that of ``p``.
    """
    p = as_array(p)
    if p.dtype.kind in "biu":
        p = p.astype(np.float64)
    axis = axis % p.ndim
    half = period / 2.0
    discont = half if discont is None else max(discont, half)
    dd = diff(p, axis=axis)
    ddmod = remainder(dd + half, period) - half
    ddmod = where((ddmod == -half) & (dd > 0), half, ddmod)
    correction = where(abs(dd) < discont, 0.0, ddmod - dd)
    correction = red.cumsum(correction, axis=axis)
    head = _slice(p, axis, slice(0, 1))
    return concatenate([head, _slice(p, axis, slice(1, None)) + correction], axis=axis)


__all__ = [
    "cumulative_prod",
    "cumulative_sum",
    "diff",
    "ediff1d",
    "gradient",
    "trapezoid",
    "unwrap",
]
