"""Rejection samplers: ``gamma`` (and ``loggamma``, ``beta``, ``dirichlet``) and ``poisson``.

Each draws candidates for the whole array in rounds inside
:func:`fgrad.lax.while_loop` until every entry has accepted one. The candidate of
round ``r`` for an entry comes from ``fold_in(key, r)`` at that entry's position,
and an entry keeps the first candidate it accepts, so the result of an entry
depends only on the key and its own parameter: the same eagerly, under ``jit``
(one ``while_loop`` primitive) and under ``vmap`` (each mapped key gives what it
gives alone). Invalid parameters (non-positive or NaN) end the loop at once and
give NaN (``gamma``) or -1 (``poisson``) instead of looping forever.

The gamma draws are differentiable in their shape parameter by implicit
reparameterisation, as in JAX (not through the accept/reject path, whose
derivative would be wrong), and so are ``beta``, ``dirichlet``, ``chisquare``
and ``t`` built on them.
"""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.lax.while_loop import while_loop
from fgrad.random.distributions import as_dtype, float_dtype, normal, param_shape, unit_uniform
from fgrad.random.incomplete_gamma import gamma_log_draw_derivative
from fgrad.random.prng import Shape, check_key, fold_in, split
from fgrad.transforms.custom_derivatives import custom_jvp

__all__ = ["beta", "chisquare", "dirichlet", "gamma", "loggamma", "poisson", "t"]

_F64 = np.dtype(np.float64)


def accept_rounds(accept_round, shape: tuple[int, ...], done, dtype):
    """Run ``accept_round(r) -> (accepted, value)`` until every entry not ``done`` accepted."""

    def pending(state):
        return fnp.any(~state[2])

    def step(state):
        r, value, done = state
        accepted, candidate = accept_round(r)
        value = fnp.where(~done & accepted, candidate, value)
        return r + 1, value, done | accepted

    zeros = fnp.zeros(shape, dtype, like=done) + fnp.zeros_like(done, dtype=dtype)
    init = (np.int64(0), zeros, done)
    return while_loop(pending, step, init)[1]


def _log_gamma_draw(k, a, shape: tuple[int, ...]):
    """``log`` of Gamma(a) draws, Marsaglia and Tsang (2000); ``a < 1`` boosted by ``U**(1/a)``."""
    a = fnp.broadcast_to(a, shape)
    valid = a > 0
    boost = a < 1
    d = fnp.where(boost, a + 1, a) - 1 / 3
    d = fnp.where(valid, d, 1.0)
    c = 1 / fnp.sqrt(9 * d)
    k_rounds, k_boost = split(k)

    def accept_round(r):
        k_z, k_u = split(fold_in(k_rounds, r))
        z = normal(k_z, shape)
        u = unit_uniform(k_u, shape, _F64, open_=True, fn="gamma")
        v = (1 + c * z) ** 3
        positive = v > 0
        safe_v = fnp.where(positive, v, 1.0)
        accepted = positive & (fnp.log(u) < 0.5 * z * z + d - d * safe_v + d * fnp.log(safe_v))
        return accepted, fnp.log(d * safe_v)

    log_x = accept_rounds(accept_round, shape, ~valid, _F64)
    u_boost = unit_uniform(k_boost, shape, _F64, open_=True, fn="gamma")
    log_x = log_x + fnp.where(boost, fnp.log(u_boost) / fnp.where(valid, a, 1.0), 0.0)
    return fnp.where(valid, log_x, np.nan)


def _log_gamma_jvp(shape: tuple[int, ...]):
    """The implicit derivative of ``log x`` for a Gamma(a) draw ``x`` (as JAX does):
    ``a`` moves while the draw's quantile ``P(a, x)`` stays fixed; see
    :mod:`fgrad.random.incomplete_gamma`. Not differentiable a second time in ``a``."""

    def rule(primals, tangents):
        k, a = primals
        log_x = _log_gamma_draw(k, a, shape)
        return log_x, gamma_log_draw_derivative(fnp.broadcast_to(a, shape), log_x) * tangents[1]

    return rule


def _log_gamma(k, a, shape: tuple[int, ...]):
    draw = custom_jvp(lambda k, a: _log_gamma_draw(k, a, shape))
    draw.defjvp(_log_gamma_jvp(shape))
    return draw(k, a)


def loggamma(k, a, shape: Shape | None = None, dtype=None):
    """Logarithms of Gamma(``a``, 1) draws (``jax.random.loggamma``), accurate for tiny ``a``.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    a : float or array
        Shape parameter(s) ``> 0``, broadcast to ``shape``.
    shape : tuple of ints, optional
        Default: ``a``'s shape.
    dtype : floating dtype, optional
        Default float64.

    Returns
    -------
    numpy.ndarray
        NaN where ``a <= 0`` or is NaN.
    """
    dtype = float_dtype(dtype, "loggamma")
    check_key(k, "loggamma")
    shape = param_shape(shape, "loggamma", a)
    return _log_gamma(k, as_dtype(a, _F64, k), shape).astype(dtype)


def gamma(k, a, shape: Shape | None = None, dtype=None):
    """Gamma(``a``, 1) draws (``jax.random.gamma``); scale them for other rates.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    a : float or array
        Shape parameter(s) ``> 0``, broadcast to ``shape``.
    shape : tuple of ints, optional
        Default: ``a``'s shape.
    dtype : floating dtype, optional
        Default float64.

    Returns
    -------
    numpy.ndarray
        NaN where ``a <= 0`` or is NaN. Differentiable in ``a`` (implicit
        reparameterisation, as in JAX).
    """
    dtype = float_dtype(dtype, "gamma")
    check_key(k, "gamma")
    shape = param_shape(shape, "gamma", a)
    return fnp.exp(_log_gamma(k, as_dtype(a, _F64, k), shape)).astype(dtype)


def chisquare(k, df, shape: Shape | None = None, dtype=None):
    """Chi-square draws, ``df`` degrees of freedom (``jax.random.chisquare``): ``2 Gamma(df/2)``.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    df : float or array
        Degrees of freedom ``> 0``, broadcast to ``shape`` (default: ``df``'s shape).
    shape : tuple of ints, optional
    dtype : floating dtype, optional

    Returns
    -------
    numpy.ndarray
        Differentiable in ``df`` (see :func:`gamma`).
    """
    dtype = float_dtype(dtype, "chisquare")
    check_key(k, "chisquare")
    shape = param_shape(shape, "chisquare", df)
    return (2 * fnp.exp(_log_gamma(k, as_dtype(df, _F64, k) / 2, shape))).astype(dtype)


def t(k, df, shape: Shape | None = None, dtype=None):
    """Student's t draws with ``df`` degrees of freedom (``jax.random.t``).

    ``Z / sqrt(V / df)`` for a standard normal ``Z`` and a chi-square ``V``.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    df : float or array
        Degrees of freedom ``> 0``, broadcast to ``shape`` (default: ``df``'s shape).
    shape : tuple of ints, optional
    dtype : floating dtype, optional

    Returns
    -------
    numpy.ndarray
        Differentiable in ``df`` (see :func:`gamma`).
    """
    dtype = float_dtype(dtype, "t")
    check_key(k, "t")
    shape = param_shape(shape, "t", df)
    k_z, k_v = split(k)
    df = as_dtype(df, _F64, k)
    v = 2 * fnp.exp(_log_gamma(k_v, df / 2, shape))
    return (normal(k_z, shape) / fnp.sqrt(v / df)).astype(dtype)


def beta(k, a, b, shape: Shape | None = None, dtype=None):
    """Beta(``a``, ``b``) draws (``jax.random.beta``): ``X / (X + Y)`` for Gamma draws.

    Computed from log-gamma draws, so tiny ``a`` and ``b`` give values near 0 or 1,
    not NaN. Differentiable in ``a``, ``b`` (see :func:`gamma`).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    a, b : float or array
    shape : tuple of ints, optional
        Default: the broadcast shape of ``a`` and ``b``.
    dtype : floating dtype, optional

    Returns
    -------
    numpy.ndarray
    """
    dtype = float_dtype(dtype, "beta")
    check_key(k, "beta")
    shape = param_shape(shape, "beta", a, b)
    k_a, k_b = split(k)
    log_x = _log_gamma(k_a, as_dtype(a, _F64, k), shape)
    log_y = _log_gamma(k_b, as_dtype(b, _F64, k), shape)
    log_max = fnp.maximum(log_x, log_y)
    log_total = log_max + fnp.log(fnp.exp(log_x - log_max) + fnp.exp(log_y - log_max))
    return fnp.exp(log_x - log_total).astype(dtype)


def dirichlet(k, alpha, shape: Shape | None = None, dtype=None):
    """Dirichlet(``alpha``) draws (``jax.random.dirichlet``): normalised Gamma draws.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    alpha : array of shape (..., K)
        Concentrations ``> 0``.
    shape : tuple of ints, optional
        Batch shape; default ``alpha.shape[:-1]``. The result has shape ``shape + (K,)``.
    dtype : floating dtype, optional

    Returns
    -------
    numpy.ndarray
        Rows on the simplex (they sum to 1). Differentiable in ``alpha``.
    """
    dtype = float_dtype(dtype, "dirichlet")
    check_key(k, "dirichlet")
    alpha = as_dtype(alpha, _F64, k)
    if alpha.ndim < 1:
        raise ValueError("fgrad.random.dirichlet: alpha must have shape (..., K)")
    batch = param_shape(shape, "dirichlet", alpha[..., 0])
    log_g = _log_gamma(k, alpha, batch + (alpha.shape[-1],))
    log_g = log_g - fnp.max(log_g, axis=-1, keepdims=True)
    g = fnp.exp(log_g)
    return (g / fnp.sum(g, axis=-1, keepdims=True)).astype(dtype)


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def log_factorial(n):
    """``log(n!)`` for float ``n >= 0``: Stirling's series at ``n + 9``, shifted down."""
    x = n + 1.0
    z = x + 8.0
    inv, inv2 = 1 / z, 1 / (z * z)
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    shifted = (z - 0.5) * fnp.log(z) - z + _HALF_LOG_2PI + series
    product = x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5) * (x + 6) * (x + 7)
    return shifted - fnp.log(product)


def _poisson_small(k, lam, shape, done):
    """Knuth's method: count uniforms until their product drops below ``exp(-lam)``."""

    def pending(state):
        return fnp.any(~state[3])

    def step(state):
        r, log_prod, value, done = state
        log_prod = log_prod + fnp.log(unit_uniform(fold_in(k, r), shape, _F64, True, fn="poisson"))
        accepted = log_prod < -lam
        value = fnp.where(~done & accepted, r, value)
        return r + 1, log_prod, value, done | accepted

    zeros = fnp.zeros(shape, like=lam) + fnp.zeros_like(lam)
    init = (np.int64(0), zeros, zeros.astype(np.int64), done)
    return while_loop(pending, step, init)[2]


def _poisson_large(k, lam, shape, done):
    """Hörmann's transformed rejection with squeeze (PTRS, 1993), for ``lam >= 10``."""
    lam = fnp.where(done, 10.0, lam)
    log_lam = fnp.log(lam)
    b = 0.931 + 2.53 * fnp.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)

    def accept_round(r):
        k_u, k_v = split(fold_in(k, r))
        u = unit_uniform(k_u, shape, _F64, fn="poisson") - 0.5
        v = unit_uniform(k_v, shape, _F64, open_=True, fn="poisson")
        us = 0.5 - fnp.abs(u)
        count = fnp.floor((2 * a / us + b) * u + lam + 0.43)
        squeeze = (us >= 0.07) & (v <= v_r)
        impossible = (count < 0) | ((us < 0.013) & (v > us))
        log_accept = fnp.log(v) + fnp.log(inv_alpha) - fnp.log(a / (us * us) + b)
        log_target = -lam + count * log_lam - log_factorial(fnp.maximum(count, 0))
        accepted = squeeze | (~impossible & (log_accept <= log_target))
        return accepted, count

    return accept_rounds(accept_round, shape, done, _F64).astype(np.int64)


def poisson(k, lam, shape: Shape | None = None, dtype=np.int64):
    """Poisson(``lam``) draws (``jax.random.poisson``).

    Knuth's multiplication method for ``lam < 10`` and Hörmann's transformed
    rejection (PTRS) above, so the expected number of rounds stays small for
    any rate.

    Parameters
    ----------
    k : uint32 array of shape (2,)
    lam : float or array
        Rates ``>= 0``, broadcast to ``shape``.
    shape : tuple of ints, optional
        Default: ``lam``'s shape.
    dtype : integer dtype
        Default int64.

    Returns
    -------
    numpy.ndarray
        -1 where ``lam`` is negative or NaN.
    """
    check_key(k, "poisson")
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"fgrad.random.poisson: dtype must be an integer dtype, got {dtype}")
    shape = param_shape(shape, "poisson", lam)
    lam = fnp.broadcast_to(as_dtype(lam, _F64, k), shape)
    valid = lam >= 0
    small = lam < 10
    k_small, k_large = split(k)
    few = _poisson_small(k_small, fnp.where(small, lam, 0.0), shape, ~(valid & small))
    many = _poisson_large(k_large, lam, shape, ~(valid & ~small))
    return fnp.where(valid, fnp.where(small, few, many), -1).astype(dtype)
