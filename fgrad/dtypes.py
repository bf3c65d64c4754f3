"""``fgrad.dtypes``: ``jax.dtypes``' helpers, on NumPy's dtypes.

fgrad computes with NumPy's dtypes and NumPy 2's promotion rules (float64 by
default, ``jax_enable_x64`` always on), so these are NumPy's answers: a traced
value answers by its dtype, and a Python number stays weak, as NumPy 2 treats it
(``result_type(float32_array, 1.0)`` is float32).
"""

from __future__ import annotations

import numpy as np

from fgrad.core import missing_names
from fgrad.core.tracer import Tracer

#: the dtype JAX gives tangents of integer inputs; fgrad refuses to differentiate with
#: respect to integers instead (mark the argument static or leave it out of ``argnums``)
float0 = np.dtype([("float0", np.void, 0)])

finfo = np.finfo
iinfo = np.iinfo


class TypePromotionError(TypeError):
    """Raised where JAX's strict promotion refuses a pair of dtypes; NumPy's never does."""


def _dtype_or_value(x):
    if isinstance(x, Tracer):
        if x.aval.weak_type:  # a traced Python number promotes like one
            return x.dtype.type(0).item()
        return x.dtype
    return x


def canonicalize_dtype(dtype, allow_extended_dtype: bool = False) -> np.dtype:
    """The dtype fgrad computes in for ``dtype``: NumPy's, unchanged (64 bits stay).

    Parameters
    ----------
    dtype
        A dtype or anything ``numpy.dtype`` reads as one.
    allow_extended_dtype
        Accepted for JAX's signature; fgrad has no extended dtypes.

    Returns
    -------
    numpy.dtype
    """
    return np.dtype(dtype)


def issubdtype(a, b) -> bool:
    """Whether ``a`` is below ``b`` in NumPy's dtype hierarchy (``np.issubdtype``).

    Parameters
    ----------
    a, b
        Dtypes, scalar types or abstract types (``np.floating``, ``np.integer``).

    Returns
    -------
    bool
    """
    return bool(np.issubdtype(a, b))


def result_type(*args, return_weak_type_flag: bool = False):
    """The dtype of an operation on ``args`` by NumPy 2's promotion rules.

    Parameters
    ----------
    *args
        Arrays, traced values, dtypes, Python numbers (weak: they adopt the array's
        kind and width where they fit, as in NumPy 2).
    return_weak_type_flag
        If true, also return whether the result is weak (every argument a Python
        number or a traced one), as ``jax.dtypes.result_type`` does.

    Returns
    -------
    numpy.dtype, or (numpy.dtype, bool)
    """
    values = [_dtype_or_value(a) for a in args]
    dtype = np.result_type(*values)
    if not return_weak_type_flag:
        return dtype
    weak = bool(args) and all(
        isinstance(a, (bool, int, float, complex))
        or (isinstance(a, Tracer) and a.aval.weak_type)
        for a in args
    )
    return dtype, weak


def scalar_type_of(x) -> type:
    """The Python scalar type (``bool``, ``int``, ``float``, ``complex``) of ``x``'s dtype.

    Parameters
    ----------
    x
        An array, traced value, NumPy scalar or Python number.

    Returns
    -------
    type
    """
    dtype = np.result_type(_dtype_or_value(x))
    for kind, scalar in ((np.bool_, bool), (np.integer, int), (np.floating, float)):
        if np.issubdtype(dtype, kind):
            return scalar
    if np.issubdtype(dtype, np.complexfloating):
        return complex
    raise TypeError(f"scalar_type_of: dtype {dtype} has no Python scalar type")


def itemsize_bits(dtype) -> int:
    """The width of one element of ``dtype`` in bits.

    Parameters
    ----------
    dtype
        A dtype or anything ``numpy.dtype`` reads as one.

    Returns
    -------
    int
    """
    return np.dtype(dtype).itemsize * 8


def __getattr__(name: str):
    raise missing_names.missing("fgrad.dtypes", name, missing_names.DTYPES)


__all__ = [
    "TypePromotionError",
    "canonicalize_dtype",
    "finfo",
    "float0",
    "iinfo",
    "issubdtype",
    "itemsize_bits",
    "result_type",
    "scalar_type_of",
]
