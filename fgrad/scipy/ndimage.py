"""``fgrad.scipy.ndimage.map_coordinates``: sample an array at fractional coordinates.

Order 0 takes the nearest element (halves rounded away from zero), order 1 blends the
``2^ndim`` neighbours linearly; positions outside the array follow ``mode`` as in
``scipy.ndimage`` (``constant`` fills ``cval``; ``nearest``, ``wrap``, ``mirror``,
``reflect`` move the index back inside). Written with ``fgrad.numpy`` gathers and
products, so it is differentiable in the input and (order 1) in the coordinates.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Sequence

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api


def _mirror(index, size: int):
    if size == 1:
        return fnp.zeros_like(index)
    period = 2 * (size - 1)
    i = fnp.abs(index) % period
    return fnp.where(i >= size, period - i, i)


def _reflect(index, size: int):
    period = 2 * size
    i = index % period
    return fnp.where(i >= size, period - i - 1, i)


_MODES = {
    "constant": lambda index, size: fnp.clip(index, 0, size - 1),
    "nearest": lambda index, size: fnp.clip(index, 0, size - 1),
    "wrap": lambda index, size: index % size,
    "mirror": _mirror,
    "reflect": _reflect,
}


def _nodes(coordinate, order: int) -> list[tuple]:
    """``(index, weight)`` pairs of one axis."""
    if np.issubdtype(coordinate.dtype, np.integer):
        return [(coordinate, 1)]
    if order == 0:
        rounded = fnp.sign(coordinate) * fnp.floor(fnp.abs(coordinate) + 0.5)
        return [(rounded.astype(np.int64), 1)]
    lower = fnp.floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.astype(np.int64)
    return [(index, 1 - upper_weight), (index + 1, upper_weight)]


def map_coordinates(
    input,  # noqa: A002 - SciPy's name
    coordinates: Sequence,
    order: int,
    mode: str = "constant",
    cval=0.0,
):
    """The values of ``input`` at ``coordinates`` (``scipy.ndimage.map_coordinates``).

    Parameters
    ----------
    input
        An array of rank ``n``.
    coordinates
        ``n`` arrays of one shape: the positions along each axis.
    order
        0 (nearest) or 1 (linear), as JAX supports.
    mode
        ``"constant"``, ``"nearest"``, ``"wrap"``, ``"mirror"`` or ``"reflect"``.
    cval
        The value outside the array for ``mode="constant"``.

    Returns
    -------
    array
        The coordinates' shape; ``input``'s dtype (integers rounded), promoted with
        the coordinates' float dtype for order 1.
    """
    x = fnp.asarray(input)
    coords = [fnp.asarray(c) for c in coordinates]
    if len(coords) != x.ndim:
        raise ValueError(
            f"map_coordinates: coordinates must be a sequence of length input.ndim "
            f"({x.ndim}), got {len(coords)}"
        )
    if order not in (0, 1):
        raise NotImplementedError(
            f"map_coordinates: order must be 0 or 1 (as in JAX), got {order}"
        )
    if mode not in _MODES:
        raise NotImplementedError(
            f"map_coordinates: mode {mode!r} is not supported; choose from {sorted(_MODES)}"
        )
    fix = _MODES[mode]
    strides = [int(np.prod(x.shape[d + 1 :])) for d in range(x.ndim)]
    flat = fnp.ravel(x)
    per_axis = [
        [(fix(i, size), (i >= 0) & (i < size), w) for i, w in _nodes(c, order)]
        for c, size in zip(coords, x.shape)
    ]
    total = None
    for corner in itertools.product(*per_axis):
        offset = functools.reduce(operator.add, [i * s for (i, _, _), s in zip(corner, strides)])
        value = fnp.take(flat, offset)
        if mode == "constant":
            valid = functools.reduce(fnp.logical_and, [v for _, v, _ in corner])
            value = fnp.where(valid, value, fnp.asarray(cval, x.dtype))
        weight = functools.reduce(operator.mul, [w for _, _, w in corner])
        term = value * weight if not isinstance(weight, int) else value
        total = term if total is None else total + term
    if np.issubdtype(x.dtype, np.integer):
        return fnp.round(total).astype(x.dtype)
    fractional = [c.dtype for c in coords if np.issubdtype(c.dtype, np.inexact)]
    return total.astype(np.result_type(x.dtype, *fractional)) if order else total


__all__ = ["map_coordinates"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
