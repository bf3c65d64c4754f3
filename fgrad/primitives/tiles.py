"""Max and min pools whose windows tile the input: ``tile_extremum`` and its derivative.

``tile_extremum(x, window, kind)`` is the max (or min) over every window of ``x`` when
the windows tile it: stride = window along every axis, no padding or dilation (the
``n % k`` trailing elements of an axis lie in no window); the result has shape
``n // k`` per axis. This is ``reduce_window``'s common case (``nn.max_pool(x, (2, 2))``
with its default strides); other windows go through ``window_patches`` and
``reduce_max``.

The derivative follows ``reduce_max``'s convention: a window's cotangent goes to its
extremum, shared equally between tied elements (weights ``1/k`` at each of ``k``
elements equal to it, 0 elsewhere, computed as ``tie_weights`` computes them). Two
primitives, linear in their first operand, carry it; ``x`` and the extremum ``best``
only choose the weights (piecewise constant, so their derivative is zero):

* ``tile_ties(t, x, best)``, the tangent map: per window, the weighted sum of ``t``;
* ``tile_ties_transpose(g, x, best)``, the cotangent map: each window's ``g`` times the
  weights, in ``x``'s shape (0 where no window reads).

Each is the other's transpose, so ``grad`` of ``grad``, ``hessian`` and ``jvp`` of
``grad`` are closed over the three. With numba (:mod:`fgrad.primitives.window_kernels`)
the extremum and the cotangent map are one compiled pass each over ``x`` in place; the
NumPy path copies the windows to the front of a ``(window size, *out)`` array (a
strided view's small inner axes reduce several times slower) and computes the same bits.
"""

from __future__ import annotations

from math import prod

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp
from fgrad.primitives import window_kernels
from fgrad.primitives.structural import batch_to_front


def _out_shape(shape, window) -> tuple[int, ...]:
    return tuple(n // k for n, k in zip(shape, window))


def _check(name: str, shape, window) -> None:
    if len(window) != len(shape) or any(k < 1 for k in window):
        raise ShapeError(
            f"{name}: window {window} needs one positive size per axis of the operand "
            f"{tuple(shape)}"
        )


def _exact(x, window) -> bool:
    """Whether the compiled loops may run: float arrays, and tie counts exact in them."""
    return prod(window) < 2 ** (np.finfo(x.dtype).nmant + 1)


def _front(x, window):
    """The tiles of ``x`` copied to ``(window size, *out)``, window positions first."""
    nd = len(window)
    out = _out_shape(x.shape, window)
    x = x[tuple(slice(0, o * k) for o, k in zip(out, window))]
    split = [v for o, k in zip(out, window) for v in (o, k)]
    tiles = x.reshape(split).transpose(*range(1, 2 * nd, 2), *range(0, 2 * nd, 2))
    return tiles.reshape((prod(window), *out))


def _back(d, shape, window):
    """The inverse of :func:`_front`: ``(window size, *out)`` back in ``shape``, zero in
    the elements no window reads."""
    nd = len(window)
    out = _out_shape(shape, window)
    d = d.reshape((*window, *out)).transpose([a for i in range(nd) for a in (nd + i, i)])
    fit = tuple(o * k for o, k in zip(out, window))
    d = d.reshape(fit)
    if fit == tuple(shape):
        return d
    full = backend.zeros(tuple(shape), d.dtype, like=d)
    full[tuple(slice(0, n) for n in fit)] = d
    return full


def _weights(tiles, best, dtype):
    """``reduce_max``'s derivative weights of the ``(window size, *out)`` tiles."""
    hits = tiles == best
    return hits.astype(dtype) / hits.sum(axis=0).astype(dtype)


# -- tile_extremum ------------------------------------------------------------------------


def _extremum_impl(x, *, window, kind):
    if window_kernels.usable(x) and _exact(x, window):
        return window_kernels.tile_extremum(x, window, kind)
    tiles = _front(x, window)
    return tiles.max(axis=0) if kind == "max" else tiles.min(axis=0)


def _extremum_abstract_eval(x: ShapedArray, *, window, kind) -> ShapedArray:
    _check("tile_extremum", x.shape, window)
    if kind not in ("max", "min"):
        raise ValueError(f"tile_extremum: kind must be 'max' or 'min', got {kind!r}")
    return ShapedArray(_out_shape(x.shape, window), x.dtype)


tile_extremum_p = Primitive("tile_extremum", _extremum_impl, _extremum_abstract_eval)


def tile_extremum(x, window: tuple[int, ...], kind: str):
    """The max (``kind='max'``) or min of every window of ``x``, the windows tiling it
    (see the module docstring)."""
    return bind(tile_extremum_p, x, window=tuple(int(k) for k in window), kind=kind)


# -- tile_ties and its transpose --------------------------------------------------------------


def _ties_impl(t, x, best, *, window):
    tiles = _front(x, window)
    return (_weights(tiles, best, t.dtype) * _front(t, window)).sum(axis=0)


def _ties_abstract_eval(t: ShapedArray, x: ShapedArray, best: ShapedArray, *, window):
    _check("tile_ties", x.shape, window)
    if t.shape != x.shape or best.shape != _out_shape(x.shape, window):
        raise ShapeError(
            f"tile_ties: the tangent {t.str_short()} must have the shape of the operand "
            f"{x.str_short()} and the extremum {best.str_short()} one element per window "
            f"{window}"
        )
    return ShapedArray(best.shape, t.dtype)


tile_ties_p = Primitive("tile_ties", _ties_impl, _ties_abstract_eval)


def _spread_impl(g, x, best, *, window):
    if window_kernels.usable(g, x, best) and _exact(x, window):
        return window_kernels.tile_spread(g, x, best, window)
    tiles = _front(x, window)
    return _back(_weights(tiles, best, g.dtype) * g, x.shape, window)


def _spread_abstract_eval(g: ShapedArray, x: ShapedArray, best: ShapedArray, *, window):
    _check("tile_ties_transpose", x.shape, window)
    out = _out_shape(x.shape, window)
    if g.shape != out or best.shape != out:
        raise ShapeError(
            f"tile_ties_transpose: the cotangent {g.str_short()} and the extremum "
            f"{best.str_short()} need one element per window {window} of the operand "
            f"{x.str_short()}, shape {out}"
        )
    return ShapedArray(x.shape, g.dtype)


tile_ties_transpose_p = Primitive("tile_ties_transpose", _spread_impl, _spread_abstract_eval)


def tile_ties(t, x, best, window: tuple[int, ...]):
    """Per window of ``x``, ``t`` summed with ``reduce_max``'s derivative weights."""
    return bind(tile_ties_p, t, x, best, window=tuple(window))


def tile_ties_transpose(g, x, best, window: tuple[int, ...]):
    """Each window's ``g`` given to its elements with ``reduce_max``'s derivative weights."""
    return bind(tile_ties_transpose_p, g, x, best, window=tuple(window))


# -- rules ----------------------------------------------------------------------------------

defjvp(tile_extremum_p, lambda t, ans, x, *, window, kind: tile_ties(t, x, ans, window))
defvjp(
    tile_extremum_p,
    lambda g, ans, x, *, window, kind: tile_ties_transpose(g, x, ans, window),
    reads=("ans x",),
)


def _zero(t, ans, *args, **params):
    """The tangent due to ``x`` or ``best``: zero (they only choose the weights)."""
    return backend.zeros(ans.shape, ans.dtype, like=t)


defjvp(
    tile_ties_p,
    lambda dt, ans, t, x, best, *, window: tile_ties(dt, x, best, window),
    _zero,
    _zero,
)
defvjp(
    tile_ties_p,
    lambda g, ans, t, x, best, *, window: tile_ties_transpose(g, x, best, window),
    reads=("x best",),
)
defjvp(
    tile_ties_transpose_p,
    lambda dg, ans, g, x, best, *, window: tile_ties_transpose(dg, x, best, window),
    _zero,
    _zero,
)
defvjp(
    tile_ties_transpose_p,
    lambda ct, ans, g, x, best, *, window: tile_ties(ct, x, best, window),
    reads=("x best",),
)


def _batch(prim: Primitive):
    """Batch first in every operand; the batch axis is one more axis of windows of 1."""

    def rule(size, vals, dims, *, window, **params):
        vals = [batch_to_front(v, d, size) for v, d in zip(vals, dims)]
        return bind(prim, *vals, window=(1, *window), **params), 0

    return rule


for _p in (tile_extremum_p, tile_ties_p, tile_ties_transpose_p):
    defbatch(_p, _batch(_p))
