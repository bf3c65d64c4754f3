"""Kernel density estimation with a Gaussian kernel (``scipy.stats.gaussian_kde``).

The density at a point is the weighted mean of normal densities centred on the data
points, all with the data's (weighted) covariance times ``factor**2``; ``factor`` is
Scott's or Silverman's rule of thumb, or given. Written with ``fgrad.numpy``, so it
is differentiable in the points and the data, and a pytree (data, weights) so it can
cross ``jit`` and ``vmap``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import fgrad.numpy as fnp
from fgrad import random
from fgrad.core.pytree import register_pytree_node
from fgrad.nn.activations import logsumexp
from fgrad.scipy import special


class gaussian_kde:  # noqa: N801 - SciPy's name
    """A Gaussian kernel density estimate of ``dataset``.

    Parameters
    ----------
    dataset
        ``(d, n)`` points (or ``(n,)`` for one dimension).
    bw_method
        ``"scott"`` (default), ``"silverman"``, a number (the factor itself) or a
        callable of the estimator returning it.
    weights
        ``(n,)`` weights of the points (normalised to sum to one).
    """

    def __init__(self, dataset, bw_method: str | float | Callable | None = None, weights=None):
        data = fnp.atleast_2d(fnp.asarray(dataset))
        d, n = data.shape
        if n < 2:
            raise ValueError("gaussian_kde: the dataset needs more than one point")
        self.dataset = data
        self.d, self.n = d, n
        if weights is None:
            w = fnp.full((n,), 1.0 / n, dtype=np.result_type(data.dtype, np.float32))
        else:
            w = fnp.asarray(weights)
            w = w / fnp.sum(w)
        self.weights = w
        self.neff = 1.0 / fnp.sum(w * w)
        self._set_factor(bw_method)

    def _set_factor(self, bw_method) -> None:
        self.bw_method = bw_method
        if bw_method is None or bw_method == "scott":
            self.factor = self.neff ** (-1.0 / (self.d + 4))
        elif bw_method == "silverman":
            self.factor = (self.neff * (self.d + 2) / 4.0) ** (-1.0 / (self.d + 4))
        elif callable(bw_method):
            self.factor = bw_method(self)
        elif np.isscalar(bw_method) and not isinstance(bw_method, str):
            self.factor = bw_method
        else:
            raise ValueError(
                f"gaussian_kde: bw_method must be 'scott', 'silverman', a number or a "
                f"callable, got {bw_method!r}"
            )
        mean = fnp.sum(self.dataset * self.weights, axis=1, keepdims=True)
        centred = self.dataset - mean
        # the unbiased weighted covariance, as numpy.cov(aweights=...)
        scale = 1.0 / (1.0 - fnp.sum(self.weights**2))
        data_cov = scale * (centred * self.weights) @ centred.T
        self.covariance = data_cov * self.factor**2
        self._cholesky = fnp.linalg.cholesky(self.covariance)

    def _points(self, points):
        x = fnp.atleast_2d(fnp.asarray(points))
        if x.shape[0] != self.d:
            if x.shape == (1, self.d) or (x.ndim == 2 and x.shape[1] == self.d and self.d > 1):
                x = x.T
            else:
                raise ValueError(
                    f"gaussian_kde: points of dimension {x.shape[0]} for a {self.d}-dimensional "
                    "estimate"
                )
        return x

    def logpdf(self, points):
        """The log density at ``(d, m)`` points (or ``(m,)`` in one dimension)."""
        x = self._points(points)
        diff = x[:, None, :] - self.dataset[:, :, None]  # (d, n, m)
        flat = fnp.reshape(diff, (self.d, -1))
        z = fnp.linalg.solve(self._cholesky, flat)  # L^-1 (x - x_i): a triangular system
        sq = fnp.reshape(fnp.sum(z * z, axis=0), (self.n, -1))
        log_norm = 0.5 * self.d * math.log(2 * math.pi) + fnp.sum(
            fnp.log(fnp.diagonal(self._cholesky))
        )
        return logsumexp(fnp.log(self.weights)[:, None] - 0.5 * sq - log_norm, axis=0)

    def evaluate(self, points):
        """The density at ``points``."""
        return fnp.exp(self.logpdf(points))

    __call__ = pdf = evaluate

    def integrate_box_1d(self, low, high):
        """The probability mass between ``low`` and ``high`` (one dimension only)."""
        if self.d != 1:
            raise ValueError("gaussian_kde.integrate_box_1d: the estimate must be 1-d")
        sigma = fnp.sqrt(self.covariance[0, 0])
        data = self.dataset[0]
        mass = special.ndtr((high - data) / sigma) - special.ndtr((low - data) / sigma)
        return fnp.sum(self.weights * mass)

    def resample(self, key, shape: tuple[int, ...] = ()):
        """Draw ``shape`` points from the estimate with the ``fgrad.random`` key ``key``.

        Returns
        -------
        array
            ``(d, *shape)``.
        """
        k_pick, k_noise = random.split(key)
        pick = random.choice(k_pick, self.n, shape, p=self.weights)
        noise = random.normal(k_noise, (self.d, *shape), dtype=self.dataset.dtype)
        centres = fnp.take(self.dataset, pick, axis=1)
        return centres + fnp.tensordot(self._cholesky, noise, axes=1)

    def set_bandwidth(self, bw_method=None) -> None:
        """Choose the bandwidth again (as the constructor's ``bw_method``)."""
        self._set_factor(bw_method)


def _flatten(kde: gaussian_kde):
    return (kde.dataset, kde.weights), kde.bw_method


def _unflatten(bw_method, children) -> gaussian_kde:
    kde = object.__new__(gaussian_kde)
    data, weights = children
    kde.dataset, kde.weights = data, weights
    kde.d, kde.n = data.shape
    kde.neff = 1.0 / fnp.sum(weights * weights)
    kde._set_factor(bw_method)
    return kde


register_pytree_node(gaussian_kde, _flatten, _unflatten)

__all__ = ["gaussian_kde"]
