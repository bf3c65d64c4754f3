"""``fgrad.scipy.stats``: log-densities, densities and CDFs of common distributions,
differentiable in the data and the parameters (CDFs in the data and location)."""

from fgrad.scipy.stats import (
    beta,
    chi2,
    dirichlet,
    gamma,
    multivariate_normal,
    norm,
    poisson,
    t,
)

__all__ = ["beta", "chi2", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]
