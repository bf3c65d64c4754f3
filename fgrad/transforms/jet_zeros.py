"""Taylor coefficients known to be zero, and the series arithmetic that skips them.

The common input series ``[1, 0, ..., 0]`` (a straight path) leaves most higher
coefficients of linear operations and products zero. ``jet`` marks a coefficient
known to be zero with :data:`ZERO` instead of an array of zeros, and the rules in
:mod:`fgrad.transforms.jet_rules` combine coefficients with the functions here, which
do no operation where a term is :data:`ZERO` (under ``jit``, no equation): a function
of ``x`` along ``[1, 0, ..., 0]`` costs ``O(K)`` operations per unary primitive rather
than ``O(K^2)``.

A coefficient is marked where it is given as a concrete array of zeros, or where it
follows from marked ones (``0 * a``, ``0 + 0``, a linear map of 0). Coefficient 0 of a
series (the value) is never marked. Where a value is needed (the results of ``jet``,
operands of a staged loop or branch) :func:`materialized` gives the array of zeros.
As in JAX's ``jet``, a marked zero times an infinite coefficient is zero, not NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.tracer import Tracer


class _Zero:
    """The type of :data:`ZERO`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ZERO"


#: A Taylor coefficient known to be zero (of the shape and dtype of its series' value).
ZERO = _Zero()


def as_coefficient(term):
    """``term``, or :data:`ZERO` where it is a concrete NumPy array (or scalar) of zeros."""
    if isinstance(term, (np.ndarray, np.generic)) and np.count_nonzero(term) == 0:
        return ZERO
    return term


def materialized(c, like):
    """``c``, or zeros of the shape and dtype of ``like`` (a series' value) where ``c`` is
    :data:`ZERO`."""
    if c is not ZERO:
        return c
    aval = get_aval(like)
    return backend.zeros(aval.shape, aval.dtype, like=None if isinstance(like, Tracer) else like)


def add(a, b):
    """``a + b``."""
    if a is ZERO:
        return b
    if b is ZERO:
        return a
    return a + b


def sub(a, b):
    """``a - b``."""
    if b is ZERO:
        return a
    if a is ZERO:
        return -b
    return a - b


def neg(a):
    """``-a``."""
    return a if a is ZERO else -a


def mul(a, b):
    """``a * b``; no operation where one is a traced value and the other a concrete scalar
    1 of its dtype (the unit terms of the usual input series, met under ``jit``)."""
    if a is ZERO or b is ZERO:
        return ZERO
    if isinstance(b, Tracer):
        if _is_unit_for(a, b):
            return b
    elif isinstance(a, Tracer) and _is_unit_for(b, a):
        return a
    return a * b


def _is_unit_for(c, t: Tracer) -> bool:
    return (
        not isinstance(c, Tracer)
        and getattr(c, "shape", None) == ()
        and c.dtype == t.dtype
        and c == 1
    )


def div(a, b):
    """``a / b`` (``b`` a value, not a marked coefficient)."""
    return ZERO if a is ZERO else a / b


def scale(c, s):
    """``c * s``, where ``s`` is a constant: no operation where ``s`` is the Python number 1,
    :data:`ZERO` where it is the Python number 0."""
    if c is ZERO:
        return ZERO
    if type(s) is float or type(s) is int:
        if s == 1:
            return c
        if s == 0:
            return ZERO
    return c * s


def total(terms: Iterable):
    """The sum of ``terms``, :data:`ZERO` where every term is."""
    out = ZERO
    for t in terms:
        if t is not ZERO:
            out = t if out is ZERO else out + t
    return out


def linear(f: Callable, c):
    """``f(c)`` for a linear ``f``: :data:`ZERO` where ``c`` is."""
    return ZERO if c is ZERO else f(c)
