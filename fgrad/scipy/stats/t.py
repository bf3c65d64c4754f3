"""Student's t distribution with ``df`` degrees of freedom (``scipy.stats.t``)."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpdf(x, df, loc=0.0, scale=1.0):
    """The log-density; differentiable in ``x``, ``df``, ``loc`` and ``scale``."""
    z = (fnp.asarray(x) - loc) / scale
    return (
        special.gammaln(0.5 * (df + 1.0))
        - special.gammaln(0.5 * df)
        - 0.5 * fnp.log(df * math.pi)
        - fnp.log(scale)
        - 0.5 * (df + 1.0) * fnp.log1p(z * z / df)
    )


def pdf(x, df, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, df, loc, scale))


def cdf(x, df, loc=0.0, scale=1.0):
    """``P(X <= x)`` through the regularized incomplete beta function.

    Differentiable in ``x``, ``loc`` and ``scale``; ``df`` enters ``betainc``'s
    shape parameter, whose derivative fgrad does not implement.
    """
    z = (fnp.asarray(x) - loc) / scale
    tail = 0.5 * special.betainc(0.5 * df, 0.5, df / (df + z * z))
    return fnp.where(z < 0, tail, 1.0 - tail)


def logcdf(x, df, loc=0.0, scale=1.0):
    """``log cdf``."""
    return fnp.log(cdf(x, df, loc, scale))


__all__ = ["cdf", "logcdf", "logpdf", "pdf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
