"""Window geometry shared by the convolution and the windowed reductions.

Lengths of dilated axes and window counts, ``'SAME'``/``'VALID'``/explicit padding as
``(lo, hi)`` pairs, padding-and-dilating an array, and every window of an array as a
strided view (``sliding_window_view``; one slice per window position on other backends).
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fgrad.core import backend

Pairs = tuple[tuple[int, int], ...]


def dilate_shape(n: int, d: int) -> int:
    """Length of ``n`` elements with ``d - 1`` holes between neighbours."""
    return 0 if n == 0 else (n - 1) * d + 1


def window_count(length: int, extent: int, stride: int) -> int:
    """How many windows of ``extent`` fit in ``length`` with ``stride``."""
    return 0 if length < extent else (length - extent) // stride + 1


def pad_and_dilate(x, axes, padding: Pairs, dilation: tuple[int, ...], fill):
    """``x`` (an array) with holes (``fill``) between elements and ``padding`` along ``axes``.

    Negative padding crops. Returns ``x`` itself when there is nothing to do.
    """
    if all(d == 1 for d in dilation) and all(lo == hi == 0 for lo, hi in padding):
        return x
    shape = list(x.shape)
    place, crop = [slice(None)] * x.ndim, [slice(None)] * x.ndim
    for a, (lo, hi), d in zip(axes, padding, dilation):
        n = dilate_shape(x.shape[a], d)
        shape[a] = max(lo, 0) + n + max(hi, 0)
        place[a] = slice(max(lo, 0), max(lo, 0) + n, d)
        crop[a] = slice(max(-lo, 0), shape[a] - max(-hi, 0))
    out = backend.full(tuple(shape), fill, x.dtype, like=x)
    out[tuple(place)] = x
    return out[tuple(crop)]


def windows(x, axes, extents, strides, dilations):
    """Every window of ``x`` along ``axes`` as a view: ``x``'s axes (the windowed ones now
    counting windows), then one axis per window position, holes skipped."""
    dilated = tuple(dilate_shape(k, d) for k, d in zip(extents, dilations))
    if isinstance(x, np.ndarray):
        view = sliding_window_view(x, dilated, axis=tuple(axes))
        index = [slice(None)] * x.ndim + [slice(None, None, d) for d in dilations]
        for a, s in zip(axes, strides):
            index[a] = slice(None, None, s)
        return view[tuple(index)]
    # other backends (CuPy): one strided slice per window position, stacked
    counts = [window_count(x.shape[a], e, s) for a, e, s in zip(axes, dilated, strides)]
    parts = []
    for pos in itertools.product(*map(range, extents)):
        index = [slice(None)] * x.ndim
        for a, w, d, n, s in zip(axes, pos, dilations, counts, strides):
            index[a] = slice(w * d, w * d + dilate_shape(n, s), s)
        parts.append(x[tuple(index)])
    stacked = np.stack(parts, axis=-1)
    return stacked.reshape(*stacked.shape[:-1], *extents)


def same_padding(
    in_shape, window: tuple[int, ...], strides: tuple[int, ...], lower: bool = False
) -> Pairs:
    """``'SAME'`` padding: ``ceil(n / stride)`` outputs, the odd element after (``'SAME'``)
    or before (``'SAME_LOWER'``) the input."""
    pads = []
    for n, k, s in zip(in_shape, window, strides):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        small, big = total // 2, total - total // 2
        pads.append((big, small) if lower else (small, big))
    return tuple(pads)


def padding_pairs(padding, in_shape, window, strides, who: str) -> Pairs:
    """``'SAME'``, ``'SAME_LOWER'``, ``'VALID'`` or explicit ``(lo, hi)`` pairs, as pairs.

    ``in_shape`` and ``window`` are the dilated sizes along the windowed axes.
    """
    if isinstance(padding, str):
        kind = padding.upper()
        if kind == "VALID":
            return ((0, 0),) * len(in_shape)
        if kind in ("SAME", "SAME_LOWER"):
            return same_padding(in_shape, window, strides, lower=kind == "SAME_LOWER")
        raise ValueError(
            f"{who}: padding must be 'SAME', 'SAME_LOWER', 'VALID' or (lo, hi) pairs, "
            f"got {padding!r}"
        )
    pairs = tuple(tuple(int(v) for v in p) for p in padding)
    if len(pairs) != len(in_shape) or any(len(p) != 2 for p in pairs):
        raise ValueError(
            f"{who}: padding needs one (lo, hi) pair per windowed axis ({len(in_shape)}), "
            f"got {padding!r}"
        )
    return pairs
