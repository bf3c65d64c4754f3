"""``dynamic_slice`` and ``dynamic_update_slice``: fixed-size windows at start indices that
may be traced.

Both follow ``jax.lax``: ``slice_sizes`` (or the update's shape) are static, the start
indices may be values known only at run time (under ``jit`` or ``vmap``), a negative
start counts once from the end (``allow_negative_indices``, on by default), and each
start is then clamped to ``[0, dim - size]`` so that the window always lies inside the
operand (no error, unlike NumPy indexing). Known starts index with slices; traced
starts build one integer index array per axis and use the gather / scatter primitives
of ``fgrad.primitives.indexing`` (through ``fgrad.numpy`` indexing and ``.at[].set``),
which take traced index operands and carry the derivative and batching rules: the
operand and the update are differentiable, the starts are not (they are integers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import ShapeError
from fgrad.core.tracer import Tracer
from fgrad.numpy.indexing import at, take_index


def _starts(
    name: str,
    start_indices,
    shape: tuple[int, ...],
    sizes: Sequence[int],
    allow_negative_indices: bool | Sequence[bool],
) -> list:
    """The start indices, a negative one counted from the end where allowed, clamped to
    ``[0, dim - size]``; one per axis of ``shape``."""
    if isinstance(start_indices, (Tracer, np.ndarray)) and np.ndim(start_indices) == 1:
        start_indices = [start_indices[d] for d in range(start_indices.shape[0])]
    starts = list(start_indices)
    if len(starts) != len(shape) or len(sizes) != len(shape):
        raise ShapeError(
            f"lax.{name}: an operand of shape {shape} needs {len(shape)} start indices and "
            f"sizes, one per axis; got {len(starts)} start indices and sizes {tuple(sizes)}"
        )
    for d, (n, k) in enumerate(zip(shape, sizes)):
        if not 0 <= k <= n:
            raise ShapeError(
                f"lax.{name}: the window size {k} on axis {d} must lie in [0, {n}] "
                f"(the operand has shape {shape}, the sizes are {tuple(sizes)})"
            )
    for d, s in enumerate(starts):
        if not (isinstance(s, Tracer) or fnp.result_type(s).kind in "iu"):
            raise TypeError(
                f"lax.{name}: start index {d} must be an integer, got {s!r} "
                f"(dtype {fnp.result_type(s)})"
            )
    negative = allow_negative_indices
    if isinstance(negative, bool):
        negative = [negative] * len(shape)
    if any(isinstance(s, Tracer) for s in starts):
        return [
            fnp.clip(fnp.where(s < 0, s + n, s) if neg else s, 0, n - k)
            for s, n, k, neg in zip(starts, shape, sizes, negative)
        ]
    starts = [
        int(s) + n if neg and int(s) < 0 else int(s) for s, n, neg in zip(starts, shape, negative)
    ]
    return [min(max(s, 0), n - k) for s, n, k in zip(starts, shape, sizes)]


def _window(starts: list, sizes: Sequence[int]) -> tuple:
    """The index of the window: slices for known starts, else broadcasting index arrays."""
    if not any(isinstance(s, Tracer) for s in starts):
        return tuple(slice(s, s + k) for s, k in zip(starts, sizes))
    ndim = len(sizes)
    return tuple(
        (s + fnp.arange(k, like=s)).reshape((1,) * d + (k,) + (1,) * (ndim - d - 1))
        for d, (s, k) in enumerate(zip(starts, sizes))
    )


def dynamic_slice(
    operand,
    start_indices,
    slice_sizes: Sequence[int],
    *,
    allow_negative_indices: bool | Sequence[bool] = True,
):
    """The window of size ``slice_sizes`` of ``operand`` starting at ``start_indices``.

    Parameters
    ----------
    operand
        An array.
    start_indices
        One integer per axis (a sequence of scalars or a 1-D integer array); they may be
        traced. A negative one counts from the end (once); each is then clamped to
        ``[0, operand.shape[d] - slice_sizes[d]]``.
    slice_sizes
        The window's shape: Python ints (static).
    allow_negative_indices
        False (for all axes, or a sequence of bools, one per axis) clamps a negative
        start to 0 instead of counting it from the end.

    Returns
    -------
    array
        ``operand[s0:s0 + k0, s1:s1 + k1, ...]`` with the clamped starts.

    Examples
    --------
    >>> lax.dynamic_slice(np.arange(10), [8], [4])   # the start 8 is clamped to 6
    array([6, 7, 8, 9])
    """
    shape = np.shape(operand)
    sizes = tuple(int(k) for k in slice_sizes)
    starts = _starts("dynamic_slice", start_indices, shape, sizes, allow_negative_indices)
    return take_index(operand, _window(starts, sizes))


def dynamic_update_slice(
    operand, update, start_indices, *, allow_negative_indices: bool | Sequence[bool] = True
):
    """``operand`` with the window at ``start_indices`` replaced by ``update``.

    Parameters
    ----------
    operand
        An array.
    update
        An array with as many axes as ``operand``, no larger on any axis; its values
        are cast to ``operand``'s dtype, as ``x.at[...].set`` does.
    start_indices
        One integer per axis, possibly traced; a negative one counts from the end,
        then each is clamped to ``[0, operand.shape[d] - update.shape[d]]``.
    allow_negative_indices
        As in :func:`dynamic_slice`.

    Returns
    -------
    array
        A new array (``operand`` is not modified).

    Examples
    --------
    >>> lax.dynamic_update_slice(np.zeros(5), np.ones(2), [-1])   # -1 -> 4, clamped to 3
    array([0., 0., 0., 1., 1.])
    """
    shape, ushape = np.shape(operand), np.shape(update)
    if len(ushape) != len(shape):
        raise ShapeError(
            f"lax.dynamic_update_slice: the update (shape {ushape}) must have as many axes "
            f"as the operand (shape {shape})"
        )
    starts = _starts("dynamic_update_slice", start_indices, shape, ushape, allow_negative_indices)
    return at(operand)[_window(starts, ushape)].set(update)


def dynamic_slice_in_dim(
    operand, start_index, slice_size: int, axis: int = 0, *, allow_negative_indices: bool = True
):
    """:func:`dynamic_slice` along one axis: the other axes are kept whole."""
    shape = np.shape(operand)
    axis = axis % len(shape)
    starts = [0] * len(shape)
    starts[axis] = start_index
    sizes = list(shape)
    sizes[axis] = slice_size
    return dynamic_slice(operand, starts, sizes, allow_negative_indices=allow_negative_indices)


def dynamic_update_slice_in_dim(
    operand, update, start_index, axis: int, *, allow_negative_indices: bool = True
):
    """:func:`dynamic_update_slice` along one axis: ``update`` spans the other axes."""
    axis = axis % np.ndim(operand)
    starts = [0] * np.ndim(operand)
    starts[axis] = start_index
    return dynamic_update_slice(
        operand, update, starts, allow_negative_indices=allow_negative_indices
    )
