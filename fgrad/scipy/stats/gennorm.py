"""The generalised normal distribution with shape ``beta`` (``scipy.stats.gennorm``):
density proportional to ``exp(-|x|^beta)``."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special
from fgrad.scipy.stats.parameters import log_parameter


def logpdf(x, beta):
    """``log(beta / 2) - log Gamma(1 / beta) - |x|^beta``."""
    return log_parameter(beta) - math.log(2.0) - special.gammaln(1.0 / beta) - fnp.abs(x) ** beta


def pdf(x, beta):
    """``exp(logpdf)``."""
    return fnp.exp(logpdf(x, beta))


def cdf(x, beta):
    """``1/2 + sign(x) gammainc(1 / beta, |x|^beta) / 2``; differentiable in ``x``."""
    x = fnp.asarray(x)
    return 0.5 + 0.5 * fnp.sign(x) * special.gammainc(1.0 / beta, fnp.abs(x) ** beta)


__all__ = ["cdf", "logpdf", "pdf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
