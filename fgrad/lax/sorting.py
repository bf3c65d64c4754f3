"""``sort`` (several operands, ``num_keys``), ``sort_key_val`` and ``top_k``, as in ``jax.lax``.

Written with ``fgrad.numpy``'s stable ``argsort`` and ``take_along_axis``, so the
results are differentiable in the sorted values (the derivative follows each
element to its place) and batch under ``vmap``.
"""

from __future__ import annotations

import operator

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import ShapeError

__all__ = ["approx_max_k", "approx_min_k", "sort", "sort_key_val", "top_k"]


def sort(operand, dimension: int = -1, is_stable: bool = True, num_keys: int = 1):
    """Sort along ``dimension`` (``jax.lax.sort``).

    Parameters
    ----------
    operand : array or sequence of arrays
        One array, or several of one shape sorted together: the first ``num_keys``
        are the keys, compared lexicographically, and every operand is permuted
        the same way.
    dimension : int
    is_stable : bool
        Accepted for JAX's signature: the sort is always stable here.
    num_keys : int

    Returns
    -------
    array or tuple of arrays
        Like ``operand``. NaNs sort last, as in NumPy and JAX.
    """
    if not isinstance(operand, (tuple, list)):
        return fnp.sort(fnp.asarray(operand), axis=dimension, stable=True)
    ops = [fnp.asarray(x) for x in operand]
    num_keys = operator.index(num_keys)
    if not ops or not 1 <= num_keys <= len(ops):
        raise ValueError(
            f"lax.sort: num_keys must be between 1 and the number of operands ({len(ops)}), "
            f"got {num_keys}"
        )
    shapes = {tuple(x.shape) for x in ops}
    if len(shapes) != 1:
        raise ShapeError(f"lax.sort: the operands must have one shape, got {sorted(shapes)}")
    order = None
    for k in reversed(ops[:num_keys]):  # least significant key first, each sort stable
        keys = k if order is None else fnp.take_along_axis(k, order, axis=dimension)
        step = fnp.argsort(keys, axis=dimension, stable=True)
        order = step if order is None else fnp.take_along_axis(order, step, axis=dimension)
    return tuple(fnp.take_along_axis(x, order, axis=dimension) for x in ops)


def sort_key_val(keys, values, dimension: int = -1, is_stable: bool = True):
    """``keys`` sorted along ``dimension``, and ``values`` in the same order
    (``jax.lax.sort_key_val``)."""
    return sort((keys, values), dimension, is_stable, num_keys=1)


def _descending_key(x):
    """A key whose ascending order is ``x``'s descending order, NaNs first (JAX's
    ``top_k`` ranks NaN above every number)."""
    if x.dtype.kind == "b":
        return ~x
    if x.dtype.kind == "u":
        return fnp.bitwise_not(x)
    if x.dtype.kind == "i":
        return -1 - x  # no overflow at the minimum, unlike -x
    return fnp.where(fnp.isnan(x), -np.inf, -x)


def top_k(operand, k: int, *, axis: int = -1):
    """The ``k`` largest entries along ``axis`` and their indices (``jax.lax.top_k``).

    Parameters
    ----------
    operand : array
    k : int
        How many, at most the axis' length.
    axis : int
        Default the last axis.

    Returns
    -------
    values, indices : arrays
        Sorted from the largest; ties in the order of their indices. ``values`` is
        differentiable in ``operand``; ``indices`` are int64.
    """
    return _first_k("top_k", operand, k, axis, _descending_key)


def _first_k(name: str, operand, k: int, axis: int, key):
    """The first ``k`` entries of ``operand`` along ``axis`` in the ascending order of
    ``key(operand)`` (ties in index order), and their int64 indices."""
    x = fnp.asarray(operand)
    if x.ndim == 0:
        raise ShapeError(f"lax.{name}: operand must have at least one axis")
    axis = operator.index(axis) % x.ndim
    k = operator.index(k)
    n = x.shape[axis]
    if not 0 <= k <= n:
        raise ValueError(f"lax.{name}: k={k} must be between 0 and the axis length {n}")
    order = fnp.argsort(key(x), axis=axis, stable=True)
    index = [slice(None)] * x.ndim
    index[axis] = slice(0, k)
    indices = order[tuple(index)]
    return fnp.take_along_axis(x, indices, axis=axis), indices


def _approx_k(name: str, operand, k: int, reduction_dimension: int, aggregate_to_topk: bool, key):
    if not aggregate_to_topk:
        raise NotImplementedError(
            f"lax.{name}: aggregate_to_topk=False (TPU partial results) is not available; "
            "fgrad returns the exact top k"
        )
    values, indices = _first_k(name, operand, k, reduction_dimension, key)
    return values, indices.astype(np.int32)


def approx_max_k(
    operand,
    k: int,
    reduction_dimension: int = -1,
    recall_target: float = 0.95,
    reduction_input_size_override: int = -1,
    aggregate_to_topk: bool = True,
):
    """The ``k`` largest values along ``reduction_dimension`` and their int32 indices
    (``jax.lax.approx_max_k``), computed exactly.

    JAX trades recall for speed on TPUs; here the result is exact (recall 1), sorted
    from the largest, ties in index order, so ``recall_target`` and
    ``reduction_input_size_override`` change nothing. Differentiable in the values.
    """
    return _approx_k(
        "approx_max_k", operand, k, reduction_dimension, aggregate_to_topk, _descending_key
    )


def approx_min_k(
    operand,
    k: int,
    reduction_dimension: int = -1,
    recall_target: float = 0.95,
    reduction_input_size_override: int = -1,
    aggregate_to_topk: bool = True,
):
    """The ``k`` smallest values along ``reduction_dimension`` and their int32 indices
    (``jax.lax.approx_min_k``), computed exactly (see :func:`approx_max_k`)."""
    return _approx_k(
        "approx_min_k", operand, k, reduction_dimension, aggregate_to_topk, lambda x: x
    )
