"""The rest of ``jax.random``'s distributions: lognormal, pareto, weibull_min, rayleigh,
maxwell, double_sided_maxwell, generalized_normal, ball, triangular, wald, geometric,
orthogonal, binomial, multinomial and clone.

Each is checked against SciPy's distribution (a KS test for continuous draws, a
chi-square test for counts, with fixed seeds, so the p-values are fixed numbers and the
threshold cannot flake), for equality eagerly / under ``jit`` / under ``vmap`` (each
mapped key gives what it gives alone), and, for the reparameterised ones, for
derivatives against central finite differences with the key held fixed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fgrad
from fgrad import random

stats = pytest.importorskip("scipy.stats")

from test_random import assert_same_eagerly_under_jit_and_vmap  # noqa: E402

N = 40_000
P_MIN = 1e-4
key = random.key

CONTINUOUS = [
    ("lognormal", lambda k: random.lognormal(k, 0.7, (N,)), stats.lognorm(0.7)),
    ("lognormal32", lambda k: random.lognormal(k, 1.0, (N,), np.float32), stats.lognorm(1.0)),
    ("pareto", lambda k: random.pareto(k, 3.0, (N,)), stats.pareto(3.0)),
    (
        "weibull_min",
        lambda k: random.weibull_min(k, 2.0, 1.5, (N,)),
        stats.weibull_min(1.5, scale=2.0),
    ),
    ("rayleigh", lambda k: random.rayleigh(k, 0.5, (N,)), stats.rayleigh(scale=0.5)),
    ("maxwell", lambda k: random.maxwell(k, (N,)), stats.maxwell()),
    (
        "double_sided_maxwell_abs",
        lambda k: np.abs(random.double_sided_maxwell(k, 1.0, 2.0, (N,)) - 1.0) / 2.0,
        stats.maxwell(),
    ),
    ("gennorm_1", lambda k: random.generalized_normal(k, 1.0, (N,)), stats.gennorm(1.0)),
    ("gennorm_2", lambda k: random.generalized_normal(k, 2.0, (N,)), stats.gennorm(2.0)),
    ("gennorm_0.6", lambda k: random.generalized_normal(k, 0.6, (N,)), stats.gennorm(0.6)),
    ("gennorm_5", lambda k: random.generalized_normal(k, 5.0, (N,)), stats.gennorm(5.0)),
    (
        "triangular",
        lambda k: random.triangular(k, -1.0, 0.5, 2.0, (N,)),
        stats.triang(0.5, loc=-1.0, scale=3.0),
    ),
    (
        "triangular_mode_at_left",
        lambda k: random.triangular(k, 0.0, 0.0, 1.0, (N,)),
        stats.triang(0.0),
    ),
    ("wald_1", lambda k: random.wald(k, 1.0, (N,)), stats.invgauss(1.0)),
    ("wald_3", lambda k: random.wald(k, 3.0, (N,)), stats.invgauss(3.0)),
    ("wald_0.2", lambda k: random.wald(k, 0.2, (N,)), stats.invgauss(0.2)),
    # uniform in the unit d-ball: the radius**d is uniform on [0, 1]
    (
        "ball_2_3",
        lambda k: np.linalg.norm(random.ball(k, 3, 2, (N,)), axis=-1) ** 3,
        stats.uniform(),
    ),
    (
        "ball_1_4",
        lambda k: np.sum(np.abs(random.ball(k, 4, 1, (N,))), axis=-1) ** 4,
        stats.uniform(),
    ),
    # a Haar-random rotation sends e_1 to a uniform point on the sphere: x**2 ~ Beta(1/2, (n-1)/2)
    (
        "orthogonal_column",
        lambda k: random.orthogonal(k, 4, (N // 4,))[..., 0, 0] ** 2,
        stats.beta(0.5, 1.5),
    ),
    (
        "orthogonal_entry",
        lambda k: random.orthogonal(k, 4, (N // 4,))[..., 2, 3] ** 2,
        stats.beta(0.5, 1.5),
    ),
]


@pytest.mark.parametrize("name, draw, dist", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_continuous_distributions_ks_and_mean(name, draw, dist):
    x = np.asarray(draw(key(2025)), dtype=np.float64)
    assert np.all(np.isfinite(x))
    assert stats.kstest(x, dist.cdf).pvalue > P_MIN
    mean, var = dist.stats("mv")
    if np.isfinite(var):
        assert abs(x.mean() - mean) < 6 * math.sqrt(var / x.size)


def _chi_square_p(counts, probs):
    counts, probs = np.asarray(counts, float), np.asarray(probs, float)
    expected = probs * counts.sum()
    keep = expected >= 5  # merge the sparse cells into one
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    obs, exp = obs[exp > 0], exp[exp > 0]
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def _discrete_check(x, dist, lo, hi):
    x = np.asarray(x)
    assert x.min() >= lo and x.max() <= hi
    support = np.arange(lo, hi + 1)
    counts = np.bincount((x - lo).astype(np.int64), minlength=hi - lo + 1)
    assert _chi_square_p(counts, dist.pmf(support)) > P_MIN
    mean, var = dist.stats("mv")
    assert abs(x.mean() - mean) < 6 * math.sqrt(var / x.size) + 1e-12


@pytest.mark.parametrize(
    "n, p",
    [
        (1, 0.5),
        (10, 0.3),
        (20, 0.9),  # p > 1/2: n - Binomial(n, 1 - p)
        (40, 0.2),  # n p = 8: inversion
        (50, 0.2),  # n p = 10: BTRS
        (1000, 0.5),
        (5000, 0.003),
        (200, 0.97),
        (10**6, 0.3),
    ],
)
def test_binomial_chi_square_and_mean(n, p):
    x = random.binomial(key(77), float(n), p, (N,))
    assert x.dtype == np.float64 and np.all(x == np.round(x))
    dist = stats.binom(n, p)
    lo, hi = int(dist.ppf(1e-9)), int(dist.isf(1e-9))
    _discrete_check(x, dist, max(lo - 1, 0), min(hi + 1, n))


def test_binomial_edges_and_invalid_parameters():
    k = key(3)
    np.testing.assert_array_equal(random.binomial(k, 7.0, 0.0, (100,)), 0.0)
    np.testing.assert_array_equal(random.binomial(k, 7.0, 1.0, (100,)), 7.0)
    np.testing.assert_array_equal(random.binomial(k, 0.0, 0.4, (100,)), 0.0)
    bad = random.binomial(k, np.array([-1.0, 5.0, 5.0, np.nan]), np.array([0.5, -0.1, 1.5, 0.5]))
    assert np.isnan(bad).all()
    assert random.binomial(k, 10, 0.5, (3,), np.float32).dtype == np.float32


@pytest.mark.parametrize("p", [0.05, 0.3, 0.9])
def test_geometric_chi_square_and_mean(p):
    x = random.geometric(key(5), p, (N,))
    assert x.dtype == np.int64
    dist = stats.geom(p)
    _discrete_check(x, dist, 1, max(int(x.max()), 1))
    np.testing.assert_array_equal(random.geometric(key(5), 1.0, (10,)), 1)


def test_multinomial_counts_marginals_and_covariance():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    x = random.multinomial(key(9), 25.0, p, shape=(N,))
    assert x.shape == (N, 4) and x.dtype == np.float64
    np.testing.assert_array_equal(x.sum(-1), 25.0)
    for i in range(4):  # each count is Binomial(n, p_i)
        _discrete_check(x[:, i], stats.binom(25, p[i]), 0, 25)
    cov = np.cov(x.T)
    expected = 25 * (np.diag(p) - np.outer(p, p))
    assert np.abs(cov - expected).max() < 0.15  # standard errors here are about 0.02
    # the batch shape broadcasts n against p's leading axes; p is normalised by its sum
    y = random.multinomial(key(1), np.array([3.0, 1000.0]), np.array([[1.0, 1.0], [2.0, 6.0]]))
    assert y.shape == (2, 2) and y.sum(-1).tolist() == [3.0, 1000.0]
    assert 150 < y[1, 0] < 350


def test_orthogonal_is_orthogonal_in_every_shape():
    q = random.orthogonal(key(0), 5, (3,))
    assert q.shape == (3, 5, 5)
    np.testing.assert_allclose(
        q @ np.swapaxes(q, -1, -2), np.broadcast_to(np.eye(5), q.shape), atol=1e-13
    )
    tall = random.orthogonal(key(0), 5, m=3)
    np.testing.assert_allclose(tall.T @ tall, np.eye(3), atol=1e-13)
    wide = random.orthogonal(key(0), 2, (4,), np.float32, m=6)
    assert wide.shape == (4, 2, 6) and wide.dtype == np.float32
    np.testing.assert_allclose(
        wide @ np.swapaxes(wide, -1, -2), np.broadcast_to(np.eye(2), (4, 2, 2)), atol=1e-5
    )
    # Haar: the determinant is +1 or -1 with probability 1/2 each
    det = np.linalg.det(random.orthogonal(key(4), 3, (2000,)))
    np.testing.assert_allclose(np.abs(det), 1.0, atol=1e-12)
    assert stats.binomtest(int((det > 0).sum()), 2000).pvalue > P_MIN


def test_ball_points_are_inside_and_dtypes_kept():
    x = random.ball(key(2), 5, 3.0, (2, 7), np.float32)
    assert x.shape == (2, 7, 5) and x.dtype == np.float32
    assert (np.sum(np.abs(x.astype(np.float64)) ** 3, axis=-1) < 1).all()


def test_double_sided_maxwell_is_symmetric_about_loc():
    x = random.double_sided_maxwell(key(6), 1.0, 2.0, (N,))
    assert stats.binomtest(int((x > 1.0).sum()), N).pvalue > P_MIN


def test_clone_returns_the_same_key():
    k = key(42)
    np.testing.assert_array_equal(random.clone(k), k)
    np.testing.assert_array_equal(random.normal(random.clone(k), (3,)), random.normal(k, (3,)))
    with pytest.raises(TypeError, match="clone"):
        random.clone(3)


DRAWS = {
    "lognormal": lambda k: random.lognormal(k, np.array([0.5, 2.0])),
    "pareto": lambda k: random.pareto(k, 2.0, (3,)),
    "weibull_min": lambda k: random.weibull_min(k, 1.0, np.array([0.5, 3.0])),
    "rayleigh": lambda k: random.rayleigh(k, 2.0, (3,)),
    "maxwell": lambda k: random.maxwell(k, (3,)),
    "double_sided_maxwell": lambda k: random.double_sided_maxwell(k, 0.0, 1.0, (3,)),
    "generalized_normal": lambda k: random.generalized_normal(k, 1.5, (4,)),
    "ball": lambda k: random.ball(k, 3, 2, (2,)),
    "triangular": lambda k: random.triangular(k, 0.0, 0.2, 1.0, (3,)),
    "wald": lambda k: random.wald(k, np.array([0.5, 1.0, 4.0])),
    "geometric": lambda k: random.geometric(k, np.array([0.1, 0.5, 0.99])),
    "orthogonal": lambda k: random.orthogonal(k, 3),
    "binomial": lambda k: random.binomial(k, np.array([0.0, 3.0, 30.0, 100.0, 1e5]), 0.4),
    "binomial_high_p": lambda k: random.binomial(k, 50.0, np.array([0.7, 0.999])),
    "multinomial": lambda k: random.multinomial(k, 40.0, np.array([0.2, 0.5, 0.3])),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_draws_are_the_same_eagerly_under_jit_and_vmap(name):
    assert_same_eagerly_under_jit_and_vmap(DRAWS[name], seed=12)


@pytest.mark.parametrize(
    "draw, params",
    [
        (lambda k, n: random.binomial(k, n, 0.3, (4,)), np.array([5.0, 60.0, 2000.0])),
        (lambda k, p: random.geometric(k, p, (3,)), np.array([0.2, 0.8])),
        (lambda k, m: random.wald(k, m, (3,)), np.array([0.3, 5.0])),
    ],
)
def test_vmap_over_parameters_with_one_key(draw, params):
    k = key(8)
    expected = np.stack([draw(k, p) for p in params])
    np.testing.assert_array_equal(fgrad.vmap(draw, (None, 0))(k, params), expected)
    np.testing.assert_array_equal(fgrad.jit(fgrad.vmap(draw, (None, 0)))(k, params), expected)


def _central_difference(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize(
    "draw, x0",
    [
        (lambda k, s: random.lognormal(k, s, (5,)), 0.8),
        (lambda k, b: random.pareto(k, b, (5,)), 2.5),
        (lambda k, c: random.weibull_min(k, 1.5, c, (5,)), 1.2),
        (lambda k, s: random.weibull_min(k, s, 2.0, (5,)), 0.7),
        (lambda k, s: random.rayleigh(k, s, (5,)), 0.3),
        (lambda k, s: random.double_sided_maxwell(k, 1.0, s, (5,)), 2.0),
        (lambda k, m: random.triangular(k, 0.0, m, 1.0, (5,)), 0.4),
        (lambda k, r: random.triangular(k, -1.0, 0.0, r, (5,)), 2.0),
    ],
)
def test_reparameterised_draws_match_finite_differences(draw, x0):
    k = key(31)
    f = lambda x: float(np.sum(np.asarray(draw(k, x)) ** 2))  # noqa: E731
    g = fgrad.grad(lambda x: fgrad.numpy.sum(draw(k, x) ** 2))(x0)
    np.testing.assert_allclose(g, _central_difference(f, x0), rtol=1e-6)
    np.testing.assert_allclose(
        fgrad.jit(fgrad.grad(lambda x: fgrad.numpy.sum(draw(k, x) ** 2)))(x0), g, rtol=1e-12
    )


def test_draws_match_jax_in_distribution():
    """The same families as JAX's, compared by a two-sample KS test (the bits differ)."""
    jax = pytest.importorskip("jax")
    jr = jax.random
    jk = jr.key(0)
    pairs = [
        (random.lognormal(key(1), 0.5, (4000,)), jr.lognormal(jk, 0.5, (4000,))),
        (random.pareto(key(1), 2.0, (4000,)), jr.pareto(jk, 2.0, (4000,))),
        (random.weibull_min(key(1), 2.0, 0.7, (4000,)), jr.weibull_min(jk, 2.0, 0.7, (4000,))),
        (random.wald(key(1), 2.0, (4000,)), jr.wald(jk, 2.0, (4000,))),
        (
            random.triangular(key(1), 0.0, 0.7, 1.0, (4000,)),
            jr.triangular(jk, 0.0, 0.7, 1.0, (4000,)),
        ),
        (random.generalized_normal(key(1), 3.0, (4000,)), jr.generalized_normal(jk, 3.0, (4000,))),
        (random.binomial(key(1), 30.0, 0.4, (4000,)), jr.binomial(jk, 30.0, 0.4, (4000,))),
        (random.geometric(key(1), 0.3, (4000,)), jr.geometric(jk, 0.3, (4000,))),
    ]
    for ours, theirs in pairs:
        assert np.shape(ours) == np.shape(theirs)
        if np.issubdtype(np.asarray(theirs).dtype, np.integer) or np.all(ours == np.round(ours)):
            assert abs(np.mean(ours) - np.mean(np.asarray(theirs))) < 0.1 * max(np.std(ours), 1)
        else:
            assert stats.ks_2samp(np.asarray(ours), np.asarray(theirs, np.float64)).pvalue > P_MIN
