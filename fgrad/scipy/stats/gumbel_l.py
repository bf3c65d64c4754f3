"""The left-skewed Gumbel distribution (``scipy.stats.gumbel_l``): ``sf = exp(-exp(z))``."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.nn.piecewise_activations import log1mexp
from fgrad.scipy.stats.parameters import log_parameter


def _z(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, loc=0, scale=1):
    """``z - exp(z) - log(scale)``."""
    z = _z(x, loc, scale)
    return z - fnp.exp(z) - log_parameter(scale)


def pdf(x, loc=0, scale=1):
    """``exp(logpdf)``."""
    return fnp.exp(logpdf(x, loc, scale))


def logsf(x, loc=0, scale=1):
    """``-exp(z)``."""
    return -fnp.exp(_z(x, loc, scale))


def sf(x, loc=0, scale=1):
    """``exp(-exp(z))``."""
    return fnp.exp(logsf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """``1 - sf``, accurate in the left tail."""
    return -fnp.expm1(logsf(x, loc, scale))


def logcdf(x, loc=0, scale=1):
    """``log(cdf)``."""
    return log1mexp(-logsf(x, loc, scale))


def ppf(q, loc=0, scale=1):
    """``loc + scale log(-log(1 - q))``."""
    return loc + scale * fnp.log(-fnp.log1p(-fnp.asarray(q)))


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
