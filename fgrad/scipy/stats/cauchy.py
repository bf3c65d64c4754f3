"""The Cauchy distribution (``scipy.stats.cauchy``)."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api


def _z(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, loc=0.0, scale=1.0):
    """``-log(pi scale) - log(1 + z^2)``."""
    z = _z(x, loc, scale)
    return -math.log(math.pi) - fnp.log(scale) - fnp.log1p(z * z)


def pdf(x, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """``1/2 + arctan(z) / pi``."""
    return 0.5 + fnp.arctan(_z(x, loc, scale)) / math.pi


def sf(x, loc=0.0, scale=1.0):
    """``1/2 - arctan(z) / pi``."""
    return 0.5 - fnp.arctan(_z(x, loc, scale)) / math.pi


def ppf(q, loc=0.0, scale=1.0):
    """The quantile function, ``loc + scale * tan(pi (q - 1/2))``, computed as
    ``-cot(pi q)`` below the median and ``cot(pi (1 - q))`` above, which keep their
    relative accuracy in the tails."""
    q = fnp.asarray(q)
    lower = -1.0 / fnp.tan(math.pi * fnp.clip(q, 1e-300, 0.5))
    upper = 1.0 / fnp.tan(math.pi * fnp.clip(1.0 - q, 1e-300, 0.5))
    return loc + scale * fnp.where(q <= 0.5, lower, upper)


def logcdf(x, loc=0.0, scale=1.0):
    """``log(atan2(1, -z) / pi)``: the CDF as an angle, accurate in the left tail."""
    return fnp.log(fnp.arctan2(1.0, -_z(x, loc, scale))) - math.log(math.pi)


def logsf(x, loc=0.0, scale=1.0):
    """``log(atan2(1, z) / pi)``, accurate in the right tail."""
    return fnp.log(fnp.arctan2(1.0, _z(x, loc, scale))) - math.log(math.pi)


def isf(q, loc=0.0, scale=1.0):
    """The inverse survival function, ``ppf(1 - q)``, as ``2 loc - ppf(q)`` by symmetry
    (accurate for small ``q``)."""
    return 2 * loc - ppf(q, loc, scale)


__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
