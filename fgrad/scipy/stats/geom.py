"""The geometric distribution on ``k = 1, 2, ...`` (``scipy.stats.geom``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpmf(k, p, loc=0):
    """``(k - 1) log(1 - p) + log(p)`` for integer ``k >= 1``, ``-inf`` otherwise;
    differentiable in ``p``."""
    k = fnp.asarray(k) - loc
    valid = (k >= 1) & (k == fnp.floor(k))
    k_safe = fnp.where(valid, k, 1)
    value = special.xlog1py(k_safe - 1, -p) + fnp.log(p)
    return fnp.where(valid, value, -fnp.inf)


def pmf(k, p, loc=0):
    """``exp(logpmf)``."""
    return fnp.exp(logpmf(k, p, loc))


def cdf(k, p, loc=0):
    """``P(K <= k) = 1 - (1 - p)^floor(k)`` for ``k >= 1``, else 0."""
    k = fnp.floor(fnp.asarray(k) - loc)
    return fnp.where(k < 1, 0.0, -fnp.expm1(fnp.where(k < 1, 1, k) * fnp.log1p(-p)))


__all__ = ["cdf", "logpmf", "pmf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
