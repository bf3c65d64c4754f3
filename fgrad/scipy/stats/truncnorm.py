"""The normal distribution truncated to ``[a, b]`` in standard units
(``scipy.stats.truncnorm``)."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special
from fgrad.scipy.stats.parameters import log_parameter


def _mass(a, b):
    """``log(Phi(b) - Phi(a))``, from the tail where the difference is not a cancellation."""
    a, b = fnp.asarray(a), fnp.asarray(b)
    right = a > 0  # both limits in the right tail: use the mirrored left tail
    lo, hi = fnp.where(right, -b, a), fnp.where(right, -a, b)
    log_hi, log_lo = special.log_ndtr(hi), special.log_ndtr(lo)
    return log_hi + fnp.log1p(-fnp.exp(log_lo - log_hi))


def _z(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, a, b, loc=0, scale=1):
    """``-z^2 / 2 - log(sqrt(2 pi)) - log(Phi(b) - Phi(a)) - log(scale)`` on ``[a, b]``."""
    z = _z(x, loc, scale)
    value = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - _mass(a, b) - log_parameter(scale)
    return fnp.where((z >= a) & (z <= b), value, -fnp.inf)


def pdf(x, a, b, loc=0, scale=1):
    """``exp(logpdf)``."""
    return fnp.exp(logpdf(x, a, b, loc, scale))


def logcdf(x, a, b, loc=0, scale=1):
    """``log((Phi(z) - Phi(a)) / (Phi(b) - Phi(a)))``, clipped to the support."""
    z = fnp.clip(_z(x, loc, scale), a, b)
    return _mass(a, z) - _mass(a, b)


def cdf(x, a, b, loc=0, scale=1):
    """``exp(logcdf)``."""
    return fnp.exp(logcdf(x, a, b, loc, scale))


def logsf(x, a, b, loc=0, scale=1):
    """``log((Phi(b) - Phi(z)) / (Phi(b) - Phi(a)))``."""
    z = fnp.clip(_z(x, loc, scale), a, b)
    return _mass(z, b) - _mass(a, b)


def sf(x, a, b, loc=0, scale=1):
    """``exp(logsf)``."""
    return fnp.exp(logsf(x, a, b, loc, scale))


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
