"""Comparisons of whole arrays and array properties: ``isclose``, ``allclose``, ``ndim``, ...

None of these has a derivative. ``isclose`` works on traced arrays (it returns a
plain boolean mask under ``grad``); ``allclose`` and ``array_equal`` return a
Python ``bool``, so they need concrete values, as any Python ``if`` does.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import get_aval
from fgrad.core.tracer import Tracer
from fgrad.numpy import ufuncs as uf
from fgrad.numpy.conversion import as_array
from fgrad.numpy.reductions import all as all_


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """Elementwise ``|a - b| <= atol + rtol * |b|`` as ``numpy.isclose`` (infinities equal
    only to themselves; NaN equal to NaN with ``equal_nan``)."""
    a, b = as_array(a), as_array(b)
    finite = uf.logical_and(uf.isfinite(a), uf.isfinite(b))
    with np.errstate(invalid="ignore"):  # inf - inf, discarded by the where
        close = uf.less_equal(uf.absolute(a - b), atol + rtol * uf.absolute(b))
    out = uf.where(finite, close, uf.equal(a, b))
    if equal_nan:
        out = uf.logical_or(out, uf.logical_and(uf.isnan(a), uf.isnan(b)))
    return out


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether every element of ``a`` is close to ``b`` (see :func:`isclose`)."""
    return bool(all_(isclose(a, b, rtol, atol, equal_nan)))


def array_equal(a1, a2, equal_nan: bool = False) -> bool:
    """Whether ``a1`` and ``a2`` have the same shape and elements (``numpy.array_equal``)."""
    a1, a2 = as_array(a1), as_array(a2)
    if a1.shape != a2.shape:
        return False
    same = uf.equal(a1, a2)
    if equal_nan:
        same = uf.logical_or(same, uf.logical_and(uf.isnan(a1), uf.isnan(a2)))
    return bool(all_(same))


def array_equiv(a1, a2) -> bool:
    """Whether ``a1`` and ``a2`` are equal after broadcasting (``numpy.array_equiv``)."""
    a1, a2 = as_array(a1), as_array(a2)
    try:
        np.broadcast_shapes(a1.shape, a2.shape)
    except ValueError:
        return False
    return bool(all_(uf.equal(a1, a2)))


def ndim(a) -> int:
    """The number of dimensions of ``a`` (``numpy.ndim``)."""
    return get_aval(a).ndim if isinstance(a, Tracer) else np.ndim(a)


def shape(a) -> tuple[int, ...]:
    """The shape of ``a`` (``numpy.shape``)."""
    return get_aval(a).shape if isinstance(a, Tracer) else np.shape(a)


def size(a, axis: int | None = None) -> int:
    """The number of elements of ``a``, or along ``axis`` (``numpy.size``)."""
    s = shape(a)
    return int(np.prod(s)) if axis is None else s[axis]


def isscalar(element) -> bool:
    """``numpy.isscalar``: traced values are arrays, never scalars."""
    return False if isinstance(element, Tracer) else np.isscalar(element)


__all__ = [
    "allclose",
    "array_equal",
    "array_equiv",
    "isclose",
    "isscalar",
    "ndim",
    "shape",
    "size",
]
