"""The Dirichlet distribution with concentrations ``alpha`` (``scipy.stats.dirichlet``)."""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.scipy import special


def logpdf(x, alpha):
    """``sum((alpha - 1) log x) + gammaln(sum alpha) - sum gammaln(alpha)`` over the last axis."""
    x, alpha = fnp.asarray(x), fnp.asarray(alpha)
    return (
        fnp.sum(special.xlogy(alpha - 1.0, x), axis=-1)
        + special.gammaln(fnp.sum(alpha, axis=-1))
        - fnp.sum(special.gammaln(alpha), axis=-1)
    )


def pdf(x, alpha):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, alpha))


def rvs(alpha, size=None, random_state=None):
    """Samples (SciPy's own sampler: no derivative)."""
    import scipy.stats  # optional dependency: loaded when rvs runs, not with fgrad

    return scipy.stats.dirichlet.rvs(np.asarray(alpha), size=size, random_state=random_state)


__all__ = ["logpdf", "pdf", "rvs"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
