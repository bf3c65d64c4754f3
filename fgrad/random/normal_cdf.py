"""The standard normal CDF ``ndtr`` and its inverse ``ndtri``, in ``fgrad.numpy`` ops.

``truncated_normal`` (and the truncated-normal initialisers built on it) needs both;
written here in fgrad operations they need no SciPy, trace under ``jit``, batch under
``vmap``, and carry exact derivative rules (``custom_jvp``): ``d ndtr(x)/dx = phi(x)``
and ``d ndtri(p)/dp = 1 / phi(ndtri(p))``, ``phi`` the standard normal density.

``ndtr``. With ``z = |x| / sqrt(2)``, ``ndtr(-|x|) = erfc(z) / 2``.

- ``z < 1``: ``erf(z) = 2 z / sqrt(pi) exp(-z**2) sum_n (2 z**2)**n / (1 3 5 ... (2n+1))``,
  a series of positive terms (no cancellation inside it), then ``erfc = 1 - erf``,
  which loses at most ``1 / erfc(1) ~ 6`` ulps.
- ``z >= 1``: the even part of Laplace's continued fraction,
  ``erfc(z) = exp(-z**2) / sqrt(pi) z / (z**2 + 1/2 - (1 2/4) / (z**2 + 5/2 - (3 4/4) / ...))``,
  level ``n = 1, 2, ...`` being ``z**2 + (4n - 3)/2 - n (2n - 1)/2 / (level n + 1)``; 100
  levels evaluated from the bottom up (converged to double precision for ``z >= 1``).

In both, ``exp(-x**2 / 2)`` is computed from ``x`` split into a part with an exactly
representable square and a small remainder, so the tail keeps its relative accuracy down
to ``x = -37`` (where ``ndtr`` is about ``6e-300``) instead of losing ``x**2`` ulps.

``ndtri``. Wichura's algorithm AS 241 (PPND16; Applied Statistics 37, 1988, 477-484):
a rational approximation of degree 7/7 in ``(p - 1/2)**2`` for ``|p - 1/2| <= 0.425``,
and two of degree 7/7 in ``r = sqrt(-log min(p, 1 - p))`` for ``r <= 5`` and ``r > 5``;
about 1e-15 relative (against SciPy), for ``p`` down to the smallest double.
"""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.transforms.custom_derivatives import custom_jvp

__all__ = ["ndtr", "ndtri"]

_SERIES_TERMS = 30
_FRACTION_LEVELS = 100
_SWITCH = 1.0  # in z = |x| / sqrt(2): series below, continued fraction above
_X_CLIP = 40.0  # ndtr(-40) underflows to 0: no finite double needs more
_INV_SQRT_PI = 1 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)

# AS 241 coefficients, lowest degree first.
_A = (
    3.3871328727963666080e0,
    1.3314166789178437745e2,
    1.9715909503065514427e3,
    1.3731693765509461125e4,
    4.5921953931549871457e4,
    6.7265770927008700853e4,
    3.3430575583588128105e4,
    2.5090809287301226727e3,
)
_B = (
    1.0,
    4.2313330701600911252e1,
    6.8718700749205790830e2,
    5.3941960214247511077e3,
    2.1213794301586595867e4,
    3.9307895800092710610e4,
    2.8729085735721942674e4,
    5.2264952788528545610e3,
)
_C = (
    1.42343711074968357734e0,
    4.63033784615654529590e0,
    5.76949722146069140550e0,
    3.64784832476320460504e0,
    1.27045825245236838258e0,
    2.41780725177450611770e-1,
    2.27238449892691845833e-2,
    7.74545014278341407640e-4,
)
_D = (
    1.0,
    2.05319162663775882187e0,
    1.67638483018380384940e0,
    6.89767334985100004550e-1,
    1.48103976427480074590e-1,
    1.51986665636164571966e-2,
    5.47593808499534494600e-4,
    1.05075007164441684324e-9,
)
_E = (
    6.65790464350110377720e0,
    5.46378491116411436990e0,
    1.78482653991729133580e0,
    2.96560571828504891230e-1,
    2.65321895265761230930e-2,
    1.24266094738807843860e-3,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
)
_F = (
    1.0,
    5.99832206555887937690e-1,
    1.36929880922735805310e-1,
    1.48753612908506148525e-2,
    7.86869131145613259100e-4,
    1.84631831751005468180e-5,
    1.42151175831644588870e-7,
    2.04426310338993978564e-15,
)


def _polynomial(coefficients: tuple[float, ...], r):
    """Horner's rule; ``coefficients`` lowest degree first."""
    value = coefficients[-1]
    for c in coefficients[-2::-1]:
        value = value * r + c
    return value


def _exp_half_square(x):
    """``exp(-x**2 / 2)`` to a few ulps for large ``|x|``: ``x = h + l`` with ``h**2`` exact."""
    h = fnp.floor(x * 16) / 16
    return fnp.exp(-0.5 * h * h) * fnp.exp(-0.5 * (x - h) * (x + h))


def _ndtr(x):
    x = fnp.asarray(x, dtype=np.float64)
    ax = fnp.minimum(fnp.abs(x), _X_CLIP)
    gauss = _exp_half_square(ax)  # exp(-z**2), z = ax / sqrt(2)
    z = ax / math.sqrt(2)

    zs = fnp.minimum(z, _SWITCH)
    two_z2 = 2 * zs * zs
    term, total = fnp.ones_like(zs), fnp.ones_like(zs)
    for n in range(1, _SERIES_TERMS):
        term = term * two_z2 / (2 * n + 1)
        total = total + term
    erf = 2 * _INV_SQRT_PI * zs * gauss * total

    zc = fnp.maximum(z, _SWITCH)
    zc2 = 0.5 * fnp.maximum(ax, _SWITCH * math.sqrt(2)) ** 2
    denominator = zc2 + (4 * _FRACTION_LEVELS + 1) / 2
    for n in range(_FRACTION_LEVELS, 0, -1):
        denominator = zc2 + (4 * n - 3) / 2 - n * (2 * n - 1) / 2 / denominator
    erfc = _INV_SQRT_PI * gauss * zc / denominator

    lower = fnp.where(z < _SWITCH, 0.5 - 0.5 * erf, 0.5 * erfc)  # ndtr(-|x|)
    return fnp.where(x < 0, lower, 1 - lower)


def _ndtri(p):
    p = fnp.asarray(p, dtype=np.float64)
    q = p - 0.5
    r_body = 0.180625 - q * q
    body = q * _polynomial(_A, r_body) / _polynomial(_B, r_body)

    tail_p = fnp.minimum(p, 1 - p)
    inside = (tail_p > 0) & (tail_p <= 0.5)
    r = fnp.sqrt(-fnp.log(fnp.where(inside, tail_p, 0.5)))
    near = _polynomial(_C, r - 1.6) / _polynomial(_D, r - 1.6)
    far = _polynomial(_E, r - 5.0) / _polynomial(_F, r - 5.0)
    tail = fnp.where(r <= 5.0, near, far)
    tail = fnp.where(q < 0, -tail, tail)

    x = fnp.where(fnp.abs(q) <= 0.425, body, tail)
    x = fnp.where(p == 0, -np.inf, fnp.where(p == 1, np.inf, x))
    return fnp.where((p >= 0) & (p <= 1), x, np.nan)


def _density(x):
    return _INV_SQRT_2PI * _exp_half_square(fnp.abs(x))


@custom_jvp
def ndtr(x):
    """Standard normal CDF, ``P(Z <= x)`` (as ``scipy.special.ndtr``), float64.

    Parameters
    ----------
    x : float or array

    Returns
    -------
    array
        Relative accuracy a few 1e-15, in the lower tail too (down to ``x = -37``);
        differentiable, with derivative the standard normal density.
    """
    return _ndtr(x)


@ndtr.defjvp
def _ndtr_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return ndtr(x), t * _density(x)


@custom_jvp
def ndtri(p):
    """Inverse of :func:`ndtr` (as ``scipy.special.ndtri``), float64; Wichura's AS 241.

    Parameters
    ----------
    p : float or array
        Probabilities in ``[0, 1]``; ``-inf`` at 0, ``inf`` at 1, NaN outside.

    Returns
    -------
    array
        Differentiable, with derivative ``1 / phi(ndtri(p))``.
    """
    return _ndtri(p)


@ndtri.defjvp
def _ndtri_jvp(primals, tangents):
    (p,), (t,) = primals, tangents
    x = ndtri(p)
    return x, t / _density(x)
