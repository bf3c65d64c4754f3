"""The beta distribution on ``[0, 1]`` with shapes ``a`` and ``b`` (``scipy.stats.beta``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpdf(x, a, b, loc=0.0, scale=1.0):
    """``(a-1) log z + (b-1) log(1-z) - betaln(a, b) - log(scale)``."""
    z = (fnp.asarray(x) - loc) / scale
    return (
        special.xlogy(a - 1.0, z)
        + special.xlog1py(b - 1.0, -z)
        - special.betaln(a, b)
        - fnp.log(scale)
    )


def pdf(x, a, b, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0.0, scale=1.0):
    """``betainc(a, b, z)``; differentiable in ``x`` (not in ``a``, ``b``)."""
    return special.betainc(a, b, (fnp.asarray(x) - loc) / scale)


def sf(x, a, b, loc=0.0, scale=1.0):
    """``P(X > x) = betainc(b, a, 1 - z)`` (accurate where the CDF is near 1)."""
    return special.betainc(b, a, 1.0 - (fnp.asarray(x) - loc) / scale)


def logcdf(x, a, b, loc=0.0, scale=1.0):
    """``log cdf``."""
    return fnp.log(cdf(x, a, b, loc, scale))


def logsf(x, a, b, loc=0.0, scale=1.0):
    """``log sf``."""
    return fnp.log(sf(x, a, b, loc, scale))


__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
