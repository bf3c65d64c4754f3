"""The beta distribution on ``[0, 1]`` with shapes ``a`` and ``b`` (``scipy.stats.beta``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpdf(x, a, b, loc=0.0, scale=1.0):
    """``(a-1) log z + (b-1) log(1-z) - betaln(a, b) - log(scale)``."""
    z = (fnp.asarray(x) - loc) / scale
    return (
        special.xlogy(a - 1.0, z)
        + special.xlog1py(b - 1.0, -z)
        - special.betaln(a, b)
        - fnp.log(scale)
    )


def pdf(x, a, b, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0.0, scale=1.0):
    """``betainc(a, b, z)``; differentiable in ``x`` (not in ``a``, ``b``)."""
    return special.betainc(a, b, (fnp.asarray(x) - loc) / scale)


__all__ = ["cdf", "logpdf", "pdf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
