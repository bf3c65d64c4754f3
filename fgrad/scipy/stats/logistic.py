"""The logistic distribution (``scipy.stats.logistic``)."""

from __future__ import annotations

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.nn.activations import sigmoid, softplus


def _z(x, loc, scale):
    return (fnp.asarray(x) - loc) / scale


def logpdf(x, loc=0.0, scale=1.0):
    """``-|z| - 2 log(1 + exp(-|z|)) - log(scale)`` (the density is even in ``z``; this
    form never overflows)."""
    z = fnp.abs(_z(x, loc, scale))
    return -z - 2.0 * softplus(-z) - fnp.log(scale)


def pdf(x, loc=0.0, scale=1.0):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """``sigmoid(z)``."""
    return sigmoid(_z(x, loc, scale))


def sf(x, loc=0.0, scale=1.0):
    """``sigmoid(-z)``."""
    return sigmoid(-_z(x, loc, scale))


def ppf(q, loc=0.0, scale=1.0):
    """The quantile function, ``loc + scale * log(q / (1 - q))``."""
    q = fnp.asarray(q)
    return loc + scale * (fnp.log(q) - fnp.log1p(-q))


def isf(q, loc=0.0, scale=1.0):
    """The inverse survival function, ``loc + scale * log((1 - q) / q)``."""
    q = fnp.asarray(q)
    return loc + scale * (fnp.log1p(-q) - fnp.log(q))


__all__ = ["cdf", "isf", "logpdf", "pdf", "ppf", "sf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
