"""``jax.lax``'s special functions, under their lax names: the primitives
``fgrad.scipy.special`` uses (SciPy's numerics, imported on first call), with the
same derivative rules.
"""

from __future__ import annotations

from fgrad import numpy as _fnp
from fgrad.primitives import special as _sp

__all__ = [
    "bessel_i0e",
    "bessel_i1e",
    "digamma",
    "erf",
    "erf_inv",
    "erfc",
    "igamma",
    "igammac",
    "lgamma",
    "polygamma",
    "regularized_incomplete_beta",
    "zeta",
]


def lgamma(x):
    """``log |Gamma(x)|`` (``jax.lax.lgamma``, SciPy's ``gammaln``)."""
    return _sp.gammaln(x)


def digamma(x):
    """The derivative of ``lgamma`` (``jax.lax.digamma``)."""
    return _sp.digamma(x)


def polygamma(m, x):
    """The ``m``-th derivative of ``digamma`` (``jax.lax.polygamma``)."""
    return _sp.polygamma(m, x)


def erf(x):
    """The error function (``jax.lax.erf``)."""
    return _sp.erf(x)


def erfc(x):
    """``1 - erf(x)``, accurate for large ``x`` (``jax.lax.erfc``)."""
    return _sp.erfc(x)


def erf_inv(x):
    """The inverse of ``erf`` on ``(-1, 1)`` (``jax.lax.erf_inv``)."""
    return _sp.erfinv(x)


def igamma(a, x):
    """The regularized lower incomplete gamma function ``P(a, x)`` (``jax.lax.igamma``);
    differentiable in ``x``."""
    return _sp.gammainc(a, x)


def igammac(a, x):
    """``1 - igamma(a, x)`` (``jax.lax.igammac``); differentiable in ``x``."""
    return _sp.gammaincc(a, x)


def regularized_incomplete_beta(a, b, x):
    """``I_x(a, b)`` (``jax.lax.regularized_incomplete_beta``); differentiable in ``x``."""
    return _sp.betainc(a, b, x)


def bessel_i0e(x):
    """``exp(-|x|) I0(x)`` (``jax.lax.bessel_i0e``)."""
    return _sp.i0e(x)


def bessel_i1e(x):
    """``exp(-|x|) I1(x)`` (``jax.lax.bessel_i1e``)."""
    return _sp.i1e(x)


def zeta(x, q):
    """The Hurwitz zeta function (``jax.lax.zeta``); differentiable in ``q``."""
    return _sp.zeta(x, q)


def logistic(x):
    """``1 / (1 + exp(-x))`` (``jax.lax.logistic``), without overflow for large ``|x|``."""
    upper = _fnp.asarray(x) >= 0
    e = _fnp.exp(_fnp.where(upper, -x, x))  # at most 1: never overflows
    return _fnp.where(upper, 1 / (1 + e), e / (1 + e))
