"""The generalised normal distribution with shape ``beta`` (``scipy.stats.gennorm``):
density proportional to ``exp(-|x|^beta)``."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpdf(x, beta):
    """``log(beta / 2) - log Gamma(1 / beta) - |x|^beta``."""
    return fnp.log(beta) - np.log(2.0) - special.gammaln(1.0 / beta) - fnp.abs(x) ** beta


def pdf(x, beta):
    """``exp(logpdf)``."""
    return fnp.exp(logpdf(x, beta))


def cdf(x, beta):
    """``1/2 + sign(x) gammainc(1 / beta, |x|^beta) / 2``; differentiable in ``x``."""
    x = fnp.asarray(x)
    return 0.5 + 0.5 * fnp.sign(x) * special.gammainc(1.0 / beta, fnp.abs(x) ** beta)


__all__ = ["cdf", "logpdf", "pdf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
