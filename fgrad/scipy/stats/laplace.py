"""The Laplace (double exponential) distribution (``scipy.stats.laplace``)."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api


def _z(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, loc=0.0, scale=1.0):
    """``-|z| - log(2 scale)`` with ``z = (x - loc) / scale``."""
    z = _z(x, loc, scale)
    return -fnp.abs(z) - fnp.log(scale) - math.log(2.0)


def pdf(x, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """``exp(z) / 2`` below ``loc``, ``1 - exp(-z) / 2`` above (from ``exp(-|z|)``, which
    never overflows)."""
    z = _z(x, loc, scale)
    half_tail = 0.5 * fnp.exp(-fnp.abs(z))
    return fnp.where(z <= 0, half_tail, 1.0 - half_tail)


def sf(x, loc=0.0, scale=1.0):
    """``P(X > x) = cdf(-z)``."""
    z = _z(x, loc, scale)
    half_tail = 0.5 * fnp.exp(-fnp.abs(z))
    return fnp.where(z >= 0, half_tail, 1.0 - half_tail)


def ppf(q, loc=0.0, scale=1.0):
    """The quantile function: ``loc + scale * log(2q)`` below the median,
    ``loc - scale * log(2 - 2q)`` above (each branch exact in its own tail)."""
    q = fnp.asarray(q)
    lower = fnp.log(2.0 * fnp.minimum(q, 0.5))
    upper = -fnp.log(2.0 - 2.0 * fnp.maximum(q, 0.5))
    return loc + scale * fnp.where(q <= 0.5, lower, upper)


__all__ = ["cdf", "logpdf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
