"""``fgrad.scipy.special``: SciPy's special functions, differentiable.

Functions that need SciPy's numerics are primitives (``fgrad/primitives/special.py``);
the rest compose them with ``fgrad.numpy`` in forms that stay finite where the
naive formula would not (``expit`` and ``log_softmax`` at +-1000, ``xlogy`` at
``x = 0``, ``logsumexp`` of large or ``-inf`` entries).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.core.tracer import Tracer
from fgrad.nn import activations
from fgrad.primitives import special as sp
from fgrad.transforms.custom_derivatives import custom_jvp

erf, erfc, erfinv, erfcinv = sp.erf, sp.erfc, sp.erfinv, sp.erfcinv
gammaln, digamma, gamma, gammasgn = sp.gammaln, sp.digamma, sp.gamma, sp.gammasgn
psi = digamma
gammainc, gammaincc, betainc = sp.gammainc, sp.gammaincc, sp.betainc
i0, i1, iv, ive = sp.i0, sp.i1, sp.iv, sp.ive
i0e, i1e = sp.i0e, sp.i1e
j0, j1, jv, y0, y1, yv = sp.j0, sp.j1, sp.jv, sp.y0, sp.y1, sp.yv
jn, yn = jv, yv
ndtri, log_ndtr = sp.ndtri, sp.log_ndtr
erfcx, dawsn, spence, loggamma = sp.erfcx, sp.dawsn, sp.spence, sp.loggamma
exp1, expi, hyp1f1, hyp2f1, owens_t = sp.exp1, sp.expi, sp.hyp1f1, sp.hyp2f1, sp.owens_t


def sici(x):
    """The sine and cosine integrals ``(Si(x), Ci(x))`` (``scipy.special.sici``)."""
    return sp.si(x), sp.ci(x)


def fresnel(x):
    """The Fresnel integrals ``(S(x), C(x))`` (``scipy.special.fresnel``)."""
    return sp.fresnel_s(x), sp.fresnel_c(x)


def expn(n, x):
    """The generalised exponential integral ``E_n(x)`` (``scipy.special.expn``); ``n`` is
    an integer (array) without derivative."""
    return sp.expn(fnp.asarray(n) if not isinstance(n, (int, Tracer)) else n, x)


def comb(N, k, *, exact: bool = False, repetition: bool = False):
    """``N choose k`` as ``exp(gammaln)`` (``scipy.special.comb``), 0 outside
    ``0 <= k <= N``; with ``repetition``, ``comb(N + k - 1, k)``."""
    if exact:
        raise NotImplementedError(
            "scipy.special.comb: exact=True computes with Python integers; use math.comb "
            "outside the transformed function"
        )
    N, k = fnp.asarray(N), fnp.asarray(k)
    if repetition:
        N = N + k - 1
    valid = (k >= 0) & (N >= k) & (N >= 0)
    n_safe, k_safe = fnp.where(valid, N, 1.0), fnp.where(valid, k, 0.0)
    value = fnp.exp(gammaln(n_safe + 1.0) - gammaln(k_safe + 1.0) - gammaln(n_safe - k_safe + 1.0))
    return fnp.where(valid, value, 0.0)


def boxcox(x, lmbda):
    """The Box-Cox transform ``(x^lmbda - 1) / lmbda``, ``log(x)`` at ``lmbda = 0``."""
    return _boxcox_of_log(fnp.log(x), lmbda)


def boxcox1p(x, lmbda):
    """:func:`boxcox` of ``1 + x``, accurate for small ``x``."""
    return _boxcox_of_log(fnp.log1p(x), lmbda)


def _boxcox_of_log(log_x, lmbda):
    zero = lmbda == 0
    safe = fnp.where(zero, 1.0, lmbda)
    return fnp.where(zero, log_x, fnp.expm1(safe * log_x) / safe)


def bernoulli(n: int) -> np.ndarray:
    """The Bernoulli numbers ``B_0 ... B_n`` (``B_1 = -1/2``), as ``scipy.special.bernoulli``.

    ``n`` is a Python integer (the result's length is ``n + 1``).
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"bernoulli: n must be a non-negative integer, got {n}")
    numbers = [Fraction(1)]
    for m in range(1, n + 1):  # sum_k C(m+1, k) B_k = 0
        numbers.append(-sum(math.comb(m + 1, k) * numbers[k] for k in range(m)) / (m + 1))
    return np.array([float(b) for b in numbers])


def bessel_jn(z, *, v: int):
    """``J_0(z), ..., J_v(z)`` stacked on a new leading axis (``jax.scipy.special.bessel_jn``).

    Parameters
    ----------
    z
        The points.
    v
        The highest order, a Python integer.

    Returns
    -------
    array
        Shape ``(v + 1, *z.shape)``; differentiable in ``z``.
    """
    z = fnp.asarray(z)
    return fnp.stack([jv(order, z) for order in range(int(v) + 1)])


def polygamma(n, x):
    """The ``n``-th derivative of ``digamma`` (``scipy.special.polygamma``); ``n`` is an
    integer (array) without derivative."""
    return sp.polygamma(fnp.asarray(n) if not isinstance(n, (int, Tracer)) else n, x)


def zeta(x, q=None):
    """The Hurwitz zeta function ``sum_k (k + q) ** -x`` (``scipy.special.zeta``; the
    Riemann zeta for ``q=None``); differentiable in ``q``."""
    return sp.zeta(x, 1.0 if q is None else q)


def factorial(n, exact: bool = False):
    """``n!`` as ``gamma(n + 1)`` (``scipy.special.factorial``), 0 for ``n < 0``;
    differentiable in ``n``. ``exact=True`` (Python integers) is not supported."""
    if exact:
        raise NotImplementedError(
            "scipy.special.factorial: exact=True computes with Python integers; use "
            "math.factorial outside the transformed function"
        )
    n = fnp.asarray(n)
    return fnp.where(n < 0, 0.0, gamma(fnp.where(n < 0, 0.0, n) + 1.0))


def poch(z, m):
    """The Pochhammer symbol ``Gamma(z + m) / Gamma(z)`` (``scipy.special.poch``)."""
    top = fnp.add(z, m)
    sign = gammasgn(top) * gammasgn(z)
    return sign * fnp.exp(gammaln(top) - gammaln(z))


def rel_entr(x, y):
    """``x log(x / y)`` for ``x, y > 0``, 0 for ``x = 0 <= y``, ``inf`` otherwise
    (``scipy.special.rel_entr``)."""
    x, y = fnp.asarray(x), fnp.asarray(y)
    inside = ((x > 0) & (y > 0)) | ((x == 0) & (y >= 0))
    safe_x, safe_y = fnp.where(inside, x, 1.0), fnp.where(inside, y, 1.0)
    return fnp.where(inside, xlogy(safe_x, safe_x) - xlogy(safe_x, safe_y), np.inf)


def kl_div(x, y):
    """``x log(x / y) - x + y`` for ``x, y > 0``, ``y`` for ``x = 0 <= y``, ``inf``
    otherwise (``scipy.special.kl_div``)."""
    return rel_entr(x, y) - fnp.asarray(x) + fnp.asarray(y)


def rgamma(x):
    """``1 / gamma(x)`` (``scipy.special.rgamma``), 0 at the poles of gamma."""
    return 1.0 / gamma(x)


def betaln(a, b):
    """``log |B(a, b)|`` as ``gammaln(a) + gammaln(b) - gammaln(a + b)``."""
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def beta(a, b):
    """The beta function ``Gamma(a) Gamma(b) / Gamma(a + b)``, through ``betaln`` and signs."""
    sign = gammasgn(a) * gammasgn(b) * gammasgn(fnp.add(a, b))
    return sign * fnp.exp(betaln(a, b))


def multigammaln(a, d: int):
    """The log of the multivariate gamma function of dimension ``d``."""
    d = int(d)
    a = fnp.asarray(a)
    total = d * (d - 1) / 4.0 * math.log(math.pi)
    return total + sum(gammaln(a - 0.5 * j) for j in range(d))


def ndtr(x):
    """The standard normal CDF, ``0.5 * erfc(-x / sqrt(2))`` (accurate in the lower tail)."""
    return 0.5 * erfc(fnp.negative(x) / math.sqrt(2.0))


def expit(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))``, overflow-free (``scipy.special.expit``)."""
    return activations.sigmoid(x)


def logit(p):
    """``log(p / (1 - p))`` (``scipy.special.logit``)."""
    return fnp.log(p) - fnp.log1p(fnp.negative(p))


def log_expit(x):
    """``log(expit(x))`` without underflow (``scipy.special.log_expit``)."""
    return activations.log_sigmoid(x)


def _safe_where_zero(x, y, fill):
    """``y`` with ``fill`` where ``x == 0``: the double-``where`` that keeps gradients finite."""
    zero = fnp.equal(x, 0)
    return zero, fnp.where(zero, fill, y)


def xlogy(x, y):
    """``x * log(y)``, 0 where ``x == 0`` (also its derivative in ``y``)."""
    zero, y_safe = _safe_where_zero(x, y, 1.0)
    return fnp.where(zero, 0.0, fnp.multiply(x, fnp.log(y_safe)))


def xlog1py(x, y):
    """``x * log1p(y)``, 0 where ``x == 0`` (also its derivative in ``y``)."""
    zero, y_safe = _safe_where_zero(x, y, 0.0)
    return fnp.where(zero, 0.0, fnp.multiply(x, fnp.log1p(y_safe)))


@custom_jvp
def _xlogx(x):
    """``x log(x)``, 0 at 0; its derivative ``1 + log(x)`` is ``-inf`` at 0, as JAX's."""
    zero = x == 0
    safe = fnp.where(zero, 1.0, x)
    return fnp.where(zero, fnp.zeros_like(x), x * fnp.log(safe))


@_xlogx.defjvp
def _xlogx_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _xlogx(x), (1.0 + fnp.log(x)) * t


def entr(x):
    """``-x log(x)`` for ``x > 0``, 0 at 0 and ``-inf`` below (``scipy.special.entr``).

    The derivative is ``-1 - log(x)`` wherever it is taken: ``+inf`` at 0 (the one-sided
    limit) and NaN below 0, as in JAX.
    """
    x = fnp.asarray(x)
    if not fnp.issubdtype(x.dtype, fnp.floating):
        x = x.astype(fnp.result_type(x.dtype, fnp.float64) if x.dtype != bool else fnp.float64)
    return fnp.where(x < 0, -np.inf, 0.0 - _xlogx(x))  # 0 - 0 is +0, as SciPy


def logsumexp(a, axis=None, b=None, keepdims: bool = False, return_sign: bool = False):
    """``log(sum(b * exp(a), axis))`` without overflow (``scipy.special.logsumexp``).

    ``b`` may be negative; then the result is ``log|sum|`` and, with
    ``return_sign=True``, ``(log|sum|, sign)`` is returned (a negative sum without
    ``return_sign`` is NaN, as in SciPy). Slices that are all ``-inf`` give
    ``-inf`` with a zero derivative.
    """
    a = fnp.asarray(a)
    if b is None:
        out = activations.logsumexp(a, axis=axis, keepdims=keepdims)
        return (out, fnp.ones_like(out)) if return_sign else out
    a, b = fnp.broadcast_arrays(a, fnp.asarray(b))
    m = fnp.max(fnp.where(b != 0, fnp.stop_gradient(a), -np.inf), axis=axis, keepdims=True)
    m = fnp.where(fnp.isfinite(m), m, 0.0)
    total = fnp.sum(b * fnp.exp(a - m), axis=axis, keepdims=True)
    sign = fnp.sign(fnp.stop_gradient(total))
    magnitude = fnp.abs(total)
    positive = magnitude > 0
    out = fnp.where(positive, fnp.log(fnp.where(positive, magnitude, 1.0)), -np.inf) + m
    if not return_sign:
        out = fnp.where(sign < 0, np.nan, out)
    if not keepdims:
        out, sign = fnp.squeeze(out, axis=axis), fnp.squeeze(sign, axis=axis)
    return (out, sign) if return_sign else out


def softmax(x, axis=None):
    """``exp(x) / sum(exp(x), axis)``; ``axis=None`` normalises over all entries, as SciPy."""
    return activations.softmax(x, axis=_all_axes(x, axis))


def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis)``; ``axis=None`` normalises over all entries, as SciPy."""
    return activations.log_softmax(x, axis=_all_axes(x, axis))


def _all_axes(x, axis):
    return tuple(range(fnp.ndim(x))) if axis is None else axis


__all__ = [
    "bernoulli",
    "bessel_jn",
    "beta",
    "betainc",
    "betaln",
    "boxcox",
    "boxcox1p",
    "comb",
    "dawsn",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcinv",
    "erfcx",
    "erfinv",
    "exp1",
    "expi",
    "expit",
    "expn",
    "factorial",
    "fresnel",
    "gamma",
    "gammainc",
    "gammaincc",
    "gammaln",
    "gammasgn",
    "hyp1f1",
    "hyp2f1",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "iv",
    "ive",
    "j0",
    "j1",
    "jn",
    "jv",
    "kl_div",
    "log_expit",
    "log_ndtr",
    "log_softmax",
    "loggamma",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "ndtri",
    "owens_t",
    "poch",
    "polygamma",
    "psi",
    "rel_entr",
    "rgamma",
    "sici",
    "softmax",
    "spence",
    "xlog1py",
    "xlogy",
    "y0",
    "y1",
    "yn",
    "yv",
    "zeta",
]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
