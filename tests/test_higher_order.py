"""Jacobians, Hessians, HVPs, linearize, custom rules, checkpoint, check_grads, ravel_pytree."""

from __future__ import annotations

import math
import tracemalloc
import warnings

import numpy as np
import pytest

import fgrad
from fgrad import numpy as fnp
from fgrad.flatten_util import ravel_pytree
from fgrad.test_util import check_grads

RNG = np.random.default_rng(42)


def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i, i + 1] -= 400 * x[i]
        h[i + 1, i] -= 400 * x[i]
        h[i + 1, i + 1] += 200
    return h


# -- Jacobians and Hessians ---------------------------------------------------------


def test_hessian_of_rosenbrock_matches_closed_form():
    x = RNG.uniform(-1.5, 1.5, size=7)
    np.testing.assert_allclose(fgrad.hessian(rosenbrock)(x), rosenbrock_hessian(x), rtol=1e-12)


def test_jacobian_of_linear_map_is_the_matrix():
    a = RNG.normal(size=(3, 5))
    x = RNG.normal(size=5)
    np.testing.assert_allclose(fgrad.jacrev(lambda v: a @ v)(x), a, rtol=1e-14)
    np.testing.assert_allclose(fgrad.jacfwd(lambda v: a @ v)(x), a, rtol=1e-14)
    assert fgrad.jacobian is fgrad.jacrev


def test_jacobian_of_elementwise_is_diagonal():
    x = RNG.normal(size=4)
    np.testing.assert_allclose(fgrad.jacfwd(fnp.sin)(x), np.diag(np.cos(x)), rtol=1e-14)
    np.testing.assert_allclose(fgrad.jacrev(fnp.tanh)(x), np.diag(1 - np.tanh(x) ** 2), rtol=1e-14)


def test_jacfwd_equals_jacrev_on_pytrees():
    def f(p, scale):
        return {
            "u": fnp.sin(p["x"]) * p["y"][0] * scale,
            "v": [fnp.sum(p["x"] ** 2) + p["y"][1], fnp.outer(p["x"], p["y"])],
        }

    p = {"x": RNG.normal(size=3), "y": RNG.normal(size=2)}
    for argnums in (0, (0, 1)):
        jf = fgrad.jacfwd(f, argnums=argnums)(p, 1.5)
        jr = fgrad.jacrev(f, argnums=argnums)(p, 1.5)
        assert fgrad.tree_structure(jf) == fgrad.tree_structure(jr)
        for a, b in zip(fgrad.tree_leaves(jf), fgrad.tree_leaves(jr)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    j = fgrad.jacrev(f)(p, 1.5)
    assert j["v"][1]["x"].shape == (3, 2, 3)
    # d outer(x, y)[i, j] / d x[k] = delta_ik y[j]
    expected = np.einsum("ik,j->ijk", np.eye(3), p["y"])
    np.testing.assert_allclose(j["v"][1]["x"], expected, rtol=1e-14)


def test_jacobians_has_aux():
    def f(x):
        return fnp.sin(x), {"sum": fnp.sum(x)}

    x = RNG.normal(size=3)
    for jac in (fgrad.jacfwd, fgrad.jacrev):
        j, aux = jac(f, has_aux=True)(x)
        np.testing.assert_allclose(j, np.diag(np.cos(x)), rtol=1e-14)
        np.testing.assert_allclose(aux["sum"], np.sum(x))


def test_hessian_of_quadratic_form_and_pytree_hessian():
    a = RNG.normal(size=(4, 4))
    x = RNG.normal(size=4)
    np.testing.assert_allclose(fgrad.hessian(lambda v: v @ a @ v)(x), a + a.T, rtol=1e-12)
    # a function of two arguments: the Hessian is a 2x2 nest of blocks
    h = fgrad.hessian(lambda u, v: fnp.sum(u * u * v), argnums=(0, 1))(x, x + 1)
    np.testing.assert_allclose(h[0][0], np.diag(2 * (x + 1)), rtol=1e-12)
    np.testing.assert_allclose(h[0][1], np.diag(2 * x), rtol=1e-12)
    np.testing.assert_allclose(h[1][1], np.zeros((4, 4)), atol=0)


def test_hvp_matches_full_hessian():
    x = RNG.uniform(-1, 1, size=6)
    v = RNG.normal(size=6)
    np.testing.assert_allclose(
        fgrad.hvp(rosenbrock, (x,), (v,)), rosenbrock_hessian(x) @ v, rtol=1e-11
    )


def test_linearize_matches_jvp_and_runs_forward_once():
    calls = []

    def f(x, y):
        calls.append(1)
        return {"a": fnp.sin(x) * y, "b": fnp.sum(fnp.exp(x) * y)}

    x, y = RNG.normal(size=3), RNG.normal(size=3)
    out, f_jvp = fgrad.linearize(f, x, y)
    assert len(calls) == 1
    for _ in range(3):
        tx, ty = RNG.normal(size=3), RNG.normal(size=3)
        expected_out, expected_t = fgrad.jvp(f, (x, y), (tx, ty))
        got = f_jvp(tx, ty)
        np.testing.assert_allclose(got["a"], expected_t["a"], rtol=1e-13)
        np.testing.assert_allclose(got["b"], expected_t["b"], rtol=1e-13)
    assert len(calls) == 4  # 1 (linearize) + 3 (the jvp references), none from f_jvp
    np.testing.assert_allclose(out["a"], np.sin(x) * y)


# -- high-order derivatives -------------------------------------------------------------


def nth_grad(f, n):
    for _ in range(n):
        f = fgrad.grad(f)
    return f


def test_sixth_derivative_of_product_against_leibniz():
    # f = x^3 exp(2x): by Leibniz, f^(6) = sum_k C(6,k) (x^3)^(k) (2^(6-k) exp(2x))
    x = 0.37
    poly = [x**3, 3 * x**2, 6 * x, 6.0]
    expected = sum(math.comb(6, k) * poly[k] * 2.0 ** (6 - k) * math.exp(2 * x) for k in range(4))
    got = nth_grad(lambda t: t**3 * fnp.exp(2 * t), 6)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-11)


def test_sixth_derivative_of_sin_times_cos():
    # sin(x) cos(x) = sin(2x)/2, whose 6th derivative is -32 sin(2x)
    x = 0.81
    got = nth_grad(lambda t: fnp.sin(t) * fnp.cos(t), 6)(x)
    np.testing.assert_allclose(got, -32 * math.sin(2 * x), rtol=1e-11)


@pytest.mark.parametrize("order", ["rev-fwd", "fwd-rev", "fwd-fwd"])
def test_mixed_mode_second_derivatives(order):
    f = lambda t: fnp.exp(t) * t**3  # noqa: E731
    x = 0.6
    expected = math.exp(x) * (x**3 + 6 * x**2 + 6 * x)

    def dfwd(g):
        return lambda t: fgrad.jvp(g, (t,), (1.0,))[1]

    outer, inner = order.split("-")
    d = {"rev": fgrad.grad, "fwd": dfwd}
    np.testing.assert_allclose(d[outer](d[inner](f))(x), expected, rtol=1e-12)


# -- custom rules -------------------------------------------------------------------------


@fgrad.custom_jvp
def log1pexp(x):
    return fnp.log1p(fnp.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1 - 1 / (1 + fnp.exp(x)))


def test_custom_jvp_gives_stable_gradient_in_both_modes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exp(1000) in the primal
        assert fgrad.grad(log1pexp)(1000.0) == 1.0
        assert fgrad.jvp(log1pexp, (1000.0,), (1.0,))[1] == 1.0
        # without the rule, the gradient is nan there
        assert np.isnan(fgrad.grad(lambda x: fnp.log1p(fnp.exp(x)))(1000.0))
    x = 1.3
    sig = 1 / (1 + math.exp(-x))
    np.testing.assert_allclose(fgrad.grad(log1pexp)(x), sig, rtol=1e-14)
    # the rule is differentiated again: second derivative sigma (1 - sigma)
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(log1pexp))(x), sig * (1 - sig), rtol=1e-12)
    np.testing.assert_allclose(
        fgrad.jvp(fgrad.grad(log1pexp), (x,), (1.0,))[1], sig * (1 - sig), rtol=1e-12
    )
    np.testing.assert_allclose(
        fgrad.grad(lambda t: fgrad.jvp(log1pexp, (t,), (1.0,))[1])(x), sig * (1 - sig), rtol=1e-12
    )


def test_custom_jvp_on_vectors_and_under_jacobians():
    x = RNG.normal(size=4)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(fgrad.jacrev(log1pexp)(x), np.diag(sig), rtol=1e-13)
    np.testing.assert_allclose(fgrad.jacfwd(log1pexp)(x), np.diag(sig), rtol=1e-13)
    np.testing.assert_allclose(
        fgrad.hessian(lambda v: fnp.sum(log1pexp(v)))(x), np.diag(sig * (1 - sig)), rtol=1e-12
    )


@fgrad.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1.0, 1.0),))


def test_custom_vjp_clips_gradients_in_the_backward_pass():
    x = np.array([0.5, -2.0, 3.0])
    g = fgrad.grad(lambda v: fnp.sum(clip_gradient(v) * np.array([0.3, 5.0, -7.0])))(x)
    np.testing.assert_allclose(g, [0.3, 1.0, -1.0])
    # the forward value is untouched
    np.testing.assert_allclose(clip_gradient(x), x)


@fgrad.custom_vjp
def cube(x):
    return x**3


cube.defvjp(lambda x: (x**3, x), lambda x, g: (3 * x**2 * g,))


def test_custom_vjp_under_every_transform_and_nesting():
    x = 0.7
    np.testing.assert_allclose(fgrad.grad(cube)(x), 3 * x**2, rtol=1e-14)
    np.testing.assert_allclose(fgrad.jvp(cube, (x,), (2.0,))[1], 6 * x**2, rtol=1e-14)
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(cube))(x), 6 * x, rtol=1e-14)
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(fgrad.grad(cube)))(x), 6.0, rtol=1e-14)
    v = np.array([0.3, -1.2])
    np.testing.assert_allclose(fgrad.hessian(lambda t: fnp.sum(cube(t)))(v), np.diag(6 * v))
    np.testing.assert_allclose(fgrad.jacfwd(cube)(v), np.diag(3 * v**2))


def test_custom_vjp_implicit_fixed_point_gradient():
    # z* = a tanh(z*) + x solved by iteration; dz*/dx = 1 / (1 - a (1 - tanh(z*)^2)),
    # and dz*/da = tanh(z*) / (1 - a (1 - tanh(z*)^2)), by the implicit function theorem.
    def solve(a, x):
        z = x
        for _ in range(200):
            z = a * fnp.tanh(z) + x
        return z

    @fgrad.custom_vjp
    def fixed_point(a, x):
        return solve(a, x)

    def fwd(a, x):
        z = solve(a, x)
        return z, (a, z)

    def bwd(res, g):
        a, z = res
        scale = g / (1 - a * (1 - fnp.tanh(z) ** 2))
        return scale * fnp.tanh(z), scale

    fixed_point.defvjp(fwd, bwd)
    a, x = 0.5, 0.3
    z = float(solve(a, x))
    denom = 1 - a * (1 - math.tanh(z) ** 2)
    ga, gx = fgrad.grad(fixed_point, argnums=(0, 1))(a, x)
    np.testing.assert_allclose(gx, 1 / denom, rtol=1e-12)
    np.testing.assert_allclose(ga, math.tanh(z) / denom, rtol=1e-12)
    # and against differentiating through all 200 iterations
    np.testing.assert_allclose(fgrad.grad(solve, argnums=1)(a, x), gx, rtol=1e-10)


def test_custom_vjp_forward_mode_with_nonlinear_bwd_is_a_clear_error():
    with pytest.raises(fgrad.TransformError, match="linear in the cotangent"):
        fgrad.jvp(clip_gradient, (np.array([1.0]),), (np.array([1.0]),))


def test_stop_gradient():
    x = 1.5
    np.testing.assert_allclose(fgrad.grad(lambda t: t * fgrad.stop_gradient(t))(x), x)
    assert fgrad.jvp(lambda t: fgrad.stop_gradient(t) ** 2, (x,), (1.0,))[1] == 0.0
    np.testing.assert_allclose(fgrad.stop_gradient(np.arange(3.0)), np.arange(3.0))


# -- checkpoint ------------------------------------------------------------------------


def _deep_chain(block_fn, depth):
    def f(x):
        for _ in range(depth):
            x = block_fn(x)
        return fnp.sum(x)

    return f


def _block(x):
    for _ in range(10):
        x = fnp.tanh(x * 1.01 + 0.1)
    return x


def test_checkpoint_keeps_gradients_and_lowers_peak_memory():
    x = RNG.normal(size=20_000)
    plain = _deep_chain(_block, 20)
    remat = _deep_chain(fgrad.checkpoint(_block), 20)
    g_plain = fgrad.grad(plain)(x)
    g_remat = fgrad.grad(remat)(x)
    np.testing.assert_allclose(g_remat, g_plain, rtol=1e-13)

    def peak(fn):
        tracemalloc.start()
        fgrad.grad(fn)(x)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    # plain reverse mode stores 20 * 10 * 3 arrays of 160 kB; checkpointing about 20 + 30
    assert peak(remat) < 0.5 * peak(plain)


def test_checkpoint_under_nesting():
    f = fgrad.checkpoint(lambda t: fnp.sin(t) * t)
    x = 0.4
    np.testing.assert_allclose(fgrad.grad(f)(x), math.cos(x) * x + math.sin(x), rtol=1e-14)
    np.testing.assert_allclose(
        fgrad.grad(fgrad.grad(f))(x), -math.sin(x) * x + 2 * math.cos(x), rtol=1e-13
    )


# -- check_grads and ravel_pytree -------------------------------------------------------


def test_check_grads_accepts_correct_and_rejects_wrong_rules():
    check_grads(
        lambda a, b: fnp.sin(a) * fnp.exp(b) + a @ b,
        (RNG.normal(size=3), RNG.normal(size=3)),
        order=3,
    )

    @fgrad.custom_jvp
    def wrong(x):
        return fnp.sin(x)

    wrong.defjvp(lambda p, t: (wrong(p[0]), 2.0 * t[0]))
    with pytest.raises(AssertionError, match="finite differences"):
        check_grads(wrong, (np.array([0.3, 0.4]),), order=1, modes=("fwd",))

    @fgrad.custom_vjp
    def wrong_rev(x):
        return fnp.sin(x)

    wrong_rev.defvjp(lambda x: (fnp.sin(x), x), lambda x, g: (g * 2.0,))
    with pytest.raises(AssertionError, match="vjp"):
        check_grads(wrong_rev, (np.array([0.3, 0.4]),), order=1, modes=("rev",))


def test_ravel_pytree_round_trip_and_hessian_of_pytree_function():
    params = {"w": RNG.normal(size=(2, 3)), "b": [RNG.normal(size=3), np.float64(0.5)]}
    flat, unravel = ravel_pytree(params)
    assert flat.shape == (10,)
    back = unravel(flat)
    for a, b in zip(fgrad.tree_leaves(back), fgrad.tree_leaves(params)):
        np.testing.assert_array_equal(a, b)

    def loss(p):
        return fnp.sum(fnp.tanh(p["b"][0] @ p["w"].T)) * p["b"][1]

    h = fgrad.hessian(lambda v: loss(unravel(v)))(flat)
    assert h.shape == (10, 10)
    np.testing.assert_allclose(h, h.T, atol=1e-12)
    g = fgrad.grad(loss)(params)
    np.testing.assert_allclose(fgrad.grad(lambda v: loss(unravel(v)))(flat), ravel_pytree(g)[0])


def test_newton_method_converges_in_a_handful_of_steps():
    def f(x):
        return fnp.sum(fnp.exp(x) - 2 * x) + 0.5 * fnp.sum(x**2)

    x = np.zeros(3)
    for _ in range(6):
        x = x - np.linalg.solve(fgrad.hessian(f)(x), fgrad.grad(f)(x))
    # stationarity: exp(x) - 2 + x = 0, i.e. x = 2 - W(e^2) = 0.4428544010...
    np.testing.assert_allclose(x, 2 - 1.5571455989976113, rtol=1e-12)
    assert np.max(np.abs(fgrad.grad(f)(x))) < 1e-13


@pytest.mark.parametrize(
    "f",
    [
        # separated advanced indices: NumPy moves their axes first, and the batch axis of
        # jacfwd's batched replay after them
        lambda x: x[np.array([0, 1]), :, np.array([1, 0])] * 2.0,
        lambda x: fnp.matmul(x, fnp.transpose(x, (0, 2, 1))),  # batched dot_general
        lambda x: fnp.tensordot(x, x[0], axes=([1, 2], [0, 1])),
        lambda x: fnp.concatenate([x, fnp.exp(x)], axis=1).at[:, 1].add(x[:, 0, :]),
        lambda x: fnp.sum(x, axis=(0, 2), keepdims=True) * fnp.broadcast_to(x[0, 0], (1, 3, 2)),
    ],
)
def test_jacfwd_matches_jacrev_on_shape_heavy_functions(f):
    x = RNG.normal(size=(2, 3, 2))
    np.testing.assert_allclose(fgrad.jacfwd(f)(x), fgrad.jacrev(f)(x), rtol=1e-12, atol=1e-14)
