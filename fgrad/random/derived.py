"""Distributions made from the basic draws by a closed-form transformation.

``lognormal``, ``pareto``, ``weibull_min``, ``rayleigh``, ``maxwell``,
``double_sided_maxwell``, ``generalized_normal``, ``ball``, ``triangular``,
``wald``, ``geometric`` and ``orthogonal`` (JAX's names and signatures), each a
few ``fgrad.numpy`` operations on ``uniform``, ``normal``, ``exponential`` or
``gamma`` draws: pure functions of the key (the same eagerly, under ``jit`` and
under ``vmap``) and differentiable in their float parameters wherever the
transformation is.
"""

from __future__ import annotations

import operator

import numpy as np

import fgrad.numpy as fnp
from fgrad.random.distributions import (
    as_dtype,
    exponential,
    float_dtype,
    normal,
    param_shape,
    rademacher,
    unit_uniform,
)
from fgrad.random.prng import Shape, check_key, shape_tuple, split
from fgrad.random.rejection import gamma

__all__ = [
    "ball",
    "clone",
    "double_sided_maxwell",
    "generalized_normal",
    "geometric",
    "lognormal",
    "maxwell",
    "orthogonal",
    "pareto",
    "rayleigh",
    "triangular",
    "wald",
    "weibull_min",
]


def clone(k):
    """The key itself (``jax.random.clone``): raw keys are plain arrays, never consumed."""
    return check_key(k, "clone")


def lognormal(k, sigma=1.0, shape: Shape | None = None, dtype=None):
    """``exp(sigma * z)`` with ``z`` standard normal (``jax.random.lognormal``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    sigma : float or array
        Scale of the underlying normal, broadcast to ``shape``; differentiable.
    shape : tuple of ints, optional
        Default: ``sigma``'s shape.
    dtype : floating dtype, optional
        Default float64.

    Returns
    -------
    numpy.ndarray
    """
    dtype = float_dtype(dtype, "lognormal")
    shape = param_shape(shape, "lognormal", sigma)
    return fnp.exp(as_dtype(sigma, dtype) * normal(k, shape, dtype))


def pareto(k, b, shape: Shape | None = None, dtype=None):
    """Pareto draws with shape ``b`` and scale 1, on ``[1, inf)`` (``jax.random.pareto``).

    ``exp(e / b)`` with ``e`` standard exponential: differentiable in ``b``.
    """
    dtype = float_dtype(dtype, "pareto")
    shape = param_shape(shape, "pareto", b)
    return fnp.exp(exponential(k, shape, dtype) / as_dtype(b, dtype))


def weibull_min(k, scale, concentration, shape: Shape | None = None, dtype=None):
    """Weibull draws (``jax.random.weibull_min``): ``scale * e ** (1 / concentration)``.

    ``e`` is standard exponential; SciPy's ``weibull_min(c=concentration, scale=scale)``.
    Differentiable in ``scale`` and ``concentration``.
    """
    dtype = float_dtype(dtype, "weibull_min")
    shape = param_shape(shape, "weibull_min", scale, concentration)
    e = exponential(k, shape, dtype)
    return as_dtype(scale, dtype) * e ** (1 / as_dtype(concentration, dtype))


def rayleigh(k, scale, shape: Shape | None = None, dtype=None):
    """Rayleigh draws (``jax.random.rayleigh``): ``scale * sqrt(2 e)``, ``e`` exponential."""
    dtype = float_dtype(dtype, "rayleigh")
    shape = param_shape(shape, "rayleigh", scale)
    return as_dtype(scale, dtype) * fnp.sqrt(2 * exponential(k, shape, dtype))


def maxwell(k, shape: Shape = (), dtype=None):
    """Maxwell draws (``jax.random.maxwell``): the length of a 3-d standard normal vector."""
    dtype = float_dtype(dtype, "maxwell")
    shape = shape_tuple(shape, "maxwell")
    return fnp.linalg.norm(normal(k, shape + (3,), dtype), axis=-1)


def double_sided_maxwell(k, loc, scale, shape: Shape | None = None, dtype=None):
    """``loc + scale * s * m``: ``m`` Maxwell, ``s`` a random sign
    (``jax.random.double_sided_maxwell``); differentiable in ``loc`` and ``scale``."""
    dtype = float_dtype(dtype, "double_sided_maxwell")
    shape = param_shape(shape, "double_sided_maxwell", loc, scale)
    k_sign, k_len = split(k)
    m = maxwell(k_len, shape, dtype) * rademacher(k_sign, shape, dtype)
    return as_dtype(loc, dtype) + as_dtype(scale, dtype) * m


def generalized_normal(k, p: float, shape: Shape = (), dtype=None):
    """Draws with density ``p / (2 Gamma(1/p)) exp(-|x|**p)`` (``jax.random.generalized_normal``).

    ``p = 2`` is a normal of variance 1/2, ``p = 1`` the Laplace distribution.
    ``|x|**p`` is Gamma(1/p), so ``x = s * g**(1/p)`` with a random sign ``s``.
    SciPy's ``gennorm(p)``.
    """
    dtype = float_dtype(dtype, "generalized_normal")
    shape = shape_tuple(shape, "generalized_normal")
    k_sign, k_gamma = split(k)
    g = gamma(k_gamma, 1 / as_dtype(p, np.float64), shape)
    return (rademacher(k_sign, shape, np.float64) * g ** (1 / as_dtype(p, np.float64))).astype(
        dtype
    )


def ball(k, d: int, p: float = 2, shape: Shape = (), dtype=None):
    """Points uniform in the unit ``p``-norm ball of dimension ``d`` (``jax.random.ball``).

    Barthe, Guédon, Mendelson and Naor (2005): with ``g`` of ``d`` generalized
    normal coordinates and ``e`` standard exponential, ``g / (sum |g|**p + e)**(1/p)``
    is uniform in the ball. The result has shape ``shape + (d,)``.
    """
    dtype = float_dtype(dtype, "ball")
    shape = shape_tuple(shape, "ball")
    d = operator.index(d)
    k_g, k_e = split(k)
    g = generalized_normal(k_g, p, shape + (d,), np.float64)
    e = exponential(k_e, shape, np.float64)
    norm_p = (fnp.sum(fnp.abs(g) ** p, axis=-1) + e) ** (1 / p)
    return (g / norm_p[..., None]).astype(dtype)


def triangular(k, left, mode, right, shape: Shape | None = None, dtype=None):
    """Triangular draws on ``[left, right]`` peaking at ``mode`` (``jax.random.triangular``).

    By inverting the CDF; differentiable in the three parameters.
    """
    dtype = float_dtype(dtype, "triangular")
    shape = param_shape(shape, "triangular", left, mode, right)
    a, c, b = (as_dtype(v, dtype) for v in (left, mode, right))
    u = unit_uniform(k, shape, dtype, fn="triangular")
    width = b - a
    below = u * width < c - a
    low = a + fnp.sqrt(fnp.maximum(u * width * (c - a), 0))
    high = b - fnp.sqrt(fnp.maximum((1 - u) * width * (b - c), 0))
    return fnp.where(below, low, high)


def wald(k, mean, shape: Shape | None = None, dtype=None):
    """Wald (inverse Gaussian) draws with scale 1 (``jax.random.wald``).

    Density ``exp(-(x - mean)**2 / (2 mean**2 x)) / sqrt(2 pi x**3)`` (SciPy's
    ``invgauss(mean)``), by Michael, Schucany and Haas (1976): one root of a
    quadratic in a chi-square draw, chosen by a uniform.
    """
    dtype = float_dtype(dtype, "wald")
    shape = param_shape(shape, "wald", mean)
    mu = as_dtype(mean, dtype)
    k_z, k_u = split(k)
    y = normal(k_z, shape, dtype) ** 2
    x = mu + mu * mu * y / 2 - mu / 2 * fnp.sqrt(4 * mu * y + mu * mu * y * y)
    u = unit_uniform(k_u, shape, dtype, fn="wald")
    return fnp.where(u <= mu / (mu + x), x, mu * mu / x)


def geometric(k, p, shape: Shape | None = None, dtype=np.int64):
    """Trials until the first success, on ``1, 2, ...`` (``jax.random.geometric``).

    ``floor(log(1 - u) / log(1 - p)) + 1``; SciPy's ``geom(p)``.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"fgrad.random.geometric: dtype must be an integer dtype, got {dtype}")
    shape = param_shape(shape, "geometric", p)
    u = unit_uniform(k, shape, np.dtype(np.float64), fn="geometric")
    log_q = fnp.log1p(-fnp.minimum(as_dtype(p, np.float64), 1 - 2.0**-53))
    return (fnp.floor(fnp.log1p(-u) / log_q) + 1).astype(dtype)


def orthogonal(k, n: int, shape: Shape = (), dtype=None, m: int | None = None):
    """Haar-random matrices with orthonormal columns or rows (``jax.random.orthogonal``).

    The Q factor of a Gaussian matrix, its columns' signs fixed by R's diagonal
    (Mezzadri, 2007), so the result is uniform on the orthogonal group
    (``n x n``), or on the Stiefel manifold for ``m != n``.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    n : int
        Rows.
    shape : tuple of ints
        Batch shape.
    dtype : floating dtype, optional
    m : int, optional
        Columns (default ``n``).

    Returns
    -------
    numpy.ndarray
        ``shape + (n, m)``.
    """
    dtype = float_dtype(dtype, "orthogonal")
    shape = shape_tuple(shape, "orthogonal")
    n = operator.index(n)
    m = n if m is None else operator.index(m)
    tall = n >= m
    rows, cols = (n, m) if tall else (m, n)
    z = normal(k, shape + (rows, cols), dtype)
    q, r = fnp.linalg.qr(z)
    diag = fnp.diagonal(r, axis1=-2, axis2=-1)
    q = q * fnp.where(diag < 0, -1, 1).astype(dtype)[..., None, :]
    return q if tall else fnp.swapaxes(q, -1, -2)
