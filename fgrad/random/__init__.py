"""``fgrad.random``: JAX's key-based random numbers (``jax.random``), pure functions of a key.

A key is a ``uint32`` array of shape ``(2,)``; every draw is a deterministic
function of it (threefry-2x32, :mod:`fgrad.random.prng`), written in
``fgrad.numpy`` ops, so a draw is the same eagerly, under ``jit`` (the key is an
input like any array) and under ``vmap`` (map over a batch of keys), and on
every run and machine::

    key = fgrad.random.key(0)
    key, sub = fgrad.random.split(key)
    x = fgrad.random.normal(sub, (3, 4))

Never draw twice from the same key: split it (or ``fold_in`` a step number)
and use each new key once. See ``docs/random.md``.
"""

from __future__ import annotations

from fgrad.core.source_info import public_api as _public_api
from fgrad.random.binomial import binomial, multinomial
from fgrad.random.derived import (
    ball,
    clone,
    double_sided_maxwell,
    generalized_normal,
    geometric,
    lognormal,
    maxwell,
    orthogonal,
    pareto,
    rayleigh,
    triangular,
    wald,
    weibull_min,
)
from fgrad.random.distributions import (
    bernoulli,
    categorical,
    cauchy,
    choice,
    exponential,
    gumbel,
    laplace,
    logistic,
    multivariate_normal,
    normal,
    permutation,
    rademacher,
    randint,
    truncated_normal,
    uniform,
)
from fgrad.random.prng import PRNGKey, bits, fold_in, key, key_data, split, wrap_key_data
from fgrad.random.rejection import beta, chisquare, dirichlet, gamma, loggamma, poisson, t
from fgrad.transforms.numpy_random_guard import FrozenRandomWarning

__all__ = [
    "FrozenRandomWarning",
    "PRNGKey",
    "ball",
    "bernoulli",
    "beta",
    "binomial",
    "bits",
    "categorical",
    "cauchy",
    "chisquare",
    "choice",
    "clone",
    "dirichlet",
    "double_sided_maxwell",
    "exponential",
    "fold_in",
    "gamma",
    "generalized_normal",
    "geometric",
    "gumbel",
    "key",
    "key_data",
    "laplace",
    "loggamma",
    "logistic",
    "lognormal",
    "maxwell",
    "multinomial",
    "multivariate_normal",
    "normal",
    "orthogonal",
    "pareto",
    "permutation",
    "poisson",
    "rademacher",
    "randint",
    "rayleigh",
    "split",
    "t",
    "triangular",
    "truncated_normal",
    "uniform",
    "wald",
    "weibull_min",
    "wrap_key_data",
]

_public_api(globals(), __all__)  # errors from eager calls start at the user's line
