"""Building arrays from pieces and taking them apart: ``append``, ``insert``, ``delete``,
``block``, ``r_``/``c_``, ``rollaxis``, ``dsplit``, ``unstack``, ``resize``, ...

All are compositions of concatenation, indexing and reshaping, so derivatives
flow to every piece that ends up in the result. Positions (``insert``'s and
``delete``'s indices, ``trim_zeros``' trimming) are read as concrete values.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.tracer import Tracer, concrete
from fgrad.numpy.conversion import as_array, asarray
from fgrad.numpy.creation import arange, zeros
from fgrad.numpy.indexing import take
from fgrad.numpy.manipulation import (
    atleast_1d,
    atleast_2d,
    broadcast_to,
    concatenate,
    diag,
    moveaxis,
    ravel,
    reshape,
    split,
    swapaxes,
    transpose,
)
from fgrad.numpy.ranges import linspace


def append(arr, values, axis=None):
    """``arr`` with ``values`` appended (``numpy.append``); flattened when ``axis`` is None."""
    arr, values = as_array(arr), as_array(values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


def concat(arrays, /, axis=0, out=None, *, dtype=None, casting: str = "same_kind"):
    """NumPy 2's name for :func:`concatenate`."""
    return concatenate(arrays, axis, out, dtype=dtype, casting=casting)


def permute_dims(a, /, axes=None):
    """NumPy 2's name for :func:`transpose`."""
    return transpose(a, axes)


def matrix_transpose(x, /):
    """Swap the last two axes (``numpy.matrix_transpose``)."""
    x = as_array(x)
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: input must be at least 2-D, got shape {x.shape}")
    return swapaxes(x, -1, -2)


def rollaxis(a, axis: int, start: int = 0):
    """Roll ``axis`` backwards until it lies before position ``start`` (``numpy.rollaxis``)."""
    a = as_array(a)
    n = a.ndim
    axis = axis % n
    if not -n <= start <= n:
        raise np.exceptions.AxisError(f"rollaxis: start {start} is out of bounds for {n} dims")
    start = start % (n + 1) if start < 0 else start
    if axis < start:
        start -= 1
    return moveaxis(a, axis, start) if axis != start else a


def dsplit(ary, indices_or_sections):
    """Split along the third axis (``numpy.dsplit``; arrays of at least 3 dimensions)."""
    a = as_array(ary)
    if a.ndim < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(a, indices_or_sections, 2)


def unstack(x, /, *, axis: int = 0):
    """The slices of ``x`` along ``axis``, as a tuple (``numpy.unstack``)."""
    x = moveaxis(as_array(x), axis, 0)
    return tuple(x[i] for i in range(x.shape[0]))


def copy(a, order="K", subok=False):
    """A copy: traced values are immutable, so they are returned as they are."""
    a = asarray(a)
    return a if isinstance(a, Tracer) else np.array(a, copy=True, order=order)


def diagflat(v, k: int = 0):
    """A 2-D array with the flattened input on diagonal ``k`` (``numpy.diagflat``)."""
    return diag(ravel(as_array(v)), k)


def _positions(obj, n: int) -> np.ndarray:
    if isinstance(obj, slice):
        return np.arange(n)[obj]
    return np.asarray(concrete(obj))


def delete(arr, obj, axis=None):
    """``arr`` without the entries at ``obj`` along ``axis`` (``numpy.delete``)."""
    arr = as_array(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    axis = axis % arr.ndim
    n = arr.shape[axis]
    drop = _positions(obj, n)
    keep = np.ones(n, dtype=bool)
    if drop.dtype == bool:
        keep = ~drop
    else:
        keep[drop % n if drop.size else drop.astype(np.intp)] = False
    return take(arr, np.flatnonzero(keep), axis=axis)


def insert(arr, obj, values, axis=None):
    """``values`` inserted before the positions ``obj`` along ``axis`` (``numpy.insert``).

    Differentiable in ``arr`` and ``values``; the positions are concrete.
    """
    arr = as_array(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    axis = axis % arr.ndim
    n = arr.shape[axis]
    values = as_array(values)
    if values.dtype != arr.dtype:
        values = values.astype(arr.dtype)
    shape = list(arr.shape)
    if not isinstance(obj, slice) and np.ndim(concrete(obj)) == 0:
        # one position: values form a block, its first axis along `axis`
        position = int(concrete(obj))
        position += n if position < 0 else 0
        values = reshape(values, (1,) * (arr.ndim - values.ndim) + values.shape)
        values = moveaxis(values, 0, axis)
        shape[axis] = values.shape[axis]
        positions = np.full(shape[axis], position)
    else:
        positions = _positions(obj, n)
        positions = np.where(positions < 0, positions + n, positions)
        shape[axis] = len(positions)
    values = broadcast_to(values, tuple(shape))
    # insertions go before the original element at their position, in the given order
    keys = np.concatenate([np.arange(n), positions])
    after = np.concatenate([np.ones(n), np.zeros(len(positions))])
    order = np.lexsort((after, keys))
    return take(concatenate([arr, values], axis=axis), order, axis=axis)


def resize(a, new_shape):
    """``a`` repeated (or cut) to fill ``new_shape`` (``numpy.resize``)."""
    a = ravel(as_array(a))
    shape = (new_shape,) if isinstance(new_shape, int) else tuple(new_shape)
    total = int(np.prod(shape))
    if a.shape[0] == 0 or total == 0:
        return zeros(shape, a.dtype)
    reps = -(-total // a.shape[0])
    return reshape(take(concatenate([a] * reps), np.arange(total)), shape)


def trim_zeros(filt, trim: str = "fb", axis=None):
    """Strip leading (``'f'``) and/or trailing (``'b'``) zeros of a 1-D array."""
    filt = as_array(filt)
    values = np.asarray(concrete(filt))
    nonzero = np.flatnonzero(values)
    if nonzero.size == 0:
        return filt[0:0]
    start = nonzero[0] if "f" in trim.lower() else 0
    stop = nonzero[-1] + 1 if "b" in trim.lower() else values.shape[0]
    return filt[start:stop]


def block(arrays):
    """Assemble an array from nested lists of blocks (``numpy.block``)."""

    def depth(x):
        return 1 + depth(x[0]) if isinstance(x, list) and x else (1 if isinstance(x, list) else 0)

    levels = depth(arrays)

    def ndim_of(x):
        return max(ndim_of(v) for v in x) if isinstance(x, list) else np.ndim(x)

    ndim = max(levels, ndim_of(arrays))

    def assemble(x, level):
        if not isinstance(x, list):
            x = as_array(x)
            return reshape(x, (1,) * (ndim - x.ndim) + x.shape)
        parts = [assemble(v, level + 1) for v in x]
        return concatenate(parts, axis=-(levels - level))

    return assemble(arrays, 0)


class _Concatenator:
    """``r_`` and ``c_``: NumPy's index tricks, building arrays with ``concatenate``."""

    def __init__(self, axis: int, ndmin: int, column: bool):
        self.axis, self.ndmin, self.column = axis, ndmin, column

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        axis, ndmin, parts = self.axis, self.ndmin, []
        for item in key:
            if isinstance(item, str):
                spec = [int(s) for s in item.split(",")]
                axis = spec[0]
                if len(spec) > 1:
                    ndmin = spec[1]
                continue
            if isinstance(item, slice):
                piece = _slice_range(item)
            else:
                piece = as_array(item)
            if ndmin > 1 and piece.ndim < ndmin:
                piece = (
                    atleast_2d(piece)
                    if ndmin == 2
                    else reshape(piece, (1,) * (ndmin - piece.ndim) + piece.shape)
                )
                if self.column and as_array(item).ndim == 1:
                    piece = swapaxes(piece, 0, 1)
            else:
                piece = atleast_1d(piece)
            parts.append(piece)
        if not parts:
            return zeros((0,))
        dtype = np.result_type(*[p.dtype for p in parts])
        parts = [p if p.dtype == dtype else p.astype(dtype) for p in parts]
        return concatenate(parts, axis=axis)

    def __len__(self) -> int:
        return 0


def _slice_range(item: slice):
    start = 0 if item.start is None else item.start
    step = 1 if item.step is None else item.step
    if isinstance(step, complex):  # NumPy: a complex step means "this many points"
        return linspace(start, item.stop, int(abs(step)))
    return arange(start, item.stop, step)


r_ = _Concatenator(axis=0, ndmin=1, column=False)
c_ = _Concatenator(axis=-1, ndmin=2, column=True)
s_, index_exp = np.s_, np.index_exp


def ix_(*args):
    """Open meshes from 1-D sequences for cross indexing (``numpy.ix_``); boolean
    sequences become the indices of their true entries. Differentiable in float inputs."""
    n = len(args)
    out = []
    for k, seq in enumerate(args):
        seq = as_array(seq)
        if seq.ndim != 1:
            raise ValueError("Cross index must be 1 dimensional")
        if seq.dtype == np.bool_:
            seq = np.flatnonzero(concrete(seq))
        out.append(reshape(seq, (1,) * k + (seq.shape[0],) + (1,) * (n - k - 1)))
    return tuple(out)


mgrid, ogrid = np.mgrid, np.ogrid

__all__ = [
    "append",
    "block",
    "c_",
    "concat",
    "copy",
    "delete",
    "diagflat",
    "dsplit",
    "index_exp",
    "insert",
    "ix_",
    "matrix_transpose",
    "mgrid",
    "ogrid",
    "permute_dims",
    "r_",
    "resize",
    "rollaxis",
    "s_",
    "trim_zeros",
    "unstack",
]
