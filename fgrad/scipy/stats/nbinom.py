"""The negative binomial distribution: failures before the n-th success
(``scipy.stats.nbinom``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpmf(k, n, p, loc=0):
    """``log C(k + n - 1, k) + n log(p) + k log(1 - p)`` for integer ``k >= 0``, ``-inf``
    otherwise; differentiable in ``n`` and ``p``."""
    k = fnp.asarray(k) - loc
    valid = (k >= 0) & (k == fnp.floor(k))
    k_safe = fnp.where(valid, k, 0)
    log_choose = special.gammaln(k_safe + n) - special.gammaln(n) - special.gammaln(k_safe + 1.0)
    value = log_choose + n * fnp.log(p) + special.xlog1py(k_safe, -fnp.asarray(p))
    return fnp.where(valid, value, -fnp.inf)


def pmf(k, n, p, loc=0):
    """``exp(logpmf)``."""
    return fnp.exp(logpmf(k, n, p, loc))


__all__ = ["logpmf", "pmf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
