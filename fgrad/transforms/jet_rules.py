"""The Taylor-mode rules of the primitives, registered in ``fgrad.core.rules.jet_rules``.

A series is the list ``[x_0, x_1, ..., x_K]`` of a value's Taylor coefficients
(``x_k`` is the k-th derivative over ``k!``), ``x_0`` the value. Each rule maps its
arguments' series to its result's in ``O(K^2)`` operations:

* elementwise functions by the recurrences that follow from a differential equation
  they satisfy (``exp' = exp``, ``x log' = 1``, ``y^2 = x`` for ``sqrt``, ``x y' = a
  y x'`` for ``x^a``, ...); the others whose derivative is an expression ``g(x)``
  (``arctan``, ``erf``, ...) integrate the series of ``g`` one order lower:
  ``k y_k = sum_j j x_j g_{k-j}``;
* the bilinear primitives (``mul``, ``dot_general``) by
  Cauchy products ``y_k = sum_j B(a_j, b_{k-j})``;
* the primitives that are linear near the point (``add``, reshapes, indexing,
  reductions, ``abs``, ``max``, ...): their jvp rule applied to each coefficient.

Primitives left out (special functions, linear algebra) are expanded by
:func:`fgrad.transforms.jet.fallback`; the loop and branch primitives have their
rules in :mod:`fgrad.lax.jet_rules`. The coefficients are computed with fgrad
operations (or NumPy's operators on plain arrays), so the rules are differentiable,
batchable and traceable. A coefficient may be :data:`~fgrad.transforms.jet_zeros.ZERO`
(known to be zero); the rules combine coefficients with the arithmetic of
:mod:`fgrad.transforms.jet_zeros`, which skips those terms.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import partial

import fgrad.primitives  # noqa: F401 - registers the primitives named below
from fgrad.core.primitive import Primitive, bind, registry
from fgrad.core.rules import defjet, jvp_rules
from fgrad.core.tracer import Tracer
from fgrad.transforms.jet_zeros import ZERO, add, div, linear, mul, neg, scale, sub, total

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _const(x0, order: int) -> list:
    """The series of a constant: its value, then coefficients known to be zero."""
    return [x0] + [ZERO] * order


def _scaled(x: list, order: int) -> list:
    """``[_, 1 x_1, 2 x_2, ..., K x_K]``: the weights of the recurrences."""
    return [None] + [scale(x[j], j) for j in range(1, order + 1)]


def _zero_aware(product: Callable) -> Callable:
    """The bilinear ``product``, :data:`ZERO` where either factor is."""
    if product is operator.mul:
        return mul
    return lambda a, b: ZERO if a is ZERO or b is ZERO else product(a, b)


def _nonzero(x: list, order: int, start: int = 1) -> list[int]:
    """The orders ``j`` in ``[start, order]`` whose coefficient ``x_j`` is not known to be
    zero."""
    return [j for j in range(start, order + 1) if x[j] is not ZERO]


def _convolved(w: list, nz: list[int], y: list, k: int, s: float = 1.0):
    """``s sum_j w_j y_{k-j}`` over the orders ``j <= k`` in ``nz``. Where one term is left
    and its weight is a concrete value, ``s`` is folded into the weight: one operation on
    a traced ``y`` instead of two (on a straight path every recurrence is such a sum)."""
    js = [j for j in nz if j <= k and y[k - j] is not ZERO]
    if len(js) == 1 and not isinstance(w[js[0]], Tracer):
        return mul(scale(w[js[0]], s), y[k - js[0]])
    return scale(total(mul(w[j], y[k - j]) for j in js), s)


def _symmetric(y: list, k: int, lo: int = 0):
    """``sum_{i=lo}^{k-lo} y_i y_{k-i}``, each product of two different terms taken once
    and doubled."""
    out = scale(total(mul(y[i], y[k - i]) for i in range(lo, (k + 1) // 2)), 2)
    if k % 2 == 0 and k // 2 >= lo:
        out = add(out, mul(y[k // 2], y[k // 2]))
    return out


# -- series arithmetic: full series in, full series out (y0 given) ------------------------


def mul_series(a: list, b: list, y0, order: int, product: Callable = operator.mul) -> list:
    """The Cauchy product of ``a`` and ``b`` under the bilinear ``product`` (``y0`` None:
    computed)."""
    times = _zero_aware(product)
    if y0 is None:
        y0 = times(a[0], b[0])
    nz = _nonzero(a, order, 0)
    return [y0] + [
        total(times(a[j], b[k - j]) for j in nz if j <= k) for k in range(1, order + 1)
    ]


def div_series(a: list, b: list, y0, order: int) -> list:
    """``a / b``: from ``b y = a``, ``y_k = (a_k - sum_{j>=1} b_j y_{k-j}) / b_0``."""
    y = [y0]
    nz = _nonzero(b, order)
    for k in range(1, order + 1):
        y.append(div(sub(a[k], _convolved(b, nz, y, k)), b[0]))
    return y


def integrate(x: list, g: list, y0, order: int) -> list:
    """``y`` with ``y' = g(x) x'`` along the path: ``k y_k = sum_{j=1}^k j x_j g_{k-j}``
    (``g`` is needed to order ``order - 1`` only)."""
    jx = _scaled(x, order)
    nz = _nonzero(jx, order)
    return [y0] + [_convolved(jx, nz, g, k, 1.0 / k) for k in range(1, order + 1)]


def exp_series(x: list, y0, order: int) -> list:
    """``exp``: ``y' = y x'`` (``y0`` may be any ``c exp(x_0)``: the series scales)."""
    jx = _scaled(x, order)
    nz = _nonzero(jx, order)
    y = [y0]
    for k in range(1, order + 1):
        y.append(_convolved(jx, nz, y, k, 1.0 / k))
    return y


def log_series(x: list, y0, order: int) -> list:
    """``log``: ``x y' = x'``, so ``y_k = (x_k - sum_{i=1}^{k-1} (k - i) x_i y_{k-i} / k) /
    x_0``."""
    y = [y0]
    nz = _nonzero(x, order)
    for k in range(1, order + 1):
        acc = total([x[k]] + [mul(scale(x[i], (i - k) / k), y[k - i]) for i in nz if i < k])
        y.append(div(acc, x[0]))
    return y


def sqrt_series(x: list, y0, order: int) -> list:
    """``sqrt``: ``y^2 = x``, so ``y_k = (x_k - sum_{j=1}^{k-1} y_j y_{k-j}) / (2 y_0)``."""
    y = [y0]
    two_y0 = 2.0 * y0
    for k in range(1, order + 1):
        acc = x[k]
        if k > 1:
            acc = sub(acc, _symmetric(y, k, 1))
        y.append(div(acc, two_y0))
    return y


def pow_series(x: list, a, y0, order: int) -> list:
    """``x^a`` for a constant ``a``: ``x y' = a y x'``, so
    ``k x_0 y_k = sum_{j=1}^k ((a + 1) j - k) x_j y_{k-j}`` (needs ``x_0 != 0``)."""
    y = [y0]
    a1 = a + 1.0
    nz = _nonzero(x, order)
    for k in range(1, order + 1):
        acc = total(mul(scale(x[j], a1 * j - k), y[k - j]) for j in nz if j <= k)
        y.append(div(acc, k * x[0]))
    return y


def int_pow_series(x: list, n: int, y0, order: int) -> list:
    """``x^n`` for an integer ``n >= 1`` by repeated squaring of Cauchy products: exact
    where ``x_0 = 0`` too."""
    result, base = None, x
    while True:
        if n & 1:
            result = base if result is None else mul_series(result, base, None, order)
        n >>= 1
        if not n:
            break
        base = mul_series(base, base, None, order)
    return [y0] + result[1:]


def sin_cos_series(x: list, s0, c0, order: int, sign: float = -1.0) -> tuple[list, list]:
    """``sin`` and ``cos`` together (``s' = c x'``, ``c' = -s x'``); with ``sign = 1``,
    ``sinh`` and ``cosh``."""
    jx = _scaled(x, order)
    nz = _nonzero(jx, order)
    s, c = [s0], [c0]
    for k in range(1, order + 1):
        s.append(_convolved(jx, nz, c, k, 1.0 / k))
        c.append(_convolved(jx, nz, s, k, sign / k))
    return s, c


def _tan_like(x: list, y0, order: int, sign: float) -> list:
    """``y' = (1 + sign y^2) x'``: ``tan`` (``sign = 1``), ``tanh`` (``-1``), with
    ``w = 1 + sign y^2`` built alongside ``y``."""
    jx = _scaled(x, order)
    nz = _nonzero(jx, order)
    y, w = [y0], [1.0 + sign * (y0 * y0)]
    for k in range(1, order + 1):
        y.append(_convolved(jx, nz, w, k, 1.0 / k))
        if k < order:
            w.append(scale(_symmetric(y, k), sign))
    return y


def _square(x: list, order: int) -> list:
    return [x[0] * x[0]] + [_symmetric(x, k) for k in range(1, order + 1)]


def _derivative_along(x: list, order: int) -> list:
    """The series of ``x'(t)``, to order ``order``: ``(j + 1) x_{j+1}``."""
    return [scale(x[j + 1], j + 1) for j in range(order + 1)]


# -- rules ---------------------------------------------------------------------------------

_P = registry


def _unary(name: str, series_of: Callable) -> None:
    """``series_of(x, y0, order)`` as the rule of the one-argument primitive ``name``."""
    prim = _P[name]

    def rule(primals, series, order, **params):
        return series_of(series[0], bind(prim, primals[0], **params), order)

    defjet(prim, rule)


def _integral(name: str, derivative: Callable) -> None:
    """The rule of ``name`` whose derivative is ``derivative(x, order)``, the series (to
    ``order``) of an expression in ``x``'s series."""
    prim = _P[name]

    def rule(primals, series, order, **params):
        x = series[0]
        y0 = bind(prim, primals[0], **params)
        if order == 0:
            return [y0]
        return integrate(x, derivative(x[:order], order - 1), y0, order)

    defjet(prim, rule)


def _inverse_sqrt_of(sign_one: float, sign_sq: float) -> Callable:
    """``(sign_one + sign_sq x^2) ^ (-1/2)``: the derivatives of the inverse sines."""

    def g(x, order):
        sq = _square(x, order)
        u = [sign_one + sign_sq * sq[0]] + [scale(c, sign_sq) for c in sq[1:]]
        return pow_series(u, -0.5, bind(_P["pow"], u[0], -0.5), order)

    return g


def _inverse_of(sign_one: float, sign_sq: float) -> Callable:
    """``1 / (sign_one + sign_sq x^2)``: the derivatives of ``arctan``, ``arctanh``."""

    def g(x, order):
        sq = _square(x, order)
        u = [sign_one + sign_sq * sq[0]] + [scale(c, sign_sq) for c in sq[1:]]
        return div_series(_const(1.0, order), u, 1.0 / u[0], order)

    return g


def _gaussian(factor: float) -> Callable:
    """``factor exp(-x^2)``: the derivatives of ``erf``, ``erfc``."""

    def g(x, order):
        sq = _square(x, order)
        v = [neg(c) for c in sq]
        return exp_series(v, factor * bind(_P["exp"], v[0]), order)

    return g


def _negated(g: Callable) -> Callable:
    return lambda x, order: [neg(c) for c in g(x, order)]


def _sin_rule(primals, series, order):
    x0 = primals[0]
    return sin_cos_series(series[0], bind(_P["sin"], x0), bind(_P["cos"], x0), order)[0]


def _cos_rule(primals, series, order):
    x0 = primals[0]
    return sin_cos_series(series[0], bind(_P["sin"], x0), bind(_P["cos"], x0), order)[1]


def _sinh_rule(primals, series, order):
    x0 = primals[0]
    s, _ = sin_cos_series(series[0], bind(_P["sinh"], x0), bind(_P["cosh"], x0), order, 1.0)
    return s


def _cosh_rule(primals, series, order):
    x0 = primals[0]
    return sin_cos_series(series[0], bind(_P["sinh"], x0), bind(_P["cosh"], x0), order, 1.0)[1]


def _log1p(x, y0, order):
    return log_series([1.0 + x[0]] + x[1:], y0, order)


def _expm1(x, y0, order):
    e = exp_series(x, y0 + 1.0, order)
    return [y0] + e[1:]


def _series_or_const(s, x0, order):
    return _const(x0, order) if s is None else s


def _mul_rule(primals, series, order):
    return _bilinear_coefficients(operator.mul, primals, series, order, primals[0] * primals[1])


def _bilinear(prim: Primitive) -> Callable:
    def rule(primals, series, order, **params):
        def product(a, b):
            return bind(prim, a, b, **params)

        return _bilinear_coefficients(product, primals, series, order, product(*primals))

    return rule


def _bilinear_coefficients(product, primals, series, order, y0) -> list:
    a, b = series
    times = _zero_aware(product)
    if a is None:
        return [y0] + [times(primals[0], b[k]) for k in range(1, order + 1)]
    if b is None:
        return [y0] + [times(a[k], primals[1]) for k in range(1, order + 1)]
    return mul_series(a, b, y0, order, product)


def _div_rule(primals, series, order):
    a, b = series
    y0 = bind(_P["div"], *primals)
    if b is None:
        return [y0] + [div(a[k], primals[1]) for k in range(1, order + 1)]
    return div_series(_series_or_const(a, primals[0], order), b, y0, order)


def _small_int(a) -> int | None:
    """``a`` as an int in ``[0, 64]`` where it is a concrete integer-valued scalar."""
    if isinstance(a, Tracer):
        return None
    value = a.item() if hasattr(a, "item") and getattr(a, "shape", None) == () else a
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != int(value) or not 0 <= value <= 64:
        return None
    return int(value)


def _pow_rule(primals, series, order):
    (x0, a0), (x, a) = primals, series
    y0 = bind(_P["pow"], x0, a0)
    if a is None:
        n = _small_int(a0)
        if n == 0:
            return _const(y0, order)
        if n is not None:
            return int_pow_series(x, n, y0, order)
        return pow_series(x, a0, y0, order)
    log_x = bind(_P["log"], x0)
    if x is None:
        return exp_series([a0 * log_x] + [mul(c, log_x) for c in a[1:]], y0, order)
    exponent = mul_series(a, log_series(x, log_x, order), a0 * log_x, order)
    return exp_series(exponent, y0, order)


def _arctan2_rule(primals, series, order):
    """``z = arctan2(y, x)``: ``z' = (x y' - y x') / (x^2 + y^2)``."""
    y0 = bind(_P["arctan2"], *primals)
    if order == 0:
        return [y0]
    y, x = (_series_or_const(s, p, order) for s, p in zip(series, primals))
    m = order - 1
    x_dy = mul_series(x, _derivative_along(y, m), None, m)
    y_dx = mul_series(y, _derivative_along(x, m), None, m)
    num = [sub(mul(x[0], y[1]), mul(y[0], x[1]))]
    num += [sub(p, q) for p, q in zip(x_dy[1:], y_dx[1:])]
    h = [add(p, q) for p, q in zip(_square(x, m), _square(y, m))]
    u = div_series(num, h, div(num[0], h[0]), m)
    return [y0] + [scale(u[k - 1], 1.0 / k) for k in range(1, order + 1)]


def _hypot_rule(primals, series, order):
    y0 = bind(_P["hypot"], *primals)
    x, y = (_series_or_const(s, p, order) for s, p in zip(series, primals))
    h = [add(p, q) for p, q in zip(_square(x, order), _square(y, order))]
    return sqrt_series(h, y0, order)


def _linear(prim: Primitive) -> Callable:
    """The rule of a primitive linear near the point (in all its moving arguments
    together): its jvp rule applied to each order's coefficients."""
    rules = jvp_rules[prim]

    def rule(primals, series, order, **params):
        ans = bind(prim, *primals, **params)
        out = [ans]
        if type(rules) is tuple:
            moving = [(i, s) for i, s in enumerate(series) if s is not None and i < len(rules)]
            for k in range(1, order + 1):
                out.append(
                    total(
                        rules[i](s[k], ans, *primals, **params)
                        for i, s in moving
                        if s[k] is not ZERO
                    )
                )
        else:
            for k in range(1, order + 1):
                tangents = [None if s is None or s[k] is ZERO else s[k] for s in series]
                moved = any(t is not None for t in tangents)
                out.append(rules(tangents, ans, *primals, **params) if moved else ZERO)
        return out

    return rule


def _abs_rule(primals, series, order):
    """Linear near a real point; ``|z| = sqrt(re(z conj(z)))`` near a complex one."""
    if primals[0].dtype.kind != "c":
        return _real_abs(primals, series, order)
    z = series[0]
    w = mul_series(z, [linear(partial(bind, _P["conj"]), c) for c in z], None, order)
    y0 = bind(_P["abs"], primals[0])
    real = partial(bind, _P["real"])
    return sqrt_series([y0 * y0] + [linear(real, c) for c in w[1:]], y0, order)


for _name, _series_of in [
    ("exp", exp_series),
    ("log", log_series),
    ("log1p", _log1p),
    ("expm1", _expm1),
    ("sqrt", sqrt_series),
    ("cbrt", lambda x, y0, order: pow_series(x, 1.0 / 3.0, y0, order)),
    ("tan", lambda x, y0, order: _tan_like(x, y0, order, 1.0)),
    ("tanh", lambda x, y0, order: _tan_like(x, y0, order, -1.0)),
]:
    _unary(_name, _series_of)

for _name, _derivative in [
    ("arcsin", _inverse_sqrt_of(1.0, -1.0)),
    ("arccos", _negated(_inverse_sqrt_of(1.0, -1.0))),
    ("arcsinh", _inverse_sqrt_of(1.0, 1.0)),
    ("arccosh", _inverse_sqrt_of(-1.0, 1.0)),
    ("arctan", _inverse_of(1.0, 1.0)),
    ("arctanh", _inverse_of(1.0, -1.0)),
    ("erf", _gaussian(_TWO_OVER_SQRT_PI)),
    ("erfc", _gaussian(-_TWO_OVER_SQRT_PI)),
]:
    _integral(_name, _derivative)

for _name, _rule in [
    ("sin", _sin_rule),
    ("cos", _cos_rule),
    ("sinh", _sinh_rule),
    ("cosh", _cosh_rule),
    ("mul", _mul_rule),
    ("div", _div_rule),
    ("pow", _pow_rule),
    ("arctan2", _arctan2_rule),
    ("hypot", _hypot_rule),
]:
    defjet(_P[_name], _rule)

defjet(_P["dot_general"], _bilinear(_P["dot_general"]))

_real_abs = _linear(_P["abs"])
defjet(_P["abs"], _abs_rule)

for _name in (
    "add",
    "sub",
    "neg",
    "reshape",
    "transpose",
    "broadcast_to",
    "concatenate",
    "reduce_sum",
    "reduce_max",
    "reduce_min",
    "getitem",
    "index_add",
    "index_set",
    "select",
    "convert_element_type",
    "real",
    "imag",
    "conj",
    "fft",
    "window_patches",
    "window_patches_transpose",
    "tile_extremum",
    "tile_ties",
    "tile_ties_transpose",
    "max",
    "min",
    "remainder",
    "fmod",
    "copysign",
):
    defjet(_P[_name], _linear(_P[_name]))
