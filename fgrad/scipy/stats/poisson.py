"""The Poisson distribution with mean ``mu`` (``scipy.stats.poisson``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpmf(k, mu, loc=0):
    """``k log(mu) - mu - log(k!)`` for integer ``k >= 0``, ``-inf`` otherwise."""
    k = fnp.asarray(k) - loc
    valid = (k >= 0) & (k == fnp.floor(k))
    k_safe = fnp.where(valid, k, 0.0)
    value = special.xlogy(k_safe, mu) - mu - special.gammaln(k_safe + 1.0)
    return fnp.where(valid, value, -fnp.inf)


def pmf(k, mu, loc=0):
    """``exp(logpmf)``."""
    return fnp.exp(logpmf(k, mu, loc))


def cdf(k, mu, loc=0):
    """``P(K <= k) = gammaincc(floor(k) + 1, mu)``; differentiable in ``mu``."""
    k = fnp.floor(fnp.asarray(k) - loc)
    return fnp.where(k < 0, 0.0, special.gammaincc(fnp.where(k < 0, 0.0, k) + 1.0, mu))


__all__ = ["cdf", "logpmf", "pmf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
