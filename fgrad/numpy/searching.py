"""Searching, counting and partial sorting: ``partition``, ``unique``, ``searchsorted``,
``digitize``, ``isin``, ``bincount``, ``argwhere``, and NumPy's index helpers.

Positions and counts are integers computed from concrete values, without
derivative. Results that are input values (``partition``, ``unique``) are
gathered from the input, so their derivative is that of the element kept;
``bincount``'s weighted counts are differentiable in the weights.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.tracer import Tracer, concrete, known_value
from fgrad.numpy.conversion import as_array, numpy_scalar
from fgrad.numpy.indexing import argsort, at, take, take_along_axis
from fgrad.numpy.manipulation import ravel, reshape
from fgrad.numpy.reductions import any as any_
from fgrad.numpy.ufuncs import equal, logical_not, where
from fgrad.primitives import reductions as red_p


def partition(a, kth, axis: int = -1, kind: str = "introselect", order=None):
    """A partition around ``kth`` (``numpy.partition``): the ``kth`` entries are where a
    sort would put them, smaller ones before and larger ones after.

    fgrad fully sorts, which is a valid partition: values at ``kth`` equal NumPy's,
    the order within each side may differ from NumPy's unspecified one.
    """
    a = as_array(a)
    if axis is None:
        a, axis = ravel(a), -1
    return take_along_axis(a, argpartition(a, kth, axis), axis=axis)


def argpartition(a, kth, axis: int = -1, kind: str = "introselect", order=None):
    """Indices that partition ``a`` (a stable argsort; see :func:`partition`)."""
    return argsort(a, axis=axis, stable=True)


def unique(
    ar,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis=None,
    *,
    equal_nan: bool = True,
    sorted: bool = True,  # noqa: A002 - NumPy's name
):
    """Sorted distinct elements (``numpy.unique``), gathered from ``ar`` so that each keeps
    the derivative of its first occurrence."""
    values = concrete(ar)
    res = np.unique(
        values,
        return_index=True,
        return_inverse=return_inverse,
        return_counts=return_counts,
        axis=axis,
        equal_nan=equal_nan,
    )
    first = res[1]
    out = [take(ar, first, axis=axis) if axis is not None else take(ar, first)]
    if return_index:
        out.append(first)
    out.extend(res[2:])
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(a, v, side: str = "left", sorter=None):
    """Insertion indices of ``v`` into sorted ``a`` (``numpy.searchsorted``; integers)."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    a = as_array(a)
    if sorter is not None:
        a = take(a, sorter)
    return numpy_scalar(red_p.searchsorted(a, as_array(v), side))


def digitize(x, bins, right: bool = False):
    """Bin indices of ``x`` (``numpy.digitize``; integers), for increasing or decreasing
    ``bins``; where their direction is unknown (``jit``) both are computed and chosen."""
    x, bins = as_array(x), as_array(bins)
    if bins.ndim != 1:
        raise ValueError("digitize: bins must be 1-dimensional")
    side = "left" if right else "right"

    def increasing():
        return red_p.searchsorted(bins, x, side)

    def decreasing():
        return bins.shape[0] - red_p.searchsorted(bins[::-1], x, side)

    if bins.shape[0] < 2:
        return numpy_scalar(increasing())
    up = known_value(bins[-1] >= bins[0])
    if up is not None:
        return numpy_scalar(increasing() if up else decreasing())
    return where(bins[-1] >= bins[0], increasing(), decreasing())


def isin(element, test_elements, assume_unique: bool = False, invert: bool = False, *, kind=None):
    """Elementwise membership test (``numpy.isin``; booleans).

    On concrete values NumPy's own; on traced ones (``jit``, ``vmap``) every element is
    compared with every test element, as JAX does (memory: their product).
    """
    if not isinstance(element, Tracer) and not isinstance(test_elements, Tracer):
        return np.isin(element, test_elements, assume_unique, invert, kind=kind)
    element, tests = as_array(element), ravel(as_array(test_elements))
    found = any_(equal(reshape(element, element.shape + (1,)), tests), axis=-1)
    return logical_not(found) if invert else found


def argwhere(a):
    """Indices of non-zero elements, one row each (``numpy.argwhere``)."""
    return np.argwhere(concrete(a))


def flatnonzero(a):
    """Indices of non-zero elements of the flattened array (``numpy.flatnonzero``)."""
    return np.flatnonzero(concrete(a))


def bincount(x, weights=None, minlength: int = 0):
    """Counts of each non-negative integer (``numpy.bincount``); with ``weights``, their sums,
    differentiable in the weights."""
    x = np.asarray(concrete(x))
    if weights is None:
        return np.bincount(x, minlength=minlength)
    weights = as_array(weights)
    if weights.dtype.kind not in "fc":
        weights = weights.astype(np.float64)
    size = max(int(x.max()) + 1 if x.size else 0, minlength)
    zeros = backend.zeros((size,), weights.dtype, like=weights)
    return at(zeros)[x].add(weights)


tril_indices, triu_indices = np.tril_indices, np.triu_indices
diag_indices, mask_indices, indices = np.diag_indices, np.mask_indices, np.indices
ravel_multi_index, unravel_index = np.ravel_multi_index, np.unravel_index


def tril_indices_from(arr, k: int = 0):
    """``numpy.tril_indices_from`` (shape only)."""
    return np.tril_indices(arr.shape[-2], k, arr.shape[-1])


def triu_indices_from(arr, k: int = 0):
    """``numpy.triu_indices_from`` (shape only)."""
    return np.triu_indices(arr.shape[-2], k, arr.shape[-1])


def diag_indices_from(arr):
    """``numpy.diag_indices_from`` (shape only)."""
    if len(set(arr.shape)) != 1:
        raise ValueError("All dimensions of input must be of equal length")
    return np.diag_indices(arr.shape[0], arr.ndim)


__all__ = [
    "argpartition",
    "argwhere",
    "bincount",
    "diag_indices",
    "diag_indices_from",
    "digitize",
    "flatnonzero",
    "indices",
    "isin",
    "mask_indices",
    "partition",
    "ravel_multi_index",
    "searchsorted",
    "tril_indices",
    "tril_indices_from",
    "triu_indices",
    "triu_indices_from",
    "unique",
    "unravel_index",
]
