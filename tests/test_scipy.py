"""fgrad.scipy: SciPy's values for special functions and distributions, derivatives to
second order (finite differences), stability at extreme inputs, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.signal
import scipy.special
import scipy.stats

import fgrad
import fgrad.numpy as fnp
from fgrad.scipy import integrate, linalg, signal, special, stats
from fgrad.test_util import check_grads

RNG = np.random.default_rng(31)
X = RNG.uniform(0.3, 2.5, size=(2, 3))

UNARY = {
    "erf": X - 1,
    "erfc": X - 1,
    "erfinv": (X - 1.4) / 1.2,
    "erfcinv": X / 2.6,
    "gammaln": X,
    "digamma": X,
    "psi": X,
    "gamma": X,
    "rgamma": X,
    "gammasgn": X - 1,
    "i0": X,
    "i1": X,
    "j0": X,
    "j1": X,
    "y0": X,
    "y1": X,
    "ndtr": X - 1,
    "ndtri": X / 2.6,
    "log_ndtr": X - 1,
    "expit": X - 1,
    "logit": X / 2.6,
    "log_expit": X - 1,
    "entr": X,
}
BINARY = {
    "polygamma": (np.array([0, 1, 3]), X),
    "gammainc": (1.5, X),
    "gammaincc": (1.5, X),
    "iv": (np.array([0.5, 1.0, 2.0]), X),
    "ive": (np.array([0.5, 1.0, 2.0]), X),
    "jn": (2, X),
    "yn": (2, X),
    "jv": (1.5, X),
    "yv": (1.5, X),
    "beta": (X, X + 0.5),
    "betaln": (X, X + 0.5),
    "xlogy": (X - 0.5, X),
    "xlog1py": (X - 0.5, X),
    "multigammaln": (X + 3, 3),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_values_like_scipy(name, dtype):
    x = UNARY[name].astype(dtype)
    got, want = getattr(special, name)(x), getattr(scipy.special, name)(x)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_values_like_scipy(name):
    args = BINARY[name]
    np.testing.assert_allclose(
        getattr(special, name)(*args), getattr(scipy.special, name)(*args), rtol=1e-12
    )


@pytest.mark.parametrize("name", sorted(set(UNARY) - {"gammasgn"}))
def test_unary_derivatives(name):
    check_grads(getattr(special, name), (UNARY[name],), order=2)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_derivatives_in_the_last_differentiable_argument(name):
    args = BINARY[name]
    if name in ("beta", "betaln", "xlogy", "xlog1py"):
        check_grads(getattr(special, name), args, order=2)
    elif name == "multigammaln":
        check_grads(lambda a: special.multigammaln(a, 3), (args[0],), order=2)
    else:
        check_grads(lambda x: getattr(special, name)(args[0], x), (args[1],), order=2)


def test_closed_forms_and_complex_erf():
    np.testing.assert_allclose(
        fgrad.grad(lambda x: fnp.sum(special.gammaln(x)))(X), scipy.special.digamma(X)
    )
    np.testing.assert_allclose(
        fgrad.grad(lambda x: fnp.sum(special.erf(x)))(X), 2 / np.sqrt(np.pi) * np.exp(-(X**2))
    )
    z = np.array([0.3 + 0.4j, -1.0 + 0.2j])
    np.testing.assert_allclose(special.erf(z), scipy.special.erf(z))
    check_grads(special.erf, (z,), order=2)


def test_shape_parameters_refuse_to_be_differentiated():
    with pytest.raises(NotImplementedError, match="gammainc with respect to a"):
        fgrad.grad(lambda a: fnp.sum(special.gammainc(a, X)))(1.5)
    with pytest.raises(NotImplementedError, match="polygamma with respect to n"):
        fgrad.grad(lambda n: fnp.sum(special.polygamma(n, X)))(1.0)


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_like_scipy_with_weights_and_signs(axis, keepdims):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    np.testing.assert_allclose(
        special.logsumexp(a, axis, keepdims=keepdims),
        scipy.special.logsumexp(a, axis, keepdims=keepdims),
    )
    for got, want in zip(
        special.logsumexp(a, axis, b=b, keepdims=keepdims, return_sign=True),
        scipy.special.logsumexp(a, axis, b=b, keepdims=keepdims, return_sign=True),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    check_grads(lambda a: special.logsumexp(a, axis, b=np.abs(b), keepdims=keepdims), (a,))
    # the gradient of logsumexp is softmax
    g = fgrad.grad(lambda a: special.logsumexp(a))(a)
    np.testing.assert_allclose(g, scipy.special.softmax(a), rtol=1e-12)


def test_stability_at_extremes():
    assert special.logsumexp(np.array([1000.0, 1000.0])) == pytest.approx(1000 + np.log(2))
    assert special.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf
    assert np.all(np.isfinite(fgrad.grad(lambda a: special.logsumexp(a))(np.array([-np.inf, 0.0]))))
    x = np.array([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(special.log_softmax(x), scipy.special.log_softmax(x))
    assert np.all(np.isfinite(fgrad.grad(lambda x: fnp.sum(special.expit(x)))(x)))
    assert np.all(
        np.isfinite(fgrad.grad(lambda y: fnp.sum(special.xlogy(0.0, y)))(np.array([0.0, 1.0])))
    )
    assert stats.norm.logcdf(-40.0) == pytest.approx(scipy.stats.norm.logcdf(-40.0))
    assert np.isfinite(fgrad.grad(stats.norm.logcdf)(-40.0))


DISTRIBUTIONS = [
    ("norm.logpdf", (X - 1, 0.3, 1.7)),
    ("norm.pdf", (X - 1, 0.3, 1.7)),
    ("norm.cdf", (X - 1, 0.3, 1.7)),
    ("norm.logcdf", (X - 1, 0.3, 1.7)),
    ("norm.sf", (X - 1, 0.3, 1.7)),
    ("norm.logsf", (X - 1, 0.3, 1.7)),
    ("norm.ppf", (X / 2.6, 0.3, 1.7)),
    ("t.logpdf", (X - 1, 3.5, 0.2, 1.3)),
    ("t.pdf", (X - 1, 3.5, 0.2, 1.3)),
    ("t.cdf", (X - 1, 3.5, 0.2, 1.3)),
    ("gamma.logpdf", (X, 2.5)),
    ("gamma.cdf", (X, 2.5)),
    ("chi2.logpdf", (X, 3.0)),
    ("chi2.cdf", (X, 3.0)),
    ("beta.logpdf", (X / 2.6, 2.0, 3.0)),
    ("beta.cdf", (X / 2.6, 2.0, 3.0)),
    ("poisson.logpmf", (np.array([0.0, 2.0, 5.0]), X)),
    ("poisson.pmf", (np.array([0.0, 2.0, 5.0]), X)),
    ("poisson.cdf", (np.array([0.0, 2.0, 5.0]), X)),
]


def _dist(name, module):
    dist, fn = name.split(".")
    return getattr(getattr(module, dist), fn)


@pytest.mark.parametrize("name, args", DISTRIBUTIONS, ids=[d[0] for d in DISTRIBUTIONS])
def test_distributions_like_scipy_and_differentiable(name, args):
    np.testing.assert_allclose(
        _dist(name, stats)(*args), _dist(name, scipy.stats)(*args), rtol=1e-10
    )
    if name.startswith("poisson"):  # differentiable in the mean
        check_grads(lambda mu: _dist(name, stats)(args[0], mu), (args[1],), order=2)
    elif name.split(".")[1] in ("cdf", "logcdf") and not name.startswith("norm"):
        check_grads(lambda x: _dist(name, stats)(x, *args[1:]), (args[0],), order=2)
    else:
        check_grads(_dist(name, stats), args, order=2)


def test_dirichlet_and_multivariate_normal_like_scipy():
    alpha = np.array([1.5, 2.0, 3.5])
    x = np.array([0.2, 0.5, 0.3])
    np.testing.assert_allclose(
        stats.dirichlet.logpdf(x, alpha), scipy.stats.dirichlet.logpdf(x, alpha)
    )
    check_grads(stats.dirichlet.logpdf, (x, alpha), order=2)
    m = RNG.standard_normal((3, 3))
    cov, mean, pts = m @ m.T + np.eye(3), RNG.standard_normal(3), RNG.standard_normal((5, 3))
    np.testing.assert_allclose(
        stats.multivariate_normal.logpdf(pts, mean, cov),
        scipy.stats.multivariate_normal.logpdf(pts, mean, cov),
    )
    np.testing.assert_allclose(
        stats.multivariate_normal.entropy(mean, cov),
        scipy.stats.multivariate_normal.entropy(mean, cov),
    )
    check_grads(
        lambda x, mu, c: stats.multivariate_normal.logpdf(x, mu, c @ c.T + np.eye(3)),
        (pts, mean, m),
        order=2,
    )
    singular = np.diag([1.0, 2.0, 0.0])
    x0 = np.array([0.3, -0.2, 0.0])
    np.testing.assert_allclose(
        stats.multivariate_normal.logpdf(x0, np.zeros(3), singular, allow_singular=True),
        scipy.stats.multivariate_normal.logpdf(x0, np.zeros(3), singular, allow_singular=True),
    )


def test_scipy_linalg_like_scipy_and_differentiable():
    a, b = RNG.standard_normal((4, 4)) + 4 * np.eye(4), RNG.standard_normal((4, 2))
    s = a @ a.T
    np.testing.assert_allclose(
        linalg.solve_triangular(a, b, lower=True), scipy.linalg.solve_triangular(a, b, lower=True)
    )
    np.testing.assert_allclose(linalg.cholesky(s), scipy.linalg.cholesky(s))
    np.testing.assert_allclose(
        linalg.cho_solve(linalg.cho_factor(s), b),
        scipy.linalg.cho_solve(scipy.linalg.cho_factor(s), b),
    )
    q = RNG.standard_normal((4, 4))
    np.testing.assert_allclose(
        linalg.solve_sylvester(a, a.T, q), scipy.linalg.solve_sylvester(a, a.T, q)
    )
    ab = RNG.standard_normal((3, 5)) + np.array([[0], [4], [0]])
    np.testing.assert_allclose(
        linalg.solve_banded((1, 1), ab, b[:, 0].repeat(2)[:5]),
        scipy.linalg.solve_banded((1, 1), ab, b[:, 0].repeat(2)[:5]),
    )
    np.testing.assert_allclose(linalg.sqrtm(s), scipy.linalg.sqrtm(s), rtol=1e-8)
    check_grads(lambda a, b: linalg.solve_triangular(a, b, lower=True), (a, b), order=2)
    check_grads(linalg.solve_sylvester, (a, a.T, q), order=2)
    check_grads(lambda ab: linalg.solve_banded((1, 1), ab, np.ones(5)), (ab,), order=1)
    check_grads(linalg.sqrtm, (s,), order=1)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolve_like_scipy_and_differentiable(mode):
    for a, b in [
        (RNG.standard_normal(6), RNG.standard_normal(3)),
        (RNG.standard_normal((4, 3)), RNG.standard_normal((2, 2))),
    ]:
        np.testing.assert_allclose(signal.convolve(a, b, mode), scipy.signal.convolve(a, b, mode))
        check_grads(lambda a, b: signal.convolve(a, b, mode), (a, b), order=2)
    # HIPS autograd's extension: chosen axes, plus axes summed as a dot product
    a, b = RNG.standard_normal((3, 5)), RNG.standard_normal((3, 4, 2))
    got = signal.convolve(a, b, axes=([1], [1]), dot_axes=([0], [0]), mode=mode)
    want = sum(
        np.stack([scipy.signal.convolve(a[i], b[i, :, k], mode) for k in range(2)])
        for i in range(3)
    )
    np.testing.assert_allclose(got, want)


def test_odeint_values_and_adjoint_gradient():
    def f(y, t, a):
        return -y * a + fnp.sin(t)

    y0, t, a = np.array([1.0, 0.5]), np.linspace(0.0, 1.0, 5), np.array([0.7, 1.3])
    want = scipy.integrate.odeint(lambda y, t, a: -y * a + np.sin(t), y0, t, args=(a,))
    np.testing.assert_allclose(integrate.odeint(f, y0, t, (a,)), want)
    g_y0, g_t, g_a = fgrad.grad(
        lambda y0, t, a: fnp.sum(integrate.odeint(f, y0, t, (a,), rtol=1e-10, atol=1e-10) ** 2),
        argnums=(0, 1, 2),
    )(y0, t, a)
    eps = 1e-5

    def loss(y0, t, a):
        out = scipy.integrate.odeint(
            lambda y, t, a: -y * a + np.sin(t), y0, t, args=(a,), rtol=1e-10, atol=1e-10
        )
        return np.sum(out**2)

    for k in range(2):
        e = np.eye(2)[k] * eps
        assert g_y0[k] == pytest.approx(
            (loss(y0 + e, t, a) - loss(y0 - e, t, a)) / (2 * eps), rel=1e-5
        )
        assert g_a[k] == pytest.approx(
            (loss(y0, t, a + e) - loss(y0, t, a - e)) / (2 * eps), rel=1e-5
        )
    e = np.eye(5)[3] * eps
    assert g_t[3] == pytest.approx((loss(y0, t + e, a) - loss(y0, t - e, a)) / (2 * eps), rel=1e-4)
    with pytest.raises(fgrad.TransformError, match="reverse mode"):
        fgrad.jvp(lambda y0: integrate.odeint(f, y0, t, (a,)), (y0,), (y0,))
