"""fgrad.nn.initializers: JAX's initialiser factories, taking a fgrad.random key.

Variances are checked against the closed forms ``scale / fan`` (statistically, fixed
seeds, six standard errors of the sample variance), shapes of the distributions by
KS tests, fans for dense, convolution and batched shapes, the truncated normal's
variance correction, and orthogonality.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fgrad
from fgrad import random
from fgrad.nn import initializers as init

stats = pytest.importorskip("scipy.stats")

TRUNC = stats.truncnorm(-2, 2)
TRUNC_STD = math.sqrt(TRUNC.var())


def _standardised(distribution: str):
    """The distribution of ``W / sqrt(target variance)``."""
    if distribution == "uniform":
        return stats.uniform(-math.sqrt(3), 2 * math.sqrt(3))
    if distribution == "normal":
        return stats.norm()
    return stats.truncnorm(-2, 2, scale=1 / TRUNC_STD)


def _check_variance(w, variance, distribution):
    z = np.asarray(w, np.float64).ravel() / math.sqrt(variance)
    dist = _standardised(distribution)
    assert abs(z.mean()) < 6 / math.sqrt(z.size)
    mu4 = dist.moment(4)
    assert abs(z.var() - 1.0) < 6 * math.sqrt((mu4 - 1.0) / z.size)
    assert stats.kstest(z, dist.cdf).pvalue > 1e-4


PRESETS = [
    (init.glorot_uniform, 1.0, "fan_avg", "uniform"),
    (init.glorot_normal, 1.0, "fan_avg", "truncated_normal"),
    (init.xavier_uniform, 1.0, "fan_avg", "uniform"),
    (init.xavier_normal, 1.0, "fan_avg", "truncated_normal"),
    (init.he_uniform, 2.0, "fan_in", "uniform"),
    (init.he_normal, 2.0, "fan_in", "truncated_normal"),
    (init.kaiming_uniform, 2.0, "fan_in", "uniform"),
    (init.kaiming_normal, 2.0, "fan_in", "truncated_normal"),
    (init.lecun_uniform, 1.0, "fan_in", "uniform"),
    (init.lecun_normal, 1.0, "fan_in", "truncated_normal"),
]


@pytest.mark.parametrize(
    "factory, scale, mode, distribution", PRESETS, ids=[p[0].__name__ for p in PRESETS]
)
def test_presets_have_the_closed_form_variance(factory, scale, mode, distribution):
    fan_in, fan_out = 300, 500
    w = factory()(random.key(1), (fan_in, fan_out))
    assert w.shape == (fan_in, fan_out) and w.dtype == np.float64
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    _check_variance(w, scale / fan, distribution)
    if distribution == "truncated_normal":  # truncated at two standard deviations
        assert np.abs(w).max() <= 2 * math.sqrt(scale / fan) / TRUNC_STD + 1e-12


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_modes_and_receptive_field(mode, distribution):
    shape = (3, 3, 16, 32)  # a convolution kernel: receptive field 9
    fan_in, fan_out = 9 * 16, 9 * 32
    fan = {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo": math.sqrt(fan_in * fan_out),
    }[mode]
    w = init.variance_scaling(0.5, mode, distribution)(random.key(2), shape)
    assert w.shape == shape
    _check_variance(w, 0.5 / fan, distribution)


def test_variance_scaling_axes_and_batch_axis():
    # a stack of 50 (in=20, out=40) weights with the axes moved around
    shape = (40, 50, 20)
    f = init.variance_scaling(1.0, "fan_in", "normal", in_axis=2, out_axis=0, batch_axis=(1,))
    _check_variance(f(random.key(3), shape), 1.0 / 20, "normal")
    g = init.variance_scaling(1.0, "fan_out", "normal", in_axis=2, out_axis=(0, 1))
    _check_variance(g(random.key(3), shape), 1.0 / 2000, "normal")


def test_dtypes_keys_jit_and_vmap():
    he = init.he_normal()
    k = random.key(4)
    assert he(k, (4, 5), np.float32).dtype == np.float32
    assert init.he_normal(dtype=np.float32)(k, (4, 5)).dtype == np.float32
    np.testing.assert_array_equal(he(k, (4, 5)), he(k, (4, 5)))
    assert not np.array_equal(he(k, (4, 5)), he(random.key(5), (4, 5)))
    jitted = fgrad.jit(he, static_argnums=1)
    np.testing.assert_array_equal(jitted(k, (4, 5)), he(k, (4, 5)))
    keys = random.split(k, 3)
    for f in (he, init.orthogonal(), init.glorot_uniform(), init.normal(0.3)):
        stack = fgrad.vmap(lambda kk, f=f: f(kk, (4, 5)))(keys)
        np.testing.assert_array_equal(stack, np.stack([f(kk, (4, 5)) for kk in keys]))


@pytest.mark.parametrize(
    "shape, column_axis", [((7, 4), -1), ((4, 7), -1), ((3, 3, 4, 8), -1), ((5, 2, 3), 0)]
)
def test_orthogonal(shape, column_axis):
    q = init.orthogonal(scale=2.0, column_axis=column_axis)(random.key(6), shape)
    assert q.shape == shape
    m = np.moveaxis(q, column_axis, -1).reshape(-1, shape[column_axis]) / 2.0
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_is_haar_distributed():
    # Haar: each entry of a uniformly random orthogonal n x n matrix has mean 0 and
    # variance 1/n; without the sign correction of R's diagonal, Q[0, 0] would be >= 0.
    n = 4
    keys = random.split(random.key(7), 20_000)
    q = fgrad.vmap(lambda k: init.orthogonal()(k, (n, n)))(keys)
    entries = q[:, 0, 0]
    assert abs(entries.mean()) < 6 * math.sqrt(1 / n / entries.size)
    assert abs((entries**2).mean() - 1 / n) < 6 * math.sqrt(entries.var() / entries.size)
    # the distribution of one entry: (x + 1) / 2 ~ Beta((n - 1) / 2, (n - 1) / 2)
    assert stats.kstest((entries + 1) / 2, stats.beta((n - 1) / 2, (n - 1) / 2).cdf).pvalue > 1e-4


def test_simple_initializers():
    k = random.key(8)
    w = init.normal(0.05)(k, (200, 300))
    _check_variance(w, 0.05**2, "normal")
    u = init.uniform(0.2)(k, (200, 300))
    assert u.min() >= 0 and u.max() < 0.2
    assert abs(u.mean() - 0.1) < 6 * 0.2 / math.sqrt(12 * u.size)
    t = init.truncated_normal(0.1)(k, (200, 300))
    assert np.abs(t).max() <= 0.2
    assert abs(t.std() - 0.1 * TRUNC_STD) < 6 * 0.1 * math.sqrt(TRUNC.moment(4) / t.size)
    np.testing.assert_array_equal(init.constant(-0.5)(k, (2, 3)), np.full((2, 3), -0.5))
    assert init.constant(1, np.int32)(k, (2,)).dtype == np.int32
    np.testing.assert_array_equal(init.zeros(k, (3,)), np.zeros(3))
    np.testing.assert_array_equal(init.ones(k, (2, 2), np.float32), np.ones((2, 2), np.float32))
    assert init.zeros(k, 3, np.float32).dtype == np.float32


def test_errors_are_explained():
    with pytest.raises(ValueError, match="mode must be one of"):
        init.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(ValueError, match="distribution must be one of"):
        init.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError, match="at least two dimensions"):
        init.he_normal()(random.key(0), (5,))
    with pytest.raises(TypeError, match="floating-point dtype"):
        init.glorot_uniform()(random.key(0), (2, 2), np.int32)
    with pytest.raises(TypeError, match="fgrad.nn.initializers.variance_scaling: shape must be"):
        init.he_uniform()(random.key(0), "big")
    with pytest.raises(TypeError, match="random.key"):
        init.he_uniform()(np.random.default_rng(0), (2, 2))


def test_generator_functions_keep_working():
    rng = np.random.default_rng(0)
    assert fgrad.nn.he_normal(rng, (3, 4)).shape == (3, 4)
    params = fgrad.nn.mlp_init(np.random.default_rng(0), [2, 3, 1])
    assert params[0]["W"].shape == (2, 3)


def test_variances_match_jax():
    jax = pytest.importorskip("jax")
    shape = (3, 3, 24, 40)
    for name in ("glorot_normal", "he_uniform", "lecun_normal"):
        ours = getattr(init, name)()(random.key(9), shape)
        theirs = np.asarray(getattr(jax.nn.initializers, name)()(jax.random.PRNGKey(9), shape))
        # same target variance: the ratio of sample variances is within 6 standard errors of 1
        se = math.sqrt(2 * 2 / ours.size)
        assert abs(ours.var() / theirs.var() - 1) < 6 * se
        assert abs(np.abs(ours).max() - np.abs(theirs).max()) < 0.05 * np.abs(theirs).max()


@pytest.mark.parametrize("name", ["he_normal", "orthogonal"])
def test_a_non_float_dtype_error_names_the_initializers_module(name):
    pattern = r"fgrad\.nn\.initializers\.\w+: dtype must be a floating"
    with pytest.raises(TypeError, match=pattern):
        getattr(init, name)()(random.key(0), (3, 3), np.int32)
