"""``jax.lax.reduce``: a reduction along axes with any associative ``computation``.

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
from fgrad.core.errors import ShapeError
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.tracer import Tracer

__all__ = ["reduce"]


def _array(x):
    return x if isinstance(x, Tracer) else np.asarray(x)


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
    leaves = [_array(x) for x in leaves]
    shapes = {tuple(x.shape) for x in leaves}
    if len(shapes) != 1:
        raise ShapeError(f"lax.reduce: the operands must have one shape, got {sorted(shapes)}")
    ndim = leaves[0].ndim
    dims = sorted({operator.index(d) % ndim if ndim else d for d in dimensions}, reverse=True)
    if any(not 0 <= d < ndim for d in dims):
        raise ShapeError(f"lax.reduce: dimensions {tuple(dimensions)} out of range for {ndim} axes")
    inits = [np.asarray(i, dtype=x.dtype) for i, x in zip(inits, leaves)]

    def combine(a, b):
        out, out_def = tree_flatten(
            computation(tree_unflatten(treedef, a), tree_unflatten(treedef, b))
        )
        if out_def != treedef:
            raise ShapeError(
                f"lax.reduce: computation must return the structure of operands ({treedef}), "
                f"got {out_def}"
            )
        return [_array(o).astype(x.dtype) for o, x in zip(out, a)]

    for axis in dims:
        while leaves[0].shape[axis] > 1:
            if leaves[0].shape[axis] % 2:
                pad_shape = list(leaves[0].shape)
                pad_shape[axis] = 1
                leaves = [
                    fnp.concatenate([x, fnp.full(pad_shape, i, dtype=x.dtype)], axis=axis)
                    for x, i in zip(leaves, inits)
                ]
            leaves = combine(
                [_take(x, axis, slice(0, None, 2)) for x in leaves],
                [_take(x, axis, slice(1, None, 2)) for x in leaves],
            )
        if leaves[0].shape[axis] == 0:
            shape = list(leaves[0].shape)
            del shape[axis]
            leaves = [fnp.full(shape, i, dtype=x.dtype) for x, i in zip(leaves, inits)]
        else:
            leaves = [_take(x, axis, 0) for x in leaves]
            leaves = combine(
                [fnp.full(leaves[0].shape, i, dtype=x.dtype) for x, i in zip(leaves, inits)], leaves
            )
    return tree_unflatten(treedef, leaves)
