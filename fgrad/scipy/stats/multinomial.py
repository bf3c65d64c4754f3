"""The multinomial distribution of ``n`` draws over categories with probabilities ``p``
(``scipy.stats.multinomial``); the categories are the last axis."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpmf(x, n, p):
    """``log n! + sum(x log p - log x!)`` over the last axis, ``-inf`` where the counts do
    not sum to ``n``; differentiable in ``p``."""
    x = fnp.asarray(x)
    value = special.gammaln(fnp.asarray(n) + 1.0) + fnp.sum(
        special.xlogy(x, p) - special.gammaln(x + 1.0), axis=-1
    )
    return fnp.where(fnp.sum(x, axis=-1) == n, value, -fnp.inf)


def pmf(x, n, p):
    """``exp(logpmf)``."""
    return fnp.exp(logpmf(x, n, p))


__all__ = ["logpmf", "pmf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
