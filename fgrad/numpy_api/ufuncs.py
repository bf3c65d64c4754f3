"""NumPy's elementwise functions (ufuncs) and ``where``/``clip``, on fgrad primitives.

Each is a thin binding: NumPy 2 promotion comes from the primitives' impls, so
``float32 * 2.0`` stays float32 and plain arrays in give plain arrays out.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.custom_derivatives import custom_jvp
from fgrad.numpy_api.creation import as_operand, astype
from fgrad.primitives import elementwise as ew
from fgrad.primitives.elementwise import bind, select


def _binary(prim, doc: str):
    def fn(x1, x2):
        return bind(prim, as_operand(x1), as_operand(x2))

    fn.__doc__ = doc
    return fn


def _unary(prim, doc: str):
    def fn(x):
        return bind(prim, as_operand(x))

    fn.__doc__ = doc
    return fn


add = _binary(ew.add_p, "Elementwise ``x1 + x2`` with broadcasting (``numpy.add``).")
subtract = _binary(ew.sub_p, "Elementwise ``x1 - x2`` (``numpy.subtract``).")
multiply = _binary(ew.mul_p, "Elementwise ``x1 * x2`` (``numpy.multiply``).")
divide = _binary(ew.div_p, "Elementwise true division ``x1 / x2`` (``numpy.divide``).")
true_divide = divide
power = _binary(ew.pow_p, "Elementwise ``x1 ** x2``, differentiable in both (``numpy.power``).")
maximum = _binary(ew.maximum_p, "Elementwise maximum; ties share the derivative equally.")
minimum = _binary(ew.minimum_p, "Elementwise minimum; ties share the derivative equally.")
equal = _binary(ew.eq_p, "Elementwise ``x1 == x2`` (no derivative).")
not_equal = _binary(ew.ne_p, "Elementwise ``x1 != x2`` (no derivative).")
less = _binary(ew.lt_p, "Elementwise ``x1 < x2`` (no derivative).")
less_equal = _binary(ew.le_p, "Elementwise ``x1 <= x2`` (no derivative).")
greater = _binary(ew.gt_p, "Elementwise ``x1 > x2`` (no derivative).")
greater_equal = _binary(ew.ge_p, "Elementwise ``x1 >= x2`` (no derivative).")
logical_and = _binary(ew.and_p, "Elementwise logical and (no derivative).")
logical_or = _binary(ew.or_p, "Elementwise logical or (no derivative).")

negative = _unary(ew.neg_p, "Elementwise ``-x``.")
exp = _unary(ew.exp_p, "Elementwise exponential.")
log = _unary(ew.log_p, "Elementwise natural logarithm.")
log1p = _unary(ew.log1p_p, "Elementwise ``log(1 + x)``, accurate for small ``x``.")
expm1 = _unary(ew.expm1_p, "Elementwise ``exp(x) - 1``, accurate for small ``x``.")
sin = _unary(ew.sin_p, "Elementwise sine.")
cos = _unary(ew.cos_p, "Elementwise cosine.")
tan = _unary(ew.tan_p, "Elementwise tangent.")
tanh = _unary(ew.tanh_p, "Elementwise hyperbolic tangent.")
sqrt = _unary(ew.sqrt_p, "Elementwise square root.")
absolute = _unary(ew.abs_p, "Elementwise absolute value; its derivative at 0 is taken as 0.")
abs = absolute  # noqa: A001 - NumPy's name
sign = _unary(ew.sign_p, "Elementwise sign (no derivative).")
logical_not = _unary(ew.not_p, "Elementwise logical not (no derivative).")
isfinite = _unary(ew.isfinite_p, "Elementwise test for finite values (no derivative).")
isnan = _unary(ew.isnan_p, "Elementwise test for NaN (no derivative).")
isinf = _unary(ew.isinf_p, "Elementwise test for infinities (no derivative).")


def positive(x):
    """Elementwise ``+x`` (the input itself)."""
    return as_operand(x)


def square(x):
    """Elementwise ``x * x``."""
    x = as_operand(x)
    return x * x


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


def logaddexp(x1, x2):
    """``log(exp(x1) + exp(x2))`` without overflow and with full precision in the tails.

    The value is ``max(x1, x2) + log1p(exp(-|x1 - x2|))``. That form has kinks
    where ``x1 == x2`` although the function is smooth, so its derivative comes
    from a custom rule instead, ``t1 * sigmoid(x1 - x2) + t2 * sigmoid(x2 - x1)``,
    exact to every order, ties and equal infinities included.
    """
    return _logaddexp(as_operand(x1), as_operand(x2))


def where(condition, x=None, y=None):
    """``x`` where ``condition`` holds, else ``y``, with broadcasting (``numpy.where``).

    A derivative flows to ``x`` and ``y`` only where each is selected. Note
    that both branches are computed everywhere: if one branch is not finite at
    the points it is not selected (``where(x > 0, sqrt(x), 0)`` at ``x <= 0``),
    make its input safe first (``sqrt(where(x > 0, x, 1))``), or its NaN
    derivative multiplied by zero still gives NaN.
    """
    if x is None and y is None:
        from fgrad.numpy_api.indexing import nonzero

        return nonzero(condition)
    if x is None or y is None:
        raise TypeError("where takes either one argument (condition) or three")
    condition = as_operand(condition)
    if getattr(condition, "dtype", None) != np.bool_:
        condition = astype(condition, bool) if hasattr(condition, "dtype") else bool(condition)
    return select(condition, as_operand(x), as_operand(y))


def clip(a, a_min=None, a_max=None, *, min=None, max=None):  # noqa: A002 - NumPy's names
    """Limit values to ``[a_min, a_max]``; the derivative is 0 where a bound is active."""
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    if lo is None and hi is None:
        raise ValueError("clip: at least one of a_min and a_max must be given")
    out = as_operand(a)
    if lo is not None:
        out = maximum(out, lo)
    if hi is not None:
        out = minimum(out, hi)
    return out

__all__ = [
    "abs",
    "absolute",
    "add",
    "clip",
    "cos",
    "divide",
    "equal",
    "exp",
    "expm1",
    "greater",
    "greater_equal",
    "isfinite",
    "isinf",
    "isnan",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logaddexp",
    "logical_and",
    "logical_not",
    "logical_or",
    "maximum",
    "minimum",
    "multiply",
    "negative",
    "not_equal",
    "positive",
    "power",
    "reciprocal",
    "sign",
    "sin",
    "sqrt",
    "square",
    "subtract",
    "tan",
    "tanh",
    "true_divide",
    "where",
]
