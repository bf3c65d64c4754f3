"""The beta-binomial distribution (``scipy.stats.betabinom``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special
from fgrad.scipy.stats.parameters import float_dtype


def logpmf(k, n, a, b, loc=0):
    """``log C(n, k) + log B(k + a, n - k + b) - log B(a, b)`` for integer ``0 <= k <= n``,
    ``-inf`` otherwise; differentiable in ``a`` and ``b``."""
    dtype = float_dtype(k, n, a, b)
    k, n = fnp.asarray(k, dtype) - loc, fnp.asarray(n, dtype)
    valid = (k >= 0) & (k <= n) & (k == fnp.floor(k))
    k_safe = fnp.where(valid, k, 0)
    log_choose = (
        special.gammaln(n + 1.0) - special.gammaln(k_safe + 1.0) - special.gammaln(n - k_safe + 1.0)
    )
    value = log_choose + special.betaln(k_safe + a, n - k_safe + b) - special.betaln(a, b)
    return fnp.where(valid, value, -fnp.inf)


def pmf(k, n, a, b, loc=0):
    """``exp(logpmf)``."""
    return fnp.exp(logpmf(k, n, a, b, loc))


__all__ = ["logpmf", "pmf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
