"""fgrad.random without SciPy: the normal CDF and its inverse in fgrad ops
(``fgrad.random.normal_cdf``), the gamma draws' implicit derivative in NumPy
(``fgrad.random.incomplete_gamma``), and a process where SciPy cannot be imported.

SciPy (and mpmath, where installed) only provide reference values here.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fgrad
from fgrad.random import incomplete_gamma
from fgrad.random.normal_cdf import ndtr, ndtri

special = pytest.importorskip("scipy.special")

# -- ndtr ---------------------------------------------------------------------

BODY_X = np.concatenate([np.linspace(-5.0, 9.0, 40_001), [-1.4142135, -1.4142136, 0.0, -0.0]])
TAIL_X = np.linspace(-37.5, -5.0, 20_001)


def test_ndtr_matches_scipy_in_the_body():
    np.testing.assert_allclose(ndtr(BODY_X), special.ndtr(BODY_X), rtol=1e-14, atol=0)


def test_ndtr_keeps_relative_accuracy_in_the_lower_tail():
    # SciPy's own ndtr is off by up to ~2.5e-13 relative near x = -37 (it rounds x / sqrt(2)
    # before squaring it), hence the looser bound here and the exact check below
    np.testing.assert_allclose(ndtr(TAIL_X), special.ndtr(TAIL_X), rtol=5e-13, atol=0)
    assert np.all(np.asarray(ndtr(TAIL_X)) > 0)


def test_ndtr_tail_against_high_precision():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    x = np.concatenate([np.linspace(-37.5, -1.0, 400), np.linspace(-1.0, 3.0, 101)])
    exact = np.array([float(mpmath.ncdf(mpmath.mpf(float(v)))) for v in x])
    np.testing.assert_allclose(ndtr(x), exact, rtol=1e-14, atol=0)


def test_ndtr_special_values():
    out = np.asarray(ndtr(np.array([-np.inf, np.inf, np.nan, 0.0, -38.0, -45.0, 45.0])))
    np.testing.assert_array_equal(out[[0, 1, 3, 5, 6]], [0.0, 1.0, 0.5, 0.0, 1.0])
    assert np.isnan(out[2])
    # subnormal but not flushed to 0 (SciPy's is): the asymptotic series phi(x)/|x| (1 - 1/x^2
    # + 3/x^4 - 15/x^6) has a relative error below 1e-10 at x = -38
    x = 38.0
    tail = math.exp(-x * x / 2) / math.sqrt(2 * math.pi) / x * (1 - x**-2 + 3 * x**-4 - 15 * x**-6)
    assert out[4] == pytest.approx(tail, rel=1e-7)


# -- ndtri --------------------------------------------------------------------

LOW_P = np.logspace(-300, math.log10(0.5), 30_001)
P = np.concatenate([LOW_P, np.linspace(0.001, 0.999, 9_981), 1 - np.logspace(-16, -1, 1_001)])


def test_ndtri_matches_scipy_from_1e_300_to_1():
    np.testing.assert_allclose(ndtri(P), special.ndtri(P), rtol=1e-14, atol=1e-300)


def test_ndtri_inverts_ndtr():
    x = np.linspace(-37.0, 0.5, 10_001)  # above, ndtr(x) rounds towards 1 and loses x
    np.testing.assert_allclose(ndtri(ndtr(x)), x, rtol=1e-13, atol=1e-15)


def test_ndtri_special_values():
    out = np.asarray(ndtri(np.array([0.0, 1.0, 0.5, -0.1, 1.1, np.nan])))
    np.testing.assert_array_equal(out[:3], [-np.inf, np.inf, 0.0])
    assert np.isnan(out[3:]).all()


# -- derivatives and transformations -------------------------------------------


def _central(f, x, h):
    return (np.asarray(f(x + h)) - np.asarray(f(x - h))) / (2 * h)


def test_ndtr_derivative_is_the_density():
    x = np.array([-30.0, -8.0, -2.5, -1.3, -0.2, 0.0, 0.7, 1.5, 4.0])
    density = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(ndtr))(x), density, rtol=1e-14)
    np.testing.assert_allclose(fgrad.jacrev(ndtr)(x), np.diag(density), rtol=1e-14)
    body = x[2:]
    np.testing.assert_allclose(
        fgrad.jacfwd(ndtr)(body).diagonal(), _central(ndtr, body, 1e-6), rtol=1e-8
    )


def test_ndtri_derivative_matches_finite_differences():
    p = np.array([1e-200, 1e-20, 1e-5, 0.02, 0.3, 0.5, 0.8, 0.97, 0.9999])
    d = np.asarray(fgrad.vmap(fgrad.grad(ndtri))(p))
    np.testing.assert_allclose(d, 1 / _density(special.ndtri(p)), rtol=1e-12)
    h = 1e-6 * np.minimum(p, 1 - p)
    np.testing.assert_allclose(d, _central(ndtri, p, h), rtol=1e-6)
    np.testing.assert_allclose(fgrad.jacrev(ndtri)(p).diagonal(), d, rtol=1e-15)


def _density(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def test_ndtr_and_ndtri_are_the_same_under_jit_and_vmap():
    x = np.linspace(-37.0, 8.0, 301)
    p = np.logspace(-300, -1e-12, 301)
    for f, v in [(ndtr, x), (ndtri, p)]:
        eager = np.asarray(f(v))
        np.testing.assert_array_equal(fgrad.jit(f)(v), eager)
        np.testing.assert_array_equal(fgrad.vmap(f)(v.reshape(7, 43)), eager.reshape(7, 43))
        np.testing.assert_array_equal([f(e) for e in v[:5]], eager[:5])


def test_truncated_normal_bounds_gradient_matches_finite_differences_in_the_tails():
    k = fgrad.random.key(3)

    def f(bounds):
        return fgrad.numpy.sum(fgrad.random.truncated_normal(k, bounds[0], bounds[1], (5,)))

    for bounds in (np.array([-30.0, -29.0]), np.array([-1.0, 0.5]), np.array([6.0, 7.5])):
        fd = [(f(bounds + 1e-6 * e) - f(bounds - 1e-6 * e)) / 2e-6 for e in np.eye(2)]
        np.testing.assert_allclose(fgrad.grad(f)(bounds), fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(fgrad.jit(fgrad.grad(f))(bounds), fgrad.grad(f)(bounds))


# -- the gamma family's implicit derivative ---------------------------------------

GAMMA_A = [0.001, 0.02, 0.3, 1.0, 4.0, 80.0, 300.0, 2000.0]
QUANTILES = np.concatenate(
    [np.logspace(-12, -1, 12), np.linspace(0.05, 0.95, 19), 1 - np.logspace(-1, -12, 12)]
)


def test_digamma_matches_scipy():
    a = np.concatenate([np.logspace(-4, 4, 801), [9.999, 10.0, 10.001]])
    np.testing.assert_allclose(
        incomplete_gamma.digamma(a), special.digamma(a), rtol=1e-14, atol=1e-15
    )


@pytest.mark.parametrize("a", GAMMA_A)
def test_gamma_log_draw_derivative_matches_scipy(a):
    # d log x / da = -(dP/da) / (x p(x)), dP/da by a five-point difference of SciPy's
    # gammainc (gammaincc in the upper half) with a step scaled to how fast P moves in a
    # (P ~ x**a / Gamma(a + 1) moves by |log x| per unit of a in the lower tail)
    x = special.gammaincinv(a, QUANTILES)
    x = x[x > 0]
    h = 1e-3 * np.minimum(min(a, math.sqrt(a)), 1 / np.abs(np.log(x)))
    upper = special.gammainc(a, x) >= 0.5

    def cdf(s):
        return np.where(upper, -special.gammaincc(s, x), special.gammainc(s, x))

    d_cdf = (8 * (cdf(a + h) - cdf(a - h)) - (cdf(a + 2 * h) - cdf(a - 2 * h))) / (12 * h)
    expected = -d_cdf * np.exp(-(a * np.log(x) - x - special.gammaln(a)))
    got = incomplete_gamma.gamma_log_draw_derivative(np.full_like(x, a), np.log(x))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("a", [0.01, 0.5, 4.0, 2000.0])
def test_gamma_log_draw_derivative_against_high_precision(a):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    x = special.gammaincinv(a, np.array([1e-9, 0.01, 0.3, 0.5, 0.9, 0.999999]))
    x = x[x > 0]
    big_a = mpmath.mpf(a)

    def exact(v):
        v = mpmath.mpf(float(v))
        d_cdf = mpmath.diff(lambda s: mpmath.gammainc(s, 0, v, regularized=True), big_a)
        return float(-d_cdf * mpmath.gamma(big_a) / (v**big_a * mpmath.exp(-v)))

    got = incomplete_gamma.gamma_log_draw_derivative(np.full_like(x, a), np.log(x))
    np.testing.assert_allclose(got, [exact(v) for v in x], rtol=1e-12)


@pytest.mark.parametrize("a", [0.05, 1.0, 7.5, 300.0, 2000.0])
def test_series_and_continued_fraction_agree_where_they_meet(a):
    a_arr = np.full(3, a)
    x = a + 1 + np.array([-1e-9, 0.0, 1e-9]) * (a + 1)
    series = incomplete_gamma._series(a_arr, x, np.log(x))
    fraction = incomplete_gamma._fraction(a_arr, x, np.log(x))
    np.testing.assert_allclose(series, fraction, rtol=1e-12)


def test_gamma_log_draw_derivative_of_tiny_draws_and_invalid_a():
    # P = x**a / Gamma(a + 1) for x -> 0, so d log x / da = (digamma(a + 1) - log x) / a
    a, log_x = np.array([0.01, 0.5, 3.0]), np.array([-1000.0, -400.0, -50.0])
    np.testing.assert_allclose(
        incomplete_gamma.gamma_log_draw_derivative(a, log_x),
        (special.digamma(a + 1) - log_x) / a,
        rtol=1e-14,
    )
    bad = incomplete_gamma.gamma_log_draw_derivative(np.array([0.0, -1.0, np.nan]), 0.0)
    assert np.isnan(bad).all()


# -- a process where SciPy cannot be imported -----------------------------------

_NO_SCIPY = textwrap.dedent(
    """
    import sys
    sys.modules["scipy"] = None  # any import of scipy now raises ImportError
    import numpy as np
    import fgrad
    import fgrad.numpy as fnp
    from fgrad import random
    from fgrad.nn import initializers as init

    k = random.key(0)
    t = random.truncated_normal(k, -2.0, 2.0, (1000,))
    assert t.shape == (1000,) and np.all(np.abs(t) <= 2)
    assert np.all(random.truncated_normal(k, 6.0, np.inf, (50,)) >= 6)
    for factory in (init.he_normal(), init.glorot_normal(), init.lecun_normal(),
                    init.variance_scaling(2.0, "fan_out", "truncated_normal")):
        w = factory(k, (64, 32))
        assert w.shape == (64, 32) and np.isfinite(w).all() and np.std(w) > 0
    g = fgrad.grad(lambda a: fnp.sum(random.gamma(k, a, (20,))))(2.5)
    gj = fgrad.jit(fgrad.grad(lambda a: fnp.sum(random.beta(k, a, 2.0, (20,)))))(1.5)
    assert np.isfinite(g) and g > 0 and np.isfinite(gj)
    lo = fgrad.grad(lambda b: fnp.sum(random.truncated_normal(k, b, b + 1.0, (5,))))(0.3)
    assert np.isfinite(lo)
    assert "scipy" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
    print("ok", float(np.mean(t)), float(g))
    """
)


def test_fgrad_random_and_initializers_work_without_scipy():
    done = subprocess.run(
        [sys.executable, "-c", _NO_SCIPY],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
