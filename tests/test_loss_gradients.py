"""Closed-form values and gradients of every loss in ``fgrad.nn.losses``, with respect to
the predictions AND the labels, for each reduction, eagerly and under ``jit`` and ``vmap``.

The references are written out from the formulas (with SciPy's ``softmax``/``expit``),
never from fgrad, so a wrong rule shared by every mode cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps

import fgrad
import fgrad.numpy as fnp
from fgrad import nn
from fgrad.nn import losses

RNG = np.random.default_rng(11)
N, C = 4, 3


def close(got, want, tol=1e-11):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


def _reduced(per_example, reduction):
    return {"mean": per_example.mean(), "sum": per_example.sum(), "none": per_example}[
        reduction
    ]


def _scale(shape, reduction):
    """d reduction / d element, for the gradient of a reduced loss."""
    return 1.0 / np.prod(shape) if reduction == "mean" else 1.0


def _grads(fn, a, b, reduction, w):
    """Gradients of ``sum(w * fn(a, b, reduction))`` w.r.t. both arguments: a random
    weight makes the 'none' reduction's cotangent non-uniform."""

    def scalar(a, b):
        return fnp.sum(w * fn(a, b, reduction=reduction))

    return fgrad.grad(scalar, argnums=(0, 1))(a, b)


REDUCTIONS = ["mean", "sum", "none"]


def _weight(reduction, shape):
    return RNG.standard_normal(shape) if reduction == "none" else 1.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_cross_entropy_soft_labels(reduction):
    logits = RNG.standard_normal((N, C)) * 2
    labels = sps.softmax(RNG.standard_normal((N, C)), axis=1) * RNG.uniform(0.5, 1.5, (N, 1))
    log_p = logits - sps.logsumexp(logits, axis=1, keepdims=True)
    per = -np.sum(labels * log_p, axis=1)
    close(nn.softmax_cross_entropy(logits, labels, reduction=reduction), _reduced(per, reduction))
    w = _weight(reduction, (N,))
    g_logits, g_labels = _grads(nn.softmax_cross_entropy, logits, labels, reduction, w)
    s = _scale((N,), reduction) * np.broadcast_to(w, (N,))[:, None]
    p = sps.softmax(logits, axis=1)
    close(g_logits, s * (labels.sum(1, keepdims=True) * p - labels))
    close(g_labels, -s * log_p)
    jg = fgrad.jit(fgrad.grad(lambda a, b: fnp.sum(w * nn.softmax_cross_entropy(
        a, b, reduction=reduction)), argnums=(0, 1)))(logits, labels)
    close(jg[0], s * (labels.sum(1, keepdims=True) * p - labels))
    close(jg[1], -s * log_p)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_cross_entropy_integer_labels(reduction):
    logits = RNG.standard_normal((N, C))
    labels = np.array([0, 2, 1, 2])
    log_p = logits - sps.logsumexp(logits, axis=1, keepdims=True)
    per = -log_p[np.arange(N), labels]
    close(nn.softmax_cross_entropy(logits, labels, reduction=reduction), _reduced(per, reduction))
    w = _weight(reduction, (N,))
    g = fgrad.grad(lambda a: fnp.sum(w * nn.softmax_cross_entropy(a, labels, reduction)))(logits)
    s = _scale((N,), reduction) * np.broadcast_to(w, (N,))[:, None]
    close(g, s * (sps.softmax(logits, axis=1) - np.eye(C)[labels]))
    # vmap over examples, each one a mean over a batch of one
    per_ex = fgrad.vmap(lambda a, y: nn.softmax_cross_entropy(a[None], y[None]))(logits, labels)
    close(per_ex, per)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_binary_cross_entropy(reduction):
    x = RNG.standard_normal((N, C)) * 3
    y = RNG.uniform(0, 1, (N, C))
    per = -(y * np.log(sps.expit(x)) + (1 - y) * np.log(sps.expit(-x)))
    close(nn.sigmoid_binary_cross_entropy(x, y, reduction=reduction), _reduced(per, reduction))
    w = _weight(reduction, (N, C))
    gx, gy = _grads(nn.sigmoid_binary_cross_entropy, x, y, reduction, w)
    s = _scale((N, C), reduction) * w
    close(gx, s * (sps.expit(x) - y))
    close(gy, -s * x)  # d/dy of -(y log s(x) + (1-y) log s(-x)) = -x


def test_sigmoid_binary_cross_entropy_saturates_exactly():
    x = np.array([-1000.0, 1000.0, 0.0])
    y = np.array([1.0, 0.0, 1.0])
    close(nn.sigmoid_binary_cross_entropy(x, y, reduction="none"), [1000.0, 1000.0, np.log(2)])
    gx = fgrad.grad(lambda x: nn.sigmoid_binary_cross_entropy(x, y, reduction="sum"))(x)
    close(gx, [-1.0, 1.0, -0.5])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mean_squared_error(reduction):
    p = RNG.standard_normal((N, C))
    t = RNG.standard_normal((N, C))
    per = (p - t) ** 2
    close(nn.mean_squared_error(p, t, reduction=reduction), _reduced(per, reduction))
    w = _weight(reduction, (N, C))
    gp, gt = _grads(nn.mean_squared_error, p, t, reduction, w)
    s = _scale((N, C), reduction) * w
    close(gp, s * 2 * (p - t))
    close(gt, -s * 2 * (p - t))


@pytest.mark.parametrize("labels01", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge(reduction, labels01):
    s_ = RNG.standard_normal((N, C)) * 2
    y = np.where(RNG.standard_normal((N, C)) > 0, 1.0, -1.0)
    y_given = (y + 1) / 2 if labels01 else y
    margin = 1 - y * s_
    per = np.maximum(0, margin)
    close(nn.hinge(s_, y_given, reduction=reduction), _reduced(per, reduction))
    w = _weight(reduction, (N, C))
    g = fgrad.grad(lambda a: fnp.sum(w * nn.hinge(a, y_given, reduction)))(s_)
    close(g, _scale((N, C), reduction) * w * np.where(margin > 0, -y, 0.0))
    if not labels01:  # with -1/+1 labels the loss is differentiable in them too
        g_y = fgrad.grad(lambda b: fnp.sum(w * nn.hinge(s_, b, reduction)))(y)
        close(g_y, _scale((N, C), reduction) * w * np.where(margin > 0, -s_, 0.0))


def test_hinge_kink_derivative_is_zero():
    s_ = np.array([1.0, -1.0])
    y = np.array([1.0, -1.0])
    close(nn.hinge(s_, y), 0.0)
    close(fgrad.grad(lambda a: nn.hinge(a, y))(s_), [0.0, 0.0])


def test_l2_penalty():
    params = {"W": RNG.standard_normal((2, 3)), "b": [RNG.standard_normal(3), 2.0]}
    want = 0.5 * (np.sum(params["W"] ** 2) + np.sum(params["b"][0] ** 2) + 4.0)
    close(nn.l2_penalty(params), want)
    g = fgrad.grad(nn.l2_penalty)(params)
    close(g["W"], params["W"])
    close(g["b"][0], params["b"][0])
    close(g["b"][1], 2.0)
    close(fgrad.jit(nn.l2_penalty)(params), want)


def test_every_loss_is_covered():
    covered = {"softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error",
               "hinge", "l2_penalty"}
    assert set(losses.__all__) == covered, (
        f"losses without closed-form gradient tests: {sorted(set(losses.__all__) - covered)}"
    )
