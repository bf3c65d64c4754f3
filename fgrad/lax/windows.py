"""``fgrad.lax.reduce_window``: a reduction over sliding windows (pooling).

The windows come from the ``window_patches`` primitive (``fgrad/primitives/windows.py``)
and are reduced by ``reduce_max``/``reduce_min``/``reduce_sum`` (or a product, or any
other computation through :func:`fgrad.lax.reduce`), whose derivative rules apply: a
max pool's cotangent goes to the window's maximum, shared equally between tied
elements (fgrad's convention for ``max``; JAX gives it all to one of them). A max or
min pool of one operand whose windows tile the input is one primitive,
``tile_extremum`` (``fgrad/primitives/tiles.py``), with the same derivative; a tiling
sum pool reduces a copy of the tiles. See ``docs/conv.md``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from math import prod

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.lax.reduction import reduce
from fgrad.numpy.conversion import as_array
from fgrad.primitives import window_geometry as _geometry
from fgrad.primitives.elementwise import add, maximum, minimum
from fgrad.primitives.indexing import getitem
from fgrad.primitives.reductions import reduce_max, reduce_min
from fgrad.primitives.structural import reduce_sum, reshape, transpose
from fgrad.primitives.tiles import tile_extremum
from fgrad.primitives.windows import window_patches

_KINDS = {
    "add": "sum",
    "sum": "sum",
    "max": "max",
    "maximum": "max",
    "min": "min",
    "minimum": "min",
    "mul": "prod",
    "multiply": "prod",
    "prod": "prod",
}


def _kind(computation) -> str | None:
    """The named reduction ``computation`` is, or ``None`` for another function."""
    if isinstance(computation, str):
        if computation not in _KINDS:
            raise ValueError(
                f"reduce_window: computation {computation!r} is none of {sorted(_KINDS)}; "
                "pass a function of two arrays for another reduction"
            )
        return _KINDS[computation]
    if computation is operator.add:
        return "sum"
    if computation is operator.mul:
        return "prod"
    return _KINDS.get(getattr(computation, "__name__", ""))


def reduction_identity(kind: str, dtype: np.dtype):
    """The start value of a ``kind`` reduction in ``dtype`` (``-inf`` or the smallest
    integer for a max, ...)."""
    if kind == "sum":
        return dtype.type(0)
    if dtype.kind == "f":
        return dtype.type(-np.inf if kind == "max" else np.inf)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return dtype.type(info.min if kind == "max" else info.max)
    if dtype.kind == "b":
        return dtype.type(kind == "min")
    raise TypeError(f"reduce_window: no {kind} for dtype {dtype}")


def _tiles(x, window: tuple[int, ...]):
    """For a sum or product pool, windows that tile ``x`` (stride = window, no
    padding or dilation) as one copy of ``x``, shape ``(window size, *out)``: each
    windowed axis ``n`` is split into ``(n // k, k)`` (the ``n % k`` elements no window
    reaches cut off first) and the window axes moved to the front, so the reduction over
    axis 0 and its derivative run over contiguous memory (NumPy reduces a strided view's
    small inner axes several times slower). Returns the array and its window axes,
    ``(0,)``."""
    fit = tuple(n - n % k for n, k in zip(x.shape, window))
    if fit != x.shape:
        x = getitem(x, tuple(slice(0, n) for n in fit))
    split, outer, inner = [], [], []
    for n, k in zip(fit, window):
        if k > 1:
            inner.append(len(split) + 1)
        outer.append(len(split))
        split += [n // k, k] if k > 1 else [n]
    out = tuple(split[a] for a in outer)
    x = transpose(reshape(x, tuple(split)), (*inner, *outer))
    return reshape(x, (prod(window), *out)), (0,)


def reduce_window(
    operand,
    init_value,
    computation: Callable | str,
    window_dimensions: Sequence[int],
    window_strides: Sequence[int] | None = None,
    padding: str | Sequence[tuple[int, int]] = "VALID",
    base_dilation: Sequence[int] | None = None,
    window_dilation: Sequence[int] | None = None,
):
    """Reduce every window of ``operand`` (``jax.lax.reduce_window``).

    Parameters
    ----------
    operand : array or pytree of arrays
        The input; windows slide along every axis. Several arrays of one shape (a
        tuple, say) are reduced together by ``computation`` on pytrees like it.
    init_value : scalar or pytree of scalars
        The reduction's start value, also used for padding and the holes of
        ``base_dilation`` (``-inf`` for a max pool, ``0`` for a sum, ``1`` for a
        product); structured like ``operand``.
    computation : callable or str
        Recognised by name and run as one reduction: ``fgrad.numpy.add`` /
        ``operator.add`` / ``lax.add`` / ``'sum'``, ``maximum`` / ``lax.max`` /
        ``'max'``, ``minimum`` / ``lax.min`` / ``'min'``, ``multiply`` /
        ``operator.mul`` / ``lax.mul`` / ``'prod'``. Any other function of two
        arrays (pytrees for several operands), associative and commutative with
        ``init_value`` its identity, runs through :func:`fgrad.lax.reduce`.
    window_dimensions : sequence of int
        Window size, one per axis of ``operand``.
    window_strides : sequence of int, optional
        Step, one per axis (default 1).
    padding : str or sequence of (int, int)
        ``'VALID'`` (the default), ``'SAME'``, ``'SAME_LOWER'`` or one ``(lo, hi)``
        pair per axis.
    base_dilation, window_dilation : sequence of int, optional
        Holes between input elements and between window elements (default 1).

    Returns
    -------
    array or pytree of arrays
        One value per window, ``operand``'s dtype (and structure).
    """
    leaves, treedef = tree_flatten(operand)
    inits, init_def = tree_flatten(init_value)
    if init_def != treedef:
        raise ValueError(
            f"reduce_window: init_value {init_def} must have the structure of operand {treedef}"
        )
    leaves = [as_array(x) for x in leaves]
    if len({x.shape for x in leaves}) != 1:
        raise ValueError(
            f"reduce_window: the operands must have one shape, got {[x.shape for x in leaves]}"
        )
    inits = [np.asarray(i).astype(x.dtype).item() for i, x in zip(inits, leaves)]
    geometry = _geometry_of(
        leaves[0].shape,
        window_dimensions,
        window_strides,
        padding,
        base_dilation,
        window_dilation,
    )
    kind = _kind(computation)
    if len(leaves) == 1 and kind in ("max", "min") and _tiling(leaves[0].ndim, *geometry):
        (x,), (init,) = leaves, inits
        out = tile_extremum(x, geometry[0], kind)
        if init == reduction_identity(kind, x.dtype):
            return out
        return (maximum if kind == "max" else minimum)(out, x.dtype.type(init))
    found = [_windows(x, i, *geometry) for x, i in zip(leaves, inits)]
    axes = found[0][1]
    if len(leaves) > 1 or kind is None:
        return reduce(tree_unflatten(treedef, [w for w, _ in found]), init_value, computation, axes)
    (x,), (init,), ((patches, _),) = leaves, inits, found
    if kind == "sum":
        out = reduce_sum(patches, axes)
        return out if init == 0 else add(out, x.dtype.type(init))
    if kind == "prod":
        out = fnp.prod(patches, axis=axes, dtype=x.dtype)
        return out if init == 1 else out * x.dtype.type(init)
    out = (reduce_max if kind == "max" else reduce_min)(patches, axes)
    if init == reduction_identity(kind, x.dtype):
        return out
    return (maximum if kind == "max" else minimum)(out, x.dtype.type(init))


def _geometry_of(shape, window_dimensions, window_strides, padding, base_dilation, window_dilation):
    """``reduce_window``'s arguments checked and normalised for an operand of ``shape``:
    the window, strides, padding pairs and the two dilations, one entry per axis."""
    nd = len(shape)
    window = tuple(int(k) for k in window_dimensions)
    strides = (1,) * nd if window_strides is None else tuple(int(s) for s in window_strides)
    base = (1,) * nd if base_dilation is None else tuple(int(d) for d in base_dilation)
    wdil = (1,) * nd if window_dilation is None else tuple(int(d) for d in window_dilation)
    if not len(window) == len(strides) == len(base) == len(wdil) == nd:
        raise ValueError(
            f"reduce_window: window_dimensions {window}, window_strides {strides} and the "
            f"dilations need one entry per axis of the operand {shape}"
        )
    in_sp = tuple(_geometry.dilate_shape(n, d) for n, d in zip(shape, base))
    extent = tuple(_geometry.dilate_shape(k, d) for k, d in zip(window, wdil))
    pads = _geometry.padding_pairs(padding, in_sp, extent, strides, "reduce_window")
    return window, strides, pads, base, wdil


def _tiling(nd, window, strides, pads, base, wdil) -> bool:
    """Whether the windows tile the input: stride = window, no padding or dilation."""
    plain = base == wdil == (1,) * nd and pads == ((0, 0),) * nd
    return plain and window == strides and min(window, default=1) >= 1


def _windows(x, init, window, strides, pads, base, wdil):
    """Every window of ``x`` (holes and padding filled with ``init``) and the axes that
    run over a window's elements."""
    if _tiling(x.ndim, window, strides, pads, base, wdil):
        return _tiles(x, window)
    patches = window_patches(x, window, strides, pads, base, wdil, fill=init)
    return patches, tuple(range(x.ndim, 2 * x.ndim))


__all__ = ["reduce_window", "reduction_identity"]
