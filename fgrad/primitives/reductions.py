"""Reductions along axes: ``reduce_sum``, ``reduce_max``, ``reduce_min``, ``argmax``, ``argmin``,
and ``argsort`` and ``searchsorted`` (not reductions, but integer results of comparisons
along one axis like ``argmax``).

``axis`` is always a tuple of non-negative ints (``fgrad.numpy`` normalises
``None``, negative and single axes) and ``keepdims`` a bool, so rules never
branch on the user's spelling. Also home of :func:`unbroadcast`, the one place
where NumPy broadcasting is undone in cotangents.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp, linear_jvp
from fgrad.primitives.shape import broadcast_to, move_axis, past_batch, reshape


def _check_axes(name: str, x: ShapedArray, axis: tuple[int, ...]) -> None:
    if any(not 0 <= a < x.ndim for a in axis) or len(set(axis)) != len(axis):
        raise ShapeError(
            f"{name}: axis {axis} is invalid for an array of shape {x.shape} "
            f"({x.ndim} dimensions); axes must be distinct and in range."
        )


def _reduced_shape(x: ShapedArray, axis: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axis)


def _reduction_abstract_eval(name: str, impl):
    def abstract_eval(x: ShapedArray, *, axis: tuple[int, ...], keepdims: bool) -> ShapedArray:
        _check_axes(name, x, axis)
        dtype = np.asarray(impl(np.empty((1,) * max(x.ndim, 1), x.dtype))).dtype
        return ShapedArray(_reduced_shape(x, axis, keepdims), dtype)

    return abstract_eval


def _keepdims(g, x_shape: tuple[int, ...], axis: tuple[int, ...], keepdims: bool):
    """Reshape a reduced cotangent so it broadcasts against the unreduced input."""
    if keepdims or not axis:
        return g
    return reshape(g, tuple(1 if i in axis else d for i, d in enumerate(x_shape)))


def unbroadcast(g, shape: tuple[int, ...]):
    """Sum ``g`` down to ``shape``: the transpose of NumPy broadcasting ``shape`` to ``g.shape``."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axis = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1
    )
    g = reduce_sum(g, axis, keepdims=False)
    return g if g.shape == shape else reshape(g, shape)


# -- sum ----------------------------------------------------------------------------

def _by_method(name: str, np_fn):
    """The impl of a reduction: the array's own method (``x.sum(...)``), which skips the
    Python wrapper ``np.sum`` adds (as long again on small arrays), and ``np_fn`` for
    Python scalars, which have no such method."""

    def impl(x, axis, keepdims):
        method = getattr(x, name, None)
        if method is None:
            return np_fn(x, axis=axis, keepdims=keepdims)
        return method(axis=axis, keepdims=keepdims)

    return impl


reduce_sum_p = Primitive(
    "reduce_sum", _by_method("sum", np.sum), _reduction_abstract_eval("reduce_sum", np.sum)
)


def reduce_sum(x, axis: tuple[int, ...], keepdims: bool = False):
    return bind(reduce_sum_p, x, axis=axis, keepdims=keepdims)


defjvp(reduce_sum_p, linear_jvp(reduce_sum_p))
defvjp(
    reduce_sum_p,
    lambda g, ans, x, axis, keepdims: broadcast_to(_keepdims(g, x.shape, axis, keepdims), x.shape),
    reads=("",),
)

# -- max and min ----------------------------------------------------------------------

reduce_max_p = Primitive(
    "reduce_max", _by_method("max", np.max), _reduction_abstract_eval("reduce_max", np.max)
)
reduce_min_p = Primitive(
    "reduce_min", _by_method("min", np.min), _reduction_abstract_eval("reduce_min", np.min)
)


def reduce_max(x, axis: tuple[int, ...], keepdims: bool = False):
    return bind(reduce_max_p, x, axis=axis, keepdims=keepdims)


def reduce_min(x, axis: tuple[int, ...], keepdims: bool = False):
    return bind(reduce_min_p, x, axis=axis, keepdims=keepdims)


def _extremum_weights(x, ans, axis, keepdims, dtype):
    """1/k at each of the k positions attaining the extremum, 0 elsewhere (ties share)."""
    from fgrad.primitives.elementwise import convert_element_type, eq_p

    hits = bind(eq_p, x, _keepdims(ans, x.shape, axis, keepdims))
    count = reduce_sum(hits, axis, keepdims=True)
    return convert_element_type(hits, dtype) / convert_element_type(count, dtype)


def _extremum_jvp(t, ans, x, axis, keepdims):
    return reduce_sum(t * _extremum_weights(x, ans, axis, keepdims, t.dtype), axis, keepdims)


def _extremum_vjp(g, ans, x, axis, keepdims):
    return _keepdims(g, x.shape, axis, keepdims) * _extremum_weights(
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
            _check_axes(name, x, (axis,))
            shape = _reduced_shape(x, (axis,), keepdims)
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
    _check_axes("argsort", x, (axis,))
    return ShapedArray(x.shape, np.intp)


def _argsort_impl(x, axis: int, kind: str | None):
    # only NumPy has sorting algorithms to choose from; CuPy's sort is stable
    return np.argsort(x, axis=axis) if kind is None else np.argsort(x, axis=axis, kind=kind)


argsort_p = Primitive("argsort", _argsort_impl, _argsort_abstract_eval, differentiable=False)


def argsort(x, axis: int, kind: str | None = None):
    """Indices that sort ``x`` along ``axis`` (non-negative); ``kind`` as in NumPy."""
    return bind(argsort_p, x, axis=axis, kind=kind)


# -- batch rules (vmap) -------------------------------------------------------------------


def _reduction_batch(prim: Primitive):
    """Reduce the example axes in place, wherever the batch axis sits."""

    def rule(size, vals, dims, *, axis, keepdims):
        d = dims[0]
        out = bind(prim, vals[0], axis=past_batch(axis, d), keepdims=keepdims)
        return out, d if keepdims else d - sum(a < d for a in axis)

    return rule


def _arg_batch(prim: Primitive):
    """Batch first; ``axis=None`` flattens each example, not the whole batch."""

    def rule(size, vals, dims, *, axis, keepdims):
        x = move_axis(vals[0], dims[0], 0)
        if axis is not None:
            return bind(prim, x, axis=axis + 1, keepdims=keepdims), 0
        out = bind(prim, reshape(x, (size, x.size // size if size else 0)), axis=1, keepdims=False)
        return (reshape(out, (size,) + (1,) * (x.ndim - 1)) if keepdims else out), 0

    return rule


for _p in (reduce_sum_p, reduce_max_p, reduce_min_p):
    defbatch(_p, _reduction_batch(_p))
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
    from fgrad.primitives.elementwise import convert_element_type, le_p, lt_p
    from fgrad.primitives.shape import batch_to_front, lift_batched

    a, v = batch_to_front(a, da, size), batch_to_front(v, dv, size)
    example_ndim = v.ndim - 1
    a = lift_batched(a, example_ndim + 1)  # (B, 1, ..., 1, n)
    before = bind(le_p if side == "right" else lt_p, a, reshape(v, v.shape + (1,)))
    count = reduce_sum(convert_element_type(before, np.intp), (v.ndim,))
    return count, 0


defbatch(searchsorted_p, _searchsorted_batch)
