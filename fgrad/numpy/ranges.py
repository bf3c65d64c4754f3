"""Evenly spaced values: ``linspace``, ``logspace``, ``geomspace``.

On concrete bounds these are NumPy's (on ``device``); traced bounds give a
traced result, differentiable in the bounds.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.tracer import known_value
from fgrad.numpy.conversion import asarray, astype, contains_tracer
from fgrad.numpy.creation import array_namespace
from fgrad.numpy.manipulation import concatenate, moveaxis, reshape
from fgrad.numpy.reductions import any as any_
from fgrad.numpy.ufuncs import exp, log, sign


def linspace(
    start,
    stop,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype=None,
    axis: int = 0,
    *,
    device=None,
):
    """``num`` evenly spaced values over ``[start, stop]`` (``numpy.linspace``), on ``device``.

    Differentiable in ``start`` and ``stop`` when they are traced (scalars or arrays).
    """
    if not (contains_tracer(start) or contains_tracer(stop)):
        return array_namespace(device, None).linspace(
            start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype, axis=axis
        )
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = asarray(start), asarray(stop)
    float_dtype = np.result_type(start.dtype, stop.dtype, float(num))
    start, stop = astype(start, float_dtype), astype(stop, float_dtype)
    div = (num - 1) if endpoint else num
    delta = stop - start
    steps = np.arange(num, dtype=float_dtype).reshape((num,) + (1,) * delta.ndim)
    step = delta / div if div > 0 else delta * np.nan
    y = start + steps * step if div > 0 else start + steps * delta
    if endpoint and num > 1:
        y = concatenate([y[:-1], reshape(stop, (1,) + stop.shape)], axis=0)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        y = astype(y, dtype)
    return (y, step) if retstep else y


def logspace(
    start, stop, num: int = 50, endpoint: bool = True, base=10.0, dtype=None, axis: int = 0
):
    """``base ** linspace(start, stop)`` (``numpy.logspace``); differentiable in the bounds."""
    if not (contains_tracer(start) or contains_tracer(stop) or contains_tracer(base)):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    y = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    out = asarray(base) ** y
    return out if dtype is None else astype(out, dtype)


def geomspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0):
    """A geometric progression from ``start`` to ``stop`` (``numpy.geomspace``), exact at
    the ends; differentiable in the (positive) bounds."""
    if not (contains_tracer(start) or contains_tracer(stop)):
        return np.geomspace(start, stop, num, endpoint, dtype, axis)
    start, stop = asarray(start), asarray(stop)
    float_dtype = np.result_type(start.dtype, stop.dtype, float(num))
    start, stop = astype(start, float_dtype), astype(stop, float_dtype)  # as NumPy computes
    if known_value(any_((start == 0) | (stop == 0))):
        raise ValueError("Geometric sequence cannot include zero")
    # a progression of negative numbers is the negated one of their magnitudes
    out_sign = sign(start)
    start, stop = start / out_sign, stop / out_sign
    y = exp(linspace(log(start), log(stop), num, endpoint=endpoint))
    if num > 0:
        ends = [reshape(start, (1,) + start.shape), y[1:-1] if endpoint else y[1:]]
        if endpoint and num > 1:
            ends.append(reshape(stop, (1,) + stop.shape))
        y = concatenate(ends, axis=0) if num > 1 else reshape(start, (1,) + start.shape)
    y = y * out_sign
    if axis != 0:
        y = moveaxis(y, 0, axis)
    return y if dtype is None else astype(y, dtype)


__all__ = ["geomspace", "linspace", "logspace"]
