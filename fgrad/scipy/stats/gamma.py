"""The gamma distribution with shape ``a`` (``scipy.stats.gamma``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpdf(x, a, loc=0.0, scale=1.0):
    """``(a - 1) log z - z - gammaln(a) - log(scale)`` with ``z = (x - loc) / scale``."""
    z = (fnp.asarray(x) - loc) / scale
    return special.xlogy(a - 1.0, z) - z - special.gammaln(a) - fnp.log(scale)


def pdf(x, a, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, a, loc, scale))


def cdf(x, a, loc=0.0, scale=1.0):
    """``gammainc(a, z)``; differentiable in ``x``, ``loc`` and ``scale`` (not in ``a``)."""
    return special.gammainc(a, (fnp.asarray(x) - loc) / scale)


def logcdf(x, a, loc=0.0, scale=1.0):
    """``log cdf``; ``log1p(-sf)`` in the right tail, where the CDF rounds to 1."""
    c = cdf(x, a, loc, scale)
    upper = c > 0.5
    return fnp.where(upper, fnp.log1p(-sf(x, a, loc, scale)), fnp.log(fnp.where(upper, 1.0, c)))


def sf(x, a, loc=0.0, scale=1.0):
    """``P(X > x) = gammaincc(a, z)``; differentiable in ``x``, ``loc`` and ``scale``."""
    return special.gammaincc(a, (fnp.asarray(x) - loc) / scale)


def logsf(x, a, loc=0.0, scale=1.0):
    """``log sf``."""
    return fnp.log(sf(x, a, loc, scale))


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
