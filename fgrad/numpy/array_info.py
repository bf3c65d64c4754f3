"""Conversions and introspection: ``ascontiguousarray``, ``require``, ``array_str``, ...

Memory layout does not exist for traced values (they are immutable and fgrad
chooses their layout), so the layout conversions return traced values unchanged
and only convert concrete ones. Printing and introspection read concrete values,
as they would in NumPy.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import get_aval
from fgrad.core.tracer import Tracer, concrete
from fgrad.numpy.conversion import asarray
from fgrad.numpy.ufuncs import isfinite


def asanyarray(a, dtype=None, *, device=None):
    """``asarray``: fgrad has no array subclasses to preserve."""
    return asarray(a, dtype, device=device)


def ascontiguousarray(a, dtype=None):
    """A C-contiguous array; traced values have no layout and come back as they are."""
    a = asarray(a, dtype)
    return a if isinstance(a, Tracer) else np.ascontiguousarray(a)


def asfortranarray(a, dtype=None):
    """A Fortran-ordered array; traced values have no layout and come back as they are."""
    a = asarray(a, dtype)
    return a if isinstance(a, Tracer) else np.asfortranarray(a)


def require(a, dtype=None, requirements=None):
    """``numpy.require``: dtype conversion; layout flags apply to concrete arrays only."""
    a = asarray(a, dtype)
    return a if isinstance(a, Tracer) else np.require(a, None, requirements)


def asarray_chkfinite(a, dtype=None):
    """``asarray`` that raises ``ValueError`` if ``a`` contains inf or NaN."""
    a = asarray(a, dtype)
    if not bool(np.all(concrete(isfinite(a)))):
        raise ValueError("array must not contain infs or NaNs")
    return a


def isfortran(a) -> bool:
    """Whether a concrete array is Fortran-ordered and not C-ordered (always False if traced)."""
    return False if isinstance(a, Tracer) else np.isfortran(a)


def may_share_memory(a, b, max_work=None) -> bool:
    """Traced values never share memory with anything a user can write to."""
    if isinstance(a, Tracer) or isinstance(b, Tracer):
        return False
    return np.may_share_memory(a, b, max_work)


def shares_memory(a, b, max_work=None) -> bool:
    """See :func:`may_share_memory`."""
    if isinstance(a, Tracer) or isinstance(b, Tracer):
        return False
    return np.shares_memory(a, b, max_work)


def array2string(a, *args, **kwargs) -> str:
    """``numpy.array2string`` of the (concrete) values."""
    return np.array2string(np.asarray(concrete(a)), *args, **kwargs)


def array_repr(arr, *args, **kwargs) -> str:
    """``numpy.array_repr`` of the (concrete) values."""
    return np.array_repr(np.asarray(concrete(arr)), *args, **kwargs)


def array_str(a, *args, **kwargs) -> str:
    """``numpy.array_str`` of the (concrete) values."""
    return np.array_str(np.asarray(concrete(a)), *args, **kwargs)


def common_type(*arrays):
    """The inexact scalar type common to the arrays (``numpy.common_type``), from dtypes only."""
    return np.common_type(*[np.empty(0, get_aval(a).dtype) for a in arrays])


def iterable(y) -> bool:
    """Whether ``y`` can be iterated over: traced arrays can unless they are 0-d."""
    return get_aval(y).ndim > 0 if isinstance(y, Tracer) else np.iterable(y)


class ArrayNamespaceInfo:
    """The array API's inspection object (``fgrad.numpy.__array_namespace_info__()``).

    Dtypes are NumPy's. The capabilities are those of traced code: under ``jit`` and
    ``vmap`` an output's shape cannot depend on values, so ``nonzero``, ``unique_*`` and
    boolean-mask indexing are reported as unavailable (they do work on plain arrays and
    under ``grad``/``jvp``). ``device`` is ``None``, as ``x.device`` of every array is.
    """

    def capabilities(self) -> dict:
        """What traced code supports: no data-dependent shapes, up to 64 dimensions."""
        return {"boolean indexing": False, "data-dependent shapes": False, "max dimensions": 64}

    def default_device(self) -> None:
        """``None``: arrays live where their transform runs."""
        return None

    def devices(self) -> list:
        """``[None]``, the one device name arrays report."""
        return [None]

    def default_dtypes(self, *, device=None) -> dict:
        """NumPy's default dtypes (float64, complex128, int64)."""
        return np.__array_namespace_info__().default_dtypes(device=device)

    def dtypes(self, *, device=None, kind=None) -> dict:
        """NumPy's dtypes of the standard, by name, optionally of one ``kind``."""
        return np.__array_namespace_info__().dtypes(device=device, kind=kind)


broadcast_shapes = np.broadcast_shapes
mintypecode, typename = np.mintypecode, np.typename
base_repr, binary_repr = np.base_repr, np.binary_repr
format_float_positional = np.format_float_positional
format_float_scientific = np.format_float_scientific

__all__ = [
    "array2string",
    "array_repr",
    "array_str",
    "asanyarray",
    "asarray_chkfinite",
    "ascontiguousarray",
    "asfortranarray",
    "base_repr",
    "binary_repr",
    "broadcast_shapes",
    "common_type",
    "format_float_positional",
    "format_float_scientific",
    "isfortran",
    "iterable",
    "may_share_memory",
    "mintypecode",
    "require",
    "shares_memory",
    "typename",
]
