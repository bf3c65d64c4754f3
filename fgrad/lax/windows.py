"""``fgrad.lax.reduce_window``: max, min or sum over sliding windows (pooling).

The windows come from the ``window_patches`` primitive (``fgrad/primitives/windows.py``)
and are reduced by ``reduce_max``/``reduce_min``/``reduce_sum``, whose derivative
rules apply: a max pool's cotangent goes to the window's maximum, shared equally
between tied elements (fgrad's convention for ``max``; JAX gives it all to one of
them). A max or min pool whose windows tile the input is one primitive,
``tile_extremum`` (``fgrad/primitives/tiles.py``), with the same derivative; a tiling
sum pool reduces a copy of the tiles. See ``docs/conv.md``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from math import prod

import numpy as np

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
}


def _kind(computation) -> str:
    if isinstance(computation, str):
        name = computation
    elif computation is operator.add:
        name = "add"
    else:
        name = getattr(computation, "__name__", "")
    if name not in _KINDS:
        raise NotImplementedError(
            f"reduce_window: computation {computation!r} is not supported; use an addition "
            "(fgrad.numpy.add, operator.add, 'sum'), a maximum (fgrad.numpy.maximum, "
            "'max') or a minimum (fgrad.numpy.minimum, 'min')"
        )
    return _KINDS[name]


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
    """For a sum pool, windows that tile ``x`` (stride = window, no padding or dilation)
    as one copy of ``x``, shape ``(window size, *out)``: each windowed axis ``n`` is split into
    ``(n // k, k)`` (the ``n % k`` elements no window reaches cut off first) and the
    window axes moved to the front, so the reduction over axis 0 and its derivative run
    over contiguous memory (NumPy reduces a strided view's small inner axes several times
    slower). Returns the array and its window axes, ``(0,)``."""
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
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    base_dilation: Sequence[int] | None = None,
    window_dilation: Sequence[int] | None = None,
):
    """Reduce every window of ``operand`` (``jax.lax.reduce_window``).

    Parameters
    ----------
    operand : array
        The input; windows slide along every axis.
    init_value : scalar
        The reduction's start value, also used for padding and the holes of
        ``base_dilation`` (``-inf`` for a max pool, ``0`` for a sum).
    computation : callable or str
        ``fgrad.numpy.add`` / ``operator.add`` / ``'sum'``, ``fgrad.numpy.maximum`` /
        ``'max'`` or ``fgrad.numpy.minimum`` / ``'min'`` (recognised by name, so
        ``lax.add``, ``lax.max`` and ``lax.min`` work too).
    window_dimensions, window_strides : sequence of int
        Window size and step, one per axis of ``operand``.
    padding : str or sequence of (int, int)
        ``'VALID'``, ``'SAME'``, ``'SAME_LOWER'`` or one ``(lo, hi)`` pair per axis.
    base_dilation, window_dilation : sequence of int, optional
        Holes between input elements and between window elements (default 1).

    Returns
    -------
    array
        One value per window, ``operand``'s dtype.
    """
    x = as_array(operand)
    kind = _kind(computation)
    nd = x.ndim
    window = tuple(int(k) for k in window_dimensions)
    strides = tuple(int(s) for s in window_strides)
    base = (1,) * nd if base_dilation is None else tuple(int(d) for d in base_dilation)
    wdil = (1,) * nd if window_dilation is None else tuple(int(d) for d in window_dilation)
    if not len(window) == len(strides) == len(base) == len(wdil) == nd:
        raise ValueError(
            f"reduce_window: window_dimensions {window}, window_strides {strides} and the "
            f"dilations need one entry per axis of the operand {x.shape}"
        )
    in_sp = tuple(_geometry.dilate_shape(n, d) for n, d in zip(x.shape, base))
    extent = tuple(_geometry.dilate_shape(k, d) for k, d in zip(window, wdil))
    pads = _geometry.padding_pairs(padding, in_sp, extent, strides, "reduce_window")
    init = np.asarray(init_value).astype(x.dtype).item()
    plain = base == wdil == (1,) * nd and pads == ((0, 0),) * nd
    tiling = plain and window == strides and min(window, default=1) >= 1
    if tiling and kind != "sum":
        out = tile_extremum(x, window, kind)
    else:
        if tiling:
            patches, axes = _tiles(x, window)
        else:
            patches = window_patches(x, window, strides, pads, base, wdil, fill=init)
            axes = tuple(range(nd, 2 * nd))
        if kind == "sum":
            out = reduce_sum(patches, axes)
            return out if init == 0 else add(out, x.dtype.type(init))
        out = (reduce_max if kind == "max" else reduce_min)(patches, axes)
    if init == reduction_identity(kind, x.dtype):
        return out
    return (maximum if kind == "max" else minimum)(out, x.dtype.type(init))


__all__ = ["reduce_window", "reduction_identity"]
