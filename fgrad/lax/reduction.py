"""``jax.lax.reduce``: a reduction along axes with any associative ``computation``; and
the named reductions (``reduce_sum``, ``reduce_max``, ``reduce_and``, ..., ``argmax``)
with ``jax.lax``'s arguments (non-negative ``axes``; the operand's dtype kept).

The axis is halved in ``ceil(log2 n)`` rounds, each one call of ``computation`` on
whole arrays (pairs ``(x[2i], x[2i+1])``, an odd last element paired with the
initial value), so any vectorised monoid works (``fnp.add``, ``fnp.maximum``, a
lambda, a function of tuples for several operands), differentiably and under
every transform.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import DtypeError, ShapeError
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.numpy.conversion import in_dtype

__all__ = [
    "argmax",
    "argmin",
    "reduce",
    "reduce_and",
    "reduce_max",
    "reduce_min",
    "reduce_or",
    "reduce_prod",
    "reduce_sum",
    "reduce_xor",
]


def _take(x, axis: int, index):
    sl = [slice(None)] * x.ndim
    sl[axis] = index
    return x[tuple(sl)]


def reduce(operands, init_values, computation: Callable, dimensions: Sequence[int]):
    """Reduce ``operands`` along ``dimensions`` with ``computation`` (``jax.lax.reduce``).

    Parameters
    ----------
    operands : array or pytree of arrays
        Arrays of one shape.
    init_values : scalar or pytree of scalars
        The identity of ``computation``, structured like ``operands``.
    computation : callable
        ``computation(a, b)`` on pytrees like ``operands``, associative and
        commutative, applied elementwise to whole arrays.
    dimensions : sequence of int
        The axes to reduce.

    Returns
    -------
    array or pytree of arrays
        ``operands`` without ``dimensions``.
    """
    leaves, treedef = tree_flatten(operands)
    inits, init_def = tree_flatten(init_values)
    if init_def != treedef:
        raise ShapeError(
            f"lax.reduce: init_values {init_def} must have the structure of operands {treedef}"
        )
    leaves = [fnp.asarray(x) for x in leaves]
    shapes = {tuple(x.shape) for x in leaves}
    if len(shapes) != 1:
        raise ShapeError(f"lax.reduce: the operands must have one shape, got {sorted(shapes)}")
    ndim = leaves[0].ndim
    dims = sorted({operator.index(d) % ndim if ndim else d for d in dimensions}, reverse=True)
    if any(not 0 <= d < ndim for d in dims):
        raise ShapeError(f"lax.reduce: dimensions {tuple(dimensions)} out of range for {ndim} axes")
    inits = [in_dtype(i, x.dtype) for i, x in zip(inits, leaves)]

    def combine(a, b):
        out, out_def = tree_flatten(
            computation(tree_unflatten(treedef, a), tree_unflatten(treedef, b))
        )
        if out_def != treedef:
            raise ShapeError(
                f"lax.reduce: computation must return the structure of operands ({treedef}), "
                f"got {out_def}"
            )
        return [fnp.asarray(o).astype(x.dtype) for o, x in zip(out, a)]

    for axis in dims:
        while leaves[0].shape[axis] > 1:
            if leaves[0].shape[axis] % 2:
                pad_shape = list(leaves[0].shape)
                pad_shape[axis] = 1
                leaves = [
                    fnp.concatenate([x, fnp.full(pad_shape, i, dtype=x.dtype, like=x)], axis=axis)
                    for x, i in zip(leaves, inits)
                ]
            leaves = combine(
                [_take(x, axis, slice(0, None, 2)) for x in leaves],
                [_take(x, axis, slice(1, None, 2)) for x in leaves],
            )
        if leaves[0].shape[axis] == 0:
            shape = list(leaves[0].shape)
            del shape[axis]
            leaves = [fnp.full(shape, i, dtype=x.dtype, like=x) for x, i in zip(leaves, inits)]
        else:
            leaves = [_take(x, axis, 0) for x in leaves]
            leaves = combine(
                [fnp.full(x.shape, i, dtype=x.dtype, like=x) for x, i in zip(leaves, inits)], leaves
            )
    return tree_unflatten(treedef, leaves)


def _reduce_axes(name: str, operand, axes: Sequence[int]):
    x = fnp.asarray(operand)
    dims = tuple(operator.index(a) for a in axes)
    if any(not 0 <= d < x.ndim for d in dims) or len(set(dims)) != len(dims):
        raise ShapeError(
            f"lax.{name}: axes {dims} must be distinct axes in [0, {x.ndim}) of the operand "
            f"of shape {x.shape} (lax takes no negative axes)"
        )
    return x, dims


def _check_logical(name: str, x) -> None:
    if x.dtype.kind not in "biu":
        raise DtypeError(
            f"lax.{name}: a logical reduction needs a bool or integer operand, got {x.dtype}"
        )


def reduce_sum(operand, axes: Sequence[int]):
    """The sum over ``axes``, in ``operand``'s dtype (``jax.lax.reduce_sum``)."""
    x, dims = _reduce_axes("reduce_sum", operand, axes)
    return fnp.sum(x, axis=dims, dtype=x.dtype)


def reduce_prod(operand, axes: Sequence[int]):
    """The product over ``axes``, in ``operand``'s dtype (``jax.lax.reduce_prod``)."""
    x, dims = _reduce_axes("reduce_prod", operand, axes)
    return fnp.prod(x, axis=dims, dtype=x.dtype)


def reduce_max(operand, axes: Sequence[int]):
    """The maximum over ``axes`` (NaN if any is; ``jax.lax.reduce_max``)."""
    x, dims = _reduce_axes("reduce_max", operand, axes)
    return fnp.max(x, axis=dims) if dims else x


def reduce_min(operand, axes: Sequence[int]):
    """The minimum over ``axes`` (NaN if any is; ``jax.lax.reduce_min``)."""
    x, dims = _reduce_axes("reduce_min", operand, axes)
    return fnp.min(x, axis=dims) if dims else x


def reduce_and(operand, axes: Sequence[int]):
    """``all`` over ``axes`` for bool, the bitwise and for integers (``jax.lax.reduce_and``)."""
    x, dims = _reduce_axes("reduce_and", operand, axes)
    _check_logical("reduce_and", x)
    if x.dtype == np.bool_:
        return fnp.all(x, axis=dims)
    return reduce(x, in_dtype(-1, x.dtype), fnp.bitwise_and, dims)


def reduce_or(operand, axes: Sequence[int]):
    """``any`` over ``axes`` for bool, the bitwise or for integers (``jax.lax.reduce_or``)."""
    x, dims = _reduce_axes("reduce_or", operand, axes)
    _check_logical("reduce_or", x)
    if x.dtype == np.bool_:
        return fnp.any(x, axis=dims)
    return reduce(x, x.dtype.type(0), fnp.bitwise_or, dims)


def reduce_xor(operand, axes: Sequence[int]):
    """The exclusive or over ``axes`` (parity for bool; ``jax.lax.reduce_xor``)."""
    x, dims = _reduce_axes("reduce_xor", operand, axes)
    _check_logical("reduce_xor", x)
    return reduce(x, x.dtype.type(0), fnp.bitwise_xor, dims)


def _arg(name: str, operand, axis: int, index_dtype):
    x, (dim,) = _reduce_axes(name, operand, (axis,))
    index_dtype = np.dtype(index_dtype)
    if index_dtype.kind not in "iu":
        raise DtypeError(f"lax.{name}: index_dtype must be an integer dtype, got {index_dtype}")
    if x.shape[dim] == 0:
        raise ShapeError(f"lax.{name}: axis {dim} of the operand of shape {x.shape} is empty")
    return x, dim, index_dtype


def argmax(operand, axis: int, index_dtype):
    """The index of the first maximum along ``axis`` (of the first NaN, if any), in
    ``index_dtype`` (``jax.lax.argmax``)."""
    x, dim, index_dtype = _arg("argmax", operand, axis, index_dtype)
    return fnp.astype(fnp.argmax(x, axis=dim), index_dtype)


def argmin(operand, axis: int, index_dtype):
    """The index of the first minimum along ``axis`` (of the first NaN, if any), in
    ``index_dtype`` (``jax.lax.argmin``)."""
    x, dim, index_dtype = _arg("argmin", operand, axis, index_dtype)
    return fnp.astype(fnp.argmin(x, axis=dim), index_dtype)
