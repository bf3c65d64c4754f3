"""The chi-squared distribution with ``df`` degrees of freedom (``scipy.stats.chi2``):
a gamma distribution with shape ``df / 2`` and scale 2."""

from __future__ import annotations

from fgrad.core.source_info import public_api
from fgrad.scipy.stats import gamma


def logpdf(x, df, loc=0.0, scale=1.0):
    """The log-density."""
    return gamma.logpdf(x, 0.5 * df, loc, 2.0 * scale)


def pdf(x, df, loc=0.0, scale=1.0):
    """The density."""
    return gamma.pdf(x, 0.5 * df, loc, 2.0 * scale)


def cdf(x, df, loc=0.0, scale=1.0):
    """``P(X <= x)``; differentiable in ``x`` (not in ``df``)."""
    return gamma.cdf(x, 0.5 * df, loc, 2.0 * scale)


def logcdf(x, df, loc=0.0, scale=1.0):
    """``log cdf``."""
    return gamma.logcdf(x, 0.5 * df, loc, 2.0 * scale)


def sf(x, df, loc=0.0, scale=1.0):
    """``P(X > x)``."""
    return gamma.sf(x, 0.5 * df, loc, 2.0 * scale)


def logsf(x, df, loc=0.0, scale=1.0):
    """``log sf``."""
    return gamma.logsf(x, 0.5 * df, loc, 2.0 * scale)


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
