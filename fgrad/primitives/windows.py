"""``window_patches``: every window of an array, for ``reduce_window`` and pooling.

``window_patches(x)`` has shape ``(*out, *window_dimensions)``: entry ``(o, w)`` is the
element at position ``o * stride + w * window_dilation`` of ``x`` padded with
``fill`` (and with ``fill`` in the holes of ``base_dilation``). A windowed reduction is
an ordinary reduction over the trailing window axes, so max pooling inherits
``reduce_max``'s derivative (ties share it equally). The impl is a strided view, so
the reduction reads ``x`` in place; with ``materialize=True`` (the convolution's im2col)
and numba, a compiled copy laid out for the caller's reshape
(:mod:`fgrad.primitives.window_kernels`).

The primitive is affine in ``x`` (``fill`` is a constant): its tangent map is the same
windows of the tangent with zero fill, and its transpose, ``window_patches_transpose``,
adds every window's cotangent back to the positions it was read from (col2im).
"""

from __future__ import annotations

import itertools

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp
from fgrad.primitives import window_kernels
from fgrad.primitives.structural import move_axis, reshape
from fgrad.primitives.window_geometry import (
    Pairs,
    dilate_shape,
    pad_and_dilate,
    window_count,
    windows,
)


def _out_shape(
    in_shape, window_dimensions, window_strides, padding, base_dilation, window_dilation
) -> tuple[int, ...]:
    return tuple(
        window_count(dilate_shape(n, bd) + lo + hi, dilate_shape(k, wd), s)
        for n, k, s, (lo, hi), bd, wd in zip(
            in_shape, window_dimensions, window_strides, padding, base_dilation, window_dilation
        )
    )


def _check(
    name: str, shape, window_dimensions, window_strides, padding, base_dilation, window_dilation
) -> None:
    nd = len(shape)
    for what, v in (
        ("window_dimensions", window_dimensions),
        ("window_strides", window_strides),
        ("padding", padding),
        ("base_dilation", base_dilation),
        ("window_dilation", window_dilation),
    ):
        if len(v) != nd:
            raise ShapeError(
                f"{name}: {what} {v} needs one entry per axis of the operand {tuple(shape)}"
            )
    if any(v < 1 for v in window_strides + base_dilation + window_dilation):
        raise ShapeError(f"{name}: strides and dilations must be positive")
    if any(k < 0 for k in window_dimensions):
        raise ShapeError(f"{name}: window_dimensions {window_dimensions} must not be negative")


def _patches_impl(
    x,
    *,
    window_dimensions,
    window_strides,
    padding,
    base_dilation,
    window_dilation,
    fill,
    materialize,
):
    params = (window_dimensions, window_strides, padding, base_dilation, window_dilation)
    if materialize and window_kernels.usable(x):
        out = _out_shape(x.shape, *params)
        return window_kernels.take_windows(x, out, *params, fill)
    axes = range(x.ndim)
    x = pad_and_dilate(x, axes, padding, base_dilation, fill)
    out = _out_shape(
        x.shape,
        window_dimensions,
        window_strides,
        ((0, 0),) * x.ndim,
        (1,) * x.ndim,
        window_dilation,
    )
    if 0 in out or 0 in window_dimensions:
        return backend.full(out + tuple(window_dimensions), fill, x.dtype, like=x)
    return windows(x, axes, window_dimensions, window_strides, window_dilation)


def _patches_abstract_eval(
    x: ShapedArray,
    *,
    window_dimensions,
    window_strides,
    padding,
    base_dilation,
    window_dilation,
    fill,
    materialize,
) -> ShapedArray:
    params = (window_dimensions, window_strides, padding, base_dilation, window_dilation)
    _check("window_patches", x.shape, *params)
    return ShapedArray(_out_shape(x.shape, *params) + tuple(window_dimensions), x.dtype)


window_patches_p = Primitive("window_patches", _patches_impl, _patches_abstract_eval)


def window_patches(
    x,
    window_dimensions: tuple[int, ...],
    window_strides: tuple[int, ...],
    padding: Pairs,
    base_dilation: tuple[int, ...],
    window_dilation: tuple[int, ...],
    fill=0,
    materialize: bool = False,
):
    """Every window of ``x``, shape ``(*out, *window_dimensions)`` (see the module doc).

    ``materialize=True`` says that the caller copies the windows with the trailing
    features contiguous anyway (im2col): with the compiled kernels they are then copied
    here, in one pass from ``x`` (no padded copy), into memory laid out ``(*out, *window,
    features)``, so that the caller's reshape is a view. The values are the same either
    way."""
    return bind(
        window_patches_p,
        x,
        window_dimensions=tuple(int(k) for k in window_dimensions),
        window_strides=tuple(int(s) for s in window_strides),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        base_dilation=tuple(int(d) for d in base_dilation),
        window_dilation=tuple(int(d) for d in window_dilation),
        fill=fill,
        materialize=bool(materialize),
    )


def _unpatch_impl(
    g, *, in_shape, window_dimensions, window_strides, padding, base_dilation, window_dilation
):
    if window_kernels.usable(g):
        return window_kernels.gather_windows(
            g, in_shape, window_strides, padding, base_dilation, window_dilation
        )
    nd = len(in_shape)
    out = g.shape[:nd]
    padded = [
        dilate_shape(n, bd) + lo + hi for n, bd, (lo, hi) in zip(in_shape, base_dilation, padding)
    ]
    # negative padding: the cropped elements get zero cotangent, so grow the buffer back
    before = [max(-lo, 0) for lo, _ in padding]
    after = [max(-hi, 0) for _, hi in padding]
    buf = backend.zeros(tuple(b + p + a for b, p, a in zip(before, padded, after)), g.dtype, like=g)
    for pos in itertools.product(*map(range, window_dimensions)):
        target = tuple(
            slice(b + w * wd, b + w * wd + dilate_shape(o, s), s)
            for b, w, wd, o, s in zip(before, pos, window_dilation, out, window_strides)
        )
        buf[target] += g[(Ellipsis, *pos)]
    return buf[_kept(before, padding, in_shape, base_dilation)]


def _kept(before, padding: Pairs, in_shape, base_dilation) -> tuple[slice, ...]:
    """Where the operand's own elements lie in the col2im buffer."""
    return tuple(
        slice(b + lo, b + lo + dilate_shape(n, bd), bd)
        for b, (lo, _), n, bd in zip(before, padding, in_shape, base_dilation)
    )


def _unpatch_abstract_eval(
    g: ShapedArray,
    *,
    in_shape,
    window_dimensions,
    window_strides,
    padding,
    base_dilation,
    window_dilation,
) -> ShapedArray:
    params = (window_dimensions, window_strides, padding, base_dilation, window_dilation)
    _check("window_patches_transpose", in_shape, *params)
    want = _out_shape(in_shape, *params) + tuple(window_dimensions)
    if g.shape != want:
        raise ShapeError(
            f"window_patches_transpose: the cotangent {g.str_short()} must have shape {want} "
            f"for an operand of shape {tuple(in_shape)}"
        )
    return ShapedArray(tuple(in_shape), g.dtype)


window_patches_transpose_p = Primitive(
    "window_patches_transpose", _unpatch_impl, _unpatch_abstract_eval
)


def window_patches_transpose(
    g,
    in_shape: tuple[int, ...],
    window_dimensions: tuple[int, ...],
    window_strides: tuple[int, ...],
    padding: Pairs,
    base_dilation: tuple[int, ...],
    window_dilation: tuple[int, ...],
):
    """The transpose of :func:`window_patches` (col2im): every window's entries of ``g``
    added back to the positions of an ``in_shape`` array they were read from."""
    return bind(
        window_patches_transpose_p,
        g,
        in_shape=tuple(int(n) for n in in_shape),
        window_dimensions=tuple(int(k) for k in window_dimensions),
        window_strides=tuple(int(s) for s in window_strides),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        base_dilation=tuple(int(d) for d in base_dilation),
        window_dilation=tuple(int(d) for d in window_dilation),
    )


def _geometry(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in ("fill", "materialize")}


def _patches_vjp(g, ans, x, **params):
    return window_patches_transpose(g, tuple(x.shape), **_geometry(params))


def _unpatch_vjp(g, ans, ct, *, in_shape, **geometry):
    return bind(window_patches_p, g, fill=0, materialize=False, **geometry)


defjvp(window_patches_p, lambda t, ans, x, **p: bind(window_patches_p, t, **{**p, "fill": 0}))
defvjp(window_patches_p, _patches_vjp)
defjvp(window_patches_transpose_p, lambda t, ans, g, **p: bind(window_patches_transpose_p, t, **p))
defvjp(window_patches_transpose_p, _unpatch_vjp)


def _one_more_axis(geometry: dict) -> dict:
    """The geometry with a leading axis that is copied whole (window 1, stride 1)."""
    return {
        "window_dimensions": (1, *geometry["window_dimensions"]),
        "window_strides": (1, *geometry["window_strides"]),
        "padding": ((0, 0), *geometry["padding"]),
        "base_dilation": (1, *geometry["base_dilation"]),
        "window_dilation": (1, *geometry["window_dilation"]),
    }


def _patches_batch(size, vals, dims, **params):
    x = move_axis(vals[0], dims[0], 0)
    y = bind(
        window_patches_p,
        x,
        fill=params["fill"],
        materialize=params["materialize"],
        **_one_more_axis(params),
    )
    nd = x.ndim
    return reshape(y, y.shape[:nd] + y.shape[nd + 1 :]), 0


def _unpatch_batch(size, vals, dims, *, in_shape, **geometry):
    g = move_axis(vals[0], dims[0], 0)
    nd = len(in_shape) + 1
    g = reshape(g, g.shape[:nd] + (1,) + g.shape[nd:])
    out = bind(
        window_patches_transpose_p, g, in_shape=(size, *in_shape), **_one_more_axis(geometry)
    )
    return out, 0


defbatch(window_patches_p, _patches_batch)
defbatch(window_patches_transpose_p, _unpatch_batch)
