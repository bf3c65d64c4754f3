"""Shape manipulation with NumPy's signatures: reshape, transpose, concatenate, stack, ..."""

from __future__ import annotations

import operator

from fgrad.numpy_api.creation import as_array
from fgrad.numpy_api.reductions import normalize_axes
from fgrad.primitives import shape as sh


def _resolve_shape(shape, size: int, fn: str) -> tuple[int, ...]:
    shape = (shape,) if not isinstance(shape, (tuple, list)) else tuple(shape)
    shape = tuple(operator.index(d) for d in shape)
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1:
        raise ValueError(f"{fn}: can only specify one unknown dimension (-1), got {shape}")
    if unknown:
        known = 1
        for d in shape:
            if d != -1:
                known *= d
        if known == 0 or size % known:
            raise ValueError(f"{fn}: cannot reshape an array of size {size} into shape {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    return shape


def reshape(a, shape=None, order: str = "C", *, newshape=None):
    """Give ``a`` a new shape without changing its data; one dimension may be -1."""
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    shape = newshape if shape is None else shape
    a = as_array(a)
    shape = _resolve_shape(shape, a.size, "reshape")
    return a if shape == a.shape else sh.reshape(a, shape)


def ravel(a):
    """The array flattened to one dimension."""
    a = as_array(a)
    return reshape(a, (a.size,))


def transpose(a, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    a = as_array(a)
    perm = tuple(reversed(range(a.ndim))) if axes is None else tuple(a_ % a.ndim for a_ in axes)
    return a if perm == tuple(range(a.ndim)) else sh.transpose(a, perm)


def swapaxes(a, axis1: int, axis2: int):
    """Interchange two axes."""
    a = as_array(a)
    perm = list(range(a.ndim))
    i, j = (
        normalize_axes(axis1, a.ndim, "swapaxes")[0],
        normalize_axes(axis2, a.ndim, "swapaxes")[0],
    )
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def moveaxis(a, source, destination):
    """Move axes to new positions, keeping the order of the others."""
    a = as_array(a)
    src = [normalize_axes(s, a.ndim, "moveaxis")[0] for s in _as_tuple(source)]
    dst = [normalize_axes(d, a.ndim, "moveaxis")[0] for d in _as_tuple(destination)]
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same number of elements")
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def squeeze(a, axis=None):
    """Remove axes of length one (all of them, or those in ``axis``, which must have length 1)."""
    a = as_array(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(a.shape) if d == 1)
    else:
        axes = normalize_axes(axis, a.ndim, "squeeze")
        if any(a.shape[i] != 1 for i in axes):
            raise ValueError(
                f"squeeze: cannot select an axis to squeeze out which has size not equal to "
                f"one (shape {a.shape}, axis {axis})"
            )
    return reshape(a, tuple(d for i, d in enumerate(a.shape) if i not in axes))


def expand_dims(a, axis):
    """Insert axes of length one at the positions ``axis`` of the result."""
    a = as_array(a)
    axes = normalize_axes(axis, a.ndim + len(_as_tuple(axis)), "expand_dims")
    dims = iter(a.shape)
    shape = tuple(1 if i in axes else next(dims) for i in range(a.ndim + len(axes)))
    return reshape(a, shape)


def broadcast_to(array, shape):
    """Broadcast ``array`` to ``shape`` (a read-only view on plain NumPy arrays)."""
    a = as_array(array)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return a if a.shape == shape else sh.broadcast_to(a, shape)


def concatenate(arrays, axis=0):
    """Join arrays along an existing axis (``axis=None`` flattens them first)."""
    arrays = [as_array(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if arrays[0].ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = normalize_axes(axis, arrays[0].ndim, "concatenate")[0]
    return arrays[0] if len(arrays) == 1 else sh.concatenate(arrays, axis)


def stack(arrays, axis: int = 0):
    """Join arrays of equal shape along a new axis."""
    arrays = [as_array(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    axis = normalize_axes(axis, arrays[0].ndim + 1, "stack")[0]
    return concatenate([expand_dims(a, axis) for a in arrays], axis)

__all__ = [
    "broadcast_to",
    "concatenate",
    "expand_dims",
    "moveaxis",
    "ravel",
    "reshape",
    "squeeze",
    "stack",
    "swapaxes",
    "transpose",
]
