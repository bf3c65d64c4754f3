"""fgrad.random: the threefry hash, keys, and every distribution.

Every draw is checked three ways: the same eagerly, under ``jit`` and under
``vmap`` (each mapped key gives what it gives alone); its distribution by a
Kolmogorov-Smirnov or chi-square test against SciPy's, and its moments against
closed forms. Seeds are fixed, so the statistical tests are deterministic: a
p-value threshold of 1e-4 cannot flake, and a wrong sampler (a wrong scale, a
biased bit) gives p-values far below it at these sample sizes.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import random

stats = pytest.importorskip("scipy.stats")

N = 50_000
P_MIN = 1e-4


def key(seed=0):
    return random.key(seed)


# --- the hash and the keys -------------------------------------------------------------


@pytest.mark.parametrize(
    "k, x, expected",
    [  # the known-answer vectors of the Random123 reference implementation (threefry2x32_20)
        ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ],
)
def test_threefry_known_answers(k, x, expected):
    from fgrad.random.prng import threefry2x32

    u = np.uint32
    out = threefry2x32(u(k[0]), u(k[1]), np.array([x[0]], u), np.array([x[1]], u))
    assert (int(out[0][0]), int(out[1][0])) == expected


def test_split_and_fold_in_keys_are_the_documented_hashes():
    """docs/random.md: key i of ``split`` is threefry2x32(key, (i, 1)) and ``fold_in(key, d)``
    is threefry2x32(key, (d, 2)), the two words in that order (the hash is anchored by the
    known answers above)."""
    from fgrad.random.prng import threefry2x32

    u = np.uint32
    k = random.key(1234)
    keys = random.split(k, 4)
    for i in range(4):
        y0, y1 = threefry2x32(k[0], k[1], np.array([i], u), np.array([1], u))
        np.testing.assert_array_equal(keys[i], [y0[0], y1[0]])
    y0, y1 = threefry2x32(k[0], k[1], np.array([9], u), np.array([2], u))
    np.testing.assert_array_equal(random.fold_in(k, 9), [y0[0], y1[0]])


def test_keys_from_seeds():
    assert random.key(0).dtype == np.uint32 and random.key(0).shape == (2,)
    np.testing.assert_array_equal(random.key(42), [0, 42])
    np.testing.assert_array_equal(random.key(2**40 + 7), [2**8, 7])
    np.testing.assert_array_equal(random.key(-1), [2**32 - 1, 2**32 - 1])
    np.testing.assert_array_equal(random.PRNGKey(3), random.key(3))
    traced = fgrad.jit(random.key)
    for seed in (0, 5, 2**40 + 7, -1):
        np.testing.assert_array_equal(traced(np.int64(seed)), random.key(seed))


def test_keys_match_jax():
    jax = pytest.importorskip("jax")
    for seed in (0, 1, 42, 2**31 - 1):
        np.testing.assert_array_equal(random.key(seed), np.asarray(jax.random.PRNGKey(seed)))


def test_split_and_fold_in_give_distinct_keys():
    k = key(0)
    keys = np.concatenate([random.split(k, 1000), [random.fold_in(k, d) for d in range(1000)]])
    assert keys.shape == (2000, 2) and keys.dtype == np.uint32
    assert len({tuple(row) for row in keys}) == 2000
    assert not any((row == k).all() for row in keys)
    np.testing.assert_array_equal(random.split(k, 3), random.split(k, 3))
    k1, k2 = random.split(k)
    np.testing.assert_array_equal(random.split(k, 5)[:2], [k1, k2])
    assert random.split(k, 0).shape == (0, 2)
    np.testing.assert_array_equal(random.split(k, (2, 3)), random.split(k, 6).reshape(2, 3, 2))
    seeds = np.array([0, 7, 2**40])
    np.testing.assert_array_equal(fgrad.vmap(random.key)(seeds), [random.key(s) for s in seeds])
    np.testing.assert_array_equal(random.wrap_key_data(random.key_data(k)), k)


def test_fold_in_traced_data_eager_jit_vmap():
    k = key(3)
    eager = np.stack([random.fold_in(k, d) for d in range(5)])
    np.testing.assert_array_equal(fgrad.vmap(random.fold_in, (None, 0))(k, np.arange(5)), eager)
    jitted = fgrad.jit(random.fold_in)
    np.testing.assert_array_equal(np.stack([jitted(k, np.int32(d)) for d in range(5)]), eager)
    # only the low 32 bits count, as in JAX
    np.testing.assert_array_equal(random.fold_in(k, 2**32 + 1), random.fold_in(k, 1))


def test_bits():
    k = key(1)
    b32, b64 = random.bits(k, (3, 4)), random.bits(k, 5, np.uint64)
    assert b32.shape == (3, 4) and b32.dtype == np.uint32
    assert b64.shape == (5,) and b64.dtype == np.uint64
    words = random.bits(k, (200_000,))
    # each of the 32 bit positions is set half the time (binomial, 6 standard errors)
    ones = ((words[:, None] >> np.arange(32, dtype=np.uint32)) & 1).mean(axis=0)
    assert np.all(np.abs(ones - 0.5) < 6 * 0.5 / math.sqrt(words.size))


@pytest.mark.parametrize(
    "bad, message",
    [
        (0, "uint32 array of shape"),
        (np.zeros(2, np.int64), "uint32"),
        (np.zeros((3, 2), np.uint32), "vmap"),
    ],
)
def test_bad_keys_are_explained(bad, message):
    with pytest.raises(TypeError, match=message):
        random.normal(bad, (2,))


def test_bad_arguments_are_explained():
    k = key(0)
    with pytest.raises(TypeError, match="floating-point dtype"):
        random.uniform(k, (2,), np.int32)
    with pytest.raises(TypeError, match="integer dtype"):
        random.randint(k, (2,), 0, 3, np.float64)
    with pytest.raises(ValueError, match="without replacement"):
        random.choice(k, 3, (4,), replace=False)
    with pytest.raises(TypeError, match="static_argnums"):
        fgrad.jit(lambda k, n: random.normal(k, (n,)))(k, 3)
    with pytest.raises(ValueError, match="do not broadcast to shape"):
        random.uniform(k, (3,), minval=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="do not broadcast to shape"):
        random.gamma(k, np.ones(4), (3,))
    with pytest.raises(ValueError, match="end with the batch shape"):
        random.categorical(k, np.zeros((2, 3)), shape=(4,))


# --- pure functions of the key: eager, jit, vmap, processes ------------------------------

MVN_COV = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])

DRAWS = {
    "uniform": lambda k: random.uniform(k, (4, 3), minval=-2.0, maxval=5.0),
    "uniform32": lambda k: random.uniform(k, (7,), np.float32),
    "normal": lambda k: random.normal(k, (5,)),
    "normal32": lambda k: random.normal(k, (2, 3), np.float32),
    "truncated_normal": lambda k: random.truncated_normal(k, np.array([-1.0, 0.5, -np.inf]), 2.0),
    "exponential": lambda k: random.exponential(k, (6,)),
    "gumbel": lambda k: random.gumbel(k, (6,)),
    "laplace": lambda k: random.laplace(k, (6,)),
    "logistic": lambda k: random.logistic(k, (6,)),
    "bernoulli": lambda k: random.bernoulli(k, np.array([0.1, 0.5, 0.9])),
    "randint": lambda k: random.randint(k, (6,), -3, 9),
    "categorical": lambda k: random.categorical(
        k, np.log(np.array([[0.2, 0.8], [0.5, 0.5]])), shape=(3, 2)
    ),
    "permutation": lambda k: random.permutation(k, 7),
    "permutation_array": lambda k: random.permutation(k, np.arange(12.0).reshape(4, 3), axis=1),
    "permutation_independent": lambda k: random.permutation(
        k, np.arange(12.0).reshape(3, 4), 1, True
    ),
    "choice": lambda k: random.choice(k, 10, (4,)),
    "choice_no_replace": lambda k: random.choice(k, np.arange(10.0) * 2, (4,), replace=False),
    "choice_p": lambda k: random.choice(k, 4, (5,), p=np.array([0.1, 0.2, 0.3, 0.4])),
    "choice_p_no_replace": lambda k: random.choice(
        k, 4, (3,), False, np.array([0.1, 0.2, 0.3, 0.4])
    ),
    "gamma": lambda k: random.gamma(k, np.array([0.05, 0.7, 1.0, 4.0, 300.0])),
    "loggamma": lambda k: random.loggamma(k, 0.01, (3,)),
    "beta": lambda k: random.beta(k, 0.5, np.array([0.5, 2.0, 30.0])),
    "dirichlet": lambda k: random.dirichlet(k, np.array([0.3, 1.0, 5.0]), (2,)),
    "multivariate_normal": lambda k: random.multivariate_normal(k, np.ones(3), MVN_COV, (2,)),
    "poisson": lambda k: random.poisson(k, np.array([0.0, 0.3, 4.0, 9.99, 10.0, 55.0, 1e4])),
    "cauchy": lambda k: random.cauchy(k, (4,)),
    "rademacher": lambda k: random.rademacher(k, (9,)),
    "chisquare": lambda k: random.chisquare(k, np.array([0.5, 3.0])),
    "t": lambda k: random.t(k, 3.0, (4,)),
    "split_shape": lambda k: random.split(k, (2, 3)),
}


def assert_same_eagerly_under_jit_and_vmap(draw, seed: int) -> None:
    """``draw(key)`` gives the same bits eagerly, under ``jit``, ``vmap`` and both, for 4 keys."""
    keys = random.split(key(seed), 4)
    eager = [np.asarray(draw(k)) for k in keys]
    assert not all(np.array_equal(eager[0], e) for e in eager[1:]), "keys must matter"
    jitted = fgrad.jit(draw)
    for k, e in zip(keys, eager):
        out = jitted(k)
        assert out.dtype == e.dtype and out.shape == e.shape
        np.testing.assert_array_equal(out, e)
    np.testing.assert_array_equal(fgrad.vmap(draw)(keys), np.stack(eager))
    np.testing.assert_array_equal(fgrad.jit(fgrad.vmap(draw))(keys), np.stack(eager))
    np.testing.assert_array_equal(fgrad.vmap(fgrad.jit(draw))(keys), np.stack(eager))


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_draws_are_the_same_eagerly_under_jit_and_vmap(name):
    assert_same_eagerly_under_jit_and_vmap(DRAWS[name], seed=11)


@pytest.mark.parametrize(
    "draw, params",
    [
        (lambda k, a: random.gamma(k, a, (3,)), np.array([0.4, 2.0, 50.0])),
        (lambda k, lam: random.poisson(k, lam, (3,)), np.array([0.5, 8.0, 400.0])),
        (lambda k, p: random.bernoulli(k, p, (5,)), np.array([0.2, 0.7])),
        (lambda k, lo: random.uniform(k, (2,), minval=lo, maxval=lo + 1), np.array([0.0, 3.0])),
        (lambda k, hi: random.randint(k, (4,), 0, hi), np.array([2, 1000])),
        (lambda k, lo: random.truncated_normal(k, lo, lo + 1, (2,)), np.array([-3.0, 4.0])),
    ],
)
def test_vmap_over_parameters_with_one_key(draw, params):
    k = key(5)
    expected = np.stack([draw(k, p) for p in params])
    np.testing.assert_array_equal(fgrad.vmap(draw, (None, 0))(k, params), expected)
    np.testing.assert_array_equal(fgrad.jit(fgrad.vmap(draw, (None, 0)))(k, params), expected)


def test_jit_treats_the_key_as_an_input():
    f = fgrad.jit(lambda k: random.normal(k, (3,)))
    a, b = f(key(1)), f(key(2))
    np.testing.assert_array_equal(a, random.normal(key(1), (3,)))
    np.testing.assert_array_equal(b, random.normal(key(2), (3,)))
    assert not np.array_equal(a, b)


def test_a_training_loop_splitting_inside_jit_and_scan():
    def step(k, _):
        k, sub = random.split(k)
        return k, random.normal(sub, (2,))

    _, eager = fgrad.lax.scan(step, key(9), None, length=5)
    _, jitted = fgrad.jit(lambda k: fgrad.lax.scan(step, k, None, length=5))(key(9))
    k, expected = key(9), []
    for _ in range(5):
        k, sub = random.split(k)
        expected.append(random.normal(sub, (2,)))
    np.testing.assert_array_equal(eager, np.stack(expected))
    np.testing.assert_array_equal(jitted, np.stack(expected))


def test_draws_are_the_same_in_another_process():
    code = (
        "import fgrad, numpy as np; k = fgrad.random.key(123);"
        "print(repr(fgrad.random.normal(k, (4,)).tolist()),"
        " repr(fgrad.random.poisson(k, 30.0, (3,)).tolist()))"
    )
    root = Path(__file__).resolve().parents[1]  # this checkout's fgrad, not an installed one
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    k = key(123)
    here = f"{random.normal(k, (4,)).tolist()!r} {random.poisson(k, 30.0, (3,)).tolist()!r}"
    assert out.stdout.strip() == here


# --- distributions: KS and chi-square tests, moments -------------------------------------

CONTINUOUS = [
    ("uniform", lambda k: random.uniform(k, (N,), minval=-1.0, maxval=3.0), stats.uniform(-1, 4)),
    ("uniform32", lambda k: random.uniform(k, (N,), np.float32), stats.uniform()),
    ("normal", lambda k: random.normal(k, (N,)), stats.norm()),
    ("normal32", lambda k: random.normal(k, (N,), np.float32), stats.norm()),
    ("normal_odd_size", lambda k: random.normal(k, (N + 1,)), stats.norm()),
    (
        "truncated_normal",
        lambda k: random.truncated_normal(k, -1.0, 2.0, (N,)),
        stats.truncnorm(-1, 2),
    ),
    (
        "truncated_upper_tail",
        lambda k: random.truncated_normal(k, 3.0, np.inf, (N,)),
        stats.truncnorm(3, np.inf),
    ),
    (
        "truncated_lower_tail",
        lambda k: random.truncated_normal(k, -np.inf, -4.0, (N,)),
        stats.truncnorm(-np.inf, -4),
    ),
    (
        "truncated_far",
        lambda k: random.truncated_normal(k, 6.0, 6.5, (N,)),
        stats.truncnorm(6.0, 6.5),
    ),
    ("exponential", lambda k: random.exponential(k, (N,)), stats.expon()),
    ("gumbel", lambda k: random.gumbel(k, (N,)), stats.gumbel_r()),
    ("laplace", lambda k: random.laplace(k, (N,)), stats.laplace()),
    ("logistic", lambda k: random.logistic(k, (N,)), stats.logistic()),
    ("gamma_0.1", lambda k: random.gamma(k, 0.1, (N,)), stats.gamma(0.1)),
    ("gamma_0.7", lambda k: random.gamma(k, 0.7, (N,)), stats.gamma(0.7)),
    ("gamma_1", lambda k: random.gamma(k, 1.0, (N,)), stats.gamma(1.0)),
    ("gamma_3.5", lambda k: random.gamma(k, 3.5, (N,)), stats.gamma(3.5)),
    ("gamma_200", lambda k: random.gamma(k, 200.0, (N,)), stats.gamma(200.0)),
    ("gamma32", lambda k: random.gamma(k, 2.0, (N,), np.float32), stats.gamma(2.0)),
    ("loggamma_0.01", lambda k: np.exp(random.loggamma(k, 0.5, (N,))), stats.gamma(0.5)),
    ("beta_0.5_0.5", lambda k: random.beta(k, 0.5, 0.5, (N,)), stats.beta(0.5, 0.5)),
    ("beta_2_5", lambda k: random.beta(k, 2.0, 5.0, (N,)), stats.beta(2, 5)),
    (
        "dirichlet_marginal",
        lambda k: random.dirichlet(k, np.array([0.5, 2.0, 4.0]), (N,))[:, 1],
        stats.beta(2.0, 4.5),
    ),
    ("cauchy", lambda k: random.cauchy(k, (N,)), stats.cauchy()),
    ("chisquare_3", lambda k: random.chisquare(k, 3.0, (N,)), stats.chi2(3)),
    ("chisquare_0.6", lambda k: random.chisquare(k, 0.6, (N,)), stats.chi2(0.6)),
    ("t_9", lambda k: random.t(k, 9.0, (N,)), stats.t(9)),
    ("t_1.5", lambda k: random.t(k, 1.5, (N,)), stats.t(1.5)),
    (
        "mvn_projection",
        lambda k: (
            random.multivariate_normal(k, np.array([1.0, -2.0, 0.5]), MVN_COV, (N,))
            @ np.array([1.0, 2.0, -1.0])
        ),
        stats.norm(
            1.0 - 4.0 - 0.5,
            math.sqrt(np.array([1.0, 2.0, -1.0]) @ MVN_COV @ np.array([1.0, 2.0, -1.0])),
        ),
    ),
]


@pytest.mark.parametrize("name, draw, dist", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_continuous_distribution_ks_and_moments(name, draw, dist):
    x = np.asarray(draw(key(2024)), dtype=np.float64)
    assert np.all(np.isfinite(x))
    assert stats.kstest(x, dist.cdf).pvalue > P_MIN
    mean, var = dist.stats("mv")
    if not np.isfinite(dist.moment(4)):  # heavy tails (Cauchy, t): the KS test only
        return
    # sample mean within 6 standard errors of the closed form
    assert abs(x.mean() - mean) < 6 * math.sqrt(var / x.size)
    # sample variance within 6 standard errors (fourth central moment from the closed form)
    mu4 = dist.moment(4) - 4 * mean * dist.moment(3) + 6 * mean**2 * dist.moment(2) - 3 * mean**4
    assert abs(x.var() - var) < 6 * math.sqrt(max(mu4 - var**2, 0) / x.size) + 1e-12


def test_support_and_dtypes():
    k = key(8)
    u32 = random.uniform(k, (100_000,), np.float32)
    assert u32.dtype == np.float32 and u32.min() >= 0 and u32.max() < 1
    u16 = random.uniform(k, (1000,), np.float16, 2.0, 3.0)
    assert u16.dtype == np.float16 and u16.min() >= 2.0 and u16.max() <= 3.0
    tn = random.truncated_normal(k, -0.5, 0.25, (100_000,))
    assert tn.min() >= -0.5 and tn.max() <= 0.25
    d = random.dirichlet(k, np.array([1e-3, 1e-3, 1.0]), (1000,))
    assert np.all(np.isfinite(d)) and np.allclose(d.sum(-1), 1.0)
    b = random.beta(k, 1e-3, 1e-3, (1000,))
    assert np.all((b >= 0) & (b <= 1))
    assert random.normal(k, (0, 3)).shape == (0, 3)
    assert np.isnan(random.gamma(k, np.array([-1.0, np.nan]))).all()
    np.testing.assert_array_equal(random.poisson(k, np.array([-1.0, np.nan])), [-1, -1])


def _chi_square_p(counts, probs):
    counts, probs = np.asarray(counts, float), np.asarray(probs, float)
    expected = probs * counts.sum()
    keep = expected >= 5  # merge the sparse tail into one cell
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    obs, exp = obs[exp > 0], exp[exp > 0]
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def test_rademacher_chi_square():
    x = random.rademacher(key(1), (N,))
    assert x.dtype == np.int64 and set(np.unique(x)) == {-1, 1}
    assert _chi_square_p([np.sum(x < 0), np.sum(x > 0)], [0.5, 0.5]) > P_MIN
    assert random.rademacher(key(1), (3,), np.float32).dtype == np.float32


@pytest.mark.parametrize("p", [0.03, 0.3, 0.5])
def test_bernoulli_chi_square(p):
    x = random.bernoulli(key(1), p, (N,))
    assert x.dtype == bool
    assert _chi_square_p([np.sum(~x), np.sum(x)], [1 - p, p]) > P_MIN
    assert random.bernoulli(key(1), 0.0, (100,)).sum() == 0
    assert random.bernoulli(key(1), 1.0, (100,)).all()


@pytest.mark.parametrize("lo, hi", [(0, 2), (-3, 7), (5, 1000), (-(2**40), 2**40)])
def test_randint_chi_square(lo, hi):
    x = random.randint(key(2), (N,), lo, hi)
    assert x.dtype == np.int64 and x.min() >= lo and x.max() < hi
    if hi - lo <= 1000:
        counts = np.bincount(x - lo, minlength=hi - lo)
        assert _chi_square_p(counts, np.full(hi - lo, 1 / (hi - lo))) > P_MIN
    else:  # 20 equal bins
        counts = np.bincount((x - lo) * 20 // (hi - lo), minlength=20)
        assert _chi_square_p(counts, np.full(20, 0.05)) > P_MIN
    assert np.all(random.randint(key(2), (10,), 3, 3) == 3)
    assert random.randint(key(2), (4,), 0, 5, np.int8).dtype == np.int8


def test_categorical_chi_square():
    p = np.array([0.05, 0.15, 0.3, 0.5])
    logits = np.log(p) + 3.0  # unnormalised
    x = random.categorical(key(3), logits, shape=(N,))
    assert _chi_square_p(np.bincount(x, minlength=4), p) > P_MIN
    # a batch along axis 0, and a category with zero probability never drawn
    table = np.log(np.array([[0.5, 0.0], [0.5, 1.0]]))
    y = random.categorical(key(3), table, axis=0, shape=(N, 2))
    assert np.all(y[:, 1] == 1)
    assert _chi_square_p(np.bincount(y[:, 0], minlength=2), [0.5, 0.5]) > P_MIN


@pytest.mark.parametrize("lam", [0.0, 0.5, 4.0, 9.9, 10.0, 30.0, 1000.0])
def test_poisson_chi_square_and_moments(lam):
    x = random.poisson(key(4), lam, (N,))
    assert x.dtype == np.int64 and x.min() >= 0
    if lam == 0:
        assert np.all(x == 0)
        return
    top = int(lam + 10 * math.sqrt(lam) + 10)
    counts = np.bincount(np.minimum(x, top), minlength=top + 1)
    probs = stats.poisson(lam).pmf(np.arange(top + 1))
    probs[-1] += stats.poisson(lam).sf(top)
    assert _chi_square_p(counts, probs) > P_MIN
    assert abs(x.mean() - lam) < 6 * math.sqrt(lam / N)


def test_permutation_is_uniform_over_permutations():
    keys = random.split(key(5), 24_000)
    perms = fgrad.vmap(lambda k: random.permutation(k, 4))(keys)
    assert np.all(np.sort(perms, axis=1) == np.arange(4))
    codes = perms @ np.array([64, 16, 4, 1])
    _, counts = np.unique(codes, return_counts=True)
    assert len(counts) == 24 and _chi_square_p(counts, np.full(24, 1 / 24)) > P_MIN


def test_permutation_of_arrays():
    x = np.arange(20.0).reshape(4, 5)
    rows = random.permutation(key(6), x)
    assert sorted(map(tuple, rows)) == sorted(map(tuple, x))
    cols = random.permutation(key(6), x, axis=1)
    np.testing.assert_array_equal(np.sort(cols, axis=1), x)
    assert len({tuple(c) for c in cols.T - cols.T[:, :1]}) <= 5  # whole columns moved
    ind = random.permutation(key(6), x, axis=1, independent=True)
    np.testing.assert_array_equal(np.sort(ind, axis=1), x)


def test_choice_distributions():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    x = random.choice(key(7), 4, (N,), p=p)
    assert _chi_square_p(np.bincount(x, minlength=4), p) > P_MIN
    y = random.choice(key(7), 6, (N,))
    assert _chi_square_p(np.bincount(y, minlength=6), np.full(6, 1 / 6)) > P_MIN
    # without replacement: distinct, and the first pick is distributed as p
    keys = random.split(key(7), 10_000)
    picks = fgrad.vmap(lambda k: random.choice(k, 4, (3,), replace=False, p=p))(keys)
    assert all(len(set(row)) == 3 for row in picks.tolist())
    assert _chi_square_p(np.bincount(picks[:, 0], minlength=4), p) > P_MIN
    # the second pick given the first: P(j second) = sum_i p_i p_j / (1 - p_i)
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    assert _chi_square_p(np.bincount(picks[:, 1], minlength=4), second) > P_MIN
    rows = random.choice(key(7), np.arange(12.0).reshape(4, 3), (2,), replace=False)
    assert rows.shape == (2, 3) and len({tuple(r) for r in rows.tolist()}) == 2
    cols = random.choice(key(7), np.arange(12.0).reshape(4, 3), (5,), axis=1)
    assert cols.shape == (4, 5)


def test_multivariate_normal_mean_and_covariance():
    mean = np.array([1.0, -2.0, 0.5])
    for method in ("cholesky", "eigh", "svd"):
        x = random.multivariate_normal(key(8), mean, MVN_COV, (N,), method=method)
        assert x.shape == (N, 3)
        se_mean = np.sqrt(np.diag(MVN_COV) / N)
        assert np.all(np.abs(x.mean(0) - mean) < 6 * se_mean)
        # Var of the sample covariance (i, j) is (S_ii S_jj + S_ij^2) / N
        se_cov = np.sqrt((np.outer(np.diag(MVN_COV), np.diag(MVN_COV)) + MVN_COV**2) / N)
        assert np.all(np.abs(np.cov(x.T) - MVN_COV) < 6 * se_cov)
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    y = random.multivariate_normal(key(8), np.zeros(2), singular, (100,), method="eigh")
    np.testing.assert_allclose(y[:, 0], y[:, 1], atol=1e-7)


def test_dirichlet_moments():
    alpha = np.array([0.5, 2.0, 4.0])
    x = random.dirichlet(key(9), alpha, (N,))
    np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-12)
    a0 = alpha.sum()
    mean = alpha / a0
    var = mean * (1 - mean) / (a0 + 1)
    assert np.all(np.abs(x.mean(0) - mean) < 6 * np.sqrt(var / N))
    cov01 = -mean[0] * mean[1] / (a0 + 1)
    assert abs(np.cov(x.T)[0, 1] - cov01) < 6 * math.sqrt(2 * var[0] * var[1] / N)


# --- derivatives -------------------------------------------------------------------------


def _central_difference(f, x, eps=1e-6):
    x = np.asarray(x, float)
    grads = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        grads[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return grads


def test_uniform_is_differentiable_in_its_bounds():
    k = key(10)
    w = np.linspace(-1, 1, 5)

    def f(bounds):
        return fnp.sum(w * random.uniform(k, (5,), minval=bounds[0], maxval=bounds[1]))

    bounds = np.array([-1.0, 2.5])
    u = random.uniform(k, (5,))
    # d/dlo (lo + (hi - lo) u) = 1 - u, d/dhi = u
    expected = np.array([np.sum(w * (1 - u)), np.sum(w * u)])
    np.testing.assert_allclose(fgrad.grad(f)(bounds), expected, rtol=1e-12)
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(f))(bounds), expected, rtol=1e-12)


def test_truncated_normal_is_differentiable_in_its_bounds():
    k = key(11)

    def f(bounds):
        return fnp.sum(random.truncated_normal(k, bounds[0], bounds[1], (6,)) ** 2)

    for bounds in (np.array([-1.0, 0.7]), np.array([0.5, 2.0])):
        np.testing.assert_allclose(
            fgrad.grad(f)(bounds), _central_difference(lambda b: float(f(b)), bounds), rtol=1e-5
        )


def test_reparameterised_normal_and_multivariate_normal():
    k = key(12)
    z = random.normal(k, (4,))
    g = fgrad.grad(lambda p: fnp.sum((p[0] + p[1] * random.normal(k, (4,))) ** 2))(
        np.array([0.3, 2.0])
    )
    x = 0.3 + 2.0 * z
    np.testing.assert_allclose(g, [np.sum(2 * x), np.sum(2 * x * z)], rtol=1e-12)

    b = np.array([[1.0, 0.2], [0.4, 0.8]])

    def f(flat):
        m, bb = flat[:2], flat[2:].reshape(2, 2)
        cov = bb @ bb.T + np.eye(2)
        return fnp.sum(fnp.sin(random.multivariate_normal(k, m, cov, (3,))))

    flat = np.concatenate([[0.1, -0.2], b.ravel()])
    np.testing.assert_allclose(
        fgrad.grad(f)(flat), _central_difference(lambda v: float(f(v)), flat), rtol=1e-6, atol=1e-9
    )


def test_exponential_scale_and_gumbel_location_are_reparameterised():
    k = key(13)
    e = random.exponential(k, (5,))
    g = fgrad.grad(lambda rate: fnp.sum(random.exponential(k, (5,)) / rate))(2.0)
    np.testing.assert_allclose(g, -np.sum(e) / 4.0, rtol=1e-12)


@pytest.mark.parametrize("a", [0.02, 0.3, 1.0, 4.0, 80.0])
def test_gamma_derivative_is_the_implicit_one(a):
    # moving a with the draw's quantile u = P(a, x) fixed: x(a) = P^-1(a, u), by SciPy
    special = pytest.importorskip("scipy.special")
    k = key(15)
    x = random.gamma(k, a, (8,))
    u = special.gammainc(a, x)
    h = 1e-6 * a
    expected = (special.gammaincinv(a + h, u) - special.gammaincinv(a - h, u)) / (2 * h)
    draw = lambda a: random.gamma(k, a, (8,))  # noqa: E731
    np.testing.assert_allclose(fgrad.jacfwd(draw)(a), expected, rtol=1e-6)
    np.testing.assert_allclose(fgrad.jacrev(draw)(a), expected, rtol=1e-6)
    np.testing.assert_allclose(fgrad.jit(fgrad.jacfwd(draw))(a), expected, rtol=1e-6)
    log_draw = lambda a: random.loggamma(k, a, (8,))  # noqa: E731
    np.testing.assert_allclose(fgrad.jacfwd(log_draw)(a), expected / x, rtol=1e-6)


def test_gamma_family_gradients_match_the_derivatives_of_their_means():
    # d E[x] / d theta = E[d x / d theta]: sample means of the gradients, 6 standard errors
    k = key(16)

    def check(draw, theta, expected):
        g = np.asarray(fgrad.jacfwd(draw)(theta))
        assert np.all(np.abs(g.mean(0) - expected) < 6 * g.std(0) / math.sqrt(len(g)))

    check(lambda a: random.gamma(k, a, (N,)), 0.4, 1.0)  # E x = a
    check(lambda a: random.gamma(k, a, (N,)), 7.0, 1.0)
    check(lambda df: random.chisquare(k, df, (N,)), 3.0, 1.0)  # E x = df
    a, b = 2.0, 3.0  # E x = a / (a + b)
    check(lambda a: random.beta(k, a, b, (N,)), a, b / (a + b) ** 2)
    alpha = np.array([0.5, 1.5, 3.0])  # E x_i = alpha_i / sum(alpha)
    s = alpha.sum()
    jac = (np.eye(3) * s - alpha[:, None]) / s**2  # d E x_i / d alpha_j
    check(lambda al: random.dirichlet(k, al, (N,)), alpha, jac)


def test_gamma_derivative_under_vmap_and_jit():
    keys = random.split(key(17), 4)
    dg = fgrad.grad(lambda k, a: random.gamma(k, a), argnums=1)
    each = [dg(k, 2.5) for k in keys]
    np.testing.assert_allclose(fgrad.vmap(dg, (0, None))(keys, 2.5), each, rtol=1e-12)
    np.testing.assert_allclose([fgrad.jit(dg)(k, 2.5) for k in keys], each, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="with respect to a"):
        fgrad.grad(fgrad.grad(lambda a: random.gamma(key(0), a)))(2.0)


def test_per_example_noise_under_vmap_of_grad():
    keys = random.split(key(14), 3)
    xs = np.array([0.5, -1.0, 2.0])

    def loss(w, k, x):
        return (w * x + 0.1 * random.normal(k)) ** 2

    g = fgrad.vmap(fgrad.grad(loss), (None, 0, 0))(1.5, keys, xs)
    expected = [2 * (1.5 * x + 0.1 * random.normal(k)) * x for k, x in zip(keys, xs)]
    np.testing.assert_allclose(g, expected, rtol=1e-12)


# --- the frozen-constant trap ------------------------------------------------------------


def test_numpy_draw_inside_jit_warns():
    np.random.seed(0)

    def f(x):
        return x + np.random.normal(size=x.shape)

    with pytest.warns(random.FrozenRandomWarning, match="fgrad.random"):
        jitted = fgrad.jit(f)
        a = jitted(np.zeros(3))
    np.testing.assert_array_equal(jitted(np.zeros(3)), a)  # the trap itself: frozen


RNG = np.random.default_rng(0)  # a script's global generator, read by a jitted function


def _noisy_with_the_global_generator(x):
    return x + RNG.normal(size=x.shape)


@pytest.mark.parametrize("make_rng", [np.random.default_rng, np.random.RandomState])
def test_generator_draw_inside_jit_warns(make_rng):
    with pytest.warns(random.FrozenRandomWarning, match="fgrad.random"):
        fgrad.jit(_noisy_with_the_global_generator)(np.zeros(2))
    rng = make_rng(1)

    def closure(x):
        return x * rng.uniform(size=x.shape)

    with pytest.warns(random.FrozenRandomWarning, match="jit\\(closure\\)"):
        fgrad.jit(closure)(np.ones(2))


def test_no_warning_without_numpy_draws():
    with warnings.catch_warnings():
        warnings.simplefilter("error", random.FrozenRandomWarning)
        fgrad.jit(lambda k: random.normal(k, (3,)))(key(0))
        np.random.seed(0)  # draws outside the trace do not count
        x = np.random.normal(size=3)
        fgrad.jit(lambda x: x * 2)(x)
        np.random.normal(size=3)
        rng = np.random.default_rng(0)  # named but not drawn from while tracing
        fgrad.jit(lambda x: x + 0 * len(str(rng)))(x)
        fgrad.jit(lambda x: x + RNG.bit_generator.state["state"]["state"] % 2)(x)
