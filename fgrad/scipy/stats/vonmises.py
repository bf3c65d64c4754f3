"""The von Mises distribution with concentration ``kappa`` (``scipy.stats.vonmises``)."""

from __future__ import annotations

import math

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special
from fgrad.scipy.stats.parameters import log_parameter


def logpdf(x, kappa, loc=0, scale=1):
    """``kappa cos(z) - log(2 pi I0(kappa)) - log(scale)``, ``z = (x - loc) / scale``
    (``I0`` through ``i0e``, so large ``kappa`` does not overflow)."""
    z = (fnp.asarray(x) - loc) / scale
    log_i0 = fnp.log(special.i0e(kappa)) + fnp.abs(kappa)
    return kappa * fnp.cos(z) - math.log(2 * math.pi) - log_i0 - log_parameter(scale)


def pdf(x, kappa, loc=0, scale=1):
    """``exp(logpdf)``."""
    return fnp.exp(logpdf(x, kappa, loc, scale))


__all__ = ["logpdf", "pdf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
