"""``fgrad.Array`` (also ``fgrad.numpy.ndarray``): the type of arrays as user code sees them.

Inside a transform user code holds tracers, not ``numpy.ndarray``: a check
``isinstance(x, np.ndarray)`` in a library takes the wrong branch there. ``fgrad.Array``
answers ``isinstance`` for NumPy arrays, arrays of the other backends (CuPy) and the
tracers of every transform alike, as ``jax.Array`` does for concrete and traced values.
NumPy scalars (``np.float64(1.0)``) are not arrays, as in NumPy. Code that must tell
traced values apart asks ``isinstance(x, fgrad.core.Tracer)``.

It is a virtual base class: nothing is an instance of it by inheritance, the metaclass
answers ``isinstance`` and ``issubclass``; ``numpy.ndarray`` itself is left untouched.
"""

from __future__ import annotations

import types

import numpy as np

from fgrad.core import backend
from fgrad.core.tracer import Tracer


class _ArrayMeta(type):
    def __instancecheck__(cls, x) -> bool:
        return isinstance(x, (np.ndarray, Tracer)) or backend.is_device_array(x)

    def __subclasscheck__(cls, sub) -> bool:
        return sub is cls or issubclass(sub, (np.ndarray, Tracer))

    def __call__(cls, *args, **kwargs) -> np.ndarray:
        # ``fnp.ndarray(shape, dtype)`` builds a NumPy array, as ``numpy.ndarray`` does
        return np.ndarray(*args, **kwargs)


class Array(metaclass=_ArrayMeta):
    """An array: a ``numpy.ndarray``, a CuPy array, or a traced value of any transform.

    Use it in ``isinstance`` checks and annotations (``def f(x: fgrad.Array)``).
    Calling it builds a ``numpy.ndarray`` (``numpy.ndarray``'s own constructor);
    create arrays with ``fgrad.numpy.array``, ``zeros``, ... instead.
    """

    __slots__ = ()

    def __class_getitem__(cls, params) -> types.GenericAlias:
        # ``fnp.ndarray[Any, np.dtype[np.float64]]`` in annotations, as numpy.ndarray allows
        return types.GenericAlias(cls, params)
