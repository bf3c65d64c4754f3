"""``gather`` and the ``scatter`` family with XLA's dimension numbers, as ``jax.lax`` has them.

Both are written with ``fgrad.numpy`` indexing: a gather is one advanced-indexing
read (``x[I_0, ..., I_r]``, the gather primitive), a scatter one ``.at[...]`` update
of the flattened operand (the scatter primitives), so they are differentiable in the
operand and the updates, batch under ``vmap`` and stage under ``jit`` with traced
indices by those primitives' rules. A scatter writes into the operand with one extra
slot at the end, where the windows that ``mode='fill'``/``'drop'`` discards go, so
every mode is one update.

Index semantics are XLA's: the index vector is the last axis of the indices; each
start index is placed on the operand axes of ``start_index_map`` (or
``scatter_dims_to_operand_dims``); in ``'clip'`` mode a start is clamped so that the
whole window lies inside the operand, in ``'fill'``/``'drop'`` mode a window that
does not fit reads ``fill_value`` (gather) or is skipped (scatter).
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import ShapeError
from fgrad.core.tracer import Tracer

__all__ = [
    "GatherDimensionNumbers",
    "GatherScatterMode",
    "ScatterDimensionNumbers",
    "gather",
    "scatter",
    "scatter_add",
    "scatter_max",
    "scatter_min",
    "scatter_mul",
    "scatter_sub",
]


class GatherDimensionNumbers(NamedTuple):
    """How ``gather`` reads windows (``jax.lax.GatherDimensionNumbers``).

    Attributes
    ----------
    offset_dims
        The output axes that hold the window's kept axes (in operand order).
    collapsed_slice_dims
        Operand axes of window size 1 that the output drops.
    start_index_map
        For each entry of an index vector, the operand axis it starts.
    operand_batching_dims, start_indices_batching_dims
        Operand axes indexed by the position along these axes of the indices
        (a batched gather: window size 1 there, dropped from the output).
    """

    offset_dims: tuple[int, ...]
    collapsed_slice_dims: tuple[int, ...]
    start_index_map: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    start_indices_batching_dims: tuple[int, ...] = ()


class ScatterDimensionNumbers(NamedTuple):
    """How a scatter writes windows (``jax.lax.ScatterDimensionNumbers``).

    Attributes
    ----------
    update_window_dims
        The axes of ``updates`` that hold a window (the others run over the indices).
    inserted_window_dims
        Operand axes of window size 1 that ``updates`` lacks.
    scatter_dims_to_operand_dims
        For each entry of an index vector, the operand axis it starts.
    operand_batching_dims, scatter_indices_batching_dims
        Operand axes indexed by the position along these axes of the indices.
    """

    update_window_dims: tuple[int, ...]
    inserted_window_dims: tuple[int, ...]
    scatter_dims_to_operand_dims: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    scatter_indices_batching_dims: tuple[int, ...] = ()


class GatherScatterMode(enum.Enum):
    """What out-of-range windows do (``jax.lax.GatherScatterMode``)."""

    CLIP = 1
    FILL_OR_DROP = 2
    PROMISE_IN_BOUNDS = 3

    @staticmethod
    def from_any(mode, default: GatherScatterMode) -> GatherScatterMode:
        """The mode named by ``mode`` (an enum member, ``'clip'``, ``'fill'``, ``'drop'``,
        ``'promise_in_bounds'``) or ``default`` for ``None``."""
        if isinstance(mode, GatherScatterMode):
            return mode
        if mode is None:
            return default
        names = {
            "clip": GatherScatterMode.CLIP,
            "fill": GatherScatterMode.FILL_OR_DROP,
            "drop": GatherScatterMode.FILL_OR_DROP,
            "promise_in_bounds": GatherScatterMode.PROMISE_IN_BOUNDS,
        }
        if getattr(mode, "name", None) in GatherScatterMode.__members__:
            return GatherScatterMode[mode.name]  # JAX's own enum member
        if mode not in names:
            raise ValueError(
                f"lax gather/scatter: unknown mode {mode!r}; use 'clip', 'fill', 'drop' or "
                "'promise_in_bounds'"
            )
        return names[mode]


def _ints(values) -> tuple[int, ...]:
    return tuple(operator.index(v) for v in values)


def _window_starts(fn, shape, indices, index_map, batch_dims, index_batch_dims, sizes, mode):
    """Per operand axis, the window start (an integer array over the index batch shape,
    or 0) after ``mode``'s clamping, and the mask of windows that do not fit (or None)."""
    batch = tuple(indices.shape[:-1])
    if indices.shape[-1] != len(index_map):
        raise ShapeError(
            f"lax.{fn}: the index vectors (the last axis of the indices, {indices.shape[-1]} "
            f"long) must have one entry per axis of the index map {index_map}"
        )
    starts, outside = [], None
    for d, (dim, size) in enumerate(zip(shape, sizes)):
        if not 0 <= size <= dim:
            raise ShapeError(
                f"lax.{fn}: window size {size} on operand axis {d} does not fit its length {dim}"
            )
        if d in index_map:
            s = indices[..., index_map.index(d)].astype(np.int64)
        elif d in batch_dims:
            axis = index_batch_dims[batch_dims.index(d)]
            s = np.arange(batch[axis]).reshape((-1,) + (1,) * (len(batch) - axis - 1))
            starts.append(s)
            continue
        else:
            starts.append(0)
            continue
        if mode is GatherScatterMode.FILL_OR_DROP:
            bad = (s < 0) | (s > dim - size)
            outside = bad if outside is None else outside | bad
        starts.append(fnp.clip(s, 0, dim - size))
    return starts, outside


def _window_index(starts, sizes, batch: tuple[int, ...]):
    """``I_d = start_d + arange(size_d)``, broadcast to ``batch + sizes``, per operand axis."""
    rank = len(sizes)
    index = []
    for d, (s, size) in enumerate(zip(starts, sizes)):
        offset = fnp.arange(size, like=s).reshape((size,) + (1,) * (rank - d - 1))
        s = s if isinstance(s, int) else fnp.reshape(s, tuple(np.shape(s)) + (1,) * rank)
        index.append(s + offset)
    return [fnp.broadcast_to(i, batch + tuple(sizes)) for i in index]


def _default_fill(dtype: np.dtype):
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).min if dtype.kind == "i" else np.iinfo(dtype).max


def gather(
    operand,
    start_indices,
    dimension_numbers: GatherDimensionNumbers,
    slice_sizes: Sequence[int],
    *,
    unique_indices: bool = False,
    indices_are_sorted: bool = False,
    mode=None,
    fill_value=None,
):
    """Windows of ``operand`` at the starts in ``start_indices`` (``jax.lax.gather``).

    Parameters
    ----------
    operand : array
    start_indices : integer array
        Index vectors along its last axis; its other axes are the batch axes.
    dimension_numbers : GatherDimensionNumbers
    slice_sizes : sequence of int
        The window's size on each operand axis (1 on collapsed and batching axes).
    unique_indices, indices_are_sorted : bool
        Accepted for JAX's signature (hints for XLA).
    mode : {'clip', 'fill', 'promise_in_bounds'} or GatherScatterMode, optional
        Default ``'clip'`` (as JAX's default behaves): starts are clamped so the
        window fits. ``'fill'``: a window that does not fit reads ``fill_value``.
    fill_value : scalar, optional
        Default NaN for floats, the minimum for signed and maximum for unsigned
        integers, ``True`` for booleans (as JAX).

    Returns
    -------
    array
        The batch axes of the indices, with the window's kept axes at ``offset_dims``.
    """
    dn = dimension_numbers
    mode = GatherScatterMode.from_any(mode, GatherScatterMode.CLIP)
    operand = fnp.asarray(operand)
    indices = fnp.asarray(start_indices)
    shape, sizes = tuple(operand.shape), _ints(slice_sizes)
    if len(sizes) != len(shape):
        raise ShapeError(
            f"lax.gather: slice_sizes {sizes} must have one entry per operand axis {shape}"
        )
    dropped = tuple(dn.collapsed_slice_dims) + tuple(dn.operand_batching_dims)
    if any(sizes[d] != 1 for d in dropped):
        raise ShapeError(
            f"lax.gather: the collapsed and batching axes {dropped} need window size 1, got "
            f"slice_sizes {sizes}"
        )
    batch = tuple(indices.shape[:-1])
    starts, outside = _window_starts(
        "gather",
        shape,
        indices,
        tuple(dn.start_index_map),
        tuple(dn.operand_batching_dims),
        tuple(dn.start_indices_batching_dims),
        sizes,
        mode,
    )
    windows = fnp.at(operand)[tuple(_window_index(starts, sizes, batch))].get()
    if outside is not None:
        fill = _default_fill(operand.dtype) if fill_value is None else fill_value
        mask = fnp.reshape(outside, tuple(outside.shape) + (1,) * len(shape))
        windows = fnp.where(mask, np.asarray(fill, dtype=operand.dtype)[()], windows)
    kept = [d for d in range(len(shape)) if d not in dropped]
    windows = fnp.reshape(windows, batch + tuple(sizes[d] for d in kept))
    offset_dims = tuple(dn.offset_dims)
    if len(offset_dims) != len(kept):
        raise ShapeError(
            f"lax.gather: offset_dims {offset_dims} must name one output axis per kept window "
            f"axis (operand axes {tuple(kept)})"
        )
    batch_axes = iter(range(len(batch)))
    perm = [
        len(batch) + offset_dims.index(p) if p in offset_dims else next(batch_axes)
        for p in range(len(batch) + len(kept))
    ]
    return fnp.transpose(windows, perm)


def _lowest(dtype: np.dtype):
    if dtype.kind == "f":
        return -np.inf
    return False if dtype.kind == "b" else np.iinfo(dtype).min


def _highest(dtype: np.dtype):
    if dtype.kind == "f":
        return np.inf
    return True if dtype.kind == "b" else np.iinfo(dtype).max


def _combine_at_traced_positions(flat, pos, values, kind: str):
    """``flat`` combined with ``values`` at ``pos`` by ``kind`` (mul/min/max) where the
    positions are only known at run time: one comparison per (update, element) pair."""
    hit = pos[:, None] == fnp.arange(flat.shape[0], like=pos)[None, :]
    any_hit = fnp.any(hit, axis=0)
    if kind == "mul":
        return flat * fnp.prod(fnp.where(hit, values[:, None], flat.dtype.type(1)), axis=0)
    if kind == "max":
        best = fnp.max(fnp.where(hit, values[:, None], _lowest(flat.dtype)), axis=0)
        return fnp.where(any_hit, fnp.maximum(flat, best), flat)
    best = fnp.min(fnp.where(hit, values[:, None], _highest(flat.dtype)), axis=0)
    return fnp.where(any_hit, fnp.minimum(flat, best), flat)


def _scatter(fn: str, kind: str, operand, indices, updates, dn, mode):
    mode = GatherScatterMode.from_any(mode, GatherScatterMode.FILL_OR_DROP)
    operand = fnp.asarray(operand)
    indices = fnp.asarray(indices)
    updates = fnp.asarray(updates)
    shape = tuple(operand.shape)
    batch = tuple(indices.shape[:-1])
    window_dims = tuple(dn.update_window_dims)
    inserted = tuple(dn.inserted_window_dims) + tuple(dn.operand_batching_dims)
    kept = [d for d in range(len(shape)) if d not in inserted]
    scatter_axes = [a for a in range(updates.ndim) if a not in window_dims]
    if len(window_dims) != len(kept) or len(scatter_axes) != len(batch):
        raise ShapeError(
            f"lax.{fn}: updates of shape {tuple(updates.shape)} must have the indices' batch "
            f"shape {batch} and one window axis per operand axis not inserted ({tuple(kept)}); "
            f"update_window_dims is {window_dims}"
        )
    if tuple(updates.shape[a] for a in scatter_axes) != batch:
        raise ShapeError(
            f"lax.{fn}: the scatter axes of updates {tuple(updates.shape)} must match the "
            f"indices' batch shape {batch}"
        )
    sizes = [1] * len(shape)
    for d, a in zip(kept, window_dims):
        sizes[d] = updates.shape[a]
    starts, outside = _window_starts(
        fn,
        shape,
        indices,
        tuple(dn.scatter_dims_to_operand_dims),
        tuple(dn.operand_batching_dims),
        tuple(dn.scatter_indices_batching_dims),
        sizes,
        mode,
    )
    values = fnp.transpose(updates, scatter_axes + list(window_dims))
    values = fnp.reshape(values, batch + tuple(sizes)).astype(operand.dtype)
    strides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    index = _window_index(starts, sizes, batch)
    pos = sum(i * s for i, s in zip(index, strides))
    size = math.prod(shape)
    if outside is not None:  # a dropped window writes to the extra slot
        mask = fnp.reshape(outside, tuple(outside.shape) + (1,) * len(shape))
        pos = fnp.where(mask, size, pos)
    pos, values = fnp.ravel(pos), fnp.ravel(values)
    flat = fnp.concatenate([fnp.ravel(operand), fnp.zeros(1, operand.dtype, like=operand)])
    if kind == "set":
        flat = fnp.at(flat)[pos].set(values)
    elif kind == "add":
        flat = fnp.at(flat)[pos].add(values)
    elif isinstance(pos, Tracer):
        flat = _combine_at_traced_positions(flat, pos, values, kind)
    else:
        ref = fnp.at(flat)[pos]
        flat = {"mul": ref.multiply, "min": ref.min, "max": ref.max}[kind](values)
    return fnp.reshape(flat[:size], shape)


def _scatter_doc(what: str) -> str:
    return f"""A copy of ``operand`` with ``updates`` {what} at the windows that
    ``scatter_indices`` start (``jax.lax.scatter*``).

    Parameters
    ----------
    operand : array
    scatter_indices : integer array
        Index vectors along its last axis; its other axes are the scatter axes.
    updates : array
        The scatter axes of the indices and, at ``update_window_dims``, a window.
    dimension_numbers : ScatterDimensionNumbers
    indices_are_sorted, unique_indices : bool
        Accepted for JAX's signature (hints for XLA).
    mode : {{'drop', 'fill', 'clip', 'promise_in_bounds'}} or GatherScatterMode, optional
        Default ``'drop'`` (as JAX): a window that does not fit is skipped; ``'clip'``
        clamps its start.

    Returns
    -------
    array
        ``operand``'s shape and dtype; differentiable in ``operand`` and ``updates``.
    """


def _make_scatter(fn: str, kind: str, what: str):
    def scatter_fn(
        operand,
        scatter_indices,
        updates,
        dimension_numbers: ScatterDimensionNumbers,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode=None,
    ):
        return _scatter(fn, kind, operand, scatter_indices, updates, dimension_numbers, mode)

    scatter_fn.__name__ = scatter_fn.__qualname__ = fn
    scatter_fn.__doc__ = _scatter_doc(what)
    return scatter_fn


scatter = _make_scatter("scatter", "set", "written (repeated windows: one of them wins)")
scatter_add = _make_scatter("scatter_add", "add", "added (repeated windows accumulate)")
scatter_mul = _make_scatter("scatter_mul", "mul", "multiplied in")
scatter_min = _make_scatter("scatter_min", "min", "combined by minimum")
scatter_max = _make_scatter("scatter_max", "max", "combined by maximum")


def scatter_sub(
    operand,
    scatter_indices,
    updates,
    dimension_numbers: ScatterDimensionNumbers,
    *,
    indices_are_sorted: bool = False,
    unique_indices: bool = False,
    mode=None,
):
    """``scatter_add`` of ``-updates`` (``jax.lax.scatter_sub``)."""
    return scatter_add(
        operand, scatter_indices, fnp.negative(updates), dimension_numbers, mode=mode
    )
