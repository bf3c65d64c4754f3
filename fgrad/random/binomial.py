"""``binomial`` and ``multinomial`` draws, pure functions of the key.

``binomial`` works with ``p' = min(p, 1 - p)`` (and returns ``n - x`` where it
flipped): below ``n p' = 10`` it inverts the CDF, walking up the probabilities
from ``(1 - p')**n`` in a :func:`fgrad.lax.while_loop` (about ``n p'`` steps);
above, Hörmann's transformed rejection with squeeze (BTRS, 1993) accepts in
about 1.2 rounds of :func:`fgrad.random.rejection.accept_rounds`. Each entry's
value depends only on the key and its own parameters, so the draw is the same
eagerly, under ``jit`` and under ``vmap``. ``multinomial`` draws the counts one
category at a time, each a binomial of what is left.
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.lax.while_loop import while_loop
from fgrad.random.distributions import as_dtype, float_dtype, param_shape, unit_uniform
from fgrad.random.prng import Shape, check_key, fold_in, shape_tuple, split
from fgrad.random.rejection import accept_rounds, log_factorial

__all__ = ["binomial", "multinomial"]

_F64 = np.dtype(np.float64)
_INVERSION_BELOW = 10.0


def _inversion(k, n, p, shape, done):
    """Walk the CDF from 0 up to a uniform draw; for ``p <= 1/2`` and ``n p < 10``."""
    u = unit_uniform(k, shape, _F64, fn="binomial")
    pmf = fnp.exp(n * fnp.log1p(-p))
    odds = p / (1 - p)

    def pending(state):
        return fnp.any(~state[3])

    def step(state):
        count, pmf, cdf, done = state
        pmf = fnp.where(done, pmf, pmf * (n - count) / (count + 1) * odds)
        count = fnp.where(done, count, count + 1)
        cdf = cdf + fnp.where(done, 0.0, pmf)
        return count, pmf, cdf, done | (u < cdf) | (count >= n)

    zeros = fnp.zeros(shape, like=n) + fnp.zeros_like(n)
    init = (zeros, pmf, pmf, done | (u < pmf) | (n <= 0))
    return while_loop(pending, step, init)[0]


def _btrs(k, n, p, shape, done):
    """Hörmann's BTRS, for ``p <= 1/2`` and ``n p >= 10``."""
    n = fnp.where(done, 100.0, n)
    p = fnp.where(done, 0.5, p)
    q = 1 - p
    spq = fnp.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    log_alpha = fnp.log((2.83 + 5.1 / b) * spq)
    log_odds = fnp.log(p / q)
    mode = fnp.floor((n + 1) * p)
    h = log_factorial(mode) + log_factorial(n - mode)

    def accept_round(r):
        k_u, k_v = split(fold_in(k, r))
        u = unit_uniform(k_u, shape, _F64, fn="binomial") - 0.5
        v = unit_uniform(k_v, shape, _F64, open_=True, fn="binomial")
        us = 0.5 - fnp.abs(u)
        count = fnp.floor((2 * a / us + b) * u + c)
        inside = (count >= 0) & (count <= n)
        squeeze = inside & (us >= 0.07) & (v <= v_r)
        safe = fnp.clip(count, 0, n)
        log_accept = fnp.log(v) + log_alpha - fnp.log(a / (us * us) + b)
        log_target = h - log_factorial(safe) - log_factorial(n - safe) + (safe - mode) * log_odds
        return squeeze | (inside & (log_accept <= log_target)), count

    return accept_rounds(accept_round, shape, done, _F64)


def binomial(k, n, p, shape: Shape | None = None, dtype=None):
    """Binomial(``n``, ``p``) draws: successes in ``n`` trials (``jax.random.binomial``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    n : float or array
        Numbers of trials (whole numbers ``>= 0``), broadcast to ``shape``.
    p : float or array
        Success probabilities in ``[0, 1]``.
    shape : tuple of ints, optional
        Default: the broadcast shape of ``n`` and ``p``.
    dtype : floating dtype, optional
        Default float64 (as JAX, the counts come as floats).

    Returns
    -------
    numpy.ndarray
        NaN where ``n < 0`` or ``p`` is outside ``[0, 1]`` or NaN.
    """
    check_key(k, "binomial")
    dtype = float_dtype(dtype, "binomial")
    shape = param_shape(shape, "binomial", n, p)
    n = fnp.broadcast_to(as_dtype(n, _F64, k), shape)
    p = fnp.broadcast_to(as_dtype(p, _F64, k), shape)
    valid = (n >= 0) & (p >= 0) & (p <= 1)
    flip = p > 0.5
    p_low = fnp.where(valid, fnp.where(flip, 1 - p, p), 0.0)
    n_ok = fnp.where(valid, n, 0.0)
    small = n_ok * p_low < _INVERSION_BELOW
    k_small, k_large = split(k)
    few = _inversion(k_small, fnp.where(small, n_ok, 0.0), p_low, shape, ~small)
    many = _btrs(k_large, n_ok, p_low, shape, small)
    count = fnp.where(small, few, many)
    count = fnp.where(flip, n_ok - count, count)
    return fnp.where(valid, count, np.nan).astype(dtype)


def multinomial(k, n, p, *, shape: Shape | None = None, dtype=None, unroll: int | bool = 1):
    """Counts of ``n`` draws among ``len(p)`` categories (``jax.random.multinomial``).

    Parameters
    ----------
    k : uint32 array of shape (2,)
    n : float or array
        Numbers of draws, broadcast to the batch shape.
    p : array of shape (..., K)
        Category probabilities along the last axis (normalised here by their sum).
    shape : tuple of ints, optional
        The batch shape (the result is ``shape + (K,)``); default the broadcast of
        ``n``'s shape and ``p.shape[:-1]``.
    dtype : floating dtype, optional
        Default float64 (as JAX, the counts come as floats).
    unroll : int or bool
        Accepted for JAX's signature; the categories are a Python loop here.

    Returns
    -------
    numpy.ndarray
        Counts summing to ``n`` along the last axis.
    """
    del unroll
    check_key(k, "multinomial")
    dtype = float_dtype(dtype, "multinomial")
    p = as_dtype(p, _F64)
    if p.ndim < 1:
        raise ValueError("fgrad.random.multinomial: p must have a category axis (ndim >= 1)")
    n = as_dtype(n, _F64)
    batch = tuple(np.broadcast_shapes(tuple(np.shape(n)), tuple(p.shape[:-1])))
    batch = batch if shape is None else shape_tuple(shape, "multinomial")
    categories = p.shape[-1]
    p = fnp.broadcast_to(p, batch + (categories,))
    left = fnp.broadcast_to(n, batch)
    mass = fnp.sum(p, axis=-1)
    counts = []
    keys = split(k, max(categories - 1, 1))
    for i in range(categories - 1):
        ratio = fnp.clip(p[..., i] / fnp.where(mass > 0, mass, 1.0), 0.0, 1.0)
        c = binomial(keys[i], left, ratio, batch)
        counts.append(c)
        left = left - c
        mass = mass - p[..., i]
    counts.append(left)
    return fnp.stack(counts, axis=-1).astype(dtype)
