"""The multivariate normal distribution (``scipy.stats.multivariate_normal``).

Differentiable in ``x``, ``mean`` and ``cov``, through a Cholesky factorisation;
with ``allow_singular=True``, through the eigendecomposition instead (the
pseudo-determinant and pseudo-inverse, as SciPy).
"""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.numpy import linalg

_LOG_2PI = math.log(2 * math.pi)


def logpdf(x, mean=None, cov=1, allow_singular: bool = False):
    """The log-density of each row of ``x`` (the last axis is the dimension)."""
    x = fnp.asarray(x)
    dim = x.shape[-1]
    mean = fnp.zeros(dim) if mean is None else fnp.asarray(mean)
    cov = fnp.asarray(cov)
    if cov.ndim == 0:
        cov = cov * fnp.eye(dim)
    dev = x - mean
    if allow_singular:
        w, v = linalg.eigh(cov)
        cutoff = 1e6 * np.finfo(np.float64).eps * fnp.max(fnp.abs(fnp.stop_gradient(w)))
        keep = fnp.stop_gradient(w) > cutoff
        w_safe = fnp.where(keep, w, 1.0)
        log_pdet = fnp.sum(fnp.where(keep, fnp.log(w_safe), 0.0))
        rank = fnp.sum(keep)
        proj = dev @ v
        maha = fnp.sum(fnp.where(keep, proj * proj / w_safe, 0.0), axis=-1)
        return -0.5 * (rank * _LOG_2PI + log_pdet + maha)
    L = linalg.cholesky(cov)
    z = linalg.solve(L, fnp.moveaxis(dev, -1, 0) if dev.ndim > 1 else dev)
    maha = fnp.sum(z * z, axis=0)
    log_det = 2.0 * fnp.sum(fnp.log(fnp.diagonal(L)))
    return -0.5 * (dim * _LOG_2PI + log_det + maha)


def pdf(x, mean=None, cov=1, allow_singular: bool = False):
    """The density, ``exp(logpdf)``."""
    return fnp.exp(logpdf(x, mean, cov, allow_singular))


def entropy(mean=None, cov=1):
    """The differential entropy ``0.5 * log det(2 pi e cov)``."""
    cov = fnp.asarray(cov)
    dim = cov.shape[-1] if cov.ndim else 1
    _, log_det = linalg.slogdet(cov if cov.ndim else cov * fnp.eye(1))
    return 0.5 * (dim * (1.0 + _LOG_2PI) + log_det)


__all__ = ["entropy", "logpdf", "pdf"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
