"""The normal distribution ``N(loc, scale^2)`` (``scipy.stats.norm``)."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _z(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, loc=0.0, scale=1.0):
    """``-z^2 / 2 - log(scale) - log(sqrt(2 pi))`` with ``z = (x - loc) / scale``."""
    z = _z(x, loc, scale)
    return -0.5 * z * z - fnp.log(scale) - _LOG_SQRT_2PI


def pdf(x, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """``P(X <= x)``, accurate in the lower tail."""
    return special.ndtr(_z(x, loc, scale))


def logcdf(x, loc=0.0, scale=1.0):
    """``log P(X <= x)``, finite far in the lower tail."""
    return special.log_ndtr(_z(x, loc, scale))


def sf(x, loc=0.0, scale=1.0):
    """``P(X > x) = cdf(-z)``."""
    return special.ndtr(-_z(x, loc, scale))


def logsf(x, loc=0.0, scale=1.0):
    """``log P(X > x)``."""
    return special.log_ndtr(-_z(x, loc, scale))


def ppf(q, loc=0.0, scale=1.0):
    """The quantile function, ``loc + scale * ndtri(q)``."""
    return loc + scale * special.ndtri(q)


def isf(q, loc=0.0, scale=1.0):
    """The inverse survival function, ``ppf(1 - q)``."""
    return loc - scale * special.ndtri(q)


__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
