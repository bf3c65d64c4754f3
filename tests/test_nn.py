"""fgrad.nn: values against NumPy (and SciPy when installed), derivatives against closed
forms and finite differences, stability at +-1000, dtypes, initialisers and the MLP."""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest
from helpers import assert_tree_allclose, numerical_grad

import fgrad
import fgrad.numpy as fnp
from fgrad import nn
from fgrad.test_util import check_grads

try:
    import scipy.special as sp
except ImportError:  # SciPy is optional: its reference values are extra checks
    sp = None

needs_scipy = pytest.mark.skipif(sp is None, reason="scipy is not installed")

C = math.sqrt(2 / math.pi)


@contextlib.contextmanager
def strict_floats():
    """Any overflow, division by zero, invalid operation or warning is an error.

    Underflow is allowed: exp(-2000) == 0 is exactly what stable formulas rely on.
    """
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        yield


def elementwise_grad(f):
    """x -> d/dx_i f(x)_i for an elementwise f, through fgrad.grad."""
    return fgrad.grad(lambda x: fnp.sum(f(x)))


# -- NumPy references (float64, on moderate inputs) ------------------------------


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(C * (x + 0.044715 * x**3)))


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


ELEMENTWISE = {
    "relu": (nn.relu, lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "sigmoid": (nn.sigmoid, np_sigmoid, lambda x: np_sigmoid(x) * (1 - np_sigmoid(x))),
    "log_sigmoid": (nn.log_sigmoid, lambda x: -np.logaddexp(0, -x), lambda x: np_sigmoid(-x)),
    "softplus": (nn.softplus, lambda x: np.logaddexp(x, 0), np_sigmoid),
    "silu": (
        nn.silu,
        lambda x: x * np_sigmoid(x),
        lambda x: np_sigmoid(x) * (1 + x * (1 - np_sigmoid(x))),
    ),
    "gelu": (
        nn.gelu,
        np_gelu_tanh,
        lambda x: (
            0.5 * (1 + np.tanh(C * (x + 0.044715 * x**3)))
            + 0.5
            * x
            * (1 - np.tanh(C * (x + 0.044715 * x**3)) ** 2)
            * C
            * (1 + 3 * 0.044715 * x**2)
        ),
    ),
}


@pytest.fixture
def x_moderate():
    # away from 0, where relu has its kink
    x = np.random.default_rng(0).normal(scale=3.0, size=(4, 5))
    return np.where(np.abs(x) < 1e-3, 0.5, x)


# -- activations: values and derivatives ------------------------------------------


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_values_and_closed_form_derivatives(name, x_moderate):
    f, ref, dref = ELEMENTWISE[name]
    np.testing.assert_allclose(f(x_moderate), ref(x_moderate), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        elementwise_grad(f)(x_moderate), dref(x_moderate), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_finite_differences_to_second_order(name, x_moderate):
    check_grads(ELEMENTWISE[name][0], (x_moderate,), order=2)


@pytest.mark.parametrize(
    "f, expected",
    [
        (nn.relu, 0.0),
        (nn.sigmoid, 0.25),
        (nn.softplus, 0.5),
        (nn.log_sigmoid, 0.5),
        (nn.silu, 0.5),
        (nn.gelu, 0.5),
    ],
)
def test_derivatives_at_zero(f, expected):
    assert fgrad.grad(f)(0.0) == expected


def test_relu_propagates_nan_and_handles_infinities():
    out = nn.relu(np.array([np.nan, -np.inf, np.inf]))
    assert np.isnan(out[0]) and out[1] == 0 and out[2] == np.inf


def test_sigmoid_and_softplus_keep_relative_accuracy_in_the_left_tail():
    x = np.array([-40.0, -300.0, -700.0])
    np.testing.assert_allclose(nn.sigmoid(x), np.exp(x), rtol=1e-14)
    np.testing.assert_allclose(nn.softplus(x), np.exp(x), rtol=1e-14)
    np.testing.assert_allclose(nn.log_sigmoid(-x), -np.exp(x), rtol=1e-14)


@needs_scipy
def test_activations_match_scipy():
    x = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(nn.sigmoid(x), sp.expit(x), rtol=1e-14)
    np.testing.assert_allclose(nn.log_sigmoid(x), sp.log_expit(x), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(nn.softplus(x), -sp.log_expit(-x), rtol=1e-14, atol=1e-300)
    # the tanh approximation stays within 5e-4 of the exact GELU
    exact = 0.5 * x * (1 + sp.erf(x / math.sqrt(2)))
    assert np.max(np.abs(nn.gelu(x) - exact)) < 5e-4


def test_gelu_exact_form_matches_scipy_and_is_smooth_in_the_tails():
    x = np.array([-1000.0, -3.0, -0.5, 0.0, 0.7, 4.0, 1000.0])
    exact = 0.5 * x * sp.erfc(-x / math.sqrt(2))
    np.testing.assert_allclose(nn.gelu(x, approximate=False), exact, rtol=1e-14)
    # d/dx x Phi(x) = Phi(x) + x phi(x)
    g = fgrad.grad(lambda x: fnp.sum(nn.gelu(x, approximate=False)))(x)
    phi = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(
        g, 0.5 * sp.erfc(-x / math.sqrt(2)) + x * phi, rtol=1e-13, atol=1e-300
    )
    check_grads(lambda x: nn.gelu(x, approximate=False), (x[1:-1],), order=2)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax_values(axis):
    x = np.random.default_rng(1).normal(scale=5, size=(3, 4, 5))
    np.testing.assert_allclose(nn.softmax(x, axis=axis), np_softmax(x, axis), rtol=1e-13)
    np.testing.assert_allclose(nn.log_softmax(x, axis=axis), np_log_softmax(x, axis), rtol=1e-12)
    np.testing.assert_allclose(np.sum(nn.softmax(x, axis=axis), axis=axis), 1.0, rtol=1e-14)


def test_softmax_and_log_softmax_derivatives_closed_form():
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    s = np_softmax(x)
    # d/dx sum(w * softmax(x)) = s * (w - sum(w * s)); d/dx sum(w * log_softmax(x)) = w - s sum(w)
    got = fgrad.grad(lambda v: fnp.sum(w * nn.softmax(v)))(x)
    np.testing.assert_allclose(got, s * (w - np.sum(w * s, axis=-1, keepdims=True)), rtol=1e-12)
    got = fgrad.grad(lambda v: fnp.sum(w * nn.log_softmax(v)))(x)
    np.testing.assert_allclose(got, w - s * np.sum(w, axis=-1, keepdims=True), rtol=1e-12)
    check_grads(nn.softmax, (x,), order=2)
    check_grads(nn.log_softmax, (x,), order=2)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_axis_and_keepdims(axis, keepdims):
    x = np.random.default_rng(3).normal(scale=4, size=(2, 3, 4))
    want = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    got = nn.logsumexp(x, axis=axis, keepdims=keepdims)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    if sp is not None:
        np.testing.assert_allclose(got, sp.logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-13)


def test_logsumexp_gradient_is_softmax():
    x = np.random.default_rng(4).normal(size=(3, 5))
    got = fgrad.grad(lambda v: fnp.sum(nn.logsumexp(v, axis=1)))(x)
    np.testing.assert_allclose(got, np_softmax(x, axis=1), rtol=1e-13)
    got = fgrad.grad(nn.logsumexp)(x)
    np.testing.assert_allclose(got, np.exp(x) / np.sum(np.exp(x)), rtol=1e-13)
    check_grads(lambda v: nn.logsumexp(v, axis=0), (x,), order=2)


# -- stability at +-1000: values, exact gradients, no warnings ---------------------

BIG = np.array([-1000.0, -100.0, -1.0, 0.0, 1.0, 100.0, 1000.0])

# exact (value, derivative) at x = -1000 and x = +1000, where NumPy's naive forms overflow
AT_EXTREMES = {
    "relu": ([0.0, 1000.0], [0.0, 1.0]),
    "sigmoid": ([0.0, 1.0], [0.0, 0.0]),
    "log_sigmoid": ([-1000.0, 0.0], [1.0, 0.0]),
    "softplus": ([0.0, 1000.0], [0.0, 1.0]),
    "silu": ([0.0, 1000.0], [0.0, 1.0]),
    "gelu": ([0.0, 1000.0], [0.0, 1.0]),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_stable_at_extremes(name):
    f, ref, dref = ELEMENTWISE[name]
    with strict_floats():
        value, slope = f(BIG), elementwise_grad(f)(BIG)
    exact_value, exact_slope = AT_EXTREMES[name]
    np.testing.assert_array_equal(value[[0, -1]], exact_value)
    np.testing.assert_array_equal(slope[[0, -1]], exact_slope)
    inner = slice(1, -1)
    np.testing.assert_allclose(value[inner], ref(BIG[inner]), rtol=1e-12, atol=1e-30)
    np.testing.assert_allclose(slope[inner], dref(BIG[inner]), rtol=1e-12, atol=1e-30)


def test_softmax_family_stable_at_extremes():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    w = np.array([[1.0, 2.0, 3.0], [-1.0, 4.0, 0.5]])
    with strict_floats():
        s = nn.softmax(x)
        ls = nn.log_softmax(x)
        lse = nn.logsumexp(x, axis=1)
        ds = fgrad.grad(lambda v: fnp.sum(w * nn.softmax(v)))(x)
        dls = fgrad.grad(lambda v: fnp.sum(w * nn.log_softmax(v)))(x)
        dlse = fgrad.grad(lambda v: fnp.sum(nn.logsumexp(v, axis=1)))(x)
    onehot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(s, onehot)
    np.testing.assert_array_equal(ls, [[0.0, -2000.0, -1000.0], [-2000.0, -2000.0, 0.0]])
    np.testing.assert_array_equal(lse, [1000.0, 1000.0])
    np.testing.assert_array_equal(ds, np.zeros_like(x))
    np.testing.assert_array_equal(dls, w - onehot * np.sum(w, axis=1, keepdims=True))
    np.testing.assert_array_equal(dlse, onehot)


def test_fully_masked_rows_give_no_nan():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])
    with strict_floats():
        lse = nn.logsumexp(x, axis=1)
        s = nn.softmax(x)
        ls = nn.log_softmax(x)
        dlse = fgrad.grad(lambda v: fnp.sum(nn.logsumexp(v, axis=1)))(x)
        ds = fgrad.grad(lambda v: fnp.sum(nn.softmax(v)[:, 0]))(x)
        dls = fgrad.grad(lambda v: fnp.sum(nn.log_softmax(v)[1]))(x)
    assert lse[0] == -np.inf
    np.testing.assert_allclose(lse[1], np.log(1 + np.e))
    np.testing.assert_array_equal(s[0], 0.0)
    np.testing.assert_allclose(s[1], [1 / (1 + np.e), 0.0, np.e / (1 + np.e)])
    assert np.all(ls[0] == -np.inf) and ls[1, 1] == -np.inf
    np.testing.assert_array_equal(dlse[0], 0.0)
    np.testing.assert_allclose(dlse[1], s[1])
    assert np.all(np.isfinite(ds)) and np.all(np.isfinite(dls))


# -- one_hot -----------------------------------------------------------------------


def test_one_hot():
    labels = np.array([[0, 2], [1, 3]])
    out = nn.one_hot(labels, 4)
    assert out.shape == (2, 2, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.eye(4)[labels])
    assert nn.one_hot(np.array([1]), 3, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(nn.one_hot([0, 5, -1], 3), [[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(TypeError, match="integer"):
        nn.one_hot(np.array([0.0, 1.0]), 2)


# -- losses ------------------------------------------------------------------------


@pytest.fixture
def classification():
    rng = np.random.default_rng(5)
    logits = rng.normal(scale=2, size=(6, 4))
    labels = rng.integers(0, 4, size=6)
    return logits, labels


def test_softmax_cross_entropy_values_for_every_kind_of_label(classification):
    logits, labels = classification
    want = -np_log_softmax(logits)[np.arange(6), labels]
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, labels, "none"), want, rtol=1e-13)
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, labels), want.mean(), rtol=1e-13)
    np.testing.assert_allclose(
        nn.softmax_cross_entropy(logits, labels, "sum"), want.sum(), rtol=1e-13
    )
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(nn.softmax_cross_entropy(logits, onehot, "none"), want, rtol=1e-13)
    np.testing.assert_allclose(
        nn.softmax_cross_entropy(logits, onehot.astype(int), "none"), want, rtol=1e-13
    )
    soft = np_softmax(np.random.default_rng(6).normal(size=(6, 4)))
    want_soft = -np.sum(soft * np_log_softmax(logits), axis=-1)
    np.testing.assert_allclose(
        nn.softmax_cross_entropy(logits, soft, "none"), want_soft, rtol=1e-13
    )


def test_softmax_cross_entropy_with_batch_dimensions():
    rng = np.random.default_rng(7)
    logits, labels = rng.normal(size=(2, 3, 5)), rng.integers(0, 5, size=(2, 3))
    got = nn.softmax_cross_entropy(logits, labels, reduction="none")
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, -np.sum(np.eye(5)[labels] * np_log_softmax(logits), -1))


def test_softmax_cross_entropy_gradients(classification):
    logits, labels = classification
    onehot = np.eye(4)[labels]
    want = (np_softmax(logits) - onehot) / len(labels)
    for lab in (labels, onehot):
        np.testing.assert_allclose(
            fgrad.grad(nn.softmax_cross_entropy)(logits, lab), want, rtol=1e-12
        )
        np.testing.assert_allclose(
            numerical_grad(nn.softmax_cross_entropy, logits, lab), want, rtol=1e-6, atol=1e-9
        )
    check_grads(lambda v: nn.softmax_cross_entropy(v, labels), (logits,), order=2)
    # soft labels are differentiable too, including where a label is 0: d/dlabels = -log_softmax
    np.testing.assert_allclose(
        fgrad.grad(nn.softmax_cross_entropy, argnums=1)(logits, onehot, "sum"),
        -np_log_softmax(logits),
        rtol=1e-12,
    )


def test_softmax_cross_entropy_stable_at_extremes():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    labels = np.array([1, 1])
    with strict_floats():
        losses = nn.softmax_cross_entropy(logits, labels, reduction="none")
        g_int = fgrad.grad(nn.softmax_cross_entropy)(logits, labels, "sum")
        g_hot = fgrad.grad(nn.softmax_cross_entropy)(logits, np.eye(3)[labels], "sum")
    np.testing.assert_array_equal(losses, [2000.0, 0.0])
    want = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])  # softmax - onehot, exactly
    np.testing.assert_array_equal(g_int, want)
    np.testing.assert_array_equal(g_hot, want)


def test_softmax_cross_entropy_masked_classes():
    logits = np.array([[2.0, -np.inf, 0.5], [-np.inf, 1.0, 3.0]])
    with strict_floats():
        for labels in (np.array([0, 2]), np.array([[1.0, 0.0, 0.0], [0.0, 0.3, 0.7]])):
            loss, g = fgrad.value_and_grad(nn.softmax_cross_entropy)(logits, labels)
            assert np.isfinite(loss) and np.all(np.isfinite(g))
            assert g[0, 1] == 0 and g[1, 0] == 0


def test_softmax_cross_entropy_errors(classification):
    logits, labels = classification
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        nn.softmax_cross_entropy(logits, labels + 1)
    with pytest.raises(ValueError, match="neither"):
        nn.softmax_cross_entropy(logits, labels.astype(float))
    with pytest.raises(ValueError, match="batch shape"):
        nn.softmax_cross_entropy(logits, labels[:3])
    with pytest.raises(ValueError, match="shape"):
        nn.softmax_cross_entropy(logits, np.eye(5)[labels])


def test_sigmoid_binary_cross_entropy_values_and_gradients():
    rng = np.random.default_rng(8)
    x, y = rng.normal(scale=3, size=(5, 3)), rng.integers(0, 2, size=(5, 3)).astype(float)
    p = np_sigmoid(x)
    want = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    np.testing.assert_allclose(nn.sigmoid_binary_cross_entropy(x, y, "none"), want, rtol=1e-12)
    np.testing.assert_allclose(nn.sigmoid_binary_cross_entropy(x, y), want.mean(), rtol=1e-12)
    np.testing.assert_allclose(
        nn.sigmoid_binary_cross_entropy(x, y.astype(bool), "sum"), want.sum()
    )
    g = fgrad.grad(nn.sigmoid_binary_cross_entropy)(x, y)
    np.testing.assert_allclose(g, (p - y) / y.size, rtol=1e-12)
    np.testing.assert_allclose(
        numerical_grad(nn.sigmoid_binary_cross_entropy, x, y), (p - y) / y.size, atol=1e-9
    )
    soft = rng.uniform(size=(5, 3))
    check_grads(lambda a, b: nn.sigmoid_binary_cross_entropy(a, b), (x, soft), order=2)
    # full relative accuracy for a confident, correct prediction
    np.testing.assert_allclose(
        nn.sigmoid_binary_cross_entropy(np.array([40.0]), np.array([1.0])), np.exp(-40), rtol=1e-14
    )


def test_sigmoid_binary_cross_entropy_stable_at_extremes():
    x = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    with strict_floats():
        losses = nn.sigmoid_binary_cross_entropy(x, y, reduction="none")
        g = fgrad.grad(nn.sigmoid_binary_cross_entropy)(x, y, "sum")
    np.testing.assert_array_equal(losses, [1000.0, 1000.0, 0.0, 0.0])
    np.testing.assert_array_equal(g, [1.0, -1.0, 0.0, 0.0])  # sigmoid(x) - y, exactly


def test_mean_squared_error():
    rng = np.random.default_rng(9)
    p, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    np.testing.assert_allclose(nn.mean_squared_error(p, t), np.mean((p - t) ** 2), rtol=1e-14)
    np.testing.assert_allclose(nn.mean_squared_error(p, t, "sum"), np.sum((p - t) ** 2), rtol=1e-14)
    np.testing.assert_allclose(nn.mean_squared_error(p, t, "none"), (p - t) ** 2, rtol=1e-14)
    np.testing.assert_allclose(
        fgrad.grad(nn.mean_squared_error)(p, t), 2 * (p - t) / p.size, rtol=1e-13
    )
    check_grads(nn.mean_squared_error, (p, t), order=2)
    with pytest.raises(ValueError, match="broadcasting"):
        nn.mean_squared_error(p[:, :1], p[:, 0])


def test_hinge():
    rng = np.random.default_rng(10)
    s = rng.normal(scale=2, size=20)
    y = rng.choice([-1.0, 1.0], size=20)
    want = np.maximum(0, 1 - y * s)
    np.testing.assert_allclose(nn.hinge(s, y, "none"), want, rtol=1e-14)
    np.testing.assert_allclose(nn.hinge(s, y), want.mean(), rtol=1e-14)
    np.testing.assert_allclose(nn.hinge(s, (y > 0).astype(int), "none"), want, rtol=1e-14)
    np.testing.assert_allclose(nn.hinge(s, y > 0, "none"), want, rtol=1e-14)
    np.testing.assert_allclose(fgrad.grad(nn.hinge)(s, y, "sum"), -y * (y * s < 1), rtol=1e-14)
    check_grads(lambda v: nn.hinge(v, y), (s,), order=1)
    with pytest.raises(ValueError, match="-1/\\+1"):
        nn.hinge(s, np.full(20, 2.0))


def test_losses_trace_under_make_jaxpr(classification):
    # under make_jaxpr the labels' values are unknown: no range check, labels taken as given
    logits, labels = classification
    for f, lab in ((nn.softmax_cross_entropy, labels), (nn.hinge, 2.0 * (labels > 1) - 1)):
        x = logits if f is nn.softmax_cross_entropy else logits[:, 0]
        closed = fgrad.make_jaxpr(f)(x, lab)
        np.testing.assert_allclose(closed(x, lab), f(x, lab), rtol=1e-14)


LOSSES = {
    "softmax_cross_entropy": (
        nn.softmax_cross_entropy,
        lambda: (np.zeros((2, 3)), np.array([0, 1])),
    ),
    "sigmoid_binary_cross_entropy": (nn.sigmoid_binary_cross_entropy, lambda: (np.zeros(3),) * 2),
    "mean_squared_error": (nn.mean_squared_error, lambda: (np.zeros(3),) * 2),
    "hinge": (nn.hinge, lambda: (np.zeros(3), np.ones(3))),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_reject_unknown_reductions(name):
    f, args = LOSSES[name]
    for bad in ("avg", None, "MEAN"):
        with pytest.raises(ValueError, match="'mean', 'sum' or 'none'"):
            f(*args(), reduction=bad)


def test_l2_penalty():
    params = {"a": np.array([1.0, 2.0]), "b": [np.array([[3.0]]), None], "c": np.float64(-1.0)}
    assert nn.l2_penalty(params) == 0.5 * (1 + 4 + 9 + 1)
    assert_tree_allclose(fgrad.grad(nn.l2_penalty)(params), params)
    assert nn.l2_penalty({}) == 0.0
    assert nn.l2_penalty([np.ones(3, np.float32)]).dtype == np.float32


# -- float32 stays float32 -----------------------------------------------------------

FLOAT32_CASES = {
    **{name: (lambda x, f=f: f(x)) for name, (f, _, _) in ELEMENTWISE.items()},
    "softmax": nn.softmax,
    "log_softmax": nn.log_softmax,
    "logsumexp": nn.logsumexp,
    "softmax_cross_entropy/int": lambda x: nn.softmax_cross_entropy(x, np.array([0, 2])),
    "softmax_cross_entropy/onehot": lambda x: nn.softmax_cross_entropy(x, np.eye(3)[[0, 2]]),
    "sigmoid_binary_cross_entropy": lambda x: nn.sigmoid_binary_cross_entropy(x, np.eye(2, 3)),
    "mean_squared_error": lambda x: nn.mean_squared_error(x, np.ones((2, 3))),
    "hinge": lambda x: nn.hinge(x, np.array([[0, 1, 1], [1, 0, 0]])),
    "l2_penalty": lambda x: nn.l2_penalty({"w": x}),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_in_float32_out(name):
    f = FLOAT32_CASES[name]
    x = np.array([[1000.0, -3.0, 0.5], [-1000.0, 2.0, 0.0]], np.float32)
    with strict_floats():
        out = f(x)
        g = fgrad.grad(lambda v: fnp.sum(f(v)))(x)
    assert np.asarray(out).dtype == np.float32, np.asarray(out).dtype
    assert g.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g))


# -- initialisers -------------------------------------------------------------------


def test_glorot_uniform_statistics():
    w = nn.glorot_uniform(np.random.default_rng(0), (400, 600))
    limit = math.sqrt(6 / (400 + 600))
    assert w.shape == (400, 600) and w.dtype == np.float64
    assert np.max(np.abs(w)) <= limit and np.max(np.abs(w)) > 0.999 * limit
    assert abs(np.mean(w)) < 0.01 * limit
    np.testing.assert_allclose(np.var(w), limit**2 / 3, rtol=0.02)


def test_he_normal_statistics():
    w = nn.he_normal(np.random.default_rng(0), (500, 400))
    std = math.sqrt(2 / 500)
    assert w.shape == (500, 400) and w.dtype == np.float64
    assert abs(np.mean(w)) < 0.01 * std
    np.testing.assert_allclose(np.std(w), std, rtol=0.01)
    assert np.max(np.abs(w)) > 3 * std  # not truncated


def test_initializer_fans_for_kernels_and_vectors():
    rng = np.random.default_rng(1)
    w = nn.glorot_uniform(rng, (3, 3, 16, 32))
    limit = math.sqrt(6 / (9 * 16 + 9 * 32))
    assert np.max(np.abs(w)) <= limit and np.max(np.abs(w)) > 0.99 * limit
    w = nn.he_normal(rng, (5, 5, 64, 8))
    np.testing.assert_allclose(np.std(w), math.sqrt(2 / (25 * 64)), rtol=0.03)
    assert np.max(np.abs(nn.glorot_uniform(rng, 50))) <= math.sqrt(6 / 100)
    with pytest.raises(ValueError, match="scalar"):
        nn.he_normal(rng, ())


@pytest.mark.parametrize("init", [nn.glorot_uniform, nn.he_normal])
def test_initializers_are_reproducible_and_keep_dtype(init):
    a = init(np.random.default_rng(42), (3, 4))
    b = init(np.random.default_rng(42), (3, 4))
    c = init(np.random.default_rng(43), (3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    a32 = init(np.random.default_rng(42), (3, 4), np.float32)
    assert a32.dtype == np.float32
    np.testing.assert_array_equal(a32, a.astype(np.float32))


@pytest.mark.parametrize("init", [nn.glorot_uniform, nn.he_normal])
@pytest.mark.parametrize("rng", [0, None, np.random.RandomState(0)])
def test_initializers_want_a_generator(init, rng):
    with pytest.raises(TypeError, match="default_rng"):
        init(rng, (2, 2))


def test_initializers_want_float_dtypes_and_zeros():
    with pytest.raises(TypeError, match="floating"):
        nn.glorot_uniform(np.random.default_rng(0), (2, 2), np.int32)
    z = nn.zeros((2, 3), np.float32)
    assert z.dtype == np.float32 and z.shape == (2, 3) and not z.any()
    assert nn.zeros(4).dtype == np.float64


# -- MLP ------------------------------------------------------------------------------


def np_mlp(params, x, activation):
    for layer in params[:-1]:
        x = activation(x @ layer["W"] + layer["b"])
    return x @ params[-1]["W"] + params[-1]["b"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_init_shapes_and_dtypes(dtype):
    params = nn.mlp_init(np.random.default_rng(0), [4, 8, 5, 3], dtype=dtype)
    assert [tuple(sorted(layer)) for layer in params] == [("W", "b")] * 3
    assert [layer["W"].shape for layer in params] == [(4, 8), (8, 5), (5, 3)]
    assert [layer["b"].shape for layer in params] == [(8,), (5,), (3,)]
    for layer in params:
        assert layer["W"].dtype == dtype and layer["b"].dtype == dtype
        assert not layer["b"].any()
    assert np.max(np.abs(params[0]["W"])) <= math.sqrt(6 / 12)


def test_mlp_init_reproducible_custom_init_and_errors():
    a = nn.mlp_init(np.random.default_rng(3), [2, 4, 1])
    b = nn.mlp_init(np.random.default_rng(3), [2, 4, 1])
    assert_tree_allclose(a, b, rtol=0)
    he = nn.mlp_init(np.random.default_rng(3), [2, 4, 1], init=nn.he_normal)
    np.testing.assert_array_equal(he[0]["W"], nn.he_normal(np.random.default_rng(3), (2, 4)))
    with pytest.raises(ValueError, match="at least two"):
        nn.mlp_init(np.random.default_rng(0), [3])
    with pytest.raises(ValueError, match="positive"):
        nn.mlp_init(np.random.default_rng(0), [3, 0, 2])
    with pytest.raises(TypeError, match="default_rng"):
        nn.mlp_init(0, [3, 2])
    with pytest.raises(ValueError, match="no layers"):
        nn.mlp_apply([], np.ones(3))


@pytest.mark.parametrize(
    "activation, np_activation", [(fnp.tanh, np.tanh), (nn.relu, lambda z: np.maximum(z, 0))]
)
def test_mlp_apply_matches_numpy(activation, np_activation):
    rng = np.random.default_rng(11)
    params = nn.mlp_init(rng, [4, 8, 5, 3])
    x = rng.normal(size=(7, 4))
    logits = nn.mlp_apply(params, x, activation=activation)
    assert logits.shape == (7, 3)
    np.testing.assert_allclose(logits, np_mlp(params, x, np_activation), rtol=1e-13)
    np.testing.assert_allclose(nn.mlp_apply(params, x[0], activation), logits[0], rtol=1e-13)


def test_mlp_gradients_match_finite_differences():
    rng = np.random.default_rng(12)
    params = nn.mlp_init(rng, [3, 4, 2])
    x, y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)

    def loss(p):
        return nn.softmax_cross_entropy(nn.mlp_apply(p, x), y) + 1e-2 * nn.l2_penalty(p)

    grads = fgrad.grad(loss)(params)
    assert_tree_allclose(grads, numerical_grad(loss, params), rtol=1e-6, atol=1e-9)


def test_mlp_float32_end_to_end():
    rng = np.random.default_rng(13)
    params = nn.mlp_init(rng, [3, 4, 2], dtype=np.float32)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=5)
    loss, grads = fgrad.value_and_grad(
        lambda p: nn.softmax_cross_entropy(nn.mlp_apply(p, x, nn.relu), y)
    )(params)
    assert np.asarray(loss).dtype == np.float32
    assert all(g.dtype == np.float32 for g in fgrad.tree_leaves(grads))
