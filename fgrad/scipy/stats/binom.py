"""The binomial distribution of ``n`` trials with probability ``p`` (``scipy.stats.binom``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special
from fgrad.scipy.stats.parameters import float_dtype


def logpmf(k, n, p, loc=0):
    """``log C(n, k) + k log(p) + (n - k) log(1 - p)`` for integer ``0 <= k <= n``,
    ``-inf`` otherwise; differentiable in ``p``."""
    dtype = float_dtype(k, n, p)
    k, n = fnp.asarray(k, dtype) - loc, fnp.asarray(n, dtype)
    valid = (k >= 0) & (k <= n) & (k == fnp.floor(k))
    k_safe = fnp.where(valid, k, 0)
    log_choose = (
        special.gammaln(n + 1.0) - special.gammaln(k_safe + 1.0) - special.gammaln(n - k_safe + 1.0)
    )
    value = log_choose + special.xlogy(k_safe, p) + special.xlog1py(n - k_safe, -p)
    return fnp.where(valid, value, -fnp.inf)


def pmf(k, n, p, loc=0):
    """``exp(logpmf)``."""
    return fnp.exp(logpmf(k, n, p, loc))


__all__ = ["logpmf", "pmf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
