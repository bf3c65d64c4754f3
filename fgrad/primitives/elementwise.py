"""Elementwise primitives: arithmetic, transcendental functions, comparisons, ``select``.

Binary primitives broadcast their operands the way NumPy does, and their vjp
rules undo that broadcasting with the one helper
:func:`fgrad.primitives.structural.unbroadcast`. Impls are NumPy's ufuncs
themselves, which dispatch to CuPy for CuPy arrays (``__array_ufunc__``).

Each primitive below is one block: its binding function, then its jvp rule (the
contribution of each argument's tangent ``t``), then its vjp rule (the cotangent
of each argument given the output cotangent ``g``). Arithmetic inside the rules
uses Python operators, which are NumPy's own on concrete arrays and bind
primitives on tracers, so the rules can be differentiated again.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray, result_dtype
from fgrad.core.errors import DtypeError, ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp, linear_jvp
from fgrad.primitives.structural import batch_to_front, broadcast_like, lift_batched, unbroadcast

# -- abstract evaluation shared by the whole family --------------------------


def _broadcast_shape(name: str, avals: tuple[ShapedArray, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*[a.shape for a in avals])
    except ValueError:
        shapes = " and ".join(a.str_short() for a in avals)
        raise ShapeError(
            f"{name}: operands of shapes {shapes} cannot be broadcast together. NumPy "
            "broadcasting needs trailing dimensions that are equal or 1; add an axis "
            "(x[:, None]) or reshape one operand so they line up."
        ) from None


def _elementwise_abstract_eval(name: str, impl):
    def abstract_eval(*avals: ShapedArray, **params) -> ShapedArray:
        shape = _broadcast_shape(name, avals)
        key = tuple((a.dtype, a.weak_type) for a in avals)
        try:
            dtype = result_dtype(impl, key, tuple(sorted(params.items())))
        except TypeError as err:
            dtypes = ", ".join(a.dtype.name for a in avals)
            raise DtypeError(f"{name} is not defined for dtypes ({dtypes}): {err}") from None
        return ShapedArray(shape, dtype, weak_type=all(a.weak_type for a in avals))

    return abstract_eval


def elementwise(
    name: str, impl, differentiable: bool = True, returns_views: bool = False
) -> Primitive:
    """Create an elementwise primitive whose impl is a NumPy ufunc (or ufunc-like)."""
    abstract_eval = _elementwise_abstract_eval(name, impl)
    prim = Primitive(name, impl, abstract_eval, differentiable, returns_views=returns_views)
    defbatch(prim, elementwise_batch(prim))
    return prim


def elementwise_batch(prim: Primitive):
    """The batch rule of a broadcasting elementwise primitive.

    When every batched operand has the full example rank and the same batch axis,
    which is the first or the others are scalars, the primitive applies as it is
    (NumPy broadcasting aligns unbatched operands on the right). Otherwise batched
    operands move their batch axis to the front and pad their example axes, so that
    NumPy broadcasting lines examples up with each other and with unbatched operands.
    """

    def rule(size, vals, dims, **params):
        ranks = [getattr(v, "ndim", 0) - (d is not None) for v, d in zip(vals, dims)]
        rank = max(ranks)
        batched = {d for d in dims if d is not None}
        if len(batched) == 1 and all(r == rank for r, d in zip(ranks, dims) if d is not None):
            d = batched.pop()
            # batch axis first: unbatched operands line up on the right by themselves
            if d == 0 or all(r == 0 for r, e in zip(ranks, dims) if e is None):
                return bind(prim, *vals, **params), d
        vals = [
            v if d is None else lift_batched(batch_to_front(v, d, size), rank)
            for v, d in zip(vals, dims)
        ]
        return bind(prim, *vals, **params), 0

    return rule


# -- arithmetic ----------------------------------------------------------------

add_p = elementwise("add", np.add)
sub_p = elementwise("sub", np.subtract)
mul_p = elementwise("mul", np.multiply)
div_p = elementwise("div", np.true_divide)
neg_p = elementwise("neg", np.negative)
pow_p = elementwise("pow", np.power)
maximum_p = elementwise("max", np.maximum)
minimum_p = elementwise("min", np.minimum)


def add(x, y):
    return bind(add_p, x, y)


def sub(x, y):
    return bind(sub_p, x, y)


def mul(x, y):
    return bind(mul_p, x, y)


def div(x, y):
    return bind(div_p, x, y)


def neg(x):
    return bind(neg_p, x)


def pow(x, y):  # noqa: A001 - the primitive's name
    return bind(pow_p, x, y)


def maximum(x, y):
    return bind(maximum_p, x, y)


def minimum(x, y):
    return bind(minimum_p, x, y)


defjvp(
    add_p, lambda t, ans, x, y: broadcast_like(t, ans), lambda t, ans, x, y: broadcast_like(t, ans)
)
defvjp(
    add_p,
    lambda g, ans, x, y: unbroadcast(g, x.shape),
    lambda g, ans, x, y: unbroadcast(g, y.shape),
    reads=("", ""),
)

defjvp(
    sub_p, lambda t, ans, x, y: broadcast_like(t, ans), lambda t, ans, x, y: -broadcast_like(t, ans)
)
defvjp(
    sub_p,
    lambda g, ans, x, y: unbroadcast(g, x.shape),
    lambda g, ans, x, y: unbroadcast(-g, y.shape),
    reads=("", ""),
)

defjvp(mul_p, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
defvjp(
    mul_p,
    lambda g, ans, x, y: unbroadcast(g * y, x.shape),
    lambda g, ans, x, y: unbroadcast(x * g, y.shape),
    reads=("y", "x"),
)

defjvp(div_p, lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)
defvjp(
    div_p,
    lambda g, ans, x, y: unbroadcast(g / y, x.shape),
    lambda g, ans, x, y: unbroadcast(-g * ans / y, y.shape),
    reads=("y", "ans y"),
)

defjvp(neg_p, lambda t, ans, x: -t)
defvjp(neg_p, lambda g, ans, x: -g, reads=("",))


def _pow_dx(x, y):
    """d(x**y)/dx = y * x**(y-1), defined as 0 where y == 0 (so 0**0 has slope 0, not nan)."""
    if isinstance(y, (int, float)):
        return y * x ** (y - 1) if y != 0 else x * 0
    # Only 0 * 0**-1 is nan; replacing that base by 1 (rather than selecting the result 0
    # wherever y == 0) keeps the derivative in y, x**-1 at y == 0, for second derivatives.
    base = select(bind(and_p, y == 0, x == 0), 1, x)
    return y * base ** (y - 1)


def _log_or_zero(x):
    """log(x), but 0 where x == 0: d(x**y)/dy = x**y log(x) vanishes there since x**y does."""
    return log(select(x == 0, 1, x))


defjvp(
    pow_p,
    lambda t, ans, x, y: t * _pow_dx(x, y),
    lambda t, ans, x, y: t * ans * _log_or_zero(x),
)
defvjp(
    pow_p,
    lambda g, ans, x, y: unbroadcast(g * _pow_dx(x, y), x.shape),
    lambda g, ans, x, y: unbroadcast(g * ans * _log_or_zero(x), y.shape),
    reads=("x y", "ans x"),
)


def _winner_weight(x, y, like):
    """1 where x > y, 1/2 where x == y, 0 elsewhere, in ``like``'s dtype and on its device.

    Ties share the derivative equally. Built by converting the comparisons, not by
    ``select``: NumPy's ``where`` pays a mispredicted branch per element of a random
    mask, which made a ReLU's derivative 50x slower than a multiplication.
    """
    half = backend.full((), 0.5, like.dtype, like=like)
    wins = convert_element_type(bind(gt_p, x, y), like.dtype)
    return wins + convert_element_type(bind(eq_p, x, y), like.dtype) * half


defjvp(
    maximum_p,
    lambda t, ans, x, y: t * _winner_weight(x, y, t),
    lambda t, ans, x, y: t * _winner_weight(y, x, t),
)
defvjp(
    maximum_p,
    lambda g, ans, x, y: unbroadcast(g * _winner_weight(x, y, g), x.shape),
    lambda g, ans, x, y: unbroadcast(g * _winner_weight(y, x, g), y.shape),
    reads=("x y", "x y"),
)
defjvp(
    minimum_p,
    lambda t, ans, x, y: t * _winner_weight(y, x, t),
    lambda t, ans, x, y: t * _winner_weight(x, y, t),
)
defvjp(
    minimum_p,
    lambda g, ans, x, y: unbroadcast(g * _winner_weight(y, x, g), x.shape),
    lambda g, ans, x, y: unbroadcast(g * _winner_weight(x, y, g), y.shape),
    reads=("x y", "x y"),
)

# -- transcendental and other unary functions ------------------------------------

exp_p = elementwise("exp", np.exp)
log_p = elementwise("log", np.log)
log1p_p = elementwise("log1p", np.log1p)
expm1_p = elementwise("expm1", np.expm1)
sin_p = elementwise("sin", np.sin)
cos_p = elementwise("cos", np.cos)
tan_p = elementwise("tan", np.tan)
tanh_p = elementwise("tanh", np.tanh)
sqrt_p = elementwise("sqrt", np.sqrt)
abs_p = elementwise("abs", np.absolute)


def exp(x):
    return bind(exp_p, x)


def log(x):
    return bind(log_p, x)


def log1p(x):
    return bind(log1p_p, x)


def expm1(x):
    return bind(expm1_p, x)


def sin(x):
    return bind(sin_p, x)


def cos(x):
    return bind(cos_p, x)


def tan(x):
    return bind(tan_p, x)


def tanh(x):
    return bind(tanh_p, x)


def sqrt(x):
    return bind(sqrt_p, x)


def abs(x):  # noqa: A001 - the primitive's name
    return bind(abs_p, x)


defjvp(exp_p, lambda t, ans, x: t * ans)
defvjp(exp_p, lambda g, ans, x: g * ans, reads=("ans",))
defjvp(log_p, lambda t, ans, x: t / x)
defvjp(log_p, lambda g, ans, x: g / x, reads=("x",))
defjvp(log1p_p, lambda t, ans, x: t / (1 + x))
defvjp(log1p_p, lambda g, ans, x: g / (1 + x), reads=("x",))
defjvp(expm1_p, lambda t, ans, x: t * (ans + 1))
defvjp(expm1_p, lambda g, ans, x: g * (ans + 1), reads=("ans",))
defjvp(sin_p, lambda t, ans, x: t * cos(x))
defvjp(sin_p, lambda g, ans, x: g * cos(x), reads=("x",))
defjvp(cos_p, lambda t, ans, x: -(t * sin(x)))
defvjp(cos_p, lambda g, ans, x: -(g * sin(x)), reads=("x",))
defjvp(tan_p, lambda t, ans, x: t * (1 + ans * ans))
defvjp(tan_p, lambda g, ans, x: g * (1 + ans * ans), reads=("ans",))
defjvp(tanh_p, lambda t, ans, x: t * (1 - ans * ans))
defvjp(tanh_p, lambda g, ans, x: g * (1 - ans * ans), reads=("ans",))
defjvp(sqrt_p, lambda t, ans, x: t / (ans * 2))
defvjp(sqrt_p, lambda g, ans, x: g / (ans * 2), reads=("ans",))


def _unit_phase(ans, x):
    """``x / |x|`` (0 at 0) for complex ``x``, differentiable in ``x`` unlike ``sign``."""
    return x / select(ans == 0, 1.0, ans)


def _abs_jvp(t, ans, x):
    if x.dtype.kind == "c":
        return real(conj(_unit_phase(ans, x)) * t)
    return t * sign(x)


def _abs_vjp(g, ans, x):
    if x.dtype.kind == "c":  # |x| again rather than keeping every real abs's result
        return g * conj(_unit_phase(abs(x), x))
    return g * sign(x)


defjvp(abs_p, _abs_jvp)
defvjp(abs_p, _abs_vjp, reads=("x",))

# -- complex parts ------------------------------------------------------------------
# Complex derivatives follow JAX's convention: a vjp rule returns
# conj(J^H conj(g)), so holomorphic rules carry no conjugation (``g * f'(z)``).
# Only functions that are not holomorphic (abs, real, imag, conj) need care here.

real_p = elementwise("real", np.real, returns_views=True)  # a real array itself
imag_p = elementwise("imag", np.imag, returns_views=True)
conj_p = elementwise("conj", np.conjugate)


def real(x):
    return bind(real_p, x)


def imag(x):
    return bind(imag_p, x)


def conj(x):
    return bind(conj_p, x)


def _as_dtype_of(g, x):
    """``g`` as a cotangent for ``x``: complex ``x`` gets a complex cotangent."""
    return g if g.dtype == x.dtype else convert_element_type(g, x.dtype)


defjvp(real_p, linear_jvp(real_p))
defvjp(real_p, lambda g, ans, x: _as_dtype_of(g, x), reads=("",))
defjvp(imag_p, linear_jvp(imag_p))
defvjp(
    imag_p,
    lambda g, ans, x: _as_dtype_of(g * -1j, x) if x.dtype.kind == "c" else g * 0,
    reads=("",),
)
defjvp(conj_p, linear_jvp(conj_p))
defvjp(conj_p, lambda g, ans, x: conj(g), reads=("",))

# -- inverse trigonometric and hyperbolic functions, cbrt ---------------------------

arcsin_p = elementwise("arcsin", np.arcsin)
arccos_p = elementwise("arccos", np.arccos)
arctan_p = elementwise("arctan", np.arctan)
sinh_p = elementwise("sinh", np.sinh)
cosh_p = elementwise("cosh", np.cosh)
arcsinh_p = elementwise("arcsinh", np.arcsinh)
arccosh_p = elementwise("arccosh", np.arccosh)
arctanh_p = elementwise("arctanh", np.arctanh)
cbrt_p = elementwise("cbrt", np.cbrt)


def arcsin(x):
    return bind(arcsin_p, x)


def arccos(x):
    return bind(arccos_p, x)


def arctan(x):
    return bind(arctan_p, x)


def sinh(x):
    return bind(sinh_p, x)


def cosh(x):
    return bind(cosh_p, x)


def arcsinh(x):
    return bind(arcsinh_p, x)


def arccosh(x):
    return bind(arccosh_p, x)


def arctanh(x):
    return bind(arctanh_p, x)


def cbrt(x):
    return bind(cbrt_p, x)


defjvp(arcsin_p, lambda t, ans, x: t / sqrt(1 - x * x))
defvjp(arcsin_p, lambda g, ans, x: g / sqrt(1 - x * x), reads=("x",))
defjvp(arccos_p, lambda t, ans, x: -t / sqrt(1 - x * x))
defvjp(arccos_p, lambda g, ans, x: -g / sqrt(1 - x * x), reads=("x",))
defjvp(arctan_p, lambda t, ans, x: t / (1 + x * x))
defvjp(arctan_p, lambda g, ans, x: g / (1 + x * x), reads=("x",))
defjvp(sinh_p, lambda t, ans, x: t * cosh(x))
defvjp(sinh_p, lambda g, ans, x: g * cosh(x), reads=("x",))
defjvp(cosh_p, lambda t, ans, x: t * sinh(x))
defvjp(cosh_p, lambda g, ans, x: g * sinh(x), reads=("x",))
defjvp(arcsinh_p, lambda t, ans, x: t / sqrt(x * x + 1))
defvjp(arcsinh_p, lambda g, ans, x: g / sqrt(x * x + 1), reads=("x",))
defjvp(arccosh_p, lambda t, ans, x: t / sqrt(x * x - 1))
defvjp(arccosh_p, lambda g, ans, x: g / sqrt(x * x - 1), reads=("x",))
defjvp(arctanh_p, lambda t, ans, x: t / (1 - x * x))
defvjp(arctanh_p, lambda g, ans, x: g / (1 - x * x), reads=("x",))
defjvp(cbrt_p, lambda t, ans, x: t / (ans * ans * 3))
defvjp(cbrt_p, lambda g, ans, x: g / (ans * ans * 3), reads=("ans",))

# -- binary functions: arctan2, hypot, remainder, fmod, copysign -----------------------

arctan2_p = elementwise("arctan2", np.arctan2)
hypot_p = elementwise("hypot", np.hypot)
remainder_p = elementwise("remainder", np.remainder)
fmod_p = elementwise("fmod", np.fmod)
copysign_p = elementwise("copysign", np.copysign)


def arctan2(y, x):
    return bind(arctan2_p, y, x)


def hypot(x, y):
    return bind(hypot_p, x, y)


def remainder(x, y):
    return bind(remainder_p, x, y)


def fmod(x, y):
    return bind(fmod_p, x, y)


def copysign(x, y):
    return bind(copysign_p, x, y)


def _arctan2_dy(y, x):
    return x / (x * x + y * y)


def _arctan2_dx(y, x):
    return -y / (x * x + y * y)


defjvp(
    arctan2_p,
    lambda t, ans, y, x: t * _arctan2_dy(y, x),
    lambda t, ans, y, x: t * _arctan2_dx(y, x),
)
defvjp(
    arctan2_p,
    lambda g, ans, y, x: unbroadcast(g * _arctan2_dy(y, x), y.shape),
    lambda g, ans, y, x: unbroadcast(g * _arctan2_dx(y, x), x.shape),
    reads=("y x", "y x"),
)


def _safe_divisor(h):
    """``h``, but 1 where it is 0: ``x / h`` is then 0 where ``x == h == 0`` (no NaN)."""
    return select(h == 0, 1, h)


defjvp(
    hypot_p,
    lambda t, ans, x, y: t * (x / _safe_divisor(ans)),
    lambda t, ans, x, y: t * (y / _safe_divisor(ans)),
)
defvjp(
    hypot_p,
    lambda g, ans, x, y: unbroadcast(g * (x / _safe_divisor(ans)), x.shape),
    lambda g, ans, x, y: unbroadcast(g * (y / _safe_divisor(ans)), y.shape),
    reads=("ans x", "ans y"),
)

# remainder(x, y) = x - floor(x / y) * y and fmod(x, y) = x - trunc(x / y) * y, with the
# rounded quotient piecewise constant.
defjvp(
    remainder_p,
    lambda t, ans, x, y: broadcast_like(t, ans),
    lambda t, ans, x, y: -t * floor(x / y),
)
defvjp(
    remainder_p,
    lambda g, ans, x, y: unbroadcast(g, x.shape),
    lambda g, ans, x, y: unbroadcast(-g * floor(x / y), y.shape),
    reads=("", "x y"),
)
defjvp(fmod_p, lambda t, ans, x, y: broadcast_like(t, ans), lambda t, ans, x, y: -t * trunc(x / y))
defvjp(
    fmod_p,
    lambda g, ans, x, y: unbroadcast(g, x.shape),
    lambda g, ans, x, y: unbroadcast(-g * trunc(x / y), y.shape),
    reads=("", "x y"),
)


def _copysign_dx(x, y):
    """+1 where ``x`` already has ``y``'s sign bit, else -1 (zero derivative in ``y``)."""
    return select(signbit(x) == signbit(y), 1.0, -1.0)


defjvp(
    copysign_p,
    lambda t, ans, x, y: t * _copysign_dx(x, y),
    lambda t, ans, x, y: broadcast_like(t * 0, ans),
)
defvjp(
    copysign_p,
    lambda g, ans, x, y: unbroadcast(g * _copysign_dx(x, y), x.shape),
    lambda g, ans, x, y: unbroadcast(g * 0, y.shape),
    reads=("x y", ""),
)

# -- primitives without a derivative ----------------------------------------------
# Their derivative is zero wherever it exists, so differentiation traces evaluate
# them on plain values and record nothing (``differentiable=False``).

sign_p = elementwise("sign", np.sign, differentiable=False)
eq_p = elementwise("eq", np.equal, differentiable=False)
ne_p = elementwise("ne", np.not_equal, differentiable=False)
lt_p = elementwise("lt", np.less, differentiable=False)
le_p = elementwise("le", np.less_equal, differentiable=False)
gt_p = elementwise("gt", np.greater, differentiable=False)
ge_p = elementwise("ge", np.greater_equal, differentiable=False)
not_p = elementwise("not", np.logical_not, differentiable=False)
and_p = elementwise("and", np.logical_and, differentiable=False)
or_p = elementwise("or", np.logical_or, differentiable=False)
isfinite_p = elementwise("isfinite", np.isfinite, differentiable=False)
isnan_p = elementwise("isnan", np.isnan, differentiable=False)
isinf_p = elementwise("isinf", np.isinf, differentiable=False)
stop_gradient_p = elementwise(
    "stop_gradient", lambda x: x, differentiable=False, returns_views=True
)
floor_p = elementwise("floor", np.floor, differentiable=False)
ceil_p = elementwise("ceil", np.ceil, differentiable=False)
rint_p = elementwise("rint", np.rint, differentiable=False)
trunc_p = elementwise("trunc", np.trunc, differentiable=False)
round_p = elementwise("round", lambda x, decimals: np.round(x, decimals), differentiable=False)
signbit_p = elementwise("signbit", np.signbit, differentiable=False)
floor_divide_p = elementwise("floor_divide", np.floor_divide, differentiable=False)
heaviside_p = elementwise("heaviside", np.heaviside, differentiable=False)
spacing_p = elementwise("spacing", np.spacing, differentiable=False)
nextafter_p = elementwise("nextafter", np.nextafter, differentiable=False)
ldexp_p = elementwise("ldexp", np.ldexp, differentiable=False)
frexp_exponent_p = elementwise(
    "frexp_exponent", lambda x: np.frexp(x)[1], differentiable=False
)

# integer and bit operations: NumPy's ufuncs, integer (or boolean) in and out
bitwise_and_p = elementwise("bitwise_and", np.bitwise_and, differentiable=False)
bitwise_or_p = elementwise("bitwise_or", np.bitwise_or, differentiable=False)
bitwise_xor_p = elementwise("bitwise_xor", np.bitwise_xor, differentiable=False)
invert_p = elementwise("invert", np.invert, differentiable=False)
left_shift_p = elementwise("left_shift", np.left_shift, differentiable=False)
right_shift_p = elementwise("right_shift", np.right_shift, differentiable=False)
bitwise_count_p = elementwise("bitwise_count", np.bitwise_count, differentiable=False)
gcd_p = elementwise("gcd", np.gcd, differentiable=False)
lcm_p = elementwise("lcm", np.lcm, differentiable=False)


def floor(x):
    return bind(floor_p, x)


def trunc(x):
    return bind(trunc_p, x)


def signbit(x):
    return bind(signbit_p, x)


def sign(x):
    return bind(sign_p, x)


def stop_gradient(x):
    """The value of ``x``, treated as a constant by every differentiation transform.

    Parameters
    ----------
    x
        An array or tracer.

    Returns
    -------
    The same values; ``grad`` and ``jvp`` see a zero derivative through it.
    """
    return bind(stop_gradient_p, x)


# -- select (where) --------------------------------------------------------------


def _select_abstract_eval(c: ShapedArray, x: ShapedArray, y: ShapedArray) -> ShapedArray:
    if c.dtype != np.bool_:
        raise DtypeError(
            f"select: the condition must be boolean, got {c.str_short()}; compare it "
            "first, e.g. fnp.where(x > 0, a, b)"
        )
    shape = _broadcast_shape("select", (c, x, y))
    dtype = result_dtype(np.add, ((x.dtype, x.weak_type), (y.dtype, y.weak_type)), ())
    return ShapedArray(shape, dtype, weak_type=x.weak_type and y.weak_type)


select_p = Primitive("select", np.where, _select_abstract_eval)
defbatch(select_p, elementwise_batch(select_p))


def select(c, x, y):
    """``x`` where boolean ``c`` holds, else ``y`` (NumPy's three-argument ``where``)."""
    return bind(select_p, c, x, y)


defjvp(
    select_p,
    None,
    lambda t, ans, c, x, y: broadcast_like(select(c, t, 0), ans),
    lambda t, ans, c, x, y: broadcast_like(select(c, 0, t), ans),
)
defvjp(
    select_p,
    None,
    lambda g, ans, c, x, y: unbroadcast(select(c, g, 0), x.shape),
    lambda g, ans, c, x, y: unbroadcast(select(c, 0, g), y.shape),
    reads=(None, "c", "c"),
)

# -- dtype conversion ---------------------------------------------------------------


def _convert_abstract_eval(x: ShapedArray, *, new_dtype, weak_type: bool = False) -> ShapedArray:
    return ShapedArray(x.shape, new_dtype, weak_type=weak_type)


def _convert_impl(x, new_dtype, weak_type: bool = False):
    # a Python scalar reaches here when jit replays a function of one (a weak input)
    out = x.astype(new_dtype) if hasattr(x, "astype") else backend.asarray(x, new_dtype)
    if weak_type and out.ndim == 0:
        return out.item()  # a Python number: what Python's arithmetic on Python numbers gives
    return out


convert_element_type_p = Primitive("convert_element_type", _convert_impl, _convert_abstract_eval)
defbatch(convert_element_type_p, elementwise_batch(convert_element_type_p))


def convert_element_type(x, new_dtype):
    """``x`` converted to ``new_dtype`` (a ``numpy.dtype``); differentiable between float types."""
    return bind(convert_element_type_p, x, new_dtype=np.dtype(new_dtype))


def weakly_typed(x):
    """The 0-d ``x`` as a weakly typed value: the Python number that Python's arithmetic
    on Python numbers gives. Operators on traced Python scalars (``c * 2`` inside ``jit``,
    ``grad`` or ``jvp`` of a Python float ``c``) end with it, so that NumPy's promotion
    (NEP 50) sees a Python number afterwards, as it does without the transform."""
    return bind(convert_element_type_p, x, new_dtype=np.dtype(x.dtype), weak_type=True)


def _convert_jvp(t, ans, x, new_dtype, weak_type=False):
    if t.dtype.kind == "c" and np.dtype(new_dtype).kind != "c":
        t = real(t)  # complex to real keeps the real part, as NumPy's astype does
    return convert_element_type(t, new_dtype)


def _convert_vjp(g, ans, x, new_dtype, weak_type=False):
    if g.dtype.kind == "c" and x.dtype.kind != "c":
        g = real(g)
    return convert_element_type(g, x.dtype)


defjvp(convert_element_type_p, _convert_jvp)
defvjp(convert_element_type_p, _convert_vjp, reads=("",))

# -- bitcast ----------------------------------------------------------------------------


def _bitcast_shape(shape: tuple[int, ...], old: np.dtype, new: np.dtype) -> tuple[int, ...]:
    """The shape of the bits of an array of ``shape`` and ``old`` read as ``new``: the same
    for equal widths, a trailing axis of the ratio added (narrower) or removed (wider)."""
    if old.itemsize == new.itemsize:
        return shape
    if old.itemsize > new.itemsize:
        return (*shape, old.itemsize // new.itemsize)
    ratio = new.itemsize // old.itemsize
    if not shape or shape[-1] != ratio:
        raise ShapeError(
            f"bitcast_convert_type: {ratio} values of {old} make one of {new}, so the last "
            f"axis must have size {ratio}; got shape {shape}"
        )
    return shape[:-1]


def _bitcast_abstract_eval(x: ShapedArray, *, new_dtype) -> ShapedArray:
    return ShapedArray(_bitcast_shape(x.shape, x.dtype, new_dtype), new_dtype)


def _bitcast_impl(x, new_dtype):
    if not hasattr(x, "view"):  # a Python scalar
        x = backend.asarray(x)
    if not x.flags.c_contiguous:  # a view of other bits cannot be reinterpreted in place
        x = x.copy()
    shape = _bitcast_shape(x.shape, x.dtype, new_dtype)
    return (x.reshape(1) if x.ndim == 0 else x).view(new_dtype).reshape(shape)


bitcast_p = Primitive("bitcast_convert_type", _bitcast_impl, _bitcast_abstract_eval, False)


def _bitcast_batch(size, vals, dims, *, new_dtype):
    # the bits are regrouped along the last axis: the batch axis first stays out of it
    return bitcast_convert_type(batch_to_front(vals[0], dims[0], size), new_dtype), 0


defbatch(bitcast_p, _bitcast_batch)


def bitcast_convert_type(x, new_dtype):
    """The bits of ``x`` read as ``new_dtype`` (``jax.lax.bitcast_convert_type``); no
    derivative."""
    return bind(bitcast_p, x, new_dtype=np.dtype(new_dtype))


# -- reduce_precision -------------------------------------------------------------------


def _reduce_precision_impl(x, exponent_bits: int, mantissa_bits: int):
    """XLA's rounding on the bits (see :func:`reduce_precision`)."""
    if not hasattr(x, "view"):  # a Python scalar
        x = backend.asarray(x)
    info = np.finfo(x.dtype)
    width, src_mantissa = x.dtype.itemsize * 8, info.nmant
    src_exponent = width - 1 - src_mantissa
    u = np.dtype(f"u{x.dtype.itemsize}").type
    bits = _bitcast_impl(x, np.dtype(u))
    if mantissa_bits < src_mantissa:
        dropped = src_mantissa - mantissa_bits
        last_kept = u(1 << dropped)
        # half an ulp less one, plus the last kept bit: ties round to even
        bias = ((bits & last_kept) >> u(dropped)) + u((1 << (dropped - 1)) - 1)
        bits = (bits + bias) & ~u((1 << dropped) - 1)
    if exponent_bits < src_exponent:
        sign = bits & u(1 << (width - 1))
        exponent_mask = u(((1 << src_exponent) - 1) << src_mantissa)
        bias, reduced_bias = (1 << (src_exponent - 1)) - 1, (1 << (exponent_bits - 1)) - 1
        exponent = bits & exponent_mask
        overflows = exponent > u((bias + reduced_bias) << src_mantissa)
        underflows = exponent <= u((bias - reduced_bias) << src_mantissa)
        bits = np.where(overflows, sign | exponent_mask, np.where(underflows, sign, bits))
    out = _bitcast_impl(bits, x.dtype)
    return np.where(np.isnan(x), x, out)  # NumPy's functions dispatch to CuPy's


reduce_precision_p = Primitive(
    "reduce_precision",
    _reduce_precision_impl,
    lambda x, *, exponent_bits, mantissa_bits: ShapedArray(x.shape, x.dtype),
)


def reduce_precision(x, exponent_bits: int, mantissa_bits: int):
    """Floats rounded to ``exponent_bits`` and ``mantissa_bits`` as XLA does, in their own
    dtype: the mantissa to nearest, ties to even; beyond the narrower range an infinity,
    below its smallest normal number a zero, each of the value's sign; NaN stays NaN
    (as JAX's, also without mantissa bits). JAX's derivative: the tangent (cotangent) rounded the
    same way, so the primitive is its own jvp and transpose."""
    return bind(
        reduce_precision_p, x, exponent_bits=int(exponent_bits), mantissa_bits=int(mantissa_bits)
    )


defjvp(reduce_precision_p, linear_jvp(reduce_precision_p))
defvjp(
    reduce_precision_p,
    lambda g, ans, x, exponent_bits, mantissa_bits: reduce_precision(
        g, exponent_bits, mantissa_bits
    ),
    reads=("",),
)
defbatch(reduce_precision_p, elementwise_batch(reduce_precision_p))
