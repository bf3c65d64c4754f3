"""The shape operations ``jax.lax`` has beside XLA's own: ``split``, ``stack``,
``unstack``, ``tile``, ``collapse``, ``broadcast_to_rank`` and ``broadcast_like``.

Each is a thin layer over ``fgrad.numpy`` with ``jax.lax``'s stricter arguments (sizes
that must add up, one ``rep`` per axis, one dtype for stacked operands), so the rules
(jvp, vjp, batching) are those of the ``fgrad.numpy`` operations below.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from math import prod

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import DtypeError, ShapeError

__all__ = [
    "broadcast_like",
    "broadcast_to_rank",
    "collapse",
    "split",
    "stack",
    "tile",
    "unstack",
]


def _axis(name: str, axis: int, ndim: int) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"lax.{name}: axis {axis} is out of range for {ndim} axes")
    return axis % ndim


def split(operand, sizes: Sequence[int], axis: int = 0) -> list:
    """``operand`` cut along ``axis`` into pieces of ``sizes`` (``jax.lax.split``).

    Unlike ``numpy.split``, which takes cut points, ``sizes`` are the lengths of the
    pieces and must add up to the axis' length.

    Parameters
    ----------
    operand : array
    sizes : sequence of int
        Non-negative lengths, summing to ``operand.shape[axis]``.
    axis : int

    Returns
    -------
    list of arrays
        One per size, in order.
    """
    x = fnp.asarray(operand)
    axis = _axis("split", axis, x.ndim)
    sizes = [operator.index(s) for s in sizes]
    if any(s < 0 for s in sizes) or sum(sizes) != x.shape[axis]:
        raise ShapeError(
            f"lax.split: sizes {sizes} must be non-negative and add up to the length "
            f"{x.shape[axis]} of axis {axis} of the operand of shape {x.shape}"
        )
    pieces, start = [], 0
    for size in sizes:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, start + size)
        pieces.append(x[tuple(index)])
        start += size
    return pieces


def stack(operands: Sequence, axis: int = 0):
    """The operands, of one shape and dtype, stacked along a new ``axis`` (``jax.lax.stack``)."""
    xs = [fnp.asarray(x) for x in operands]
    if not xs:
        raise ShapeError("lax.stack: needs at least one operand")
    if len({x.dtype for x in xs}) != 1:
        raise DtypeError(
            f"lax.stack: the operands must have one dtype, got {sorted({str(x.dtype) for x in xs})}"
            "; cast them with lax.convert_element_type, or use fgrad.numpy.stack, which promotes"
        )
    return fnp.stack(xs, axis=_axis("stack", axis, xs[0].ndim + 1))


def unstack(x, axis: int = 0) -> tuple:
    """The slices of ``x`` along ``axis``, as a tuple (``jax.lax.unstack``)."""
    x = fnp.asarray(x)
    axis = _axis("unstack", axis, x.ndim)
    return tuple(fnp.moveaxis(x, axis, 0)[i] for i in range(x.shape[axis]))


def tile(operand, reps: Sequence[int]):
    """``operand`` repeated ``reps[i]`` times along each axis ``i`` (``jax.lax.tile``).

    ``reps`` has one entry per axis (``numpy.tile`` also takes fewer or more).
    """
    x = fnp.asarray(operand)
    reps = tuple(operator.index(r) for r in reps)
    if len(reps) != x.ndim or any(r < 0 for r in reps):
        raise ShapeError(
            f"lax.tile: reps {reps} needs one non-negative entry per axis of the operand of "
            f"shape {x.shape}; fgrad.numpy.tile takes any number"
        )
    return fnp.tile(x, reps)


def collapse(operand, start_dimension: int, stop_dimension: int | None = None):
    """``operand`` with the axes ``start_dimension`` to ``stop_dimension`` (exclusive;
    default: to the end) merged into one (``jax.lax.collapse``)."""
    x = fnp.asarray(operand)
    shape = tuple(x.shape)
    start = operator.index(start_dimension)
    stop = len(shape) if stop_dimension is None else operator.index(stop_dimension)
    start, stop = (d % len(shape) if d < 0 else d for d in (start, stop))
    if not 0 <= start <= stop <= len(shape):
        raise ShapeError(
            f"lax.collapse: axes [{start_dimension}, {stop_dimension}) are not a range of the "
            f"axes of the operand of shape {shape}"
        )
    return fnp.reshape(x, shape[:start] + (prod(shape[start:stop]),) + shape[stop:])


def broadcast_to_rank(x, rank: int):
    """``x`` with leading axes of size 1 added up to ``rank`` axes
    (``jax.lax.broadcast_to_rank``); ``x`` itself if it has that many."""
    x = fnp.asarray(x)
    rank = operator.index(rank)
    if rank < x.ndim:
        raise ShapeError(f"lax.broadcast_to_rank: rank {rank} is below the operand's {x.ndim}")
    return fnp.reshape(x, (1,) * (rank - x.ndim) + tuple(x.shape))


def broadcast_like(arr, like_arr):
    """``arr`` broadcast, NumPy's way, to the shape of ``like_arr``
    (``jax.lax.broadcast_like``)."""
    return fnp.broadcast_to(fnp.asarray(arr), tuple(np.shape(like_arr)))
