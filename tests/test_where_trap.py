"""The where trap: the naive form has NaN gradients, the double-where idiom does not, and
fgrad's own functions are safe at the points where naive formulas fail."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import nn
from fgrad.scipy import special


def naive(x):
    return fnp.where(x > 0, fnp.sqrt(x), 0.0)


def safe(x):
    positive = x > 0
    return fnp.where(positive, fnp.sqrt(fnp.where(positive, x, 1.0)), 0.0)


def test_naive_where_has_a_nan_gradient_and_the_idiom_does_not():
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.isnan(fgrad.grad(naive)(0.0))
    assert fgrad.grad(safe)(0.0) == 0.0
    x = np.array([0.0, 0.25, 4.0])
    g = fgrad.grad(lambda x: fnp.sum(safe(x)))(x)
    np.testing.assert_allclose(g, [0.0, 1.0, 0.25])
    assert np.all(np.isfinite(fgrad.hessian(lambda x: fnp.sum(safe(x)))(x)))


SAFE_AT = [
    ("norm", fnp.linalg.norm, np.zeros(3)),
    ("frobenius", fnp.linalg.norm, np.zeros((2, 2))),
    ("norm-3", lambda x: fnp.linalg.norm(x, 3), np.zeros(3)),
    ("std", fnp.std, np.ones(3)),
    ("hypot", lambda x: fnp.sum(fnp.hypot(x, x)), np.zeros(2)),
    ("sinc", lambda x: fnp.sum(fnp.sinc(x)), np.zeros(2)),
    ("relu", lambda x: fnp.sum(nn.relu(x)), np.array([-1000.0, 0.0, 1000.0])),
    ("softplus", lambda x: fnp.sum(nn.softplus(x)), np.array([-1000.0, 0.0, 1000.0])),
    ("sigmoid", lambda x: fnp.sum(nn.sigmoid(x)), np.array([-1000.0, 0.0, 1000.0])),
    ("log_sigmoid", lambda x: fnp.sum(nn.log_sigmoid(x)), np.array([-1000.0, 0.0, 1000.0])),
    ("silu", lambda x: fnp.sum(nn.silu(x)), np.array([-1000.0, 0.0, 1000.0])),
    ("gelu", lambda x: fnp.sum(nn.gelu(x)), np.array([-1000.0, 0.0, 1000.0])),
    ("log_softmax", lambda x: fnp.sum(nn.log_softmax(x) ** 2), np.array([-1000.0, 0.0, 1000.0])),
    ("logsumexp", nn.logsumexp, np.array([-np.inf, 0.0, 1000.0])),
    ("xlogy", lambda y: fnp.sum(special.xlogy(np.array([0.0, 1.0]), y)), np.array([0.0, 2.0])),
    ("xlog1py", lambda y: fnp.sum(special.xlog1py(np.array([0.0, 1.0]), y)), np.array([-1.0, 2.0])),
    ("entr", lambda x: fnp.sum(special.entr(x)), np.array([0.5, 2.0])),
    (
        "logsumexp-b",
        lambda x: special.logsumexp(x, b=np.array([1.0, 2.0, 0.5])),
        np.array([-1000.0, 0.0, 1000.0]),
    ),
    ("log_ndtr", lambda x: fnp.sum(special.log_ndtr(x)), np.array([-40.0, 0.0, 40.0])),
]


@pytest.mark.parametrize("name, f, x", SAFE_AT, ids=[s[0] for s in SAFE_AT])
def test_fgrad_functions_are_safe_where_naive_formulas_fail(name, f, x):
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no NaN, inf, overflow
        value = f(x)
    assert np.all(np.isfinite(value)) or name == "logsumexp"
    g = fgrad.grad(f)(x)
    assert np.all(np.isfinite(g)), g
    h = fgrad.hessian(f)(x)
    assert np.all(np.isfinite(h)), h
