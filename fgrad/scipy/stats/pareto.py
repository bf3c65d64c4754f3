"""The Pareto distribution with shape ``b`` on ``[loc + scale, inf)``
(``scipy.stats.pareto``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy.stats.parameters import log_parameter


def _y(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, b, loc=0, scale=1):
    """``log(b) - (b + 1) log(y) - log(scale)`` for ``y = (x - loc) / scale >= 1``."""
    y = _y(x, loc, scale)
    inside = y >= 1
    y_safe = fnp.where(inside, y, 1.0)
    value = log_parameter(b) - (b + 1) * fnp.log(y_safe) - log_parameter(scale)
    return fnp.where(inside, value, -fnp.inf)


def pdf(x, b, loc=0, scale=1):
    """``exp(logpdf)``."""
    return fnp.exp(logpdf(x, b, loc, scale))


def logsf(x, b, loc=0, scale=1):
    """``-b log(y)``, 0 below the support."""
    y = _y(x, loc, scale)
    return fnp.where(y >= 1, -b * fnp.log(fnp.where(y >= 1, y, 1.0)), 0.0)


def sf(x, b, loc=0, scale=1):
    """``y^-b``, 1 below the support."""
    return fnp.exp(logsf(x, b, loc, scale))


def cdf(x, b, loc=0, scale=1):
    """``1 - y^-b``, 0 below the support."""
    return -fnp.expm1(logsf(x, b, loc, scale))


def logcdf(x, b, loc=0, scale=1):
    """``log(1 - y^-b)``."""
    return fnp.log(cdf(x, b, loc, scale))


def ppf(q, b, loc=0, scale=1):
    """``scale (1 - q)^(-1 / b) + loc``."""
    return scale * fnp.exp(-fnp.log1p(-fnp.asarray(q)) / b) + loc


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
