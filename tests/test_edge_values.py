"""Values at the edge points of every where-trap-safe function, not only finiteness.

``tests/test_where_trap.py`` checks that values and derivatives at the points where a
naive formula fails are finite. Finite is not right: removing a guard can leave a finite
but wrong value (``norm(zeros(3), 3) == 1.0``). Here each value is compared with NumPy
or SciPy, and each derivative with its closed form or the subgradient the docs name
(``docs/where_trap.md``, ``docs/nn.md``, ``docs/linalg.md``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as sst

import fgrad
import fgrad.numpy as fnp
from fgrad import nn
from fgrad.scipy import special

INF = np.inf


def _sigmoid(x):
    return sps.expit(x)


def close(got, want, tol=1e-12):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


# (name, f, x, value wanted (from NumPy/SciPy), gradient wanted (closed form/subgradient))
CASES = [
    ("norm-zero", fnp.linalg.norm, np.zeros(3), 0.0, np.zeros(3)),
    ("norm-with-zero-entry", fnp.linalg.norm, np.array([3.0, 0.0, -4.0]), 5.0,
     np.array([0.6, 0.0, -0.8])),
    ("frobenius-zero", fnp.linalg.norm, np.zeros((2, 2)), 0.0, np.zeros((2, 2))),
    ("fro-zero", lambda x: fnp.linalg.norm(x, "fro"), np.zeros((2, 3)), 0.0, np.zeros((2, 3))),
    ("norm3-zero", lambda x: fnp.linalg.norm(x, 3), np.zeros(3), 0.0, np.zeros(3)),
    ("norm3-with-zero", lambda x: fnp.linalg.norm(x, 3), np.array([1.0, 0.0, -2.0]),
     np.linalg.norm([1.0, 0.0, -2.0], 3), np.array([1.0, 0.0, -4.0]) / 9.0 ** (2 / 3)),
    ("norm1.5-zero", lambda x: fnp.linalg.norm(x, 1.5), np.zeros(2), 0.0, np.zeros(2)),
    ("norm1-kink", lambda x: fnp.linalg.norm(x, 1), np.array([0.0, 1.0, -2.0]), 3.0,
     np.array([0.0, 1.0, -1.0])),
    ("norm-inf-ties", lambda x: fnp.linalg.norm(x, INF), np.array([1.0, -3.0, 3.0]), 3.0,
     np.array([0.0, -0.5, 0.5])),
    ("norm-minus-inf", lambda x: fnp.linalg.norm(x, -INF), np.array([1.0, -3.0, 0.5]), 0.5,
     np.array([0.0, 0.0, 1.0])),
    ("norm-axis-zero-row", lambda x: fnp.sum(fnp.linalg.norm(x, axis=1)),
     np.array([[0.0, 0.0], [3.0, 4.0]]), 5.0, np.array([[0.0, 0.0], [0.6, 0.8]])),
    ("std-constant", fnp.std, np.ones(3), 0.0, np.zeros(3)),
    ("std-one-element", fnp.std, np.array([2.0]), 0.0, np.zeros(1)),
    ("std-regular", fnp.std, np.array([1.0, 2.0, 4.0]), np.std([1.0, 2.0, 4.0]),
     (np.array([1.0, 2.0, 4.0]) - 7 / 3) / (3 * np.std([1.0, 2.0, 4.0]))),
    ("std-ddof-constant", lambda x: fnp.std(x, ddof=1), np.full(4, -2.0), 0.0, np.zeros(4)),
    ("nanstd-constant", fnp.nanstd, np.array([1.0, np.nan, 1.0]), 0.0, np.zeros(3)),
    ("hypot-zero", lambda x: fnp.sum(fnp.hypot(x, x)), np.zeros(2), 0.0, np.zeros(2)),
    ("hypot-3-4", lambda x: fnp.hypot(x[0], x[1]), np.array([3.0, 4.0]), 5.0,
     np.array([0.6, 0.8])),
    ("sinc-zero", lambda x: fnp.sum(fnp.sinc(x)), np.zeros(2), 2.0, np.zeros(2)),
    ("relu-kink", lambda x: fnp.sum(nn.relu(x)), np.array([-1000.0, 0.0, 2.0]), 2.0,
     np.array([0.0, 0.0, 1.0])),
    ("softplus", lambda x: fnp.sum(nn.softplus(x)), np.array([-1000.0, 0.0, 1000.0]),
     np.log(2.0) + 1000.0, np.array([0.0, 0.5, 1.0])),
    ("sigmoid", lambda x: fnp.sum(nn.sigmoid(x) * np.array([1.0, 2.0, 3.0])),
     np.array([-1000.0, 0.0, 1000.0]), 1.0 + 3.0, np.array([0.0, 0.5, 0.0])),
    ("sigmoid-moderate", lambda x: fnp.sum(nn.sigmoid(x) * np.array([1.0, 2.0])),
     np.array([-3.0, 2.0]), _sigmoid(-3.0) + 2 * _sigmoid(2.0),
     np.array([1.0, 2.0]) * _sigmoid(np.array([-3.0, 2.0])) * _sigmoid(np.array([3.0, -2.0]))),
    ("log_sigmoid", lambda x: fnp.sum(nn.log_sigmoid(x)), np.array([-1000.0, 0.0, 1000.0]),
     -1000.0 - np.log(2.0), np.array([1.0, 0.5, 0.0])),
    ("silu", lambda x: fnp.sum(nn.silu(x)), np.array([-1000.0, 0.0, 1000.0]), 1000.0,
     np.array([0.0, 0.5, 1.0])),
    ("gelu-exact", lambda x: fnp.sum(nn.gelu(x, approximate=False)), np.array([-1.0, 0.0, 2.0]),
     np.sum(np.array([-1.0, 0.0, 2.0]) * sst.norm.cdf([-1.0, 0.0, 2.0])),
     sst.norm.cdf([-1.0, 0.0, 2.0]) + np.array([-1.0, 0.0, 2.0]) * sst.norm.pdf([-1.0, 0.0, 2.0])),
    ("log_softmax-weighted", lambda x: fnp.sum(nn.log_softmax(x) * np.array([1.0, 2.0, 3.0])),
     np.array([-1000.0, 0.0, 1000.0]), -2000.0 - 2 * 1000.0, np.array([1.0, 2.0, -3.0])),
    ("logsumexp-minus-inf", nn.logsumexp, np.array([-INF, 0.0, 1000.0]), 1000.0,
     np.array([0.0, 0.0, 1.0])),
    ("logsumexp-all-minus-inf", nn.logsumexp, np.array([-INF, -INF]), -INF, np.zeros(2)),
    ("logsumexp-regular", nn.logsumexp, np.array([0.5, -1.0, 2.0]),
     sps.logsumexp([0.5, -1.0, 2.0]), sps.softmax([0.5, -1.0, 2.0])),
    ("scipy-logsumexp-b", lambda x: special.logsumexp(x, b=np.array([1.0, 2.0, 0.5])),
     np.array([-1000.0, 0.0, 1000.0]), 1000.0 + np.log(0.5), np.array([0.0, 0.0, 1.0])),
    ("scipy-logsumexp-b-zero", lambda x: special.logsumexp(x, b=np.array([0.0, 2.0])),
     np.array([-INF, 0.5]), sps.logsumexp([-INF, 0.5], b=[0.0, 2.0]), np.array([0.0, 1.0])),
    ("scipy-logsumexp-all-minus-inf", lambda x: special.logsumexp(x, b=np.array([1.0, 1.0])),
     np.array([-INF, -INF]), -INF, np.zeros(2)),
    ("xlogy-zero", lambda y: fnp.sum(special.xlogy(np.array([0.0, 1.0]), y)),
     np.array([0.0, 2.0]), np.log(2.0), np.array([0.0, 0.5])),
    ("xlog1py-zero", lambda y: fnp.sum(special.xlog1py(np.array([0.0, 1.0]), y)),
     np.array([-1.0, 2.0]), np.log(3.0), np.array([0.0, 1.0 / 3.0])),
    ("entr", lambda x: fnp.sum(special.entr(x)), np.array([0.5, 2.0]),
     np.sum(sps.entr([0.5, 2.0])), -np.log([0.5, 2.0]) - 1.0),
    ("log_ndtr", lambda x: fnp.sum(special.log_ndtr(x)), np.array([-40.0, 0.0, 40.0]),
     np.sum(sps.log_ndtr([-40.0, 0.0, 40.0])),
     np.exp(sst.norm.logpdf([-40.0, 0.0, 40.0]) - sps.log_ndtr([-40.0, 0.0, 40.0]))),
]


@pytest.mark.parametrize("name, f, x, value, gradient", CASES, ids=[c[0] for c in CASES])
def test_value_and_gradient_at_the_edge(name, f, x, value, gradient):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = f(x)
    close(got, value, 1e-10)
    g = fgrad.grad(f)(x)
    close(g, gradient, 1e-10)
    # forward mode reaches the same derivative through the jvp rules
    close(fgrad.jacfwd(f)(x), gradient, 1e-10)
    # and jit reproduces both
    close(fgrad.jit(f)(x), value, 1e-10)
    close(fgrad.jit(fgrad.grad(f))(x), gradient, 1e-10)


def test_nanstd_of_all_nan_is_nan_as_numpy():
    x = np.array([[np.nan, np.nan], [1.0, 3.0]])
    with np.errstate(invalid="ignore", divide="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanstd(x, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        got = fnp.nanstd(x, axis=1)
    np.testing.assert_array_equal(np.isnan(got), [True, False])
    close(np.asarray(got)[1], want[1])


def test_second_derivatives_at_the_edge():
    # sinc''(0) = -pi^2 / 3; the norm's Hessian at 0 is the documented 0 (the guard)
    close(fgrad.hessian(lambda x: fnp.sinc(x))(0.0), -np.pi**2 / 3, 1e-9)
    close(fgrad.hessian(fnp.linalg.norm)(np.zeros(3)), np.zeros((3, 3)))
    close(fgrad.hessian(lambda x: fnp.linalg.norm(x, 3))(np.zeros(2)), np.zeros((2, 2)))
    close(fgrad.hessian(fnp.std)(np.ones(3)), np.zeros((3, 3)))
    # softplus'' = sigmoid * (1 - sigmoid): 1/4 at 0, 0 at +-1000
    x = np.array([-1000.0, 0.0, 1000.0])
    close(np.diag(fgrad.hessian(lambda x: fnp.sum(nn.softplus(x)))(x)), [0.0, 0.25, 0.0])
    # gelu (tanh form) at 0: value 0, derivative 1/2, second derivative 2 * sqrt(2/pi) / 2
    close(fgrad.grad(nn.gelu)(0.0), 0.5)
    close(fgrad.grad(fgrad.grad(nn.gelu))(0.0), np.sqrt(2 / np.pi), 1e-10)


def test_gelu_tanh_form_matches_its_formula():
    x = np.array([-3.0, -0.5, 0.7, 2.5])
    inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
    close(nn.gelu(x), 0.5 * x * (1 + np.tanh(inner)), 1e-12)
    d_inner = np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x**2)
    want = 0.5 * (1 + np.tanh(inner)) + 0.5 * x * (1 - np.tanh(inner) ** 2) * d_inner
    close(fgrad.vmap(fgrad.grad(nn.gelu))(x), want, 1e-10)


def test_maximum_minimum_ties_share_the_derivative():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    gx, gy = fgrad.grad(lambda x, y: fnp.sum(fnp.maximum(x, y)), argnums=(0, 1))(x, y)
    close(gx, [0.5, 0.0, 1.0])
    close(gy, [0.5, 1.0, 0.0])
    gx, gy = fgrad.grad(lambda x, y: fnp.sum(fnp.minimum(x, y)), argnums=(0, 1))(x, y)
    close(gx, [0.5, 1.0, 0.0])
    close(gy, [0.5, 0.0, 1.0])
    # reductions: k tied maxima get 1/k each
    close(fgrad.grad(fnp.max)(np.array([2.0, 7.0, 7.0, 7.0])), [0.0, 1 / 3, 1 / 3, 1 / 3])
    close(fgrad.grad(fnp.min)(np.array([-1.0, -1.0, 4.0])), [0.5, 0.5, 0.0])


def test_abs_derivative_is_zero_at_zero():
    x = np.array([-2.0, 0.0, 3.0])
    close(fgrad.grad(lambda x: fnp.sum(fnp.abs(x)))(x), [-1.0, 0.0, 1.0])
    close(fgrad.jvp(fnp.abs, (x,), (np.ones(3),))[1], [-1.0, 0.0, 1.0])


def test_softmax_cross_entropy_soft_labels_with_a_masked_class():
    logits = np.array([[0.0, -INF, 1.0], [2.0, -1.0, 0.5]])
    labels = np.array([[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])
    log_p = np.where(np.isinf(logits), -INF, logits - sps.logsumexp(logits, axis=1, keepdims=True))
    per_row = -np.sum(np.where(labels > 0, labels * np.where(labels > 0, log_p, 0), 0), axis=1)
    close(nn.softmax_cross_entropy(logits, labels, reduction="none"), per_row)
    close(nn.softmax_cross_entropy(logits, labels), per_row.mean())
    g_logits, g_labels = fgrad.grad(nn.softmax_cross_entropy, argnums=(0, 1))(logits, labels)
    p = sps.softmax(logits, axis=1)
    close(g_logits, (labels.sum(1, keepdims=True) * p - labels) / 2)
    # d/d labels = -log_p / n, and 0 for the masked class (it contributes nothing)
    close(g_labels, np.where(np.isinf(log_p), 0.0, -log_p) / 2)


def test_entr_derivative_at_zero_is_the_one_sided_limit_as_jax():
    # d/dx (-x log x) = -1 - log(x): +inf at 0 (JAX's value); the value is SciPy's. Below 0
    # the -inf branch is selected: forward mode gives its tangent 0, reverse mode multiplies
    # the other branch's NaN derivative by a zero cotangent: NaN, both as in JAX.
    x = np.array([-1.0, 0.0, 0.25, 3.0])
    np.testing.assert_array_equal(special.entr(x), sps.entr(x))
    assert np.signbit(special.entr(0.0)) == np.signbit(sps.entr(0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = fgrad.vmap(fgrad.grad(special.entr))(x)
        g_jit = fgrad.jit(fgrad.vmap(fgrad.grad(special.entr)))(x)
        t = fgrad.jvp(special.entr, (x,), (np.ones(4),))[1]
    want = np.array([np.nan, np.inf, -1.0 - np.log(0.25), -1.0 - np.log(3.0)])
    for got in (g, g_jit):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_allclose(t, np.where(x < 0, 0.0, want), rtol=1e-14)
    close(fgrad.hessian(special.entr)(0.25), -1.0 / 0.25, 1e-12)
