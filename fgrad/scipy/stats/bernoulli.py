"""The Bernoulli distribution with success probability ``p`` (``scipy.stats.bernoulli``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpmf(k, p, loc=0):
    """``k log(p) + (1 - k) log(1 - p)`` for ``k`` in {0, 1}, ``-inf`` otherwise;
    differentiable in ``p``."""
    k = fnp.asarray(k) - loc
    valid = (k == 0) | (k == 1)
    k_safe = fnp.where(valid, k, 0)
    value = special.xlogy(k_safe, p) + special.xlog1py(1 - k_safe, -p)
    return fnp.where(valid, value, -fnp.inf)


def pmf(k, p, loc=0):
    """``exp(logpmf)``."""
    return fnp.exp(logpmf(k, p, loc))


def cdf(k, p, loc=0):
    """``P(K <= k)``: 0 below 0, ``1 - p`` on [0, 1), 1 from 1 on."""
    k = fnp.asarray(k) - loc
    return fnp.where(k < 0, 0.0, fnp.where(k < 1, 1 - fnp.asarray(p), 1.0))


def ppf(q, p, loc=0):
    """The smallest ``k`` with ``cdf(k) >= q``."""
    q = fnp.asarray(q)
    value = fnp.where(q > 1 - fnp.asarray(p), 1.0, 0.0) + loc
    return fnp.where((q < 0) | (q > 1), fnp.nan, value)


__all__ = ["cdf", "logpmf", "pmf", "ppf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
