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
batched matmul over groups. The derivatives are one matmul each over the same windows
(the ``window_patches`` primitive with a window of 1 on the batch and feature axes):
w.r.t. ``rhs`` the windows of ``lhs`` transposed times the cotangent (``patches^T @ g``,
every output position of every example summed in one product); w.r.t. ``lhs`` the
cotangent times the kernel transposed (``g @ w^T``: each window's share of every input it
read), added back to those inputs by ``window_patches_transpose`` (col2im): the
transposed convolution, without the zeros a strided one would multiply. The batch rule
folds the mapped axis into ``N`` (``lhs``) or into the output features (``rhs``; both:
one more level of feature groups). See ``docs/conv.md``.
"""

from __future__ import annotations

from math import prod

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp
from fgrad.primitives.dot_general import dot_general
from fgrad.primitives.structural import move_axis, reshape, transpose
from fgrad.primitives.window_geometry import (
    Pairs,
    dilate_shape,
    pad_and_dilate,
    window_count,
    windows,
)
from fgrad.primitives.windows import window_patches, window_patches_transpose

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


def _patch_geometry(window: tuple[int, ...], params: dict) -> dict:
    """``window_patches``'s geometry for the convolution's windows of ``lhs`` (one window
    position along the batch and feature axes)."""
    return {
        "window_dimensions": (1, *window, 1),
        "window_strides": (1, *params["window_strides"], 1),
        "padding": ((0, 0), *params["padding"], (0, 0)),
        "base_dilation": (1, *params["lhs_dilation"], 1),
        "window_dilation": (1, *params["rhs_dilation"], 1),
    }


def _lhs_vjp(g, ans, lhs, rhs, **params):
    """col2im of ``g @ rhs^T``: one matmul gives every output position's share of each of
    its window's inputs (``(M, window, C)``, group by group), and the transpose of taking
    windows adds the shares back to the inputs they were read from."""
    nsp, groups = lhs.ndim - 2, params["feature_group_count"]
    window, (i, o) = rhs.shape[:nsp], rhs.shape[-2:]
    n, out, c = g.shape[0], g.shape[1:-1], lhs.shape[-1]
    m, k, og = n * prod(out), prod(window), o // groups
    if groups == 1:
        cols = dot_general(reshape(g, (m, o)), reshape(rhs, (k * i, o)), (((1,), (1,)), ((), ())))
    else:
        w = reshape(rhs, (k, i, groups, og))
        cols = dot_general(reshape(g, (m, groups, og)), w, (((2,), (3,)), ((1,), (2,))))
        cols = transpose(cols, (1, 2, 0, 3))  # (G, M, window, I) -> (M, window, G, I)
    cols = transpose(reshape(cols, (n, *out, k, c)), (*range(nsp + 1), nsp + 2, nsp + 1))
    cols = reshape(cols, (n, *out, c, 1, *window, 1))  # window_patches's layout
    return window_patches_transpose(cols, tuple(lhs.shape), **_patch_geometry(window, params))


def _rhs_vjp(g, ans, lhs, rhs, **params):
    """``patches(lhs)^T @ g``: one matmul over every output position of every example
    (a batched one over the groups), the patches being the forward pass's windows."""
    nsp, groups = lhs.ndim - 2, params["feature_group_count"]
    window, (i, o) = rhs.shape[:nsp], rhs.shape[-2:]
    n, out, c = g.shape[0], g.shape[1:-1], lhs.shape[-1]
    m, k, og = n * prod(out), prod(window), o // groups
    cols = window_patches(lhs, fill=0, **_patch_geometry(window, params))
    # (N, *out, C, 1, *window, 1) -> (N, *out, 1, *window, 1, C): the copy that reshapes
    # it to a matrix then moves runs of C contiguous features (im2col)
    cols = transpose(cols, (*range(nsp + 1), *range(nsp + 2, 2 * nsp + 4), nsp + 1))
    if groups == 1:
        dw = dot_general(reshape(cols, (m, k * c)), reshape(g, (m, o)), (((0,), (0,)), ((), ())))
        return reshape(dw, rhs.shape)
    cols = reshape(cols, (m, k, groups, i))
    dw = dot_general(cols, reshape(g, (m, groups, og)), (((0,), (0,)), ((2,), (1,))))
    return reshape(transpose(dw, (1, 2, 0, 3)), rhs.shape)  # (G, window, I, O_g) -> HWIO


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
