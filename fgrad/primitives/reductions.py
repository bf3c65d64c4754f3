"""Reductions along axes: ``reduce_max``, ``reduce_min``, ``argmax``, ``argmin``, and
``argsort`` and ``searchsorted`` (not reductions, but integer results of comparisons
along one axis like ``argmax``).

``reduce_sum``, the transpose of broadcasting, is a structural primitive
(:mod:`fgrad.primitives.structural`), which also holds the conventions these
follow: ``axis`` is always a tuple of non-negative ints (``fgrad.numpy``
normalises ``None``, negative and single axes) and ``keepdims`` a bool, so rules
never branch on the user's spelling. The rules of ``reduce_max`` and
``reduce_min`` compare with elementwise primitives.
"""

from __future__ import annotations

from math import prod

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp
from fgrad.primitives import window_kernels
from fgrad.primitives.elementwise import convert_element_type, le_p, lt_p
from fgrad.primitives.structural import (
    batch_to_front,
    check_axes,
    expand_reduced,
    lift_batched,
    move_axis,
    past_batch,
    reduce_sum,
    reduced_shape,
    reduction_abstract_eval,
    reduction_batch,
    reduction_impl,
    reshape,
)

# -- max and min ----------------------------------------------------------------------

reduce_max_p = Primitive(
    "reduce_max", reduction_impl("max", np.max), reduction_abstract_eval("reduce_max", np.max)
)
reduce_min_p = Primitive(
    "reduce_min", reduction_impl("min", np.min), reduction_abstract_eval("reduce_min", np.min)
)


def reduce_max(x, axis: tuple[int, ...], keepdims: bool = False):
    return bind(reduce_max_p, x, axis=axis, keepdims=keepdims)


def reduce_min(x, axis: tuple[int, ...], keepdims: bool = False):
    return bind(reduce_min_p, x, axis=axis, keepdims=keepdims)


def _tie_weights_impl(x, ans, *, axis, dtype):
    if window_kernels.usable(x, ans) and x.dtype == dtype and _adjacent(axis):
        if prod(x.shape[a] for a in axis) < 2 ** (np.finfo(dtype).nmant + 1):  # exact counts
            return window_kernels.tie_weights(x, ans, axis)
    hits = x == ans
    count = hits.sum(axis=axis, keepdims=True)
    return hits.astype(dtype) / count.astype(dtype)


def _adjacent(axis: tuple[int, ...]) -> bool:
    return bool(axis) and max(axis) - min(axis) + 1 == len(set(axis))


def _tie_weights_abstract_eval(x: ShapedArray, ans: ShapedArray, *, axis, dtype):
    check_axes("tie_weights", x, axis)
    if ans.shape != reduced_shape(x, axis, True):
        raise ShapeError(
            f"tie_weights: the extremum {ans.str_short()} must have the shape of "
            f"{x.str_short()} reduced over axes {axis} with keepdims"
        )
    return ShapedArray(x.shape, np.dtype(dtype))


# piecewise constant: its derivative is zero wherever it exists
tie_weights_p = Primitive(
    "tie_weights", _tie_weights_impl, _tie_weights_abstract_eval, differentiable=False
)


def _tie_weights_batch(size, vals, dims, *, axis, dtype):
    x, ans = (batch_to_front(v, d, size) for v, d in zip(vals, dims))
    return bind(tie_weights_p, x, ans, axis=past_batch(axis, 0), dtype=dtype), 0


defbatch(tie_weights_p, _tie_weights_batch)


def _extremum_weights(x, ans, axis, keepdims, dtype):
    """1/k at each of the k positions attaining the extremum, 0 elsewhere (ties share):
    one primitive, ``tie_weights`` (with numba, one compiled pass over ``x``)."""
    best = expand_reduced(ans, x.shape, axis, keepdims)
    return bind(tie_weights_p, x, best, axis=axis, dtype=np.dtype(dtype))


def _extremum_jvp(t, ans, x, axis, keepdims):
    return reduce_sum(t * _extremum_weights(x, ans, axis, keepdims, t.dtype), axis, keepdims)


def _extremum_vjp(g, ans, x, axis, keepdims):
    return expand_reduced(g, x.shape, axis, keepdims) * _extremum_weights(
        x, ans, axis, keepdims, g.dtype
    )


for _p in (reduce_max_p, reduce_min_p):
    defjvp(_p, _extremum_jvp)
    defvjp(_p, _extremum_vjp, reads=("ans x",))

# -- argmax and argmin (integer results, no derivative) ----------------------------------


def _arg_abstract_eval(name: str):
    def abstract_eval(x: ShapedArray, *, axis: int | None, keepdims: bool) -> ShapedArray:
        if axis is None:
            shape = (1,) * x.ndim if keepdims else ()
        else:
            check_axes(name, x, (axis,))
            shape = reduced_shape(x, (axis,), keepdims)
        return ShapedArray(shape, np.intp)

    return abstract_eval


argmax_p = Primitive(
    "argmax",
    lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims),
    _arg_abstract_eval("argmax"),
    differentiable=False,
)
argmin_p = Primitive(
    "argmin",
    lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims),
    _arg_abstract_eval("argmin"),
    differentiable=False,
)


# -- argsort (integer result, no derivative) ----------------------------------------------
#
# A primitive rather than NumPy on concrete values, so that ``sort``, ``median`` and
# ``quantile`` run under ``vmap`` and ``make_jaxpr`` and stay on the arrays' device.


def _argsort_abstract_eval(x: ShapedArray, *, axis: int, kind: str | None) -> ShapedArray:
    check_axes("argsort", x, (axis,))
    return ShapedArray(x.shape, np.intp)


def _argsort_impl(x, axis: int, kind: str | None):
    # only NumPy has sorting algorithms to choose from; CuPy's sort is stable
    return np.argsort(x, axis=axis) if kind is None else np.argsort(x, axis=axis, kind=kind)


argsort_p = Primitive("argsort", _argsort_impl, _argsort_abstract_eval, differentiable=False)


def argsort(x, axis: int, kind: str | None = None):
    """Indices that sort ``x`` along ``axis`` (non-negative); ``kind`` as in NumPy."""
    return bind(argsort_p, x, axis=axis, kind=kind)


# -- batch rules (vmap) -------------------------------------------------------------------


def _arg_batch(prim: Primitive):
    """Batch first; ``axis=None`` flattens each example, not the whole batch."""

    def rule(size, vals, dims, *, axis, keepdims):
        x = move_axis(vals[0], dims[0], 0)
        if axis is not None:
            return bind(prim, x, axis=axis + 1, keepdims=keepdims), 0
        out = bind(prim, reshape(x, (size, x.size // size if size else 0)), axis=1, keepdims=False)
        return (reshape(out, (size,) + (1,) * (x.ndim - 1)) if keepdims else out), 0

    return rule


for _p in (reduce_max_p, reduce_min_p):
    defbatch(_p, reduction_batch(_p))
for _p in (argmax_p, argmin_p):
    defbatch(_p, _arg_batch(_p))


def _argsort_batch(size, vals, dims, *, axis, kind):
    d = dims[0]
    return argsort(vals[0], past_batch((axis,), d)[0], kind), d


defbatch(argsort_p, _argsort_batch)


# -- searchsorted (integer result, no derivative) -----------------------------------------
# ``searchsorted(a, v, side)``: insertion positions of ``v`` (any shape) into the sorted 1-D
# ``a``. Under vmap with a batched ``a`` each example searches its own array: positions are
# then counts of the entries before each value, ``sum(a < v)`` (``<=`` for side="right").


def _searchsorted_abstract_eval(a: ShapedArray, v: ShapedArray, *, side: str) -> ShapedArray:
    if a.ndim != 1:
        raise ShapeError(f"searchsorted: the sorted array must be 1-D, got {a.str_short()}")
    return ShapedArray(v.shape, np.intp)


searchsorted_p = Primitive(
    "searchsorted",
    lambda a, v, side: np.searchsorted(a, v, side=side),
    _searchsorted_abstract_eval,
    differentiable=False,
)


def searchsorted(a, v, side: str = "left"):
    """Where ``v``'s values would be inserted into the sorted 1-D ``a`` to keep it sorted."""
    return bind(searchsorted_p, a, v, side=side)


def _searchsorted_batch(size, vals, dims, *, side):
    (a, v), (da, dv) = vals, dims
    if da is None:  # one sorted array for every example: search all values at once
        return searchsorted(a, v, side), dv
    a, v = batch_to_front(a, da, size), batch_to_front(v, dv, size)
    example_ndim = v.ndim - 1
    a = lift_batched(a, example_ndim + 1)  # (B, 1, ..., 1, n)
    before = bind(le_p if side == "right" else lt_p, a, reshape(v, v.shape + (1,)))
    count = reduce_sum(convert_element_type(before, np.intp), (v.ndim,))
    return count, 0


defbatch(searchsorted_p, _searchsorted_batch)
