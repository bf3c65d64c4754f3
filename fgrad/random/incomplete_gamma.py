"""The implicit derivative of a Gamma(a) draw in ``a``, in NumPy: ``d log x / d a``.

A draw ``x`` moves with ``a`` so that its quantile ``P(a, x)`` stays fixed (implicit
reparameterisation, Figurnov et al., 2018): ``dx/da = -(dP/da) / p(x)``, with ``P`` the
regularised lower incomplete gamma function and ``p(x) = x**(a-1) exp(-x) / Gamma(a)``
the density. Both ``dP/da`` and ``x p(x)`` carry the factor ``x**a exp(-x) / Gamma(a)``,
which cancels, so ``d log x / d a`` needs neither ``Gamma(a)`` nor an exponential that
could underflow (a draw for ``a = 0.01`` can be ``exp(-1000)``):

- ``x < a + 1``, the series ``P = x**a exp(-x) / Gamma(a + 1) S``,
  ``S = sum_n t_n``, ``t_0 = 1``, ``t_n = t_(n-1) x / (a + n)``, so
  ``dt_n/da = -t_n H_n`` with ``H_n = sum_(k <= n) 1 / (a + k)``, and
  ``d log x / d a = -(S (log x - digamma(a + 1)) - sum_n t_n H_n) / a``.
- ``x >= a + 1``, the continued fraction ``Q = 1 - P = x**a exp(-x) / Gamma(a) C``,
  ``C = 1 / (b_0 + a_1 / (b_1 + a_2 / (b_2 + ...)))`` with ``b_n = x + 2n + 1 - a`` and
  ``a_n = n (a - n)``, evaluated by its forward recurrence together with the recurrence's
  derivative in ``a``, so ``d log x / d a = C (log x - digamma(a)) + dC/da``.

Both are summed until their terms stop changing the result in double precision (as in
Numerical Recipes' ``gser``/``gcf``, here differentiated term by term). The result is
one elementwise primitive, so it traces under ``jit`` and batches under ``vmap``; it has
no derivative itself (the gamma draws are differentiable once in ``a``).
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.primitive import bind
from fgrad.core.rules import defjvp, defvjp
from fgrad.primitives import elementwise as ew

__all__ = ["digamma", "gamma_log_draw_derivative"]

_MAX_TERMS = 100_000  # the slowest case, x near a + 1, needs about 10 sqrt(a) terms
# Bernoulli numbers B_2k / (2k) for digamma's asymptotic series, k = 1..7
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
_DIGAMMA_SHIFT = 10.0  # the series is used from here, where its last term is below 1e-16


def digamma(a: np.ndarray) -> np.ndarray:
    """``digamma(a)`` for ``a > 0`` (NumPy arrays): recurrence up to 10, then the
    asymptotic series ``log a - 1/(2a) - sum_k B_2k / (2k a**2k)``."""
    a = np.array(a, dtype=np.float64)
    shift = np.zeros_like(a)
    while True:
        small = a < _DIGAMMA_SHIFT
        if not small.any():
            break
        shift -= np.where(small, 1 / np.where(small, a, 1.0), 0.0)
        a = np.where(small, a + 1, a)
    inv2 = 1 / (a * a)
    series = 0.0
    for c in reversed(_DIGAMMA_SERIES):
        series = (series + c) * inv2
    return shift + np.log(a) - 0.5 / a - series


def _series(a: np.ndarray, x: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    total, weighted = np.ones_like(a), np.zeros_like(a)
    term, harmonic = np.ones_like(a), np.zeros_like(a)
    for n in range(1, _MAX_TERMS):
        term = term * x / (a + n)
        harmonic = harmonic + 1 / (a + n)
        total, weighted = total + term, weighted + term * harmonic
        if np.all((term <= 1e-17 * total) & (term * harmonic <= 1e-17 * weighted)):
            break
    return -(total * (log_x - digamma(a + 1)) - weighted) / a


def _fraction(a: np.ndarray, x: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    # convergents P_n / Q_n of b_0 + a_1 / (b_1 + ...), C = Q_n / P_n, and their
    # a-derivatives dP_n, dQ_n; state rows: P_(n-1), Q_(n-1), dP_(n-1), dQ_(n-1), then P_n, ...
    one, zero = np.ones_like(a), np.zeros_like(a)
    state = np.stack([one, zero, zero, zero, x + 1 - a, one, -one, zero])
    fraction, d_fraction = 1 / state[4], -state[6] / state[4] ** 2
    done = np.zeros(a.shape, bool)
    for n in range(1, _MAX_TERMS):
        a_n, b_n = n * (a - n), x + 2 * n + 1 - a
        before, last = state[:4], state[4:]
        p, q, dp, dq = b_n * last + a_n * before
        dp = dp - last[0] + n * before[0]
        dq = dq - last[1] + n * before[1]
        new = np.concatenate([last, np.stack([p, q, dp, dq])])
        new = new / np.maximum(np.abs(new).max(axis=0), 1.0)  # no overflow; ratios unchanged
        state = np.where(done, state, new)
        previous = fraction, d_fraction
        fraction = np.where(done, fraction, state[5] / state[4])
        d_fraction = np.where(
            done, d_fraction, (state[7] * state[4] - state[5] * state[6]) / state[4] ** 2
        )
        done |= (np.abs(fraction - previous[0]) <= 1e-16 * np.abs(fraction)) & (
            np.abs(d_fraction - previous[1]) <= 1e-16 * np.abs(d_fraction)
        )
        if done.all():
            break
    return fraction * (log_x - digamma(a)) + d_fraction


def _log_draw_derivative_impl(a, log_x):
    device = backend.common_backend((a, log_x), "gamma_log_draw_derivative's arguments")
    a, log_x = backend.device_get((a, log_x))  # computed on the host (a few loops)
    a, log_x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(log_x, np.float64))
    out = np.full(a.shape, np.nan)
    valid = (a > 0) & ~np.isnan(log_x)
    x = np.exp(log_x)
    by_series = valid & (x < a + 1)
    by_fraction = valid & (x >= a + 1)
    if by_series.any():
        out[by_series] = _series(a[by_series], x[by_series], log_x[by_series])
    if by_fraction.any():
        out[by_fraction] = _fraction(a[by_fraction], x[by_fraction], log_x[by_fraction])
    return out if device is backend.CPU else device.from_host(out)


def _refuse(*_args, **_params):
    raise NotImplementedError(
        "fgrad.random's gamma draws (gamma, loggamma, beta, dirichlet, chisquare, t) are "
        "differentiable once with respect to a; a second derivative is not implemented."
    )


gamma_log_draw_derivative_p = ew.elementwise("gamma_log_draw_derivative", _log_draw_derivative_impl)
defjvp(gamma_log_draw_derivative_p, _refuse, _refuse)
defvjp(gamma_log_draw_derivative_p, _refuse, _refuse)


def gamma_log_draw_derivative(a, log_x):
    """``d log x / d a`` for a Gamma(``a``, 1) draw ``x`` held at its quantile; NaN where
    ``a <= 0``. Elementwise in ``a`` and ``log_x`` (broadcast), traceable, not differentiable.
    """
    return bind(gamma_log_draw_derivative_p, a, log_x)
