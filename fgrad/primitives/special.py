"""Special functions from SciPy as primitives: ``erf``, ``gammaln``, ``digamma``, Bessel, ...

The impls call ``scipy.special`` (``cupyx.scipy.special`` for CuPy arrays),
imported on first use, so ``import fgrad`` never loads SciPy. The derivative
rules are written with these same primitives (``gammaln' = digamma``,
``digamma' = polygamma(1, .)``, ``j0' = -j1``, ...), so they differentiate to any
order. Integer orders and shape parameters (``n`` of ``polygamma``/``jn``, ``a``
of ``gammainc``, ``a, b`` of ``betainc``, ``v`` of ``iv``) have no derivative
rule: asking for one raises ``NotImplementedError`` rather than returning a
silent zero.
"""

from __future__ import annotations

import math

import numpy as np

from fgrad.core import backend
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defjvp, defvjp
from fgrad.primitives import elementwise as ew
from fgrad.primitives.structural import broadcast_like, unbroadcast

_SQRT_PI = math.sqrt(math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _module(x):
    """``scipy.special``, or ``cupyx.scipy.special`` for CuPy arrays (imported lazily)."""
    # optional dependencies, imported here so that ``import fgrad`` loads neither
    if backend.backend_of(x).name == "gpu":
        import cupyx.scipy.special as special
    else:
        import scipy.special as special
    return special


def _special(name: str, nargs: int, differentiable: bool = True) -> Primitive:
    def impl(*args):
        return getattr(_module(args[-1]), name)(*args)

    impl.__name__ = name
    return ew.elementwise(name, impl, differentiable)


def _no_derivative(fn: str, arg: str):
    def rule(*_args, **_params):
        raise NotImplementedError(
            f"fgrad does not implement the derivative of {fn} with respect to {arg}; "
            "only the last argument is differentiable. Hold it fixed (fgrad.stop_gradient) "
            "or pass it as a constant."
        )

    return rule


def defderivative(prim: Primitive, derivative, fixed: tuple[str, ...] = ()) -> None:
    """Rules for an elementwise primitive differentiable in its last argument only.

    ``derivative(ans, *args)`` is the partial derivative in the last argument;
    the arguments named in ``fixed`` (all the others) refuse to be differentiated.
    """
    refusals = [_no_derivative(prim.name, name) for name in fixed]

    def jvp(t, ans, *args):
        return broadcast_like(t * derivative(ans, *args), ans)

    def vjp(g, ans, *args):
        return unbroadcast(g * derivative(ans, *args), args[-1].shape)

    defjvp(prim, *refusals, jvp)
    defvjp(prim, *refusals, vjp)


def _call(prim):
    return lambda *args: bind(prim, *args)


erf_p, erfc_p = _special("erf", 1), _special("erfc", 1)
erfinv_p, erfcinv_p = _special("erfinv", 1), _special("erfcinv", 1)
gammaln_p, digamma_p, gamma_p = _special("gammaln", 1), _special("digamma", 1), _special("gamma", 1)


def _polygamma_impl(n, x):
    """SciPy's own formula, from ufuncs only (``scipy.special.polygamma`` is not a ufunc,
    and CuPy or other backends' arrays must not be converted to NumPy)."""
    special = _module(x)
    sign = np.remainder(n, 2) * 2 - 1  # (-1)^(n+1)
    with np.errstate(invalid="ignore", divide="ignore"):  # zeta(1, x) = inf where n == 0
        series = sign * special.gamma(n + 1.0) * special.zeta(n + 1.0, x)
    return np.where(n == 0, special.psi(x), series)


polygamma_p = ew.elementwise("polygamma", _polygamma_impl)
gammasgn_p = _special("gammasgn", 1, differentiable=False)
gammainc_p, gammaincc_p = _special("gammainc", 2), _special("gammaincc", 2)
betainc_p = _special("betainc", 3)
i0_p, i1_p = _special("i0", 1), _special("i1", 1)
i0e_p, i1e_p = _special("i0e", 1), _special("i1e", 1)
zeta_p = _special("zeta", 2)
iv_p, ive_p = _special("iv", 2), _special("ive", 2)
j0_p, j1_p, jn_p = _special("j0", 1), _special("j1", 1), _special("jv", 2)
y0_p, y1_p, yn_p = _special("y0", 1), _special("y1", 1), _special("yv", 2)
ndtri_p, log_ndtr_p = _special("ndtri", 1), _special("log_ndtr", 1)
erfcx_p, dawsn_p = _special("erfcx", 1), _special("dawsn", 1)
exp1_p, expi_p, expn_p = _special("exp1", 1), _special("expi", 1), _special("expn", 2)
spence_p, loggamma_p = _special("spence", 1), _special("loggamma", 1)
hyp1f1_p, hyp2f1_p = _special("hyp1f1", 3), _special("hyp2f1", 4)
owens_t_p = _special("owens_t", 2)


def _part(name: str, function: str, index: int) -> Primitive:
    """One output of a SciPy function returning a pair (``sici``, ``fresnel``)."""

    def impl(x):
        return getattr(_module(x), function)(x)[index]

    impl.__name__ = name
    return ew.elementwise(name, impl)


si_p, ci_p = _part("sici_si", "sici", 0), _part("sici_ci", "sici", 1)
fresnel_s_p, fresnel_c_p = _part("fresnel_s", "fresnel", 0), _part("fresnel_c", "fresnel", 1)

erf, erfc, erfinv, erfcinv = _call(erf_p), _call(erfc_p), _call(erfinv_p), _call(erfcinv_p)
gammaln, digamma, gamma = _call(gammaln_p), _call(digamma_p), _call(gamma_p)
polygamma, gammasgn = _call(polygamma_p), _call(gammasgn_p)
gammainc, gammaincc, betainc = _call(gammainc_p), _call(gammaincc_p), _call(betainc_p)
i0, i1, iv, ive = _call(i0_p), _call(i1_p), _call(iv_p), _call(ive_p)
i0e, i1e, zeta = _call(i0e_p), _call(i1e_p), _call(zeta_p)
j0, j1, jv = _call(j0_p), _call(j1_p), _call(jn_p)
y0, y1, yv = _call(y0_p), _call(y1_p), _call(yn_p)
ndtri, log_ndtr = _call(ndtri_p), _call(log_ndtr_p)
erfcx, dawsn, spence, loggamma = _call(erfcx_p), _call(dawsn_p), _call(spence_p), _call(loggamma_p)
exp1, expi, expn = _call(exp1_p), _call(expi_p), _call(expn_p)
hyp1f1, hyp2f1, owens_t = _call(hyp1f1_p), _call(hyp2f1_p), _call(owens_t_p)
si, ci, fresnel_s, fresnel_c = _call(si_p), _call(ci_p), _call(fresnel_s_p), _call(fresnel_c_p)


def _gaussian(x):
    return ew.exp(-(x * x))


def _incomplete_gamma_density(a, x):
    """``x^(a-1) e^-x / Gamma(a)``: the derivative of the regularized ``gammainc`` in ``x``."""
    return ew.exp((a - 1) * ew.log(x) - x - gammaln(a))


defderivative(erf_p, lambda ans, x: (2 / _SQRT_PI) * _gaussian(x))
defderivative(erfc_p, lambda ans, x: (-2 / _SQRT_PI) * _gaussian(x))
defderivative(erfinv_p, lambda ans, x: (_SQRT_PI / 2) * ew.exp(ans * ans))
defderivative(erfcinv_p, lambda ans, x: (-_SQRT_PI / 2) * ew.exp(ans * ans))
defderivative(gammaln_p, lambda ans, x: digamma(x))
defderivative(digamma_p, lambda ans, x: polygamma(1, x))
defderivative(gamma_p, lambda ans, x: ans * digamma(x))
defderivative(polygamma_p, lambda ans, n, x: polygamma(n + 1, x), fixed=("n",))
defderivative(gammainc_p, lambda ans, a, x: _incomplete_gamma_density(a, x), fixed=("a",))
defderivative(gammaincc_p, lambda ans, a, x: -_incomplete_gamma_density(a, x), fixed=("a",))
defderivative(
    betainc_p,
    lambda ans, a, b, x: ew.exp(
        (a - 1) * ew.log(x) + (b - 1) * ew.log1p(-x) + gammaln(a + b) - gammaln(a) - gammaln(b)
    ),
    fixed=("a", "b"),
)
defderivative(i0_p, lambda ans, x: i1(x))
defderivative(i1_p, lambda ans, x: i0(x) - ans / x)
defderivative(i0e_p, lambda ans, x: i1e(x) - ew.sign(x) * ans)


def _i1e_derivative(ans, x):
    """``i0e - i1e / x - sign(x) i1e``; its limit 1/2 at ``x = 0``."""
    safe = ew.select(x == 0, 1.0, x)
    return ew.select(x == 0, 0.5, i0e(x) - ans / safe - ew.sign(x) * ans)


defderivative(i1e_p, _i1e_derivative)
defderivative(zeta_p, lambda ans, s, q: -s * zeta(s + 1, q), fixed=("s",))
defderivative(iv_p, lambda ans, v, x: 0.5 * (iv(v - 1, x) + iv(v + 1, x)), fixed=("v",))
defderivative(
    ive_p,
    lambda ans, v, x: 0.5 * (ive(v - 1, x) + ive(v + 1, x)) - ew.sign(x) * ans,
    fixed=("v",),
)
defderivative(j0_p, lambda ans, x: -j1(x))
defderivative(j1_p, lambda ans, x: j0(x) - ans / x)
defderivative(jn_p, lambda ans, n, x: 0.5 * (jv(n - 1, x) - jv(n + 1, x)), fixed=("n",))
defderivative(y0_p, lambda ans, x: -y1(x))
defderivative(y1_p, lambda ans, x: y0(x) - ans / x)
defderivative(yn_p, lambda ans, n, x: 0.5 * (yv(n - 1, x) - yv(n + 1, x)), fixed=("n",))
defderivative(ndtri_p, lambda ans, p: math.sqrt(2 * math.pi) * ew.exp(0.5 * ans * ans))
defderivative(log_ndtr_p, lambda ans, x: ew.exp(-0.5 * x * x - _LOG_SQRT_2PI - ans))
defderivative(erfcx_p, lambda ans, x: 2 * x * ans - 2 / _SQRT_PI)
defderivative(dawsn_p, lambda ans, x: 1 - 2 * x * ans)
defderivative(exp1_p, lambda ans, x: -ew.exp(-x) / x)
defderivative(expi_p, lambda ans, x: ew.exp(x) / x)


def _expn_derivative(ans, n, x):
    """``-E_{n-1}(x)``; for ``n = 0``, ``E_0 = e^-x / x``, so ``-E_0 (1 + 1 / x)``."""
    lower = expn(ew.select(n > 0, n - 1, n), x)
    return ew.select(n > 0, -lower, -ans * (1 + 1 / x))


defderivative(expn_p, _expn_derivative, fixed=("n",))


def _spence_derivative(ans, z):
    """``log(z) / (1 - z)`` (SciPy's convention, ``spence(1) = 0``); -1 at ``z = 1``."""
    safe = ew.select(z == 1, 2.0, z)
    return ew.select(z == 1, -1.0, ew.log(safe) / (1 - safe))


defderivative(spence_p, _spence_derivative)
defderivative(loggamma_p, lambda ans, x: digamma(x))
defderivative(hyp1f1_p, lambda ans, a, b, x: a / b * hyp1f1(a + 1, b + 1, x), fixed=("a", "b"))
defderivative(
    hyp2f1_p,
    lambda ans, a, b, c, x: a * b / c * hyp2f1(a + 1, b + 1, c + 1, x),
    fixed=("a", "b", "c"),
)
defderivative(
    owens_t_p,
    lambda ans, h, a: ew.exp(-0.5 * h * h * (1 + a * a)) / (2 * math.pi * (1 + a * a)),
    fixed=("h",),
)


def _sinc_like(trig):
    """``trig(x) / x`` (the derivatives of Si and Ci); Si's is 1 at 0."""

    def derivative(ans, x):
        safe = ew.select(x == 0, 1.0, x)
        return trig(safe) / safe

    return derivative


defderivative(si_p, lambda ans, x: ew.select(x == 0, 1.0, _sinc_like(ew.sin)(ans, x)))
defderivative(ci_p, _sinc_like(ew.cos))
defderivative(fresnel_s_p, lambda ans, x: ew.sin(0.5 * math.pi * x * x))
defderivative(fresnel_c_p, lambda ans, x: ew.cos(0.5 * math.pi * x * x))

__all__ = [name for name in dir() if name.endswith("_p")]
