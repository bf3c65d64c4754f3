"""Shape manipulation with NumPy's signatures: reshape, transpose, concatenate, stack, ..."""

from __future__ import annotations

import operator

import numpy as np

from fgrad.core import backend
from fgrad.numpy.conversion import as_array, astype, check_no_out, host_index, normalize_axes
from fgrad.numpy.creation import full, zeros
from fgrad.numpy.ufuncs import isinf, isnan, where
from fgrad.primitives import structural as sh
from fgrad.primitives.indexing import concatenate as concatenate_primitive
from fgrad.primitives.indexing import getitem, index_set


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


def reshape(a, shape=None, order: str = "C", *, newshape=None, copy: bool | None = None):
    """Give ``a`` a new shape without changing its data; one dimension may be -1."""
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    shape = newshape if shape is None else shape
    a = as_array(a)
    shape = _resolve_shape(shape, a.size, "reshape")
    return a if shape == a.shape else sh.reshape(a, shape)


def ravel(a, order: str = "C"):
    """The array flattened to one dimension, in row-major order (``order="F"``: column-major;
    "A" and "K" read as "C", fgrad arrays having no memory layout)."""
    a = as_array(a)
    if order == "F":
        a = transpose(a)
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


def broadcast_to(array, shape, subok: bool = False):
    """Broadcast ``array`` to ``shape`` (a read-only view on plain NumPy arrays)."""
    a = as_array(array)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return a if a.shape == shape else sh.broadcast_to(a, shape)


def _cast_all(arrays, dtype, casting: str, fn: str) -> list:
    """The arrays cast to ``dtype`` (NumPy's ``dtype=``/``casting=`` of the joining
    functions); a cast the ``casting`` rule forbids raises, as in NumPy."""
    arrays = [as_array(a) for a in arrays]
    if dtype is None:
        return arrays
    dtype = np.dtype(dtype)
    for a in arrays:
        if not np.can_cast(a.dtype, dtype, casting):
            raise TypeError(
                f"{fn}: cannot cast an array of dtype {a.dtype} to {dtype} under "
                f"casting={casting!r}; pass a wider casting rule (casting='unsafe') or "
                "convert the array first with .astype"
            )
    return [astype(a, dtype) for a in arrays]


def concatenate(arrays, axis=0, out=None, *, dtype=None, casting: str = "same_kind"):
    """Join arrays along an existing axis (``axis=None`` flattens them first), cast to
    ``dtype`` if given."""
    check_no_out(out, "concatenate")
    arrays = _cast_all(arrays, dtype, casting, "concatenate")
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if arrays[0].ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = normalize_axes(axis, arrays[0].ndim, "concatenate")[0]
    return arrays[0] if len(arrays) == 1 else concatenate_primitive(arrays, axis)


def stack(arrays, axis: int = 0, out=None, *, dtype=None, casting: str = "same_kind"):
    """Join arrays of equal shape along a new axis, cast to ``dtype`` if given."""
    check_no_out(out, "stack")
    arrays = _cast_all(arrays, dtype, casting, "stack")
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    axis = normalize_axes(axis, arrays[0].ndim + 1, "stack")[0]
    return concatenate([expand_dims(a, axis) for a in arrays], axis)


# -- more of NumPy's shape functions, composed from the ones above --------------------------


def _gi(x, index):
    return getitem(x, tuple(index))


def atleast_1d(*arys):
    """Arrays with at least one dimension (``numpy.atleast_1d``)."""
    res = [reshape(a, (1,)) if as_array(a).ndim == 0 else as_array(a) for a in arys]
    return res[0] if len(res) == 1 else tuple(res)


def atleast_2d(*arys):
    """Arrays with at least two dimensions; 1-D arrays become rows."""
    res = []
    for a in arys:
        a = as_array(a)
        res.append(reshape(a, (1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a)
    return res[0] if len(res) == 1 else tuple(res)


def atleast_3d(*arys):
    """Arrays with at least three dimensions: (N,) -> (1, N, 1), (M, N) -> (M, N, 1)."""
    res = []
    for a in arys:
        a = as_array(a)
        if a.ndim == 0:
            a = reshape(a, (1, 1, 1))
        elif a.ndim == 1:
            a = reshape(a, (1, a.shape[0], 1))
        elif a.ndim == 2:
            a = reshape(a, a.shape + (1,))
        res.append(a)
    return res[0] if len(res) == 1 else tuple(res)


def broadcast_arrays(*args, subok: bool = False):
    """The arguments broadcast against each other (``numpy.broadcast_arrays``)."""
    args = [as_array(a) for a in args]
    shape = tuple(np.broadcast_shapes(*[a.shape for a in args]))
    return tuple(broadcast_to(a, shape) for a in args)


def hstack(tup, *, dtype=None, casting: str = "same_kind"):
    """Join along the second axis (the first for 1-D arrays)."""
    arrs = atleast_1d(*tup)
    arrs = [arrs] if not isinstance(arrs, tuple) else list(arrs)
    return concatenate(arrs, axis=0 if arrs[0].ndim == 1 else 1, dtype=dtype, casting=casting)


def vstack(tup, *, dtype=None, casting: str = "same_kind"):
    """Join along the first axis; 1-D arrays become rows."""
    arrs = atleast_2d(*tup)
    arrs = [arrs] if not isinstance(arrs, tuple) else list(arrs)
    return concatenate(arrs, axis=0, dtype=dtype, casting=casting)


row_stack = vstack


def dstack(tup):
    """Join along the third axis."""
    arrs = atleast_3d(*tup)
    arrs = [arrs] if not isinstance(arrs, tuple) else list(arrs)
    return concatenate(arrs, axis=2)


def column_stack(tup):
    """Join 1-D arrays as columns (2-D arrays as they are) into a 2-D array."""
    arrs = []
    for a in tup:
        a = as_array(a)
        arrs.append(reshape(a, (a.size, 1)) if a.ndim < 2 else a)
    return concatenate(arrs, axis=1)


def _split_points(n: int, sections, fn: str) -> list[int]:
    if isinstance(sections, (int, np.integer)):
        k = int(sections)
        if k <= 0:
            raise ValueError(f"{fn}: number sections must be larger than 0")
        if fn == "split" and n % k:
            raise ValueError("array split does not result in an equal division")
        each, extra = divmod(n, k)
        sizes = [each + 1] * extra + [each] * (k - extra)
        return np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return [0] + [int(p) for p in sections] + [n]


def array_split(ary, indices_or_sections, axis: int = 0):
    """Split into sub-arrays along ``axis``; sections may differ in length by one."""
    return _split(ary, indices_or_sections, axis, "array_split")


def split(ary, indices_or_sections, axis: int = 0):
    """Split into equal sub-arrays (or at the given indices) along ``axis``."""
    return _split(ary, indices_or_sections, axis, "split")


def _split(ary, sections, axis, fn):
    a = as_array(ary)
    axis = normalize_axes(axis, a.ndim, fn)[0]
    pts = _split_points(a.shape[axis], sections, fn)
    lead = (slice(None),) * axis
    return [_gi(a, lead + (slice(s, e),)) for s, e in zip(pts[:-1], pts[1:])]


def hsplit(ary, indices_or_sections):
    """Split along the second axis (the first for 1-D arrays)."""
    a = as_array(ary)
    return split(a, indices_or_sections, 1 if a.ndim > 1 else 0)


def vsplit(ary, indices_or_sections):
    """Split along the first axis."""
    return split(ary, indices_or_sections, 0)


def tile(A, reps):  # noqa: N803 - NumPy's name
    """Repeat the whole array ``reps`` times along each axis (``numpy.tile``)."""
    a = as_array(A)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    nd = max(a.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    a = reshape(a, (1,) * (nd - a.ndim) + a.shape)
    inter = tuple(x for r, d in zip(reps, a.shape) for x in (1, d))
    target = tuple(x for r, d in zip(reps, a.shape) for x in (r, d))
    out = broadcast_to(reshape(a, inter), target)
    return reshape(out, tuple(r * d for r, d in zip(reps, a.shape)))


def repeat(a, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (flattening when None)."""
    a = as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axes(axis, a.ndim, "repeat")[0]
    idx = np.repeat(np.arange(a.shape[axis]), np.asarray(host_index(repeats)))
    return _gi(a, (slice(None),) * axis + (idx,))


def flip(m, axis=None):
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    m = as_array(m)
    axes = normalize_axes(axis, m.ndim, "flip")
    if not axes:
        return m
    return _gi(m, [slice(None, None, -1) if i in axes else slice(None) for i in range(m.ndim)])


def fliplr(m):
    """Reverse the second axis."""
    m = as_array(m)
    if m.ndim < 2:
        raise ValueError("fliplr: input must be >= 2-d")
    return flip(m, 1)


def flipud(m):
    """Reverse the first axis."""
    m = as_array(m)
    if m.ndim < 1:
        raise ValueError("flipud: input must be >= 1-d")
    return flip(m, 0)


def roll(a, shift, axis=None):
    """Shift elements cyclically along ``axis`` (``numpy.roll``)."""
    a = as_array(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    total = {}
    for s, ax in zip(shifts.ravel().tolist(), axes.ravel().tolist()):
        ax = normalize_axes(ax, a.ndim, "roll")[0]
        total[ax] = total.get(ax, 0) + s
    for ax, s in total.items():
        n = a.shape[ax]
        if n == 0 or s % n == 0:
            continue
        idx = (np.arange(n) - s) % n
        a = _gi(a, (slice(None),) * ax + (idx,))
    return a


def rot90(m, k: int = 1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (``numpy.rot90``)."""
    m = as_array(m)
    if len(axes) != 2:
        raise ValueError("rot90: len(axes) must be 2")
    a0, a1 = (normalize_axes(x, m.ndim, "rot90")[0] for x in axes)
    if a0 == a1:
        raise ValueError("rot90: axes must be different")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(m, a1), perm)
    return flip(transpose(m, perm), a1)


def pad(array, pad_width, mode="constant", **kwargs):
    """Pad ``array`` (``numpy.pad``): modes constant, edge, reflect, symmetric and wrap."""
    a = as_array(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (a.ndim, 2))
    if mode == "constant":
        cv = np.broadcast_to(np.asarray(kwargs.pop("constant_values", 0)), (a.ndim, 2))
        if kwargs:
            raise TypeError(f"pad: unsupported keyword arguments {sorted(kwargs)}")
        shape = tuple(int(d + lo + hi) for d, (lo, hi) in zip(a.shape, widths))
        if np.all(cv == cv.flat[0]):
            out = full(shape, cv.flat[0], a.dtype, like=a)  # on the array's device
        else:  # NumPy fills the axes in order, later axes overwriting the corners
            out = np.empty(shape, a.dtype)
            for ax in range(a.ndim):
                lo, hi = widths[ax]
                idx = [slice(None)] * a.ndim
                idx[ax] = slice(0, lo)
                out[tuple(idx)] = cv[ax, 0]
                idx[ax] = slice(shape[ax] - hi, shape[ax])
                out[tuple(idx)] = cv[ax, 1]
            out = backend.asarray(out, like=a)
        index = tuple(slice(int(lo), int(lo) + d) for d, (lo, _) in zip(a.shape, widths))
        return index_set(out, a, index)
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported")
    if kwargs:
        raise TypeError(f"pad: unsupported keyword arguments {sorted(kwargs)}")
    for ax in range(a.ndim):
        lo, hi = int(widths[ax, 0]), int(widths[ax, 1])
        if lo or hi:
            idx = np.pad(np.arange(a.shape[ax]), (lo, hi), mode=mode)
            a = _gi(a, (slice(None),) * ax + (idx,))
    return a


def diagonal(a, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The ``offset`` diagonal of the plane ``(axis1, axis2)``, as the last axis."""
    a = as_array(a)
    if a.ndim < 2:
        raise ValueError("diagonal requires an array of at least two dimensions")
    a = moveaxis(a, (axis1, axis2), (-2, -1))
    n, m = a.shape[-2:]
    i = np.arange(max(0, -offset), n)
    j = i + offset
    keep = (j >= 0) & (j < m)
    return _gi(a, (Ellipsis, i[keep], j[keep]))


def diag(v, k: int = 0):
    """The ``k``-th diagonal of a 2-D array, or a 2-D array with 1-D ``v`` on that diagonal."""
    v = as_array(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("diag: input must be 1- or 2-d")
    n = v.shape[0] + abs(k)
    i = np.arange(v.shape[0])
    rows, cols = (i, i + k) if k >= 0 else (i - k, i)
    return index_set(zeros((n, n), v.dtype), v, (rows, cols))


def tri(N, M=None, k: int = 0, dtype=float, *, like=None):  # noqa: N803 - NumPy's names
    """Ones at and below diagonal ``k`` (a constant, ``numpy.tri``)."""
    return np.tri(N, M, k, dtype)


def _tri_mask(a, k, lower):
    n, m = a.shape[-2:]
    mask = np.tri(n, m, k, dtype=bool)
    return mask if lower else ~np.tri(n, m, k - 1, dtype=bool)


def tril(m, k: int = 0):
    """Zeros above diagonal ``k`` of the last two axes."""
    m = as_array(m)
    return where(_tri_mask(m, k, True), m, np.zeros((), m.dtype))


def triu(m, k: int = 0):
    """Zeros below diagonal ``k`` of the last two axes."""
    m = as_array(m)
    return where(_tri_mask(m, k, False), m, np.zeros((), m.dtype))


def select(condlist, choicelist, default=0):
    """Choose from ``choicelist`` by the first true condition (``numpy.select``)."""
    if len(condlist) != len(choicelist):
        raise ValueError("select: list of cases must be same length as list of conditions")
    if not condlist:
        raise ValueError("select with an empty condition list is not possible")
    out = as_array(default) if not isinstance(default, (int, float, complex)) else default
    dt = np.result_type(
        *[np.asarray(0, c.dtype) if hasattr(c, "dtype") else c for c in choicelist], default
    )
    for c, v in zip(reversed(condlist), reversed(choicelist)):
        out = where(c, v, out)
    out = as_array(out)
    return astype(out, dt) if out.dtype != dt else out


def nan_to_num(x, copy: bool = True, nan=0.0, posinf=None, neginf=None):
    """Replace NaN and infinities by finite numbers; they get derivative 0."""
    x = as_array(x)
    if x.dtype.kind not in "fc":
        return x
    fi = np.finfo(x.dtype)
    posinf = fi.max if posinf is None else posinf
    neginf = fi.min if neginf is None else neginf
    out = where(isnan(x), np.asarray(nan, x.dtype), x)
    out = where(isinf(x) & (x > 0), np.asarray(posinf, x.dtype), out)
    return where(isinf(x) & (x < 0), np.asarray(neginf, x.dtype), out)


def meshgrid(*xi, copy: bool = True, sparse: bool = False, indexing: str = "xy"):
    """Coordinate arrays from 1-D coordinate vectors (``numpy.meshgrid``)."""
    if indexing not in ("xy", "ij"):
        raise ValueError("meshgrid: valid values for `indexing` are 'xy' and 'ij'")
    xs = [ravel(x) for x in xi]
    nd = len(xs)
    out = []
    for i, x in enumerate(xs):
        shape = [1] * nd
        shape[i] = x.shape[0]
        if indexing == "xy" and nd > 1 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        out.append(reshape(x, tuple(shape)))
    if not sparse:
        out = list(broadcast_arrays(*out))
    return tuple(out)


__all__ = [
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_arrays",
    "broadcast_to",
    "column_stack",
    "concatenate",
    "diag",
    "diagonal",
    "dstack",
    "expand_dims",
    "flip",
    "fliplr",
    "flipud",
    "hsplit",
    "hstack",
    "meshgrid",
    "moveaxis",
    "nan_to_num",
    "pad",
    "ravel",
    "repeat",
    "reshape",
    "roll",
    "rot90",
    "row_stack",
    "select",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "tile",
    "transpose",
    "tri",
    "tril",
    "triu",
    "vsplit",
    "vstack",
]
