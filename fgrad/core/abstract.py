"""Abstract values: what a tracer knows when it does not know the numbers.

A :class:`ShapedArray` is a shape and a dtype. It is what ``make_jaxpr`` traces
with, what every jaxpr variable is annotated with, and what abstract-eval rules
compute. ``weak_type`` marks values that came from Python scalars: under NumPy 2
promotion (NEP 50) they adopt the dtype of the array they meet, so ``x32 * 2.0``
stays float32. Keeping the flag is what lets abstract evaluation agree with eager
NumPy exactly.
"""

from __future__ import annotations

import functools
import math

import numpy as np

PYTHON_SCALARS = (bool, int, float, complex)

_SHORT_KIND = {"f": "f", "i": "i", "u": "u", "c": "c"}

_WEAK_DTYPE = {t: np.asarray(t()).dtype for t in PYTHON_SCALARS}


class ShapedArray:
    """The shape and dtype of an array, without its values."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: tuple[int, ...], dtype, weak_type: bool = False):
        self.shape = tuple(map(int, shape))
        self.dtype = np.dtype(dtype)
        self.weak_type = weak_type

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def strong(self) -> ShapedArray:
        """The same shape and dtype, strongly typed (the aval of an array made from it)."""
        return ShapedArray(self.shape, self.dtype)

    def str_short(self) -> str:
        """Compact form used in jaxprs and error messages, e.g. ``f64[3,4]``."""
        return f"{dtype_short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ShapedArray)
            and self.shape == other.shape
            and self.dtype == other.dtype
            and self.weak_type == other.weak_type
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.str_short()}{weak})"


def array_aval(x) -> ShapedArray:
    """The aval of an array whose ``shape`` is a tuple of ints and ``dtype`` a ``numpy.dtype``.

    Skips the conversions of ``ShapedArray.__init__``: the reverse-mode tape calls
    it for every input it does not keep.
    """
    aval = _new_shaped_array(ShapedArray)
    aval.shape = x.shape
    aval.dtype = x.dtype
    aval.weak_type = False
    return aval


_new_shaped_array = object.__new__


def dtype_short_name(dtype) -> str:
    """``float64 -> f64``, ``int32 -> i32``, ``bool -> bool``."""
    dtype = np.dtype(dtype)
    kind = _SHORT_KIND.get(dtype.kind)
    if kind is None:
        return dtype.name
    return f"{kind}{dtype.itemsize * 8}"


def is_floating(dtype) -> bool:
    """Is ``dtype`` a real floating-point dtype: NumPy's (kind ``f``) or one of the
    ml_dtypes extension types (``bfloat16``, ``float8_*``), which NumPy lists as kind ``V``?"""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or (
        dtype.kind == "V" and dtype.type.__module__ == "ml_dtypes" and "float" in dtype.name
    )


def get_aval(x) -> ShapedArray:
    """The abstract value of a concrete array, NumPy scalar, Python scalar or tracer."""
    if x.__class__ is np.ndarray:
        return array_aval(x)
    aval = getattr(x, "aval", None)
    if isinstance(aval, ShapedArray):
        return aval
    if isinstance(x, PYTHON_SCALARS) and not isinstance(x, np.generic):
        # by type, not value: an int beyond int64 is a weak int like any other (NumPy 2
        # promotes it so, and raises OverflowError where it has to become an int64).
        # NumPy's float64 and complex128 subclass Python's types but are strongly typed.
        dtype = _WEAK_DTYPE.get(type(x))
        return ShapedArray((), np.asarray(x).dtype if dtype is None else dtype, weak_type=True)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return ShapedArray(x.shape, x.dtype)
    arr = np.asarray(x)
    return ShapedArray(arr.shape, arr.dtype)


_WEAK_EXEMPLAR = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


@functools.lru_cache(maxsize=4096)
def result_dtype(impl, key: tuple, params: tuple) -> np.dtype:
    """The dtype ``impl`` produces for inputs of these dtypes, found by running it on empty arrays.

    Asking NumPy itself keeps abstract evaluation identical to eager results
    under NumPy 2's promotion rules (weak Python scalars included).
    """
    exemplars = [_WEAK_EXEMPLAR[np.dtype(d).kind] if weak else np.empty((0,), d) for d, weak in key]
    with np.errstate(all="ignore"):
        return np.asarray(impl(*exemplars, **dict(params))).dtype
