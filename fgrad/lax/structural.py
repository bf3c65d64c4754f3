"""``jax.lax``'s shape operations (``broadcast_in_dim``, ``reshape``, ``pad``, ``slice``,
``concatenate``, ``iota``, ...) and ``convert_element_type``, as thin functions over
``fgrad.numpy``, with ``jax.lax``'s arguments and checks.

Axes are non-negative where ``jax.lax`` asks so (``transpose``, ``rev``,
``concatenate``); ``squeeze`` and ``expand_dims`` count negative ones from the end, as
there. Being built from ``fgrad.numpy``, every function works under ``grad``,
``jvp``, ``vmap`` and ``jit``.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import DtypeError, ShapeError
from fgrad.lax.slicing import dynamic_slice_in_dim, dynamic_update_slice_in_dim
from fgrad.numpy.conversion import in_dtype


def _axes(name: str, dims: Sequence[int], ndim: int, shape) -> tuple[int, ...]:
    """``dims`` as ints, each in ``[0, ndim)`` and none twice, or a ShapeError."""
    dims = tuple(operator.index(d) for d in dims)
    if any(not 0 <= d < ndim for d in dims) or len(set(dims)) != len(dims):
        raise ShapeError(
            f"lax.{name}: dimensions {dims} must be distinct axes in [0, {ndim}) of the "
            f"operand of shape {tuple(shape)} (lax takes no negative axes)"
        )
    return dims


def convert_element_type(operand, new_dtype=None):
    """``operand`` in ``new_dtype`` (``jax.lax.convert_element_type``).

    As ``jax.lax``: a float converted to an integer is truncated toward zero and
    saturates at the integer's range, NaN becomes 0; a complex converted to a real dtype
    keeps its real part; any number converted to bool is ``x != 0``. Differentiable
    between inexact dtypes.
    """
    x = fnp.asarray(operand)
    source = fnp.result_type(x)
    target = source if new_dtype is None else np.dtype(new_dtype)
    if source.kind == "c" and target.kind != "c":
        x, source = fnp.real(x), np.dtype(source.char.lower())
    if target == np.bool_:
        return x != 0
    if source.kind == "f" and target.kind in "iu":
        info = np.iinfo(target)
        x = fnp.where(fnp.isnan(x), fnp.zeros_like(x), x)
        high, low = x >= float(info.max), x <= float(info.min)
        safe = fnp.astype(fnp.where(high | low, fnp.zeros_like(x), x), target)
        return fnp.where(high, target.type(info.max), fnp.where(low, target.type(info.min), safe))
    return fnp.astype(x, target)


def broadcast(operand, sizes: Sequence[int]):
    """``operand`` repeated along new leading axes of ``sizes`` (``jax.lax.broadcast``)."""
    x = fnp.asarray(operand)
    return fnp.broadcast_to(x, tuple(int(s) for s in sizes) + tuple(np.shape(x)))


def broadcast_in_dim(operand, shape: Sequence[int], broadcast_dimensions: Sequence[int]):
    """``operand`` broadcast to ``shape``, its axis ``i`` becoming axis
    ``broadcast_dimensions[i]`` (``jax.lax.broadcast_in_dim``).

    Parameters
    ----------
    operand : array or scalar
    shape : sequence of int
        The result's shape.
    broadcast_dimensions : sequence of int
        One distinct axis of the result per axis of ``operand``, whose size is 1 or the
        result's size there.

    Examples
    --------
    >>> lax.broadcast_in_dim(b, (batch, b.shape[0]), (1,))   # a bias per row
    """
    x = fnp.asarray(operand)
    shape = tuple(int(s) for s in shape)
    xs = tuple(np.shape(x))
    dims = tuple(operator.index(d) for d in broadcast_dimensions)
    if (
        len(dims) != len(xs)
        or any(not 0 <= d < len(shape) for d in dims)
        or len(set(dims)) != len(dims)
        or any(n not in (1, shape[d]) for n, d in zip(xs, dims))
    ):
        raise ShapeError(
            f"lax.broadcast_in_dim: cannot broadcast an operand of shape {xs} to {shape} "
            f"with broadcast_dimensions {dims}: give one distinct result axis per operand "
            "axis, where the operand's size is 1 or the result's"
        )
    order = sorted(range(len(dims)), key=dims.__getitem__)
    if order != list(range(len(dims))):
        x = fnp.transpose(x, order)
    expanded = [1] * len(shape)
    for i in order:
        expanded[dims[i]] = xs[i]
    return fnp.broadcast_to(fnp.reshape(x, tuple(expanded)), shape)


def reshape(operand, new_sizes: Sequence[int], dimensions: Sequence[int] | None = None):
    """``operand`` (transposed by ``dimensions`` first, if given) in the shape
    ``new_sizes``, row-major (``jax.lax.reshape``; no ``-1`` sizes)."""
    x = fnp.asarray(operand)
    sizes = tuple(operator.index(s) for s in new_sizes)
    if any(s < 0 for s in sizes) or int(np.prod(sizes)) != int(np.prod(np.shape(x))):
        raise ShapeError(
            f"lax.reshape: cannot reshape an operand of shape {tuple(np.shape(x))} to "
            f"{sizes}: give non-negative sizes with the operand's number of elements "
            "(fgrad.numpy.reshape infers a -1 size)"
        )
    if dimensions is not None:
        x = transpose(x, dimensions)
    return fnp.reshape(x, sizes)


def transpose(operand, permutation: Sequence[int]):
    """``operand``'s axes in the order ``permutation`` (``jax.lax.transpose``)."""
    x = fnp.asarray(operand)
    perm = tuple(operator.index(p) for p in permutation)
    if sorted(perm) != list(range(np.ndim(x))):
        raise ShapeError(
            f"lax.transpose: {perm} is not a permutation of the axes of an operand of shape "
            f"{tuple(np.shape(x))}"
        )
    return fnp.transpose(x, perm)


def squeeze(array, dimensions: Sequence[int]):
    """``array`` without the axes ``dimensions``, each of size 1 (``jax.lax.squeeze``)."""
    x = fnp.asarray(array)
    ndim, shape = np.ndim(x), tuple(np.shape(x))
    dims = _axes("squeeze", [d % ndim if -ndim <= d < 0 else d for d in dimensions], ndim, shape)
    if any(shape[d] != 1 for d in dims):
        raise ShapeError(
            f"lax.squeeze: axes {dims} of the operand of shape {shape} must have size 1"
        )
    return fnp.reshape(x, tuple(n for i, n in enumerate(shape) if i not in dims))


def expand_dims(array, dimensions: Sequence[int]):
    """``array`` with new axes of size 1 at ``dimensions`` of the result
    (``jax.lax.expand_dims``; negative axes count from the result's end)."""
    x = fnp.asarray(array)
    ndim = np.ndim(x) + len(dimensions)
    dims = _axes(
        "expand_dims",
        [d % ndim if -ndim <= d < 0 else d for d in dimensions],
        ndim,
        np.shape(x),
    )
    return fnp.expand_dims(x, dims)


def concatenate(operands: Sequence, dimension: int):
    """``operands`` joined along the axis ``dimension`` (``jax.lax.concatenate``): one
    dtype and one rank, equal sizes on the other axes."""
    xs = [fnp.asarray(x) for x in operands]
    if not xs:
        raise ValueError("lax.concatenate: give at least one operand")
    dtypes = [fnp.result_type(x) for x in xs]
    if len(set(dtypes)) != 1:
        raise DtypeError(
            f"lax.concatenate: the operands must have one dtype, got "
            f"{sorted(map(str, set(dtypes)))}; cast them with lax.convert_element_type, or "
            "use fgrad.numpy.concatenate, which promotes"
        )
    shapes = [tuple(np.shape(x)) for x in xs]
    ndim = len(shapes[0])
    if any(len(s) != ndim for s in shapes):
        raise ShapeError(f"lax.concatenate: the operands must have one rank, got shapes {shapes}")
    (dim,) = _axes("concatenate", (dimension,), ndim, shapes[0])
    return fnp.concatenate(xs, axis=dim)


def _fill(value, shape: tuple[int, ...], dtype: np.dtype, like):
    """``value`` (maybe traced) repeated to ``shape``, on ``like``'s device."""
    return fnp.full(shape, in_dtype(value, dtype), dtype, like=like)


def _dilate(x, axis: int, interior: int, value, dtype: np.dtype):
    """``x`` with ``interior`` copies of ``value`` between neighbours along ``axis``."""
    n = np.shape(x)[axis]
    if interior == 0 or n <= 1:
        return x
    moved = fnp.moveaxis(x, axis, -1)
    rest = tuple(np.shape(moved)[:-1])
    gaps = _fill(value, rest + (n, interior), dtype, x)
    woven = fnp.concatenate([fnp.expand_dims(moved, -1), gaps], axis=-1)
    woven = fnp.reshape(woven, rest + (n * (interior + 1),))[..., : n + (n - 1) * interior]
    return fnp.moveaxis(woven, -1, axis)


def pad(operand, padding_value, padding_config: Sequence[tuple[int, int, int]]):
    """``operand`` padded with ``padding_value`` (``jax.lax.pad``).

    Parameters
    ----------
    operand : array
    padding_value : scalar
        Of ``operand``'s dtype (a Python number of its kind is taken in it); may be traced.
    padding_config : sequence of (low, high, interior)
        Per axis: elements added before, after, and between neighbours. A negative
        ``low`` or ``high`` removes elements from that end instead (after the interior
        padding); ``interior`` is non-negative.

    Returns
    -------
    array
        Of size ``low + high + n + (n - 1) * interior`` along each axis.
    """
    x = fnp.asarray(operand)
    shape, dtype = tuple(np.shape(x)), fnp.result_type(x)
    config = [tuple(operator.index(v) for v in c) for c in padding_config]
    if len(config) != len(shape) or any(len(c) != 3 for c in config):
        raise ShapeError(
            f"lax.pad: padding_config needs one (low, high, interior) triple per axis of the "
            f"operand of shape {shape}, got {config}"
        )
    value_kind = fnp.result_type(padding_value).kind
    if type(padding_value) in (int, float, complex, bool):
        ok = value_kind == dtype.kind or (value_kind == "i" and dtype.kind == "u")
    else:
        ok = fnp.result_type(padding_value) == dtype
    if not ok:
        raise DtypeError(
            f"lax.pad: padding_value must have the operand's dtype {dtype}, got "
            f"{fnp.result_type(padding_value)}; cast it with lax.convert_element_type"
        )
    for axis, (low, high, interior) in enumerate(config):
        n = shape[axis]
        size = low + high + n + max(n - 1, 0) * interior
        if interior < 0 or size < 0:
            raise ShapeError(
                f"lax.pad: padding {config[axis]} of axis {axis} (size {n}) gives "
                f"{'a negative interior' if interior < 0 else f'size {size}'}; interior "
                "padding must be non-negative and each axis at least 0 long"
            )
        x = _dilate(x, axis, interior, padding_value, dtype)
        m = np.shape(x)[axis]
        keep = [builtins.slice(None)] * len(shape)
        keep[axis] = builtins.slice(max(-low, 0), m - max(-high, 0))
        x = x[tuple(keep)]
        rest = list(np.shape(x))
        parts = [
            x
            if k is None
            else _fill(padding_value, tuple(rest[:axis] + [k] + rest[axis + 1 :]), dtype, x)
            for k in ((low,) if low > 0 else ()) + (None,) + ((high,) if high > 0 else ())
        ]
        x = fnp.concatenate(parts, axis=axis) if len(parts) > 1 else x
    return x


def slice(  # noqa: A001 - JAX's name
    operand,
    start_indices: Sequence[int],
    limit_indices: Sequence[int],
    strides: Sequence[int] | None = None,
):
    """``operand[start:limit:stride]`` on every axis, with known bounds (``jax.lax.slice``;
    bounds outside ``[0, size]`` are an error, not clipped)."""
    x = fnp.asarray(operand)
    shape = tuple(np.shape(x))
    starts = [operator.index(s) for s in start_indices]
    limits = [operator.index(s) for s in limit_indices]
    steps = [1] * len(shape) if strides is None else [operator.index(s) for s in strides]
    if not len(starts) == len(limits) == len(steps) == len(shape) or any(
        not 0 <= a <= b <= n or s < 1 for a, b, s, n in zip(starts, limits, steps, shape)
    ):
        raise ShapeError(
            f"lax.slice: start_indices {tuple(starts)}, limit_indices {tuple(limits)} and "
            f"strides {tuple(steps)} must give 0 <= start <= limit <= size and stride >= 1 "
            f"for each axis of the operand of shape {shape}"
        )
    return x[tuple(builtins.slice(a, b, s) for a, b, s in zip(starts, limits, steps))]


def slice_in_dim(
    operand, start_index: int | None, limit_index: int | None, stride: int = 1, axis: int = 0
):
    """:func:`slice` along one ``axis`` (``jax.lax.slice_in_dim``); negative
    ``start_index`` and ``limit_index`` count from the end, ``None`` is the start or end."""
    x = fnp.asarray(operand)
    shape = tuple(np.shape(x))
    n = shape[axis]
    start = 0 if start_index is None else operator.index(start_index)
    limit = n if limit_index is None else operator.index(limit_index)
    start, limit = start + n if start < 0 else start, limit + n if limit < 0 else limit
    starts, limits, steps = [0] * len(shape), list(shape), [1] * len(shape)
    starts[axis], limits[axis], steps[axis] = start, limit, stride
    return slice(x, starts, limits, steps)


def index_in_dim(operand, index: int, axis: int = 0, keepdims: bool = True):
    """Entry ``index`` along ``axis``, kept as an axis of size 1 unless ``keepdims`` is
    false (``jax.lax.index_in_dim``; a negative index counts from the end)."""
    x = fnp.asarray(operand)
    n = np.shape(x)[axis]
    index = operator.index(index)
    if not -n <= index < n:
        raise IndexError(
            f"lax.index_in_dim: index {index} is out of bounds for axis {axis} with size {n}"
        )
    index %= n
    out = slice_in_dim(x, index, index + 1, 1, axis)
    return out if keepdims else fnp.squeeze(out, axis)


def dynamic_index_in_dim(operand, index, axis: int = 0, keepdims: bool = True):
    """Entry ``index`` (which may be traced; clamped into range) along ``axis``
    (``jax.lax.dynamic_index_in_dim``)."""
    out = dynamic_slice_in_dim(operand, index, 1, axis)
    return out if keepdims else fnp.squeeze(out, axis)


def dynamic_update_index_in_dim(operand, update, index, axis: int):
    """``operand`` with entry ``index`` (which may be traced) along ``axis`` replaced by
    ``update``, which has that axis of size 1 or lacks it
    (``jax.lax.dynamic_update_index_in_dim``)."""
    x, u = fnp.asarray(operand), fnp.asarray(update)
    if np.ndim(u) == np.ndim(x) - 1:
        u = fnp.expand_dims(u, axis)
    return dynamic_update_slice_in_dim(x, u, index, axis)


def rev(operand, dimensions: Sequence[int]):
    """``operand`` reversed along ``dimensions`` (``jax.lax.rev``)."""
    x = fnp.asarray(operand)
    dims = _axes("rev", dimensions, np.ndim(x), np.shape(x))
    return fnp.flip(x, axis=dims) if dims else x


def iota(dtype, size: int):
    """``0, 1, ..., size - 1`` in ``dtype`` (``jax.lax.iota``)."""
    return fnp.arange(operator.index(size), dtype=np.dtype(dtype))


def broadcasted_iota(dtype, shape: Sequence[int], dimension: int):
    """An array of ``shape`` holding each element's index along ``dimension``
    (``jax.lax.broadcasted_iota``)."""
    shape = tuple(operator.index(s) for s in shape)
    (dim,) = _axes("broadcasted_iota", (dimension,), len(shape), shape)
    return broadcast_in_dim(iota(dtype, shape[dim]), shape, (dim,))


def full(shape: Sequence[int], fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value`` (which may be traced), in
    ``dtype`` or ``fill_value``'s dtype (``jax.lax.full``)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return fnp.full(shape, fill_value, dtype=dtype)


def empty(shape: Sequence[int], dtype):
    """An array of ``shape`` and ``dtype`` (``jax.lax.empty``): zeros, as JAX's."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return fnp.zeros(shape, np.dtype(dtype))


def dtype(x) -> np.dtype:
    """The dtype of ``x`` (``jax.lax.dtype``): an array's own, NumPy's default for a
    Python number (float64 for a float, fgrad computing in NumPy's dtypes)."""
    return fnp.result_type(x)


def full_like(x, fill_value, dtype=None, shape: Sequence[int] | None = None):
    """An array like ``x`` (its shape and dtype unless ``shape`` / ``dtype`` are given)
    filled with ``fill_value`` (``jax.lax.full_like``), on ``x``'s device."""
    x = fnp.asarray(x)
    shape = np.shape(x) if shape is None else shape
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return fnp.full(shape, fill_value, fnp.result_type(x) if dtype is None else dtype, like=x)


__all__ = [
    "broadcast",
    "broadcast_in_dim",
    "broadcasted_iota",
    "concatenate",
    "convert_element_type",
    "dtype",
    "dynamic_index_in_dim",
    "dynamic_update_index_in_dim",
    "empty",
    "expand_dims",
    "full",
    "full_like",
    "index_in_dim",
    "iota",
    "pad",
    "reshape",
    "rev",
    "slice",
    "slice_in_dim",
    "squeeze",
    "transpose",
]
