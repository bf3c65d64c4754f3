"""``conv_general_dilated``: N-d convolution (cross-correlation, as in deep learning).

The primitive works in one channels-last layout: ``lhs`` is ``(N, *spatial, C)``, ``rhs``
is ``(*window, I, O)`` and the result ``(N, *out_spatial, O)``; ``fgrad.lax`` transposes
other layouts (``dimension_numbers``) to it. Static parameters, one entry per spatial
axis: ``window_strides``, ``padding`` (``(lo, hi)`` pairs, negative values crop),
``lhs_dilation`` (zeros inserted between input elements: the transposed convolution),
``rhs_dilation`` (holes in the window: atrous convolution) and ``feature_group_count``
(``C = G * I`` and ``O = G * O_g``: group ``g`` sees its own ``I`` input features).

The impl pads and dilates the input, takes every window as a strided view
(``sliding_window_view``) and contracts it with the kernel in one matmul (im2col), a
batched matmul over groups. The derivative w.r.t. ``lhs`` is the transposed
convolution (the cotangent dilated by the strides, convolved with the flipped kernel
whose ``I`` and ``O`` are swapped); w.r.t. ``rhs`` it is a convolution of ``lhs`` with
the cotangent, the roles of batch and feature axes exchanged. The batch rule folds the
mapped axis into ``N`` (``lhs``) or into the output features (``rhs``; both: one more
level of feature groups). See ``docs/conv.md``.
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp
from fgrad.primitives.indexing import getitem
from fgrad.primitives.structural import move_axis, reshape, transpose

Pairs = tuple[tuple[int, int], ...]

# -- window geometry, shared with the windowed reductions -------------------------------


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


# -- the primitive -----------------------------------------------------------------------


def _conv_impl(
    lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count
):
    nsp, groups = lhs.ndim - 2, feature_group_count
    spatial = range(1, 1 + nsp)
    dtype = np.result_type(lhs.dtype, rhs.dtype)
    x = pad_and_dilate(lhs, spatial, padding, lhs_dilation, 0)
    window, (n, c), o = rhs.shape[:nsp], (lhs.shape[0], lhs.shape[-1]), rhs.shape[-1]
    out_sp = tuple(
        window_count(x.shape[1 + i], dilate_shape(window[i], rhs_dilation[i]), window_strides[i])
        for i in range(nsp)
    )
    m, k = n * prod(out_sp), prod(window)
    if m == 0 or o == 0 or k * c == 0:
        return backend.zeros((n, *out_sp, o), dtype, like=lhs)
    # (N, *out, C, *window) -> (N, *out, *window, C): C stays the fastest axis of the copy
    patches = windows(x, spatial, window, window_strides, rhs_dilation)
    patches = patches.transpose(0, *spatial, *range(2 + nsp, 2 + 2 * nsp), 1 + nsp)
    if groups == 1:
        out = patches.reshape(m, k * c) @ rhs.reshape(k * c, o)
    else:
        ig, og = c // groups, o // groups
        cols = patches.reshape(m, k, groups, ig).transpose(2, 0, 1, 3).reshape(groups, m, k * ig)
        w = rhs.reshape(k, ig, groups, og).transpose(2, 0, 1, 3).reshape(groups, k * ig, og)
        out = np.matmul(cols, w).transpose(1, 0, 2).reshape(m, o)
    out = out.reshape(n, *out_sp, o)
    return out if out.dtype == dtype else out.astype(dtype)


def _conv_abstract_eval(
    lhs: ShapedArray,
    rhs: ShapedArray,
    *,
    window_strides,
    padding,
    lhs_dilation,
    rhs_dilation,
    feature_group_count,
) -> ShapedArray:
    def fail(why: str):
        raise ShapeError(
            f"conv_general_dilated: cannot convolve {lhs.str_short()} (N, *spatial, C) with "
            f"{rhs.str_short()} (*window, I, O): {why}"
        )

    nsp, groups = lhs.ndim - 2, feature_group_count
    if nsp < 1 or rhs.ndim != lhs.ndim:
        fail("both need the same number of axes, at least 3 (one spatial axis)")
    for name, v in (
        ("window_strides", window_strides),
        ("padding", padding),
        ("lhs_dilation", lhs_dilation),
        ("rhs_dilation", rhs_dilation),
    ):
        if len(v) != nsp:
            fail(f"{name} {v} needs one entry per spatial axis ({nsp})")
    if any(v < 1 for v in window_strides + lhs_dilation + rhs_dilation):
        fail("strides and dilations must be positive")
    c, (i, o) = lhs.shape[-1], rhs.shape[-2:]
    if groups < 1 or c != i * groups or o % groups:
        fail(
            f"with feature_group_count={groups}, the input features ({c}) must be "
            f"{groups} x the kernel's I ({i}) and O ({o}) a multiple of {groups}"
        )
    out_sp = tuple(
        window_count(
            dilate_shape(lhs.shape[1 + a], lhs_dilation[a]) + sum(padding[a]),
            dilate_shape(rhs.shape[a], rhs_dilation[a]),
            window_strides[a],
        )
        for a in range(nsp)
    )
    return ShapedArray((lhs.shape[0], *out_sp, o), np.result_type(lhs.dtype, rhs.dtype))


conv_general_dilated_p = Primitive("conv_general_dilated", _conv_impl, _conv_abstract_eval)


def conv_general_dilated(
    lhs,
    rhs,
    window_strides: tuple[int, ...],
    padding: Pairs,
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int = 1,
):
    """The primitive, channels-last (``lhs`` ``(N, *spatial, C)``, ``rhs`` ``(*window, I, O)``)
    with explicit padding pairs; ``fgrad.lax.conv_general_dilated`` is the public form."""
    return bind(
        conv_general_dilated_p,
        lhs,
        rhs,
        window_strides=tuple(int(s) for s in window_strides),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        lhs_dilation=tuple(int(d) for d in lhs_dilation),
        rhs_dilation=tuple(int(d) for d in rhs_dilation),
        feature_group_count=int(feature_group_count),
    )


def _conv(lhs, rhs, **params):
    return bind(conv_general_dilated_p, lhs, rhs, **params)


def _lhs_vjp(
    g, ans, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count
):
    """The transposed convolution: ``g`` dilated by the strides, convolved with the
    flipped kernel (``I`` and ``O`` swapped within each group), strided by the input's
    dilation, padded so that every input position gets exactly its windows."""
    nsp, groups = lhs.ndim - 2, feature_group_count
    window = rhs.shape[:nsp]
    pads = []
    for a in range(nsp):
        k = dilate_shape(window[a], rhs_dilation[a])
        before = k - padding[a][0] - 1
        after = (
            dilate_shape(lhs.shape[1 + a], lhs_dilation[a])
            + k
            - 1
            - dilate_shape(g.shape[1 + a], window_strides[a])
            - before
        )
        pads.append((before, after))
    i, o = rhs.shape[-2:]
    w = getitem(rhs, (slice(None, None, -1),) * nsp)
    w = reshape(w, (*window, i, groups, o // groups))
    w = transpose(w, (*range(nsp), nsp + 2, nsp + 1, nsp))
    w = reshape(w, (*window, o // groups, groups * i))
    return _conv(
        g,
        w,
        window_strides=lhs_dilation,
        padding=tuple(pads),
        lhs_dilation=window_strides,
        rhs_dilation=rhs_dilation,
        feature_group_count=groups,
    )


def _rhs_vjp(
    g, ans, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count
):
    """A convolution of ``lhs`` (features as batch, batch as features) with ``g`` as the
    kernel: window positions become output positions, so the strides and the kernel
    dilation trade places; each group's batch copies stay in their group."""
    nsp, groups = lhs.ndim - 2, feature_group_count
    n, c = lhs.shape[0], lhs.shape[-1]
    ig = c // groups
    spatial = tuple(range(1, 1 + nsp))
    window = rhs.shape[:nsp]
    pads = []
    for a in range(nsp):
        length = dilate_shape(lhs.shape[1 + a], lhs_dilation[a]) + sum(padding[a])
        used = (
            dilate_shape(window[a], rhs_dilation[a])
            + dilate_shape(g.shape[1 + a], window_strides[a])
            - 1
        )
        pads.append((padding[a][0], padding[a][1] - (length - used)))
    x = reshape(lhs, (n, *lhs.shape[1:-1], groups, ig))
    x = transpose(x, (nsp + 2, *spatial, nsp + 1, 0))
    x = reshape(x, (ig, *lhs.shape[1:-1], groups * n))
    cot = transpose(g, (*spatial, 0, nsp + 1))
    r = _conv(
        x,
        cot,
        window_strides=rhs_dilation,
        padding=tuple(pads),
        lhs_dilation=lhs_dilation,
        rhs_dilation=window_strides,
        feature_group_count=groups,
    )
    return transpose(r, (*spatial, 0, nsp + 1))


defjvp(
    conv_general_dilated_p,
    lambda t, ans, lhs, rhs, **p: _conv(t, rhs, **p),
    lambda t, ans, lhs, rhs, **p: _conv(lhs, t, **p),
)
defvjp(conv_general_dilated_p, _lhs_vjp, _rhs_vjp)


def _conv_batch(size, vals, dims, **params):
    (lhs, rhs), (dl, dr) = vals, dims
    nsp, groups = len(params["window_strides"]), params["feature_group_count"]
    if dr is None:
        x = move_axis(lhs, dl, 0)
        y = _conv(reshape(x, (size * x.shape[1], *x.shape[2:])), rhs, **params)
        return reshape(y, (size, x.shape[1], *y.shape[1:])), 0
    w = move_axis(rhs, dr, 0)
    window, (i, o) = w.shape[1 : 1 + nsp], w.shape[-2:]
    og = o // groups
    w = reshape(w, (size, *window, i, groups, og))
    if dl is None:
        # each group's output features become (batch, O_g): groups stay contiguous
        w = transpose(w, (*range(1, nsp + 3), 0, nsp + 3))
        y = _conv(lhs, reshape(w, (*window, i, groups * size * og)), **params)
        y = reshape(y, (*y.shape[:-1], groups, size, og))
        y = move_axis(y, nsp + 2, 0)
        return reshape(y, (*y.shape[:-2], o)), 0
    # both mapped: the batch becomes an outer level of feature groups
    x = move_axis(lhs, dl, 0)
    x = move_axis(x, 0, nsp + 1)
    x = reshape(x, (*x.shape[: nsp + 1], size * x.shape[-1]))
    w = transpose(w, (*range(1, nsp + 2), 0, nsp + 2, nsp + 3))
    w = reshape(w, (*window, i, size * o))
    y = _conv(x, w, **{**params, "feature_group_count": size * groups})
    y = reshape(y, (*y.shape[:-1], size, o))
    return move_axis(y, nsp + 1, 0), 0


defbatch(conv_general_dilated_p, _conv_batch)
