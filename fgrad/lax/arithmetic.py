"""``jax.lax``'s element-wise operations (``add``, ``exp``, ``shift_left``, ...) with its
strict rules, as thin functions over ``fgrad.numpy``.

Unlike their ``fgrad.numpy`` counterparts, they neither promote nor broadcast:

* **One dtype.** Both operands of a binary operation must have one dtype; a Python
  scalar (or a Python scalar traced by ``jit``) is weakly typed and takes the other
  operand's dtype when it is of the same kind (a ``float`` for a floating array, an
  ``int`` for an integer one, ...), else the call is a :class:`DtypeError`.
* **One rank.** Both operands must have one number of dimensions, whose sizes agree or
  are 1; a 0-d operand goes with any shape (as ``jax.lax`` does).
* **Dtype kinds.** Each operation accepts the dtype kinds ``jax.lax`` accepts (``exp``
  floating or complex, ``floor`` floating, ``shift_left`` integer, ``add`` any number
  but not bool, ...).

Integer ``div`` truncates toward zero and ``rem`` takes the dividend's sign (C's
``fmod``), as ``jax.lax``; an integer division by zero gives ``-1`` (all bits set) and
its remainder the dividend, as XLA. Every function is built from ``fgrad.numpy``, so
``grad``, ``jvp``, ``vmap`` and ``jit`` work through the existing rules.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import DtypeError, ShapeError
from fgrad.core.tracer import Tracer
from fgrad.lax import special
from fgrad.numpy.conversion import in_dtype

_KIND_NAMES = {
    "b": "bool",
    "i": "signed integer",
    "u": "unsigned integer",
    "f": "floating",
    "c": "complex",
}
_PYTHON_KINDS = {bool: "b", int: "iu", float: "f", complex: "c"}


def _is_weak(x) -> bool:
    return type(x) in _PYTHON_KINDS or (isinstance(x, Tracer) and x.is_weakly_typed())


def _array(x):
    """``x`` as an array on its device, a traced value or a NumPy scalar as it is."""
    if isinstance(x, (Tracer, np.generic)):
        return x
    if isinstance(x, (list, tuple)):
        raise TypeError(
            f"lax operations take arrays or scalars, got a {type(x).__name__}: "
            "wrap it with fgrad.numpy.asarray"
        )
    return fnp.asarray(x)


def _check_kind(name: str, x, kinds: str, position: str = "") -> None:
    dtype = fnp.result_type(x)
    if dtype.kind not in kinds:
        accepted = ", ".join(_KIND_NAMES[k] for k in kinds)
        raise DtypeError(
            f"lax.{name}: {position or 'the operand'} has dtype {dtype}, but lax.{name} "
            f"accepts only {accepted} dtypes; cast it with lax.convert_element_type"
        )


def _weak_to(name: str, scalar, dtype: np.dtype, numpy_name: str):
    """The weakly typed ``scalar`` in ``dtype``, where its kind allows."""
    kinds = _PYTHON_KINDS[type(scalar)] if type(scalar) in _PYTHON_KINDS else None
    if kinds is None:  # a traced Python scalar
        kinds = _PYTHON_KINDS[type(fnp.result_type(scalar).type(0).item())]
    if dtype.kind not in kinds:
        raise DtypeError(
            f"lax.{name}: a Python {type(scalar).__name__} cannot take the other operand's "
            f"dtype {dtype}; write the scalar in that kind (e.g. 2.0 for floats), cast with "
            f"lax.convert_element_type, or use fgrad.numpy.{numpy_name}, which promotes"
        )
    if isinstance(scalar, Tracer):
        return fnp.astype(scalar, dtype)
    value = in_dtype(scalar, dtype)
    if dtype.kind in "iu" and int(value) != scalar:
        raise OverflowError(f"lax.{name}: the Python int {scalar} does not fit in {dtype}")
    return value


def _operands(name: str, x, y, numpy_name: str):
    """``x`` and ``y`` with one dtype and compatible shapes (see the module doc)."""
    if _is_weak(x) and not _is_weak(y):
        y = _array(y)
        x = _weak_to(name, x, fnp.result_type(y), numpy_name)
    elif _is_weak(y) and not _is_weak(x):
        x = _array(x)
        y = _weak_to(name, y, fnp.result_type(x), numpy_name)
    else:
        x, y = _array(x), _array(y)
    if isinstance(x, np.generic) != isinstance(y, np.generic):
        # the scalar as a 0-d array on the other operand's device, so that the
        # integer rules' fills (where, ones_like) land there too
        if isinstance(x, np.generic):
            x = fnp.full((), x, x.dtype, like=y)
        else:
            y = fnp.full((), y, y.dtype, like=x)
    dx, dy = fnp.result_type(x), fnp.result_type(y)
    if dx != dy:
        raise DtypeError(
            f"lax.{name}: the operands must have one dtype, got {dx} and {dy}; cast one "
            f"with lax.convert_element_type, or use fgrad.numpy.{numpy_name}, which promotes"
        )
    sx, sy = np.shape(x), np.shape(y)
    if (
        sx
        and sy
        and (len(sx) != len(sy) or any(a != b and 1 not in (a, b) for a, b in zip(sx, sy)))
    ):
        raise ShapeError(
            f"lax.{name}: the operands must have one shape (or sizes 1, or be 0-d), got "
            f"{sx} and {sy}; reshape with lax.broadcast_in_dim, or use "
            f"fgrad.numpy.{numpy_name}, which broadcasts"
        )
    return x, y


def _unary(name: str, fun: Callable, kinds: str, doc: str) -> Callable:
    def op(x):
        x = _array(x)
        _check_kind(name, x, kinds)
        return fun(x)

    op.__name__ = op.__qualname__ = name
    accepted = ", ".join(_KIND_NAMES[k] for k in kinds)
    op.__doc__ = (
        f"{doc}, element-wise (``jax.lax.{name}``); {accepted} dtypes, the dtype kept.\n\n"
        "See the module :mod:`fgrad.lax.arithmetic` for the rules."
    )
    return op


def _binary(name: str, fun: Callable, kinds: str, numpy_name: str, doc: str) -> Callable:
    def op(x, y):
        x, y = _operands(name, x, y, numpy_name)
        _check_kind(name, x, kinds, "the operands")
        return fun(x, y)

    op.__name__ = op.__qualname__ = name
    accepted = ", ".join(_KIND_NAMES[k] for k in kinds)
    op.__doc__ = (
        f"{doc}, element-wise (``jax.lax.{name}``); both operands of one {accepted} dtype "
        f"and one shape, no promotion (``fgrad.numpy.{numpy_name}`` promotes and "
        "broadcasts).\n\nSee the module :mod:`fgrad.lax.arithmetic` for the rules."
    )
    return op


_NUMBER = "iufc"
_INEXACT = "fc"


def _conj(x):
    dtype = fnp.result_type(x)
    if dtype.kind != "c":
        x = fnp.astype(x, np.result_type(dtype, np.complex64))
    return fnp.conjugate(x)


def _is_finite(x):
    return fnp.isfinite(x)


def _div(x, y):
    if fnp.result_type(x).kind not in "iu":
        return fnp.divide(x, y)
    zero = y == 0
    safe = fnp.where(zero, fnp.ones_like(y), y)
    quotient = fnp.floor_divide(x - fnp.fmod(x, safe), safe)  # exact: truncates toward 0
    all_ones = in_dtype(-1, fnp.result_type(x))
    return fnp.where(zero, all_ones, quotient)


def _rem(x, y):
    if fnp.result_type(x).kind not in "iu":
        return fnp.fmod(x, y)
    zero = y == 0
    return fnp.where(zero, x, fnp.fmod(x, fnp.where(zero, fnp.ones_like(y), y)))


def _atan2(x, y):
    if fnp.result_type(x).kind != "c":
        return fnp.arctan2(x, y)
    return -1j * fnp.log((y + 1j * x) / fnp.sqrt(x * x + y * y))


def _bits(x) -> int:
    return fnp.result_type(x).itemsize * 8


def _in_range(x, y):
    return (y >= 0) & (y < _bits(x)) if fnp.result_type(y).kind == "i" else y < _bits(x)


def _shift_left(x, y):
    inside = _in_range(x, y)
    shifted = fnp.left_shift(x, fnp.where(inside, y, fnp.zeros_like(y)))
    return fnp.where(inside, shifted, fnp.zeros_like(shifted))


def _shift_right_logical(x, y):
    dtype = fnp.result_type(x)
    unsigned = np.dtype(f"u{dtype.itemsize}")
    inside = _in_range(x, y)
    amount = fnp.astype(fnp.where(inside, y, fnp.zeros_like(y)), unsigned)
    shifted = fnp.astype(fnp.right_shift(fnp.astype(x, unsigned), amount), dtype)
    return fnp.where(inside, shifted, fnp.zeros_like(shifted))


def _shift_right_arithmetic(x, y):
    if fnp.result_type(x).kind == "u":
        return _shift_right_logical(x, y)
    last = in_dtype(_bits(x) - 1, fnp.result_type(y))
    return fnp.right_shift(x, fnp.where(_in_range(x, y), y, last))


def _complex(x, y):
    dtype = np.result_type(fnp.result_type(x), np.complex64)
    return fnp.astype(x, dtype) + fnp.astype(y, dtype) * dtype.type(1j)


neg = _unary("neg", fnp.negative, _NUMBER, "``-x``")
abs = _unary("abs", fnp.abs, "ifc", "``|x|`` (a complex ``x`` gives its real modulus)")  # noqa: A001
sign = _unary("sign", fnp.sign, _NUMBER, "-1, 0 or 1 (``x / |x|`` for complex ``x``)")
square = _unary("square", fnp.square, _NUMBER, "``x * x``")
reciprocal = _unary("reciprocal", fnp.reciprocal, _INEXACT, "``1 / x``")
rsqrt = _unary("rsqrt", lambda x: fnp.reciprocal(fnp.sqrt(x)), _INEXACT, "``1 / sqrt(x)``")
logistic = _unary("logistic", special.logistic, _INEXACT, "``1 / (1 + exp(-x))``, without overflow")
exp = _unary("exp", fnp.exp, _INEXACT, "``e ** x``")
exp2 = _unary("exp2", fnp.exp2, _INEXACT, "``2 ** x``")
log = _unary("log", fnp.log, _INEXACT, "The natural logarithm")
log1p = _unary("log1p", fnp.log1p, _INEXACT, "``log(1 + x)``, exact for small ``x``")
expm1 = _unary("expm1", fnp.expm1, _INEXACT, "``exp(x) - 1``, exact for small ``x``")
sqrt = _unary("sqrt", fnp.sqrt, _INEXACT, "The square root")
cbrt = _unary("cbrt", fnp.cbrt, "f", "The real cube root")
sin = _unary("sin", fnp.sin, _INEXACT, "The sine")
cos = _unary("cos", fnp.cos, _INEXACT, "The cosine")
tan = _unary("tan", fnp.tan, _INEXACT, "The tangent")
asin = _unary("asin", fnp.arcsin, _INEXACT, "The inverse sine")
acos = _unary("acos", fnp.arccos, _INEXACT, "The inverse cosine")
atan = _unary("atan", fnp.arctan, _INEXACT, "The inverse tangent")
sinh = _unary("sinh", fnp.sinh, _INEXACT, "The hyperbolic sine")
cosh = _unary("cosh", fnp.cosh, _INEXACT, "The hyperbolic cosine")
tanh = _unary("tanh", fnp.tanh, _INEXACT, "The hyperbolic tangent")
asinh = _unary("asinh", fnp.arcsinh, _INEXACT, "The inverse hyperbolic sine")
acosh = _unary("acosh", fnp.arccosh, _INEXACT, "The inverse hyperbolic cosine")
atanh = _unary("atanh", fnp.arctanh, _INEXACT, "The inverse hyperbolic tangent")
floor = _unary("floor", fnp.floor, "f", "The largest integer ``<= x`` (zero derivative)")
ceil = _unary("ceil", fnp.ceil, "f", "The smallest integer ``>= x`` (zero derivative)")
is_finite = _unary("is_finite", _is_finite, "f", "Whether ``x`` is finite (bool result)")
real = _unary("real", fnp.real, "c", "The real part (a real dtype)")
imag = _unary("imag", fnp.imag, "c", "The imaginary part (a real dtype)")
conj = _unary("conj", _conj, _INEXACT, "The complex conjugate (complex also for real ``x``)")
bitwise_not = _unary("bitwise_not", fnp.invert, "biu", "``~x`` (logical not for bool)")

add = _binary("add", fnp.add, _NUMBER, "add", "``x + y``")
sub = _binary("sub", fnp.subtract, _NUMBER, "subtract", "``x - y``")
mul = _binary("mul", fnp.multiply, _NUMBER, "multiply", "``x * y``")
div = _binary("div", _div, _NUMBER, "divide", "``x / y``, truncated toward zero for integers")
rem = _binary("rem", _rem, "iuf", "fmod", "The remainder of ``div``, the dividend's sign")
max = _binary("max", fnp.maximum, "biufc", "maximum", "The larger (NaN if either is)")  # noqa: A001
min = _binary("min", fnp.minimum, "biufc", "minimum", "The smaller (NaN if either is)")  # noqa: A001
atan2 = _binary(
    "atan2",
    _atan2,
    _INEXACT,
    "arctan2",
    "The angle of the point ``(y=x, x=y)``; for complex operands the analytic "
    "``-i log((y + i x) / sqrt(x**2 + y**2))``, as JAX's",
)
nextafter = _binary(
    "nextafter",
    fnp.nextafter,
    "f",
    "nextafter",
    "The next float after ``x`` toward ``y`` (zero derivative)",
)
bitwise_and = _binary("bitwise_and", fnp.bitwise_and, "biu", "bitwise_and", "``x & y``")
bitwise_or = _binary("bitwise_or", fnp.bitwise_or, "biu", "bitwise_or", "``x | y``")
bitwise_xor = _binary("bitwise_xor", fnp.bitwise_xor, "biu", "bitwise_xor", "``x ^ y``")
shift_left = _binary(
    "shift_left",
    _shift_left,
    "iu",
    "left_shift",
    "``x << y``, 0 where ``y`` is negative or at least the bit width",
)
shift_right_logical = _binary(
    "shift_right_logical",
    _shift_right_logical,
    "iu",
    "right_shift",
    "``x >> y`` filling with zeros, 0 where ``y`` is negative or at least the bit width",
)
shift_right_arithmetic = _binary(
    "shift_right_arithmetic",
    _shift_right_arithmetic,
    "iu",
    "right_shift",
    "``x >> y`` filling with the sign bit (all sign bits where ``y`` is out of range)",
)
eq = _binary("eq", fnp.equal, "biufc", "equal", "``x == y`` (bool result)")
ne = _binary("ne", fnp.not_equal, "biufc", "not_equal", "``x != y`` (bool result)")
lt = _binary("lt", fnp.less, "biuf", "less", "``x < y`` (bool result)")
le = _binary("le", fnp.less_equal, "biuf", "less_equal", "``x <= y`` (bool result)")
gt = _binary("gt", fnp.greater, "biuf", "greater", "``x > y`` (bool result)")
ge = _binary("ge", fnp.greater_equal, "biuf", "greater_equal", "``x >= y`` (bool result)")
complex = _binary(  # noqa: A001
    "complex", _complex, "f", "complex", "``x + 1j * y`` (complex64 from float32 parts)"
)


def pow(x, y):  # noqa: A001 - JAX's name
    """``x ** y``, element-wise (``jax.lax.pow``).

    Parameters
    ----------
    x : array
        A floating or complex base.
    y : array or scalar
        An exponent of ``x``'s dtype, or of any integer dtype; a Python int or float
        takes ``x``'s dtype.

    Returns
    -------
    array
        ``x``'s dtype and the operands' shape.
    """
    x = _array(x)
    _check_kind("pow", x, _INEXACT, "the base")
    if type(y) is int or (not _is_weak(y) and fnp.result_type(y).kind in "iu"):
        y = fnp.astype(_array(y), fnp.result_type(x))  # an integer exponent, exactly
    x, y = _operands("pow", x, y, "power")
    return fnp.power(x, y)


def integer_pow(x, y: int):
    """``x ** y`` for a Python int ``y``, by repeated multiplication (``jax.lax.integer_pow``).

    ``x`` may be any number dtype, kept; a negative ``y`` needs a floating or complex
    ``x`` (it is ``1 / x ** -y``).
    """
    x = _array(x)
    _check_kind("integer_pow", x, _NUMBER)
    y = int(y)
    if y < 0 and fnp.result_type(x).kind in "iu":
        raise DtypeError(
            f"lax.integer_pow: integers cannot be raised to the negative power {y}; "
            "convert x to a float dtype first"
        )
    dtype = fnp.result_type(x)
    out = fnp.power(x, in_dtype(y if y >= 0 else -y, dtype))
    return fnp.reciprocal(out) if y < 0 else out


class RoundingMethod(enum.IntEnum):
    """How :func:`round` breaks ties (``jax.lax.RoundingMethod``)."""

    AWAY_FROM_ZERO = 0
    TO_NEAREST_EVEN = 1


def round(x, rounding_method: RoundingMethod | int = RoundingMethod.AWAY_FROM_ZERO):  # noqa: A001
    """``x`` rounded to the nearest integer, element-wise (``jax.lax.round``).

    Parameters
    ----------
    x : array
        A floating array (dtype kept).
    rounding_method : RoundingMethod or int
        Ties (``2.5``) go away from zero (``AWAY_FROM_ZERO``, 0, the default: 3) or to
        the even neighbour (``TO_NEAREST_EVEN``, 1: 2, as ``numpy.round``).

    Returns
    -------
    array
        The rounded values; the derivative is zero.
    """
    method = RoundingMethod(rounding_method)
    x = _array(x)
    _check_kind("round", x, "f")
    if method is RoundingMethod.TO_NEAREST_EVEN:
        return fnp.round(x)
    truncated = fnp.trunc(x)
    return fnp.where(fnp.abs(x - truncated) >= 0.5, truncated + fnp.sign(x), truncated)


__all__ = [
    "RoundingMethod",
    "abs",
    "acos",
    "acosh",
    "add",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "cbrt",
    "ceil",
    "complex",
    "conj",
    "cos",
    "cosh",
    "div",
    "eq",
    "exp",
    "exp2",
    "expm1",
    "floor",
    "ge",
    "gt",
    "imag",
    "integer_pow",
    "is_finite",
    "le",
    "log",
    "log1p",
    "logistic",
    "lt",
    "max",
    "min",
    "mul",
    "ne",
    "neg",
    "nextafter",
    "pow",
    "real",
    "reciprocal",
    "rem",
    "round",
    "rsqrt",
    "shift_left",
    "shift_right_arithmetic",
    "shift_right_logical",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "sub",
    "tan",
    "tanh",
]
