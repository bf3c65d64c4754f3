"""Complex parts and tests: ``real``, ``imag``, ``conj``, ``angle``, ``iscomplexobj``, ...

Derivatives of complex functions follow JAX's convention (HIPS autograd uses the
same one): for a holomorphic ``f`` the pullback of ``g`` is ``g * f'(z)``, with no
conjugation, and for real-valued ``f`` of complex ``z``, ``grad(f)(z)`` is the
conjugate of the steepest-ascent direction ``df/dx + i df/dy``. Cotangents of
real inputs are real: the imaginary part of a complex cotangent is dropped where
a real value met a complex one. ``docs/complex.md`` works through examples.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.tracer import concrete
from fgrad.numpy.conversion import as_array
from fgrad.numpy.ufuncs import ufunc_like
from fgrad.primitives import elementwise as ew


def real(val):
    """The real part (``numpy.real``); real inputs are returned as they are."""
    val = as_array(val)
    return val if val.dtype.kind != "c" else ew.real(val)


def imag(val):
    """The imaginary part (``numpy.imag``); zeros of the input's dtype for real inputs."""
    return ew.imag(as_array(val))


@ufunc_like
def conjugate(x, /):
    """The complex conjugate, elementwise (``numpy.conjugate``); the identity on reals."""
    x = as_array(x)
    return x if x.dtype.kind != "c" else ew.conj(x)


conj = conjugate


def angle(z, deg: bool = False):
    """The argument of ``z`` in radians (degrees with ``deg=True``), as ``numpy.angle``.

    Composed as ``arctan2(imag, real)``, so its derivative is that of ``arctan2``:
    undefined (NaN-free but meaningless) only at ``z == 0``.
    """
    z = as_array(z)
    if z.dtype.kind == "c":
        out = ew.arctan2(ew.imag(z), ew.real(z))
    else:
        out = ew.arctan2(np.zeros((), _float_of(z.dtype)), z)
    return out * (180.0 / np.pi) if deg else out


def _float_of(dtype: np.dtype) -> np.dtype:
    return np.result_type(dtype, np.float16) if dtype.kind in "biu" else dtype


def real_if_close(a, tol: float = 100):
    """``a``'s real part if every imaginary part is within ``tol`` machine epsilons of 0.

    The decision needs concrete values; the result keeps the derivative of ``real``.
    """
    a = as_array(a)
    if a.dtype.kind != "c":
        return a
    eps = np.finfo(a.dtype).eps
    limit = tol * eps if tol > 1 else tol
    imag_part = concrete(ew.imag(a))
    return ew.real(a) if np.all(np.abs(imag_part) < limit) else a


def iscomplexobj(x) -> bool:
    """Whether ``x`` has a complex dtype (``numpy.iscomplexobj``)."""
    return np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype).kind == "c"


def isrealobj(x) -> bool:
    """Whether ``x`` has a non-complex dtype (``numpy.isrealobj``)."""
    return not iscomplexobj(x)


def iscomplex(x):
    """Elementwise: does the element have a nonzero imaginary part? (no derivative)"""
    x = as_array(x)
    return ew.bind(ew.ne_p, ew.imag(x), 0)


def isreal(x):
    """Elementwise: is the imaginary part zero? (no derivative)"""
    x = as_array(x)
    return ew.bind(ew.eq_p, ew.imag(x), 0)


__all__ = [
    "angle",
    "conj",
    "conjugate",
    "imag",
    "iscomplex",
    "iscomplexobj",
    "isreal",
    "isrealobj",
    "real",
    "real_if_close",
]
