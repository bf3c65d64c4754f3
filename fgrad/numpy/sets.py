"""Set operations (``unique_*``, ``intersect1d``, ``union1d``, ...), differentiable as selections.

Which elements a set operation keeps depends on the data only through
comparisons, but the kept values *are* input elements. So the choice is made on
concrete values with NumPy's own function (``return_index`` tells which element
it kept) and the result is gathered from the traced input with ``take``: the
derivative of each output element is that of the input element it came from,
as for ``sort``. Where equal elements occur in both ``ar1`` and ``ar2``, the
element of ``ar1`` is the one kept. Under ``make_jaxpr`` (no values) these raise
:class:`fgrad.ConcretizationError`.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.tracer import concrete
from fgrad.numpy.indexing import take
from fgrad.numpy.manipulation import concatenate, ravel

_RESULTS = {
    name: type(getattr(np, name)(np.zeros(1)))
    for name in ("unique_all", "unique_counts", "unique_inverse")
}


def _dtype(x):
    return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


def _first_indices(values):
    """Indices of the first occurrence of each distinct element, in sorted order."""
    return np.unique(np.ravel(values), return_index=True)[1]


def unique_values(x):
    """The distinct elements of ``x`` in the order NumPy's ``unique_values`` gives them
    (sorted for floats; NumPy promises no order, and hashes integers)."""
    values = np.ravel(concrete(x))
    distinct, first = np.unique(values, return_index=True)
    order = np.unique_values(values)
    if np.array_equal(order, distinct, equal_nan=True):
        return take(x, first)
    return take(x, first[np.searchsorted(distinct, order)])


def unique_counts(x):
    """``(values, counts)`` of the distinct elements (``numpy.unique_counts``)."""
    _, index, counts = np.unique(np.ravel(concrete(x)), return_index=True, return_counts=True)
    return _RESULTS["unique_counts"](take(x, index), counts)


def unique_inverse(x):
    """``(values, inverse_indices)``; ``values[inverse_indices]`` rebuilds ``x``."""
    x_val = concrete(x)
    _, index, inverse = np.unique(np.ravel(x_val), return_index=True, return_inverse=True)
    return _RESULTS["unique_inverse"](take(x, index), inverse.reshape(np.shape(x_val)))


def unique_all(x):
    """``(values, indices, inverse_indices, counts)`` as ``numpy.unique_all``."""
    x_val = concrete(x)
    _, index, inverse, counts = np.unique(
        np.ravel(x_val), return_index=True, return_inverse=True, return_counts=True
    )
    return _RESULTS["unique_all"](
        take(x, index), index, inverse.reshape(np.shape(x_val)), counts
    )


def intersect1d(ar1, ar2, assume_unique: bool = False, return_indices: bool = False):
    """Sorted elements found in both arrays (``numpy.intersect1d``), taken from ``ar1``."""
    _, i1, i2 = np.intersect1d(
        concrete(ar1), concrete(ar2), assume_unique=assume_unique, return_indices=True
    )
    values = take(ar1, i1)
    dtype = np.result_type(_dtype(ar1), _dtype(ar2))
    values = values if values.dtype == dtype else values.astype(dtype)
    return (values, i1, i2) if return_indices else values


def union1d(ar1, ar2):
    """Sorted distinct elements of either array (``numpy.union1d``)."""
    both = concatenate([ravel(ar1), ravel(ar2)])
    return take(both, _first_indices(concrete(both)))


def setdiff1d(ar1, ar2, assume_unique: bool = False):
    """Distinct elements of ``ar1`` not in ``ar2`` (``numpy.setdiff1d``)."""
    a = np.ravel(concrete(ar1))
    index = np.arange(a.size) if assume_unique else _first_indices(a)
    keep = index[~np.isin(a[index], concrete(ar2), assume_unique=assume_unique)]
    return take(ar1, keep)


def setxor1d(ar1, ar2, assume_unique: bool = False):
    """Sorted distinct elements in exactly one of the arrays (``numpy.setxor1d``)."""
    both = concatenate(
        [unique_values(ar1), unique_values(ar2)] if not assume_unique else [ravel(ar1), ravel(ar2)]
    )
    values = concrete(both)
    order = np.argsort(values, kind="stable")
    s = values[order]
    alone = np.ones(s.size, dtype=bool)
    same = s[1:] == s[:-1]
    alone[1:] &= ~same
    alone[:-1] &= ~same
    return take(both, order[alone])


__all__ = [
    "intersect1d",
    "setdiff1d",
    "setxor1d",
    "union1d",
    "unique_all",
    "unique_counts",
    "unique_inverse",
    "unique_values",
]
