"""The wrapped Cauchy distribution on ``[0, 2 pi]`` (``scipy.stats.wrapcauchy``)."""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy.stats.parameters import log_parameter


def logpdf(x, c, loc=0, scale=1):
    """``log((1 - c^2) / (2 pi (1 + c^2 - 2 c cos z)))`` for ``0 <= z <= 2 pi``."""
    z = (fnp.asarray(x) - loc) / scale
    value = (
        fnp.log1p(-c * c) - math.log(2 * math.pi) - fnp.log1p(c * c - 2 * c * fnp.cos(z))
        - log_parameter(scale)
    )
    return fnp.where((z >= 0) & (z <= 2 * np.pi), value, -fnp.inf)


def pdf(x, c, loc=0, scale=1):
    """``exp(logpdf)``."""
    return fnp.exp(logpdf(x, c, loc, scale))


__all__ = ["logpdf", "pdf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
