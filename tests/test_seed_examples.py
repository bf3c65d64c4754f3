"""Worked examples from the lecture notes fgrad grew from, checked against fgrad.

Every test names the notes (by title) and the slide / problem it reproduces.  Each
gradient computed by fgrad is compared with

1. the HAND-DERIVED formula written in the notes, re-implemented independently in plain
   NumPy (rtol 1e-6, usually much tighter), and
2. central finite differences in float64 with step 1e-6, evaluated on a plain-NumPy forward
   pass (the model code takes the array namespace ``xp`` so that the very same expression
   runs under ``fgrad.numpy`` for autodiff and under ``numpy`` for the reference).

Where the notes give concrete numbers, those numbers are asserted directly.

Seeds:
    Recitation 3 "Computing Derivatives and Autograd" (CMU 11-785)
    Lecture 2 "Backpropagation and Automatic Differentiation"
    "Automatic differentiation" (chain rule, forward/reverse mode)
    CS 182/282A Discussion 3 (autodiff, mechanical backprop)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import fgrad
from fgrad import numpy as fnp

RTOL = 1e-6  # formula comparisons
FD_EPS = 1e-6  # central finite-difference step
FD_RTOL = 1e-6
FD_ATOL = 1e-8


# --------------------------------------------------------------------------------------
# helpers: pytree flattening, central finite differences, structural comparison
# --------------------------------------------------------------------------------------
def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):  # sorted keys, as JAX-style pytrees flatten dicts
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [tree]


def _unflatten(tree: Any, it: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _unflatten(tree[k], it) for k in sorted(tree)}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_unflatten(t, it) for t in tree)
    return next(it)


def numeric_grad(f: Callable[..., Any], args: tuple, argnum: int = 0, eps: float = FD_EPS):
    """Central differences (f(w+eps) - f(w-eps)) / (2 eps) for every entry of args[argnum]."""
    tree = args[argnum]
    leaves = [np.array(leaf, dtype=np.float64) for leaf in _leaves(tree)]
    out = []
    for i, leaf in enumerate(leaves):
        g = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):
            vals = []
            for sign in (1.0, -1.0):
                pert = [p.copy() for p in leaves]
                pert[i][idx] += sign * eps
                new_args = list(args)
                new_args[argnum] = _unflatten(tree, iter(pert))
                vals.append(float(f(*new_args)))
            g[idx] = (vals[0] - vals[1]) / (2.0 * eps)
        out.append(g)
    return _unflatten(tree, iter(out))


def assert_tree_close(
    actual: Any, expected: Any, rtol: float = RTOL, atol: float = 1e-12, path: str = ""
) -> None:
    """Same container types/keys, same shapes, float64 leaves, values allclose."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected dict, got {type(actual)}"
        assert set(actual) == set(expected), f"{path}: keys {set(actual)} != {set(expected)}"
        for k in expected:
            assert_tree_close(actual[k], expected[k], rtol, atol, f"{path}[{k!r}]")
        return
    if isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_tree_close(a, e, rtol, atol, f"{path}[{i}]")
        return
    a = np.asarray(actual)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{path}: shape {a.shape} != {e.shape}"
    assert a.dtype == np.float64, f"{path}: dtype {a.dtype} != float64"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=path)


def assert_fd(g: Any, f_np: Callable[..., Any], args: tuple, argnum: int = 0) -> None:
    """Compare an fgrad gradient with central finite differences of a plain-NumPy f."""
    assert_tree_close(g, numeric_grad(f_np, args, argnum), rtol=FD_RTOL, atol=FD_ATOL)


def tree_vdot(a: Any, b: Any) -> float:
    return float(
        sum(
            np.vdot(np.asarray(x), np.asarray(y))
            for x, y in zip(_leaves(a), _leaves(b), strict=True)
        )
    )


def sigmoid(xp: Any, t: Any) -> Any:
    return 1.0 / (1.0 + xp.exp(-t))


def np_sigmoid(t: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-t))


def np_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def relu(xp: Any, t: Any) -> Any:
    return xp.maximum(t, 0.0)


# ======================================================================================
# Lecture 2, Backpropagation and Automatic Differentiation
# ======================================================================================
@pytest.mark.parametrize("x", [0.3, 1.0, math.e, 4.5])
def test_001_chain_rule_log_squared(x: float) -> None:
    """001, slide "Chain Rule Example": z(x) = log(x)^2, dz/dx = 2 log(x) / x.

    Also the "Procedural" slide: dz/dy = 2 log(x), then dz/dx = dz/dy * (1/x), done with vjp.
    """
    x = np.array(x)
    g = fgrad.grad(lambda t: fnp.log(t) ** 2)(x)
    expected = 2.0 * np.log(x) / x
    assert_tree_close(g, expected, RTOL)
    assert_fd(g, lambda t: np.log(t) ** 2, (x,))
    if x == math.e:
        np.testing.assert_allclose(g, 2.0 / math.e, rtol=1e-12)  # log(e) = 1
    # procedural: step 1, dz/dy = 2*log(x); step 2, pull back through g(x) = log(x)
    y, pullback = fgrad.vjp(fnp.log, x)
    (dz_dx,) = pullback(2.0 * np.log(x))
    assert_tree_close(dz_dx, expected, RTOL)
    np.testing.assert_allclose(y, np.log(x), rtol=1e-14)


def _tanh_layer(xp: Any, w2: Any, W1: Any, b: Any, x: Any) -> Any:
    return xp.sum(w2 * xp.tanh(W1 @ x + b))  # y = w2^T tanh(W1 x + b)


def test_001_group_activity_tanh_layer_numbers() -> None:
    """001, "Group Activity" / "Problem": y = w2^T tanh(W1 x + b).

    Notes' data: W1 = [[-1, 1], [0.5, 0.5]], x = [0.5, 1.0], b = [0, 0]  =>  z1 = [0.5, 0.75].
    w2 is not given in the notes; we take w2 = [2, -1] (asymmetric, to catch transposes).
    Formulas: dy/dw2 = x1 = tanh(z1)  (the slide writes tanh' -- a typo; x1 = tanh(z1)),
    dy/db = w2 * (1 - tanh^2(z1)),  dy/dW1 = outer(w2 * (1 - tanh^2(z1)), x)
    (the slide's x^T w2^T (.) layout is the transpose; fgrad returns W1's shape).
    """
    W1 = np.array([[-1.0, 1.0], [0.5, 0.5]])
    x = np.array([0.5, 1.0])
    b = np.zeros(2)
    w2 = np.array([2.0, -1.0])

    def f(w2_, W1_, b_):
        return _tanh_layer(fnp, w2_, W1_, b_, x)

    y, (g_w2, g_W1, g_b) = fgrad.value_and_grad(f, argnums=(0, 1, 2))(w2, W1, b)

    # hand formulas
    z1 = W1 @ x + b
    np.testing.assert_allclose(z1, [0.5, 0.75], rtol=1e-15)
    dz = w2 * (1.0 - np.tanh(z1) ** 2)
    assert_tree_close(g_w2, np.tanh(z1))
    assert_tree_close(g_b, dz)
    assert_tree_close(g_W1, np.outer(dz, x))

    # concrete numbers (tanh(0.5), tanh(0.75), 1 - tanh^2 of each, computed by hand)
    t = np.array([0.46211715726000974, 0.6351489523872873])
    sech2 = np.array([0.7864477329659274, 0.5965858082813315])
    np.testing.assert_allclose(y, 2 * t[0] - t[1], rtol=1e-12)
    np.testing.assert_allclose(y, 0.28908536213273215, rtol=1e-12)
    np.testing.assert_allclose(g_w2, t, rtol=1e-12)
    np.testing.assert_allclose(g_b, [1.5728954659318548, -0.5965858082813315], rtol=1e-12)
    np.testing.assert_allclose(
        g_W1,
        [[0.7864477329659274, 1.5728954659318548], [-0.29829290414066575, -0.5965858082813315]],
        rtol=1e-12,
    )
    np.testing.assert_allclose(g_b, w2 * sech2, rtol=1e-12)

    # finite differences
    args = (w2, W1, b)
    for i, g in enumerate((g_w2, g_W1, g_b)):
        assert_fd(g, lambda *a: _tanh_layer(np, *a, x), args, argnum=i)


def _deep_tanh(xp: Any, Ws: list, x: Any, y: Any) -> Any:
    h = x
    for W in Ws:
        h = xp.tanh(W @ h)  # z_{j+1} = W_{j+1} x_j ; x_{j+1} = rho(z_{j+1})
    return 0.5 * xp.sum((h - y) ** 2)  # l(x_J, y) = 1/2 ||x_J - y||^2


def test_001_reverse_mode_mlp_backward_loop() -> None:
    """001, "Reverse Mode AD for MLP": f = rho(W_J ... rho(W_2 rho(W_1 x))), rho = tanh.

    Backward pass from the notes: v = grad_{x_J} l;  for j = J..1:
        v <- v o rho'(z_j);  grad_{W_j} L = v x_{j-1}^T;  v <- W_j^T v.
    (The slide prints ``v x_{j+1}^T``; the VJP slide above it, (dL/dz_j)^T x_{j-1}^T, is the
    correct one.)
    """
    rng = np.random.default_rng(1)
    sizes = [4, 5, 3, 2]
    Ws = [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in zip(sizes[:-1], sizes[1:], strict=True)]
    x = rng.normal(size=4)
    y = rng.normal(size=2)

    g = fgrad.grad(lambda ws: _deep_tanh(fnp, ws, x, y))(Ws)

    # hand backward loop
    xs, zs = [x], []
    for W in Ws:
        zs.append(W @ xs[-1])
        xs.append(np.tanh(zs[-1]))
    v = xs[-1] - y
    hand = [None] * len(Ws)
    for j in reversed(range(len(Ws))):
        v = v * (1.0 - np.tanh(zs[j]) ** 2)
        hand[j] = np.outer(v, xs[j])  # x_{j-1} in the notes' 1-based indexing
        v = Ws[j].T @ v
    assert_tree_close(g, hand)
    assert_fd(g, lambda ws: _deep_tanh(np, ws, x, y), (Ws,))
    # the last v is grad_x L
    assert_tree_close(fgrad.grad(lambda x_: _deep_tanh(fnp, Ws, x_, y))(x), v)


def test_001_torch_autograd_cost_sum_squared() -> None:
    """001, "Torch Autograd": y = a @ b; cost = sum(y - c)**2; cost.backward(); b.grad.

    The notes' printout of b.grad has every row constant.  By hand: with s = sum(a b - c),
    d cost / d b = 2 s * (a^T 1) 1^T   and   d cost / d a = 2 s * 1 (b 1)^T.
    """
    rng = np.random.default_rng(2)
    a, b, c = (rng.normal(size=(5, 5)) for _ in range(3))

    def cost(xp, a_, b_):
        return xp.sum(a_ @ b_ - c) ** 2

    g_a, g_b = fgrad.grad(lambda a_, b_: cost(fnp, a_, b_), argnums=(0, 1))(a, b)
    s = np.sum(a @ b - c)
    ones = np.ones(5)
    assert_tree_close(g_b, 2 * s * np.outer(a.T @ ones, ones), rtol=1e-10)
    assert_tree_close(g_a, 2 * s * np.outer(ones, b @ ones), rtol=1e-10)
    # the structural observation from the printout: each row of b.grad is constant
    np.testing.assert_allclose(g_b, np.repeat(g_b[:, :1], 5, axis=1), rtol=1e-12)
    assert_fd(g_b, lambda b_: cost(np, a, b_), (b,))


def _torch_model_nll(xp: Any, p: dict, data: Any, onehot: Any) -> Any:
    """Notes' model: log_softmax(relu(x @ weights + bias) @ weights2 + bias2); nll mean."""
    out = relu(xp, data @ p["weights"] + p["bias"])
    z = out @ p["weights2"] + p["bias2"]
    logp = z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))  # x - x.exp().sum(-1).log()
    return -xp.sum(onehot * logp) / data.shape[0]  # -input[range(N), target].mean()


def test_001_torch_log_softmax_nll_model() -> None:
    """001, "Torch Autograd" MNIST-style model (sizes shrunk: 784->200->10 becomes 8->6->4).

    Hand backprop: dz = (softmax(z) - onehot)/N; d weights2 = out^T dz; d bias2 = sum_rows dz;
    d out = dz weights2^T; d pre = d out * R(pre); d weights = data^T d pre; d bias = sum d pre.
    """
    rng = np.random.default_rng(3)
    N, D, H, K = 5, 8, 6, 4
    p = {
        "weights": rng.normal(size=(D, H)) / np.sqrt(D),
        "bias": rng.normal(size=H) * 0.1,
        "weights2": rng.normal(size=(H, K)) / np.sqrt(D),
        "bias2": rng.normal(size=K) * 0.1,
    }
    data = rng.normal(size=(N, D))
    targets = rng.integers(K, size=N)
    onehot = np.eye(K)[targets]

    val, g = fgrad.value_and_grad(lambda q: _torch_model_nll(fnp, q, data, onehot))(p)
    np.testing.assert_allclose(val, _torch_model_nll(np, p, data, onehot), rtol=1e-12)

    pre = data @ p["weights"] + p["bias"]
    assert np.min(np.abs(pre)) > 1e-3  # away from the ReLU kink, FD is valid
    out = np.maximum(pre, 0.0)
    z = out @ p["weights2"] + p["bias2"]
    dz = (np_softmax(z) - onehot) / N
    dout = dz @ p["weights2"].T
    dpre = dout * (pre > 0)
    hand = {
        "weights": data.T @ dpre,
        "bias": dpre.sum(0),
        "weights2": out.T @ dz,
        "bias2": dz.sum(0),
    }
    assert_tree_close(g, hand)
    assert_fd(g, lambda q: _torch_model_nll(np, q, data, onehot), (p,))


def test_001_more_complex_graph_sum_over_children() -> None:
    """001, "More Complex Graphs": x1 = f0(x0); x2 = f1(x1); x3 = f2(x1); x4 = f3(x2, x3).

    dy/dx0 = dy/dx4 (dx4/dx2 dx2/dx1 + dx4/dx3 dx3/dx1) dx1/dx0  -- x1 has two children, so
    its gradient is a sum (the ``node_j.grad += vjp`` of backward_diff_dag).
    Concretely: x1 = tanh(A x0), x2 = x1^2, x3 = B x1, x4 = x2 * x3, y = sum(x4).
    """
    rng = np.random.default_rng(4)
    A = rng.normal(size=(3, 4))
    B = rng.normal(size=(3, 3))
    x0 = rng.normal(size=4)

    def f(xp, x0_):
        x1 = xp.tanh(A @ x0_)
        x2 = x1**2
        x3 = B @ x1
        return xp.sum(x2 * x3)

    g = fgrad.grad(lambda t: f(fnp, t))(x0)
    # explicit Jacobians, multiplied in the order written on the slide
    x1 = np.tanh(A @ x0)
    x2, x3 = x1**2, B @ x1
    J10 = np.diag(1 - x1**2) @ A
    J21, J31 = np.diag(2 * x1), B
    J42, J43 = np.diag(x3), np.diag(x2)
    dy_dx4 = np.ones(3)
    hand = dy_dx4 @ (J42 @ J21 + J43 @ J31) @ J10
    assert_tree_close(g, hand)
    assert_fd(g, lambda t: f(np, t), (x0,))


# ======================================================================================
# Recitation 3, Computing Derivatives and Autograd
# ======================================================================================
def test_000_scalar_addition_and_multiplication_rules() -> None:
    """000, "Scalar Addition": z = x + y => dL/dx = dL/dz, dL/dy = dL/dz.
    000, "Scalar Multiplication": z = W x => dL/dx = dL/dz W, dL/dW = x dL/dz.
    dL/dz is "given": it is the cotangent fed to the vjp pullback.
    """
    x, y, W, dLdz = np.array(0.7), np.array(-1.3), np.array(2.5), np.array(0.4)
    z, pb = fgrad.vjp(lambda a, b: a + b, x, y)
    np.testing.assert_allclose(z, x + y)
    assert_tree_close(pb(dLdz), (dLdz, dLdz))
    z, pb = fgrad.vjp(lambda w, a: w * a, W, x)
    np.testing.assert_allclose(z, W * x)
    assert_tree_close(pb(dLdz), (x * dLdz, dLdz * W))


def test_000_scalar_generalized_chain_rule() -> None:
    """000, "Scalar Generalized Chain Rule": z = g1(x) + g2(x) + g3(x), L = f(z):
    dL/dx = dL/dz (g1' + g2' + g3').  Here g = (sin, x^2, exp), f(z) = z^2.
    """
    x = np.array(0.6)
    g = fgrad.grad(lambda t: (fnp.sin(t) + t**2 + fnp.exp(t)) ** 2)(x)
    z = np.sin(x) + x**2 + np.exp(x)
    assert_tree_close(g, 2 * z * (np.cos(x) + 2 * x + np.exp(x)))
    assert_fd(g, lambda t: (np.sin(t) + t**2 + np.exp(t)) ** 2, (x,))


def test_000_multivariable_matrix_multiplication_rule() -> None:
    """000, "Multivariable Matrix Multiplication": z = W x, given grad_z L (1 x K):
    grad_x L = (grad_z L) W  and  grad_W L = x (grad_z L)  (D x K in the notes' layout; in
    W's own K x D shape that is outer(grad_z L, x)).
    """
    rng = np.random.default_rng(5)
    W, x, gz = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    z, pb = fgrad.vjp(lambda w, a: w @ a, W, x)
    np.testing.assert_allclose(z, W @ x, rtol=1e-14)
    g_W, g_x = pb(gz)
    assert_tree_close(g_x, gz @ W)
    assert_tree_close(g_W, np.outer(gz, x))
    assert_tree_close(g_W.T, np.outer(x, gz))  # the notes' D x K "x (grad_z L)"


def test_000_vector_addition_of_derivatives() -> None:
    """000, "Multivariable Vector Addition of derivatives": L = f1(z) + f2(y), z = g(x),
    y = h(x)  =>  grad_x L = grad_z L J_g + grad_y L J_h.
    Here g(x) = A x, h(x) = tanh(x), f1(z) = |z|^2/2, f2(y) = sum(exp(y)).
    """
    rng = np.random.default_rng(6)
    A, x = rng.normal(size=(3, 4)), rng.normal(size=4)

    def L(xp, t):
        return 0.5 * xp.sum((A @ t) ** 2) + xp.sum(xp.exp(xp.tanh(t)))

    g = fgrad.grad(lambda t: L(fnp, t))(x)
    z, y = A @ x, np.tanh(x)
    hand = z @ A + np.exp(y) @ np.diag(1 - y**2)
    assert_tree_close(g, hand)
    assert_fd(g, lambda t: L(np, t), (x,))


def _two_neurons(xp: Any, p: dict) -> Any:
    """000: y2 = tanh(Wx1 x1 + bx1 + Wx2 x2 + bx2); z1 = tanh(Wy1 y1 + by1 + Wy2 y2 + by2)."""
    i3 = p["Wx1"] * p["x1"] + p["bx1"] + p["Wx2"] * p["x2"] + p["bx2"]
    y2 = xp.tanh(i3)
    i6 = p["Wy1"] * p["y1"] + p["by1"] + p["Wy2"] * y2 + p["by2"]
    return xp.tanh(i6)


def _two_neurons_hand_backward(p: dict, dL_dz1: float) -> dict:
    """The notes' backward pass, line by line (all scalars)."""
    i1, i2 = p["Wx1"] * p["x1"], p["Wx2"] * p["x2"]
    i3 = i1 + p["bx1"] + i2 + p["bx2"]
    y2 = np.tanh(i3)
    i4, i5 = p["Wy1"] * p["y1"], p["Wy2"] * y2
    i6 = i4 + p["by1"] + i5 + p["by2"]
    g: dict = {}
    g_i6 = dL_dz1 * (1 - np.tanh(i6) ** 2)
    g_i4 = g["by1"] = g_i5 = g["by2"] = g_i6
    g["Wy2"] = y2 * g_i5
    g_y2 = g_i5 * p["Wy2"]
    g["Wy1"] = p["y1"] * g_i4
    g["y1"] = g_i4 * p["Wy1"]
    g_i3 = g_y2 * (1 - np.tanh(i3) ** 2)
    g_i2 = g["bx1"] = g_i1 = g["bx2"] = g_i3
    g["Wx2"] = p["x2"] * g_i2
    g["x2"] = g_i2 * p["Wx2"]
    g["Wx1"] = p["x1"] * g_i1
    g["x1"] = g_i1 * p["Wx1"]
    return {k: np.asarray(v) for k, v in g.items()}


def _neuron_params(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    names = ["x1", "x2", "y1", "Wx1", "bx1", "Wx2", "bx2", "Wy1", "by1", "Wy2", "by2"]
    return {k: np.array(rng.normal()) for k in names}


def test_000_two_tanh_neurons_backward() -> None:
    """000, slides "y2 = tanh(...)", "z1 = tanh(...)" with the i1..i6 decomposition and the
    backward pass "Given dL/dz1": grad_{i6} L = grad_{z1} L (1 - tanh^2(i6)), ... ,
    grad_{x1} L = grad_{i1} L W_{x1}.
    """
    p = _neuron_params(7)
    dL_dz1 = np.array(0.37)
    z1, pb = fgrad.vjp(lambda q: _two_neurons(fnp, q), p)
    np.testing.assert_allclose(z1, _two_neurons(np, p), rtol=1e-14)
    (g,) = pb(dL_dz1)
    assert_tree_close(g, _two_neurons_hand_backward(p, float(dL_dz1)))
    # with L = 0.37 * z1 the vjp is a gradient: finite differences too
    assert_fd(
        fgrad.grad(lambda q: 0.37 * _two_neurons(fnp, q))(p),
        lambda q: 0.37 * _two_neurons(np, q),
        (p,),
    )


def test_000_plus_equals_accumulation() -> None:
    """000, "When to use '=' vs '+='" / "Cheap trick: initialize to 0 and always use +=".

    The slide asks which variable needs ``+=`` in "the new example (right figure)"; the figure
    is not in the text, so we build that situation: x1 now ALSO feeds y1 = tanh(Wa x1 + ba),
    so x1 is used twice and grad_x1 = (path via y2) + (path via y1).
    """
    p = _neuron_params(8)
    del p["y1"]
    p["Wa"], p["ba"] = np.array(0.9), np.array(-0.2)

    def net(xp, q):
        y1 = xp.tanh(q["Wa"] * q["x1"] + q["ba"])
        return _two_neurons(xp, {**q, "y1": y1})

    def loss(xp, q):
        return net(xp, q) ** 2

    g = fgrad.grad(lambda q: loss(fnp, q))(p)

    y1 = np.tanh(p["Wa"] * p["x1"] + p["ba"])
    dL_dz1 = 2 * net(np, p)
    inner = _two_neurons_hand_backward({**p, "y1": y1}, dL_dz1)
    g_pre_y1 = inner.pop("y1") * (1 - y1**2)
    hand = dict(inner)
    hand["x1"] = np.zeros(())  # cheap trick: initialise to 0 ...
    hand["x1"] += inner["x1"]  # ... += the contribution through y2 ...
    hand["x1"] += g_pre_y1 * p["Wa"]  # ... += the contribution through y1
    hand["Wa"] = g_pre_y1 * p["x1"]
    hand["ba"] = g_pre_y1
    assert abs(g_pre_y1 * p["Wa"]) > 1e-3 and abs(inner["x1"]) > 1e-3  # both paths matter
    assert_tree_close(g, hand)
    assert_fd(g, lambda q: loss(np, q), (p,))


# ======================================================================================
# Automatic differentiation (chain rule, forward/reverse mode)
# ======================================================================================
@pytest.mark.parametrize("x", [2.0, -3.0, 0.25])
def test_002_log_of_square(x: float) -> None:
    """002, "Useful notation": b = x ** 2; a = log(b); da/dx = (1/b)(2x) = 2/x."""
    x = np.array(x)
    g = fgrad.grad(lambda t: fnp.log(t**2))(x)
    assert_tree_close(g, 2.0 / x)
    assert_fd(g, lambda t: np.log(t**2), (x,))
    if x == 2.0:
        np.testing.assert_allclose(g, 1.0, rtol=1e-14)


def test_002_total_derivative_y_z_squared() -> None:
    """002, "Total derivatives": f(y, z) = y z^2, y = 2x, z = exp(x):
    df/dx = df/dy dy/dx + df/dz dz/dx = z^2 * 2 + 2 y z * exp(x).
    """
    x = np.array(0.3)
    g = fgrad.grad(lambda t: (2 * t) * fnp.exp(t) ** 2)(x)
    y, z = 2 * x, np.exp(x)
    assert_tree_close(g, z**2 * 2 + 2 * y * z * np.exp(x))
    assert_fd(g, lambda t: (2 * t) * np.exp(t) ** 2, (x,))


def test_002_f_of_x_x() -> None:
    """002, "Total derivatives": f(x, y) = xy, df/dx = y, df/dy = x, d/dx f(x, x) = 2x."""
    x, y = np.array(1.7), np.array(-0.4)
    gx, gy = fgrad.grad(lambda a, b: a * b, argnums=(0, 1))(x, y)
    assert_tree_close((gx, gy), (y, x))
    np.testing.assert_allclose(fgrad.grad(lambda a: a * a)(x), 2 * x, rtol=1e-14)
    np.testing.assert_allclose(fgrad.grad(lambda a: a**2)(x), 2 * x, rtol=1e-14)


def _neg_log_sigmoid(xp: Any, x: Any, w: Any) -> Any:
    a = x**2
    b = w * a
    c = sigmoid(xp, b)
    g = xp.log(c)
    return -g


@pytest.mark.parametrize(("x", "w"), [(1.5, 0.8), (-0.7, -2.0), (2.0, 0.1)])
def test_002_neg_log_sigmoid_w_x_squared(x: float, w: float) -> None:
    """002, "Composing the chain rule": L = -log sigmoid(w x^2) with a = x^2, b = w a,
    c = sigma(b), g = log c, L = -g:
    dL/dx = (-1)(1/c)(sigma(b)(1 - sigma(b)))(w)(2x);  likewise dL/dw = (...)(a).
    "Forward-mode automatic differentiation" slide: the same number from a jvp in x.
    """
    x, w = np.array(x), np.array(w)
    L, (gx, gw) = fgrad.value_and_grad(lambda s, t: _neg_log_sigmoid(fnp, s, t), argnums=(0, 1))(
        x, w
    )
    a = x**2
    b = w * a
    c = np_sigmoid(b)
    dLdb = (-1.0) * (1.0 / c) * (np_sigmoid(b) * (1.0 - np_sigmoid(b)))
    np.testing.assert_allclose(L, -np.log(c), rtol=1e-12)
    assert_tree_close(gx, dLdb * w * 2 * x)
    assert_tree_close(gw, dLdb * a)
    assert_fd(gx, lambda s: _neg_log_sigmoid(np, s, w), (x,))
    assert_fd(gw, lambda t: _neg_log_sigmoid(np, x, t), (w,))
    # forward mode: seed dx = 1 and push the tangent through a, b, c, g, L
    L_f, dL = fgrad.jvp(lambda s: _neg_log_sigmoid(fnp, s, w), (x,), (np.array(1.0),))
    np.testing.assert_allclose(L_f, L, rtol=1e-14)
    np.testing.assert_allclose(dL, dLdb * w * 2 * x, rtol=RTOL)


def test_002_neg_log_sigmoid_exact_numbers() -> None:
    """002, L = -log sigmoid(w x^2) at x = 1, w = ln 3 (chosen so sigma(b) = 3/4 exactly):
    L = log(4/3), dL/dx = -(1/4) ln3 * 2 = -ln(3)/2, dL/dw = -(1/4) * 1 = -1/4.
    """
    L, (gx, gw) = fgrad.value_and_grad(lambda s, t: _neg_log_sigmoid(fnp, s, t), argnums=(0, 1))(
        np.array(1.0), np.array(math.log(3))
    )
    np.testing.assert_allclose(L, math.log(4 / 3), rtol=1e-12)
    np.testing.assert_allclose(gx, -math.log(3) / 2, rtol=1e-12)
    np.testing.assert_allclose(gw, -0.25, rtol=1e-12)


def test_002_neg_log_sigmoid_multiple_inputs() -> None:
    """002, "Automatic differentiation with multiple inputs": -log sigma(w1x1 + w2x2 + w3x3),
    a_k = w_k x_k, b = sum a_k: dL/dx_k = dL/db * db/da_k * da_k/dx_k = -(1 - sigma(b)) w_k.
    """
    x, w = np.array([0.5, -1.2, 2.0]), np.array([1.1, 0.3, -0.4])

    def L(xp, x_, w_):
        return -xp.log(sigmoid(xp, w_[0] * x_[0] + w_[1] * x_[1] + w_[2] * x_[2]))

    gx, gw = fgrad.grad(lambda s, t: L(fnp, s, t), argnums=(0, 1))(x, w)
    b = np.dot(w, x)
    assert_tree_close(gx, -(1 - np_sigmoid(b)) * w)
    assert_tree_close(gw, -(1 - np_sigmoid(b)) * x)
    assert_fd(gx, lambda s: L(np, s, w), (x,))


def _reuse_loss(xp: Any, x: Any) -> Any:
    a = x**2
    b = 5 * a
    c = xp.log(a)
    g = b * c
    return -g


@pytest.mark.parametrize("x", [0.8, 1.9, -1.4])
def test_002_reusing_values_plus_equals(x: float) -> None:
    """002, "Reusing values": a = x^2, b = 5a, c = log a, g = b c, L = -g.

    a is used twice (by b and by c), so its gradient accumulates:
    gL = 1; gg = -1; gb = gg c; gc = gg b; ga = gb * 5; ga += gc / a; gx = ga * 2x.
    Closed form: L = -5 x^2 log(x^2), dL/dx = -10 x log(x^2) - 10 x.
    """
    x = np.array(x)
    g = fgrad.grad(lambda t: _reuse_loss(fnp, t))(x)
    a = x**2
    b, c = 5 * a, np.log(a)
    gg = -1.0
    gb, gc = gg * c, gg * b
    ga = gb * 5
    ga += gc * (1 / a)
    gx = ga * 2 * x
    assert_tree_close(g, gx)
    assert_tree_close(g, -10 * x * np.log(x**2) - 10 * x)
    assert_fd(g, lambda t: _reuse_loss(np, t), (x,))


def test_002_partial_vs_total_c_equals_ab() -> None:
    """002, "Partial derivatives revisited": a = x^2, b = 5a, c = ab, L = -c.
    Partial dc/da = b (b held fixed) but total dc/da = dc/da + dc/db db/da = 5a + 5a = 10a;
    then dL/dx = -10a * 2x = -20 x^3.
    """
    x = np.array(1.3)
    a = x**2
    pa, pb_ = fgrad.grad(lambda a_, b_: a_ * b_, argnums=(0, 1))(a, 5 * a)
    assert_tree_close((pa, pb_), (5 * a, a))  # partials
    total = fgrad.grad(lambda a_: a_ * (5 * a_))(a)
    assert_tree_close(total, 10 * a)
    gx = fgrad.grad(lambda t: -((t**2) * (5 * t**2)))(x)
    assert_tree_close(gx, -10 * a * 2 * x)
    np.testing.assert_allclose(gx, -20 * x**3, rtol=1e-12)


def _mse(xp: Any, w: Any, X: Any, y: Any) -> Any:
    a = X @ w
    b = y - a
    c = b**2
    g = xp.sum(c)
    return g / X.shape[0]


def test_002_forward_mode_with_vectors_mse() -> None:
    """002, "Forward-mode with vectors": a = Xw, b = y - a, c = b^2, g = sum c, L = g/N.
    Hand: dL/dw = -(2/N) X^T (y - Xw).  Forward mode: one JVP per input direction e_j
    gives one gradient component; a random direction v gives <grad, v>.
    """
    rng = np.random.default_rng(9)
    N, D = 6, 3
    X, y, w = rng.normal(size=(N, D)), rng.normal(size=N), rng.normal(size=D)
    g = fgrad.grad(lambda t: _mse(fnp, t, X, y))(w)
    hand = -(2.0 / N) * X.T @ (y - X @ w)
    assert_tree_close(g, hand)
    assert_fd(g, lambda t: _mse(np, t, X, y), (w,))
    cols = [fgrad.jvp(lambda t: _mse(fnp, t, X, y), (w,), (e,))[1] for e in np.eye(D)]
    np.testing.assert_allclose(np.array(cols, dtype=float), hand, rtol=RTOL)
    v = rng.normal(size=D)
    val, dval = fgrad.jvp(lambda t: _mse(fnp, t, X, y), (w,), (v,))
    np.testing.assert_allclose(val, _mse(np, w, X, y), rtol=1e-12)
    np.testing.assert_allclose(dval, hand @ v, rtol=RTOL)


def _jacobian_rows_cols(f: Callable[[Any], Any], x: np.ndarray, m: int):
    """Jacobian built row-wise from VJPs e_i^T J and column-wise from JVPs J e_j."""
    _, pb = fgrad.vjp(f, x)
    rows = np.array([pb(e)[0] for e in np.eye(m)], dtype=float)
    cols = np.array([fgrad.jvp(f, (x,), (e,))[1] for e in np.eye(x.size)], dtype=float).T
    return rows, cols


def test_002_jacobians_linear_and_square() -> None:
    """002, "Calculus for vectors (Jacobian)": y = A x has Jacobian A; y = x^2 has diag(2x).
    (004, Problem 1 text: VJPs with e_i build J row-wise, JVPs with e_j column-wise.)
    """
    rng = np.random.default_rng(10)
    A, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    rows, cols = _jacobian_rows_cols(lambda t: A @ t, x, 3)
    np.testing.assert_allclose(rows, A, rtol=1e-12)
    np.testing.assert_allclose(cols, A, rtol=1e-12)
    rows, cols = _jacobian_rows_cols(lambda t: t**2, x, 4)
    np.testing.assert_allclose(rows, np.diag(2 * x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cols, np.diag(2 * x), rtol=1e-12, atol=1e-15)


def test_002_forward_value_primitive_grads() -> None:
    """002, "Implementing automatic differentiation": the ForwardValue operators' ``grads``:
    _add -> (1., 1.), _neg -> (-1.,), _sub -> (1, -1) (the "your code here" answer).
    """
    a, b = np.array(0.9), np.array(-2.2)
    assert_tree_close(
        fgrad.grad(lambda s, t: s + t, argnums=(0, 1))(a, b), (np.array(1.0), np.array(1.0))
    )
    assert_tree_close(fgrad.grad(lambda s: -s)(a), np.array(-1.0))
    assert_tree_close(
        fgrad.grad(lambda s, t: s - t, argnums=(0, 1))(a, b), (np.array(1.0), np.array(-1.0))
    )
    _, t_sub = fgrad.jvp(lambda s, t: s - t, (a, b), (np.array(1.0), np.array(1.0)))
    np.testing.assert_allclose(t_sub, 0.0, atol=1e-15)


def _nll_hidden(xp: Any, w0: Any, W: Any, X: Any, y: Any) -> Any:
    phi_t = sigmoid(xp, W @ X.T)  # column i is phi(x_i) = sigma(W x_i)
    return -xp.sum(xp.log(sigmoid(xp, (2 * y - 1) * (w0 @ phi_t))))


def test_002_nll_hidden_layer_motivation() -> None:
    """002, "Automatic differentiation: Motivation":
    NLL(w0, W, X, y) = -sum_i log sigma((2 y_i - 1) phi(x_i)^T w0), phi(x) = sigma(W x),
    W is 3x2 (W11..W32, inputs x1, x2).  Hand (with sigma' = sigma(1 - sigma), derived here):
    s_i = (2y_i-1) phi_i.w0, r_i = -(1 - sigma(s_i))(2y_i-1);  dNLL/dw0 = sum_i r_i phi_i;
    dNLL/dW = sum_i (r_i w0 * phi_i (1 - phi_i)) x_i^T.  Then one step
    W11 <- W11 - alpha dNLL/dW11 lowers the loss.
    """
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(7, 2)), rng.integers(2, size=7).astype(float)
    w0, W = rng.normal(size=3), rng.normal(size=(3, 2))
    g_w0, g_W = fgrad.grad(lambda a, b: _nll_hidden(fnp, a, b, X, y), argnums=(0, 1))(w0, W)
    phi = np_sigmoid(X @ W.T)
    s = (2 * y - 1) * (phi @ w0)
    r = -(1 - np_sigmoid(s)) * (2 * y - 1)
    assert_tree_close(g_w0, r @ phi)
    assert_tree_close(g_W, ((r[:, None] * w0[None, :]) * phi * (1 - phi)).T @ X)
    assert_fd(g_W, lambda b: _nll_hidden(np, w0, b, X, y), (W,))
    W_new = W.copy()
    W_new[0, 0] -= 1e-2 * g_W[0, 0]
    assert _nll_hidden(np, w0, W_new, X, y) < _nll_hidden(np, w0, W, X, y)


# ======================================================================================
# CS 182/282A Discussion 3
# ======================================================================================
def _log_softmax(xp: Any, z: Any) -> Any:
    m = xp.max(z, axis=-1, keepdims=True)
    return z - m - xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True))


def test_004_softmax_jacobian() -> None:
    """004, Section 2: dp_i/dz_j = p_i (delta_ij - p_j), i.e. J = diag(p) - p p^T, and
    grad p_i(z) = p_i (e_i - p).  Rows from VJPs with e_i, columns from JVPs with e_j.
    """
    z = np.array([0.3, -1.2, 2.0, 0.5])
    p = np_softmax(z)
    hand = np.diag(p) - np.outer(p, p)
    rows, cols = _jacobian_rows_cols(lambda t: fnp.exp(_log_softmax(fnp, t)), z, 4)
    np.testing.assert_allclose(rows, hand, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(cols, hand, rtol=RTOL, atol=1e-12)
    for i in range(4):
        np.testing.assert_allclose(rows[i], p[i] * (np.eye(4)[i] - p), rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("i", [0, 2])
def test_004_grad_log_softmax(i: int) -> None:
    """004, Solution 3: grad log p_i(z) = grad p_i(z) / p_i(z) = e_i - p(z)."""
    z = np.array([0.3, -1.2, 2.0, 0.5])
    e = np.eye(4)[i]
    g = fgrad.grad(lambda t: fnp.sum(e * _log_softmax(fnp, t)))(z)
    assert_tree_close(g, e - np_softmax(z))


def _logreg(xp: Any, W: Any, b: Any, x: Any, e_y: Any) -> Any:
    return -xp.sum(e_y * _log_softmax(xp, W @ x + b))  # L = -log p_y(Wx + b)


def test_004_multiclass_logreg_problems_3_and_4() -> None:
    """004, Problems 3 & 4: L(x, y, W, b) = -log p_y(Wx + b), z = Wx + b:
    grad_b L = p(z) - e_y;  dL/dW = (p(z) - e_y) x^T;  dL/dx = -W^T grad_z log p_y = W^T (p - e_y).
    """
    rng = np.random.default_rng(12)
    K, D, y = 4, 3, 2
    W, b, x = rng.normal(size=(K, D)), rng.normal(size=K), rng.normal(size=D)
    e_y = np.eye(K)[y]
    gW, gb, gx = fgrad.grad(lambda *a: _logreg(fnp, *a, e_y), argnums=(0, 1, 2))(W, b, x)
    delta = np_softmax(W @ x + b) - e_y
    assert_tree_close(gb, delta)
    assert_tree_close(gW, np.outer(delta, x))
    assert_tree_close(gx, W.T @ delta)
    for i, g in enumerate((gW, gb, gx)):
        assert_fd(g, lambda *a: _logreg(np, *a, e_y), (W, b, x), argnum=i)


def _skip(xp: Any, W1: Any, W2: Any, x: Any) -> Any:
    return W2 @ relu(xp, W1 @ x) + x  # y = W2 sigma(W1 x) + x, sigma = ReLU


def test_004_skip_connection_problem_5() -> None:
    """004, Problem 5: y = W2 ReLU(W1 x) + x, delta_y = dL/dy (the vjp cotangent):
    dL/da = W2^T delta_y;  dL/dz = R(z) W2^T delta_y;
    dL/dx = W1^T R(W1 x) W2^T delta_y + delta_y   (the two paths are summed).
    W1/W2 gradients follow the Problem 3 rule: outer(dL/dz, x), outer(delta_y, a).
    """
    rng = np.random.default_rng(13)
    n, h = 4, 6
    W1, W2, x = rng.normal(size=(h, n)), rng.normal(size=(n, h)), rng.normal(size=n)
    delta_y = rng.normal(size=n)
    y, pb = fgrad.vjp(lambda *a: _skip(fnp, *a), W1, W2, x)
    np.testing.assert_allclose(y, _skip(np, W1, W2, x), rtol=1e-12)
    gW1, gW2, gx = pb(delta_y)
    z = W1 @ x
    assert np.min(np.abs(z)) > 1e-3
    R = np.diag((z > 0).astype(float))
    dz = R @ W2.T @ delta_y
    assert_tree_close(gx, W1.T @ R @ W2.T @ delta_y + delta_y)
    assert_tree_close(gW1, np.outer(dz, x))
    assert_tree_close(gW2, np.outer(delta_y, np.maximum(z, 0)))
    # with a concrete loss L = <delta_y, y> the same numbers are a gradient: FD check
    for i, g in enumerate((gW1, gW2, gx)):
        assert_fd(g, lambda *a: np.dot(delta_y, _skip(np, *a)), (W1, W2, x), argnum=i)


# --------------------------------------------------------------------------------------
# The full MLP backward pass: linear -> tanh -> [ReLU block with skip] -> linear -> softmax CE
# (combines 001 "Reverse Mode AD for MLP", 004 Problems 3-5, 000 "+=").
# --------------------------------------------------------------------------------------
def _mlp_loss(xp: Any, p: dict, X: Any, Y: Any) -> Any:
    """Batched (rows are samples; weights stored (in, out) as in 001's torch example).

    h = tanh(X W0 + b0);  r = relu(h U1) U2 + h   (row form of y = W2 relu(W1 x) + x);
    logits = r W3 + b3;   L = mean_i -log softmax(logits_i)[y_i].
    """
    h = xp.tanh(X @ p["W0"] + p["b0"])
    r = relu(xp, h @ p["U1"]) @ p["U2"] + h
    logits = r @ p["W3"] + p["b3"]
    return -xp.sum(Y * _log_softmax(xp, logits)) / Y.shape[0]


def _mlp_hand_backward(p: dict, X: np.ndarray, Y: np.ndarray) -> tuple[dict, np.ndarray]:
    N = X.shape[0]
    h = np.tanh(X @ p["W0"] + p["b0"])
    z1 = h @ p["U1"]
    a1 = np.maximum(z1, 0.0)
    r = a1 @ p["U2"] + h
    logits = r @ p["W3"] + p["b3"]
    d_logits = (np_softmax(logits) - Y) / N  # 004 Sol. 3: p - e_y (mean over batch)
    g = {"W3": r.T @ d_logits, "b3": d_logits.sum(0)}  # (p - e_y) x^T
    d_r = d_logits @ p["W3"].T  # W^T (p - e_y)
    g["U2"] = a1.T @ d_r
    d_z1 = (z1 > 0) * (d_r @ p["U2"].T)  # R(z) W2^T delta_y
    g["U1"] = h.T @ d_z1
    d_h = d_z1 @ p["U1"].T
    d_h += d_r  # skip connection: + delta_y
    d_pre0 = d_h * (1.0 - h**2)  # tanh' = 1 - tanh^2
    g["W0"] = X.T @ d_pre0
    g["b0"] = d_pre0.sum(0)
    return g, d_pre0 @ p["W0"].T


@pytest.fixture
def mlp_setup() -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(15)
    N, D, H, F, K = 7, 4, 5, 6, 3
    p = {
        "W0": rng.normal(size=(D, H)) / np.sqrt(D),
        "b0": rng.normal(size=H) * 0.1,
        "U1": rng.normal(size=(H, F)) / np.sqrt(H),
        "U2": rng.normal(size=(F, H)) / np.sqrt(F),
        "W3": rng.normal(size=(H, K)) / np.sqrt(H),
        "b3": rng.normal(size=K) * 0.1,
    }
    X = rng.normal(size=(N, D))
    Y = np.eye(K)[rng.integers(K, size=N)]
    z1 = np.tanh(X @ p["W0"] + p["b0"]) @ p["U1"]
    assert np.min(np.abs(z1)) > 1e-2  # no ReLU kink within FD reach
    return p, X, Y


def test_mlp_backward_pass_matches_hand_formulas(mlp_setup) -> None:
    """004 Problems 3-5 + 001 "Reverse Mode AD for MLP": params and input gradients."""
    p, X, Y = mlp_setup
    loss, (gp, gX) = fgrad.value_and_grad(lambda q, x: _mlp_loss(fnp, q, x, Y), argnums=(0, 1))(
        p, X
    )
    np.testing.assert_allclose(loss, _mlp_loss(np, p, X, Y), rtol=1e-12)
    hand_p, hand_X = _mlp_hand_backward(p, X, Y)
    assert_tree_close(gp, hand_p)
    assert_tree_close(gX, hand_X)


def test_mlp_backward_pass_finite_differences(mlp_setup) -> None:
    """Same MLP: central finite differences (float64, eps 1e-6) over all 102 parameters."""
    p, X, Y = mlp_setup
    gp = fgrad.grad(lambda q: _mlp_loss(fnp, q, X, Y))(p)
    assert_fd(gp, lambda q: _mlp_loss(np, q, X, Y), (p,))
    gX = fgrad.grad(lambda x: _mlp_loss(fnp, p, x, Y))(X)
    assert_fd(gX, lambda x: _mlp_loss(np, p, x, Y), (X,))


def test_mlp_forward_mode_agrees(mlp_setup) -> None:
    """Forward mode (002 "Forward mode"; 004 JVPs): jvp with a random direction v equals
    <grad, v> from reverse mode, for the params and the inputs together.
    """
    p, X, Y = mlp_setup
    rng = np.random.default_rng(16)
    v_p = {k: rng.normal(size=np.shape(a)) for k, a in p.items()}
    v_X = rng.normal(size=X.shape)

    def f(q, x):
        return _mlp_loss(fnp, q, x, Y)

    val, tangent = fgrad.jvp(f, (p, X), (v_p, v_X))
    gp, gX = fgrad.grad(f, argnums=(0, 1))(p, X)
    np.testing.assert_allclose(val, _mlp_loss(np, p, X, Y), rtol=1e-12)
    expected = tree_vdot(gp, v_p) + tree_vdot(gX, v_X)
    np.testing.assert_allclose(tangent, expected, rtol=RTOL)
    hand_p, hand_X = _mlp_hand_backward(p, X, Y)
    np.testing.assert_allclose(tangent, tree_vdot(hand_p, v_p) + tree_vdot(hand_X, v_X), rtol=RTOL)


def test_mlp_has_aux_and_vjp(mlp_setup) -> None:
    """has_aux returns (grads, aux); the vjp of the loss with cotangent 1 gives the grads."""
    p, X, Y = mlp_setup

    def f_aux(q):
        return _mlp_loss(fnp, q, X, Y), {"n": np.array(X.shape[0], dtype=float)}

    gp, aux = fgrad.grad(f_aux, has_aux=True)(p)
    hand_p, _ = _mlp_hand_backward(p, X, Y)
    assert_tree_close(gp, hand_p)
    assert_tree_close(aux, {"n": np.array(7.0)})
    out, pb = fgrad.vjp(lambda q: _mlp_loss(fnp, q, X, Y), p)
    np.testing.assert_allclose(out, _mlp_loss(np, p, X, Y), rtol=1e-12)
    (g_vjp,) = pb(np.array(1.0))
    assert_tree_close(g_vjp, hand_p)
