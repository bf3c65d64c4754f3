"""NumPy's elementwise functions (ufuncs), ``where``/``nonzero`` and ``clip``, on fgrad
primitives.

Each is a thin binding: NumPy 2 promotion comes from the primitives' impls, so
``float32 * 2.0`` stays float32 and plain arrays in give plain arrays out.
"""

from __future__ import annotations

import functools

import numpy as np

from fgrad.numpy.conversion import as_operand, astype, check_no_out, host_index
from fgrad.primitives import elementwise as ew
from fgrad.primitives.elementwise import bind, select
from fgrad.transforms.custom_derivatives import custom_jvp

_UFUNC_KWARGS = frozenset({"out", "where", "casting", "order", "dtype", "subok"})


def _reject_ufunc_kwargs(name: str, kwargs: dict) -> None:
    """Refuse NumPy's ufunc keywords: ``out=``/``where=`` would write into an array."""
    if not kwargs:
        return
    bad = ", ".join(f"{k}=" for k in kwargs)
    if "out" in kwargs or "where" in kwargs:
        raise TypeError(
            f"fgrad.numpy.{name} does not support {bad}: fgrad arrays are immutable, so "
            f"results cannot be written into an existing array. Use the return value "
            f"instead (y = fnp.{name}(...)); for where=, use fnp.where(cond, "
            f"fnp.{name}(...), other)."
        )
    raise TypeError(
        f"fgrad.numpy.{name} does not support the keyword arguments {bad}; convert the "
        "inputs first (fnp.astype) if a dtype is wanted."
    )


def ufunc_like(fn):
    """Wrap a composed function so that NumPy's ufunc keywords are refused as ``unary`` does."""
    name = fn.__name__.strip("_")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ufunc_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _UFUNC_KWARGS}
        _reject_ufunc_kwargs(name, ufunc_kwargs)
        out = fn(*args, **kwargs)
        if type(out) in (bool, int, float, complex):  # Python arithmetic on Python scalars
            return np.asarray(out)[()]
        if isinstance(out, np.ndarray) and out.ndim == 0:  # NumPy's ufuncs return scalars
            return out[()]
        return out

    return wrapper


def binary(prim, doc: str, name: str | None = None):
    """NumPy's function ``name`` of two arrays, binding ``prim``; ufunc keywords refused."""
    name = name or prim.name

    def fn(x1, x2, /, **kwargs):
        _reject_ufunc_kwargs(name, kwargs)
        return bind(prim, as_operand(x1), as_operand(x2))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def unary(prim, doc: str, name: str | None = None):
    """NumPy's function ``name`` of one array, binding ``prim``; ufunc keywords refused."""
    name = name or prim.name

    def fn(x, /, **kwargs):
        _reject_ufunc_kwargs(name, kwargs)
        return bind(prim, as_operand(x))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _same_twice(ufunc):
    return lambda z: ufunc(z, z)


_LOGADDEXP = _same_twice(np.logaddexp)


def _float_operand(x, ufunc):
    """Integer and boolean arrays converted to the float dtype ``ufunc`` gives them.

    Composed functions then follow NumPy's dtypes (``exp2(int8)`` is float16) instead
    of the float64 that ``int8 * 0.69`` promotes to. Python scalars stay weak.
    """
    x = as_operand(x)
    dtype = getattr(x, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind in "biu":
        return astype(x, ufunc(np.zeros(0, dtype)).dtype)
    return x


add = binary(ew.add_p, "Elementwise ``x1 + x2`` with broadcasting (``numpy.add``).", "add")
subtract = binary(ew.sub_p, "Elementwise ``x1 - x2`` (``numpy.subtract``).", "subtract")
multiply = binary(ew.mul_p, "Elementwise ``x1 * x2`` (``numpy.multiply``).", "multiply")
divide = binary(ew.div_p, "Elementwise true division ``x1 / x2`` (``numpy.divide``).", "divide")
true_divide = divide
power = binary(ew.pow_p, "Elementwise ``x1 ** x2``, differentiable in both.", "power")
maximum = binary(ew.maximum_p, "Elementwise maximum; ties share the derivative.", "maximum")
minimum = binary(ew.minimum_p, "Elementwise minimum; ties share the derivative.", "minimum")
equal = binary(ew.eq_p, "Elementwise ``x1 == x2`` (no derivative).", "equal")
not_equal = binary(ew.ne_p, "Elementwise ``x1 != x2`` (no derivative).", "not_equal")
less = binary(ew.lt_p, "Elementwise ``x1 < x2`` (no derivative).", "less")
less_equal = binary(ew.le_p, "Elementwise ``x1 <= x2`` (no derivative).", "less_equal")
greater = binary(ew.gt_p, "Elementwise ``x1 > x2`` (no derivative).", "greater")
greater_equal = binary(ew.ge_p, "Elementwise ``x1 >= x2`` (no derivative).", "greater_equal")
logical_and = binary(ew.and_p, "Elementwise logical and (no derivative).", "logical_and")
logical_or = binary(ew.or_p, "Elementwise logical or (no derivative).", "logical_or")

negative = unary(ew.neg_p, "Elementwise ``-x``.", "negative")
exp = unary(ew.exp_p, "Elementwise exponential.", "exp")
log = unary(ew.log_p, "Elementwise natural logarithm.", "log")
log1p = unary(ew.log1p_p, "Elementwise ``log(1 + x)``, accurate for small ``x``.", "log1p")
expm1 = unary(ew.expm1_p, "Elementwise ``exp(x) - 1``, accurate for small ``x``.", "expm1")
sin = unary(ew.sin_p, "Elementwise sine.", "sin")
cos = unary(ew.cos_p, "Elementwise cosine.", "cos")
tan = unary(ew.tan_p, "Elementwise tangent.", "tan")
tanh = unary(ew.tanh_p, "Elementwise hyperbolic tangent.", "tanh")
sqrt = unary(ew.sqrt_p, "Elementwise square root.", "sqrt")
absolute = unary(ew.abs_p, "Elementwise absolute value; derivative 0 at 0.", "absolute")
abs = absolute  # noqa: A001 - NumPy's name
sign = unary(ew.sign_p, "Elementwise sign (no derivative).", "sign")
logical_not = unary(ew.not_p, "Elementwise logical not (no derivative).", "logical_not")
isfinite = unary(ew.isfinite_p, "Elementwise test for finite values (no derivative).", "isfinite")
isnan = unary(ew.isnan_p, "Elementwise test for NaN (no derivative).", "isnan")
isinf = unary(ew.isinf_p, "Elementwise test for infinities (no derivative).", "isinf")

arcsin = unary(ew.arcsin_p, "Elementwise inverse sine.", "arcsin")
arccos = unary(ew.arccos_p, "Elementwise inverse cosine.", "arccos")
arctan = unary(ew.arctan_p, "Elementwise inverse tangent.", "arctan")
sinh = unary(ew.sinh_p, "Elementwise hyperbolic sine.", "sinh")
cosh = unary(ew.cosh_p, "Elementwise hyperbolic cosine.", "cosh")
arcsinh = unary(ew.arcsinh_p, "Elementwise inverse hyperbolic sine.", "arcsinh")
arccosh = unary(ew.arccosh_p, "Elementwise inverse hyperbolic cosine.", "arccosh")
arctanh = unary(ew.arctanh_p, "Elementwise inverse hyperbolic tangent.", "arctanh")
cbrt = unary(ew.cbrt_p, "Elementwise cube root.", "cbrt")
arctan2 = binary(ew.arctan2_p, "Elementwise angle of the point ``(x2, x1)``.", "arctan2")
hypot = binary(ew.hypot_p, "Elementwise ``sqrt(x1**2 + x2**2)``; derivative 0 at 0.", "hypot")
remainder = binary(ew.remainder_p, "Remainder with the sign of the divisor.", "remainder")
mod = remainder
fmod = binary(ew.fmod_p, "Remainder with the sign of the dividend (C's fmod).", "fmod")
copysign = binary(ew.copysign_p, "``|x1|`` with the sign of ``x2``.", "copysign")
floor = unary(ew.floor_p, "Elementwise floor (zero derivative).", "floor")
ceil = unary(ew.ceil_p, "Elementwise ceiling (zero derivative).", "ceil")
rint = unary(ew.rint_p, "Round to the nearest integer, ties to even (zero derivative).", "rint")
trunc = unary(ew.trunc_p, "Round towards zero (zero derivative).", "trunc")
signbit = unary(ew.signbit_p, "Elementwise test of the sign bit (no derivative).", "signbit")
floor_divide = binary(ew.floor_divide_p, "``floor(x1 / x2)`` (zero derivative).", "floor_divide")
heaviside = binary(ew.heaviside_p, "Heaviside step, ``x2`` at 0 (zero derivative).", "heaviside")


@ufunc_like
def positive(x):
    """Elementwise ``+x`` (the input itself)."""
    return as_operand(x)


@ufunc_like
def square(x):
    """Elementwise ``x * x``."""
    x = as_operand(x)
    return x * x


@ufunc_like
def reciprocal(x):
    """Elementwise ``1 / x``."""
    return divide(1, x)


def _difference(x1, x2):
    """``x1 - x2``, but 0 where both are the same infinity (whose difference is NaN).

    Only those points are replaced: at finite ties the difference keeps its
    derivative, which the second derivative of ``logaddexp`` needs.
    """
    same_infinity = logical_and(equal(x1, x2), isinf(x1))
    with np.errstate(invalid="ignore"):  # inf - inf, discarded by the select
        return select(same_infinity, 0.0, subtract(x1, x2))


@custom_jvp
def _logaddexp(x1, x2):
    return maximum(x1, x2) + log1p(exp(-absolute(_difference(x1, x2))))


@_logaddexp.defjvp
def _logaddexp_jvp(primals, tangents):
    (x1, x2), (t1, t2) = primals, tangents
    w1 = 0.5 * (tanh(0.5 * _difference(x1, x2)) + 1.0)  # sigmoid(x1 - x2), overflow-free
    return _logaddexp(x1, x2), t1 * w1 + t2 * (1.0 - w1)


@ufunc_like
def logaddexp(x1, x2):
    """``log(exp(x1) + exp(x2))`` without overflow and with full precision in the tails.

    The value is ``max(x1, x2) + log1p(exp(-|x1 - x2|))``. That form has kinks
    where ``x1 == x2`` although the function is smooth, so its derivative comes
    from a custom rule instead, ``t1 * sigmoid(x1 - x2) + t2 * sigmoid(x2 - x1)``,
    exact to every order, ties and equal infinities included.
    """
    return _logaddexp(_float_operand(x1, _LOGADDEXP), _float_operand(x2, _LOGADDEXP))


_LN2 = float(np.log(2.0))
_LN10 = float(np.log(10.0))


@ufunc_like
def fix(x, out=None):
    """Round towards zero (``numpy.fix``; zero derivative)."""
    check_no_out(out, "fix")
    return trunc(x)


@ufunc_like
def round(a, decimals=0, out=None):  # noqa: A001 - NumPy's name
    """Round to ``decimals`` decimals, ties to even, as ``numpy.round`` (zero derivative)."""
    check_no_out(out, "round")
    return ew.bind(ew.round_p, as_operand(a), decimals=int(decimals))


round_ = around = round


@ufunc_like
def exp2(x):
    """Elementwise ``2 ** x`` (exact for integer ``x``)."""
    return power(2.0, _float_operand(x, np.exp2))


@ufunc_like
def log2(x):
    """Elementwise base-2 logarithm."""
    return log(_float_operand(x, np.log2)) / _LN2


@ufunc_like
def log10(x):
    """Elementwise base-10 logarithm."""
    return log(_float_operand(x, np.log10)) / _LN10


def _common_float(x1, x2, ufunc):
    """Both operands in the dtype ``ufunc`` computes in, so composed arithmetic is as precise."""
    x1, x2 = as_operand(x1), as_operand(x2)
    dtypes = [getattr(x, "dtype", None) for x in (x1, x2)]
    if any(d is None for d in dtypes):  # a Python scalar stays weak
        return _float_operand(x1, _same_twice(ufunc)), _float_operand(x2, _same_twice(ufunc))
    dtype = ufunc(np.zeros(0, dtypes[0]), np.zeros(0, dtypes[1])).dtype
    return astype(x1, dtype), astype(x2, dtype)


def _float64(x):
    """``x`` in float64, or complex128 if it is complex (``float_power``'s types)."""
    x = as_operand(x)
    if type(x) in (bool, int, float, complex):
        return x if type(x) is complex else float(x)
    return astype(x, np.complex128 if x.dtype.kind == "c" else np.float64)


@ufunc_like
def float_power(x1, x2):
    """``x1 ** x2`` computed in float64 (``numpy.float_power``)."""
    return power(_float64(x1), _float64(x2))


@ufunc_like
def logaddexp2(x1, x2):
    """``log2(2**x1 + 2**x2)`` without overflow; see :func:`logaddexp`."""
    x1, x2 = _common_float(x1, x2, np.logaddexp2)
    return logaddexp(x1 * _LN2, x2 * _LN2) / _LN2


@ufunc_like
def deg2rad(x):
    """Degrees to radians."""
    return _float_operand(x, np.deg2rad) * (np.pi / 180.0)


@ufunc_like
def rad2deg(x):
    """Radians to degrees."""
    return _float_operand(x, np.rad2deg) * (180.0 / np.pi)


radians, degrees = deg2rad, rad2deg


@ufunc_like
def sinc(x):
    """``sin(pi x) / (pi x)``, 1 at 0 (``numpy.sinc``), with its derivatives at 0 too.

    Near 0 a Taylor polynomial replaces the quotient (whose input is made safe
    there, so no NaN enters the derivative): the derivatives at 0 are exact.
    """
    x = _float_operand(x, np.sinc)
    small = less(absolute(x), 1e-3)
    y = np.pi * where(small, 1.0, x)
    y0 = np.pi * where(small, x, 0.0)
    y0 = y0 * y0
    return where(small, 1.0 - y0 / 6.0 + y0 * y0 / 120.0, sin(y) / y)


@ufunc_like
def fabs(x):
    """Absolute value of real numbers (``numpy.fabs`` refuses complex input)."""
    x = _float_operand(x, np.fabs)
    if getattr(x, "dtype", np.dtype(float)).kind == "c":
        raise TypeError("fabs is not defined for complex input; use fgrad.numpy.abs")
    return absolute(x)


@ufunc_like
def fmax(x1, x2):
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    x1, x2 = as_operand(x1), as_operand(x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, maximum(x1, x2)))


@ufunc_like
def fmin(x1, x2):
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    x1, x2 = as_operand(x1), as_operand(x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, minimum(x1, x2)))


@ufunc_like
def logical_xor(x1, x2):
    """Elementwise exclusive or of the truth values (no derivative)."""
    return not_equal(not_equal(x1, 0), not_equal(x2, 0))


def isposinf(x, out=None):
    """Elementwise test for +inf (no derivative)."""
    check_no_out(out, "isposinf")
    return logical_and(isinf(x), greater(x, 0))


def isneginf(x, out=None):
    """Elementwise test for -inf (no derivative)."""
    check_no_out(out, "isneginf")
    return logical_and(isinf(x), less(x, 0))


def divmod(x1, x2):  # noqa: A001 - NumPy's name
    """``(floor_divide(x1, x2), remainder(x1, x2))``; the remainder is differentiable."""
    return floor_divide(x1, x2), remainder(x1, x2)


def modf(x):
    """Fractional and integral parts, both with the sign of ``x`` (``numpy.modf``)."""
    x = _float_operand(x, lambda z: np.modf(z)[0])
    whole = trunc(x)
    return x - whole, whole


def frexp(x):
    """``(mantissa, exponent)`` with ``x == mantissa * 2**exponent`` (``numpy.frexp``).

    The exponent is an integer array without derivative; the mantissa's
    derivative is ``2**-exponent``.
    """
    x = _float_operand(x, lambda z: np.frexp(z)[0])
    exponent = bind(ew.frexp_exponent_p, x)
    mantissa = bind(ew.ldexp_p, x, -exponent)
    return _with_slope(mantissa, x, _power_of_two(x, -exponent)), exponent


def _power_of_two(x, exponent):
    """``2**exponent`` exactly in ``x``'s float dtype (no derivative), the exponent
    clamped to the dtype's range so that the result stays finite and nothing warns."""
    dtype = np.dtype(getattr(x, "dtype", np.float64))
    limit = np.finfo(dtype).maxexp - 1
    return bind(ew.ldexp_p, np.ones((), dtype), clip(exponent, -limit, limit))


def _with_slope(exact, x, slope):
    """``exact``'s values, with derivative ``slope`` (None: 1) in ``x`` where ``x`` is finite.

    The bit-level primitives give exact values, also where an arithmetic formula
    overflows (``ldexp(0.5, 1024)``, the mantissa of a subnormal, ``nextafter(inf, 0)``),
    and no derivative; this adds ``(x - stop_gradient(x)) * slope``, zero in value.
    Infinite ``x`` is replaced first, so no ``inf - inf`` reaches the value or the
    backward pass.
    """
    dx = where(isfinite(x), x, 0.0)
    step = dx - bind(ew.stop_gradient_p, dx)
    return exact + (step if slope is None else step * slope)


@ufunc_like
def ldexp(x1, x2):
    """``x1 * 2**x2`` for integer ``x2``, exactly (``numpy.ldexp``); differentiable in ``x1``."""
    x1, x2 = _float_operand(x1, np.exp2), as_operand(x2)
    return _with_slope(bind(ew.ldexp_p, x1, x2), x1, _power_of_two(x1, x2))


@ufunc_like
def nextafter(x1, x2):
    """The next float after ``x1`` towards ``x2``; derivative 1 in ``x1``, 0 in ``x2``."""
    x1 = as_operand(x1)
    return _with_slope(bind(ew.nextafter_p, x1, as_operand(x2)), x1, None)


# NumPy 2's array-API names for the same ufuncs
acos, acosh, asin, asinh = arccos, arccosh, arcsin, arcsinh
atan, atanh, atan2, pow = arctan, arctanh, arctan2, power  # noqa: A001


def where(condition, x=None, y=None):
    """``x`` where ``condition`` holds, else ``y``, with broadcasting (``numpy.where``).

    A derivative flows to ``x`` and ``y`` only where each is selected. Note
    that both branches are computed everywhere: if one branch is not finite at
    the points it is not selected (``where(x > 0, sqrt(x), 0)`` at ``x <= 0``),
    make its input safe first (``sqrt(where(x > 0, x, 1))``), or its NaN
    derivative multiplied by zero still gives NaN.
    """
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise TypeError("where takes either one argument (condition) or three")
    condition = as_operand(condition)
    if getattr(condition, "dtype", None) != np.bool_:
        condition = astype(condition, bool) if hasattr(condition, "dtype") else bool(condition)
    return select(condition, as_operand(x), as_operand(y))


def nonzero(a):
    """Indices of the non-zero elements; needs concrete values (no derivative)."""
    return np.nonzero(np.asarray(host_index(a)))


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None):  # noqa: A002 - NumPy's names
    """Limit values to ``[a_min, a_max]``; the derivative is 0 where a bound is active."""
    check_no_out(out, "clip")
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    out = as_operand(a)  # no bounds: the values themselves, as NumPy 2.1+ does
    if lo is not None:
        out = maximum(out, lo)
    if hi is not None:
        out = minimum(out, hi)
    return out


__all__ = [
    "nextafter",
    "ldexp",
    "frexp",
    "pow",
    "atan2",
    "atanh",
    "atan",
    "asinh",
    "asin",
    "acosh",
    "acos",
    "modf",
    "divmod",
    "isneginf",
    "isposinf",
    "logical_xor",
    "fmin",
    "fmax",
    "fabs",
    "abs",
    "absolute",
    "add",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "around",
    "cbrt",
    "ceil",
    "clip",
    "copysign",
    "cos",
    "cosh",
    "deg2rad",
    "degrees",
    "divide",
    "equal",
    "exp",
    "exp2",
    "expm1",
    "fix",
    "float_power",
    "floor",
    "floor_divide",
    "fmod",
    "greater",
    "greater_equal",
    "heaviside",
    "hypot",
    "isfinite",
    "isinf",
    "isnan",
    "less",
    "less_equal",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "logaddexp2",
    "logical_and",
    "logical_not",
    "logical_or",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "nonzero",
    "not_equal",
    "positive",
    "power",
    "rad2deg",
    "radians",
    "reciprocal",
    "remainder",
    "rint",
    "round",
    "round_",
    "sign",
    "signbit",
    "sin",
    "sinc",
    "sinh",
    "sqrt",
    "square",
    "subtract",
    "tan",
    "tanh",
    "true_divide",
    "trunc",
    "where",
]
