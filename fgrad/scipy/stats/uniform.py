"""The uniform distribution on ``[loc, loc + scale]`` (``scipy.stats.uniform``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api


def logpdf(x, loc=0.0, scale=1.0):
    """``-log(scale)`` on ``[loc, loc + scale]`` (both ends included), ``-inf`` outside."""
    x = fnp.asarray(x)
    inside = (x >= loc) & (x <= loc + scale)
    return fnp.where(inside, -fnp.log(scale), -fnp.inf)


def pdf(x, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """``(x - loc) / scale`` clipped to ``[0, 1]``."""
    return fnp.clip((fnp.asarray(x) - loc) / scale, 0.0, 1.0)


def sf(x, loc=0.0, scale=1.0):
    """``1 - cdf``."""
    return 1.0 - cdf(x, loc, scale)


def ppf(q, loc=0.0, scale=1.0):
    """The quantile function, ``loc + q * scale``."""
    return loc + fnp.asarray(q) * scale


__all__ = ["cdf", "logpdf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
