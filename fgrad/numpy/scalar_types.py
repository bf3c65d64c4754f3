"""NumPy's scalar types as ``fgrad.numpy`` exposes them: dtypes that also convert traced values.

``fnp.float32`` is a subclass of ``numpy.float32`` (so it is a dtype wherever NumPy
takes one: ``fnp.zeros(3, fnp.float32)``, ``x.astype(fnp.int32)``,
``np.dtype(fnp.float32)``, ``np.issubdtype(fnp.float32, fnp.floating)``) whose
metaclass changes three things:

* calling it on a traced value converts it as ``fnp.astype`` does (differentiable
  to float and complex targets, no derivative to integers and bool), like
  ``jnp.float32(x)``; on anything else it is NumPy's call and returns what NumPy
  returns (``fnp.float32(2.0)`` is a ``numpy.float32``);
* ``isinstance(v, fnp.float32)`` and ``issubclass`` answer for NumPy's type, so
  checks on NumPy scalars behave as with ``numpy.float32``;
* it equals and hashes as NumPy's type (``fnp.float32 == np.float32``).

The abstract types (``fnp.floating``, ``fnp.integer``, ...) are NumPy's own. Code
that calls ``numpy.float32(x)`` itself gets NumPy's class, which fgrad cannot change:
on a traced value it asks for a NumPy array and raises ``TracerArrayConversionError``;
write ``fnp.float32(x)`` or ``x.astype(np.float32)``.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.tracer import Tracer
from fgrad.numpy.conversion import astype


class _ScalarType(type):
    _numpy_type: type

    def __call__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], Tracer):
            return astype(args[0], cls._numpy_type)
        return cls._numpy_type(*args, **kwargs)

    def __instancecheck__(cls, x) -> bool:
        return isinstance(x, cls._numpy_type)

    def __subclasscheck__(cls, sub) -> bool:
        return issubclass(sub, cls._numpy_type)

    def __eq__(cls, other) -> bool:
        if other is cls or other is cls._numpy_type:
            return True
        # as NumPy's own types do, let the other side answer: ``np.dtype("f8") == fnp.float64``
        # holds in either order (and so does ``dtype in (fnp.float64, ...)``)
        return NotImplemented

    def __hash__(cls) -> int:
        return hash(cls._numpy_type)

    def __repr__(cls) -> str:
        return f"<class 'fgrad.numpy.{cls.__name__}'>"


_wrapped: dict[type, type] = {}


def _scalar_type(numpy_type: type) -> type:
    """The one ``fgrad.numpy`` class for ``numpy_type`` (aliases such as ``double`` share it)."""
    if numpy_type not in _wrapped:
        name = numpy_type.__name__
        _wrapped[numpy_type] = _ScalarType(
            name,
            (numpy_type,),
            {
                "__module__": "fgrad.numpy",
                "__qualname__": name,
                "__slots__": (),
                "__doc__": f"``numpy.{name}``; called on a traced value, converts it "
                f"like ``fnp.astype(x, numpy.{name})``.",
                "_numpy_type": numpy_type,
                "dtype": np.dtype(numpy_type),
            },
        )
    return _wrapped[numpy_type]


bool_ = bool = _scalar_type(np.bool_)  # noqa: A001 - NumPy 2 names it both
int8, int16, int32, int64 = map(_scalar_type, (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = map(_scalar_type, (np.uint8, np.uint16, np.uint32, np.uint64))
float16, float32, float64 = map(_scalar_type, (np.float16, np.float32, np.float64))
complex64, complex128 = map(_scalar_type, (np.complex64, np.complex128))
half, single, double, longdouble = map(_scalar_type, (np.half, np.single, np.double, np.longdouble))
csingle, cdouble, clongdouble = map(_scalar_type, (np.csingle, np.cdouble, np.clongdouble))
intp, uintp, int_, uint, intc, uintc = map(
    _scalar_type, (np.intp, np.uintp, np.int_, np.uint, np.intc, np.uintc)
)
byte, ubyte, short, ushort = map(_scalar_type, (np.byte, np.ubyte, np.short, np.ushort))
longlong, ulonglong = map(_scalar_type, (np.longlong, np.ulonglong))

__all__ = [
    *("bool_", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"),
    *("uint64", "float16", "float32", "float64", "complex64", "complex128", "half"),
    *("single", "double", "longdouble", "csingle", "cdouble", "clongdouble", "intp"),
    *("uintp", "int_", "uint", "intc", "uintc", "byte", "ubyte", "short", "ushort"),
    *("longlong", "ulonglong"),
]
