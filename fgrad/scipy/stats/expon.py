"""The exponential distribution with rate ``1 / scale`` from ``loc`` (``scipy.stats.expon``)."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api


def _z(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, loc=0.0, scale=1.0):
    """``-z - log(scale)`` for ``z = (x - loc) / scale >= 0``, ``-inf`` below."""
    z = _z(x, loc, scale)
    return fnp.where(z < 0, -fnp.inf, -z - fnp.log(scale))


def pdf(x, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """``1 - exp(-z)`` (as ``-expm1(-z)``, accurate near 0), 0 below ``loc``."""
    z = _z(x, loc, scale)
    return fnp.where(z < 0, 0.0, -fnp.expm1(-fnp.maximum(z, 0)))


def sf(x, loc=0.0, scale=1.0):
    """``P(X > x) = exp(-z)``, 1 below ``loc``."""
    z = _z(x, loc, scale)
    return fnp.where(z < 0, 1.0, fnp.exp(-fnp.maximum(z, 0)))


def ppf(q, loc=0.0, scale=1.0):
    """The quantile function, ``loc - scale * log(1 - q)``."""
    return loc - scale * fnp.log1p(-fnp.asarray(q))


def logcdf(x, loc=0.0, scale=1.0):
    """``log(1 - exp(-z))``, ``-inf`` below ``loc``; ``log1p(-exp(-z))`` beyond ``log 2``,
    ``log(-expm1(-z))`` before it, each accurate on its side."""
    z = _z(x, loc, scale)
    far = z > math.log(2.0)
    near = fnp.log(-fnp.expm1(-fnp.clip(z, 1e-300, math.log(2.0))))
    value = fnp.where(far, fnp.log1p(-fnp.exp(-fnp.maximum(z, math.log(2.0)))), near)
    return fnp.where(z <= 0, -fnp.inf, value)


def logsf(x, loc=0.0, scale=1.0):
    """``-z``, 0 below ``loc``."""
    z = _z(x, loc, scale)
    return fnp.where(z < 0, 0.0, -z)


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
