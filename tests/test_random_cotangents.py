"""Every vjp checked with random, non-unit cotangents against a reference that fgrad's own
rules do not produce: a closed-form Jacobian, or central finite differences in float64.

Most tests differentiate a sum, so the cotangent reaching a rule is all ones: a rule
that ignores its cotangent, or feeds ``bwd`` ones instead of the cotangent it got, passes
them. Here the cotangents are random normals, per output, with several outputs, pytree
outputs, some outputs unused, and the result is compared with ``J^T u`` built from the
closed form or from finite differences of ``<u, f(x + eps e_i)>``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

RNG = np.random.default_rng(20261205)


def fd_vjp(f, x, u, eps=1e-6):
    """``J^T u`` by central differences of the scalar ``<u, f(x)>`` (float64)."""
    flat_u = [np.asarray(v, np.float64) for v in fgrad.tree_leaves(u)]

    def pairing(z):
        outs = [np.asarray(v, np.float64) for v in fgrad.tree_leaves(f(z))]
        return sum(float(np.sum(a * b)) for a, b in zip(outs, flat_u))

    g = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (pairing(x + e) - pairing(x - e)) / (2 * eps)
    return g


def close(got, want, tol=1e-7):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


# -- custom_vjp --------------------------------------------------------------------------


@fgrad.custom_vjp
def scaled_pair(x):
    return fnp.sin(x) * 2.0, x * x


def _scaled_pair_fwd(x):
    return scaled_pair(x), x


def _scaled_pair_bwd(x, cts):
    ct_a, ct_b = cts
    return (ct_a * 2.0 * fnp.cos(x) + ct_b * 2.0 * x,)


scaled_pair.defvjp(_scaled_pair_fwd, _scaled_pair_bwd)


def test_custom_vjp_bwd_receives_the_cotangent_it_was_given():
    x = RNG.standard_normal(4)
    u_a, u_b = RNG.standard_normal(4), RNG.standard_normal(4)
    _, pullback = fgrad.vjp(scaled_pair, x)
    (g,) = pullback((u_a, u_b))
    close(g, u_a * 2 * np.cos(x) + u_b * 2 * x, 1e-12)
    close(g, fd_vjp(scaled_pair, x, (u_a, u_b)))


def test_custom_vjp_one_output_used_with_a_weight():
    x = RNG.standard_normal(3)
    w = RNG.standard_normal(3)
    g = fgrad.grad(lambda x: fnp.sum(w * scaled_pair(x)[1]))(x)
    close(g, 2 * w * x, 1e-12)  # the unused output's cotangent is zero, the used one is w
    g = fgrad.grad(lambda x: fnp.sum(w * scaled_pair(x)[0]))(x)
    close(g, 2 * w * np.cos(x), 1e-12)


def test_custom_vjp_under_jit_and_vmap_with_random_cotangents():
    xs = RNG.standard_normal((3, 4))
    us = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))

    def pull(x, ua, ub):
        return fgrad.vjp(scaled_pair, x)[1]((ua, ub))[0]

    want = us[0] * 2 * np.cos(xs) + us[1] * 2 * xs
    close(fgrad.jit(pull)(xs[0], us[0][0], us[1][0]), want[0], 1e-12)
    close(fgrad.vmap(pull)(xs, *us), want, 1e-12)


# -- custom_jvp: reverse mode transposes the rule ---------------------------------------


@fgrad.custom_jvp
def cube_and_exp(x):
    return x**3, fnp.exp(x)


@cube_and_exp.defjvp
def _cube_and_exp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return cube_and_exp(x), (3 * x * x * t, fnp.exp(x) * t)


@pytest.mark.parametrize("used", ["both", "first", "second"])
def test_custom_jvp_transposed_with_random_cotangents(used):
    x = RNG.standard_normal(5)
    u = {"both": (RNG.standard_normal(5), RNG.standard_normal(5)),
         "first": (RNG.standard_normal(5), np.zeros(5)),
         "second": (np.zeros(5), RNG.standard_normal(5))}[used]
    (g,) = fgrad.vjp(cube_and_exp, x)[1](u)
    close(g, u[0] * 3 * x * x + u[1] * np.exp(x), 1e-12)
    close(g, fd_vjp(cube_and_exp, x, u), 1e-6)


def test_custom_jvp_pytree_output_random_cotangent():
    @fgrad.custom_jvp
    def f(x):
        return {"a": fnp.sin(x), "b": 2.0 * x}

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), {"a": fnp.cos(x) * t, "b": 2.0 * t}

    x = RNG.standard_normal(3)
    u = {"a": RNG.standard_normal(3), "b": RNG.standard_normal(3)}
    (g,) = fgrad.vjp(f, x)[1](u)
    close(g, u["a"] * np.cos(x) + 2 * u["b"], 1e-12)


def test_custom_jvp_rule_returning_one_tangent_for_two_outputs():
    # the linear jaxpr's two outputs are the same variable: its cotangents must add up
    @fgrad.custom_jvp
    def twice(x):
        return fnp.sin(x), fnp.sin(x)

    @twice.defjvp
    def twice_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        d = fnp.cos(x) * t
        return twice(x), (d, d)

    x = RNG.standard_normal(3)
    u = (RNG.standard_normal(3), RNG.standard_normal(3))
    close(fgrad.vjp(twice, x)[1](u)[0], np.cos(x) * (u[0] + u[1]), 1e-12)
    close(fgrad.grad(lambda x: fnp.sum(twice(x)[0] * 2.0 + twice(x)[1]))(x), 3 * np.cos(x), 1e-12)


# -- checkpoint, jit, linearize: closures on the tape ------------------------------------


def _two_outputs(x):
    return fnp.tanh(x) * x, fnp.sum(fnp.sin(x)) * x


@pytest.mark.parametrize("wrap", ["checkpoint", "jit", "plain"])
def test_multi_output_pullbacks_with_random_cotangents(wrap):
    f = {"checkpoint": fgrad.checkpoint, "jit": fgrad.jit, "plain": lambda f: f}[wrap](
        _two_outputs
    )
    x = RNG.standard_normal(4)
    u = (RNG.standard_normal(4), RNG.standard_normal(4))
    (g,) = fgrad.vjp(f, x)[1](u)
    t = np.tanh(x)
    s = np.sum(np.sin(x))
    want = u[0] * (t + x * (1 - t * t)) + u[1] * s + np.cos(x) * np.sum(u[1] * x)
    close(g, want, 1e-12)
    close(g, fd_vjp(_two_outputs, x, u), 1e-6)


def test_linearize_transpose_with_random_cotangents():
    x = RNG.standard_normal(4)
    A = RNG.standard_normal((3, 4))

    def f(x):
        return fnp.tanh(A @ x) + A @ (x * x)

    _, f_lin = fgrad.linearize(f, x)
    J = np.diag(1 - np.tanh(A @ x) ** 2) @ A + A * (2 * x)
    v = RNG.standard_normal(4)
    close(f_lin(v), J @ v, 1e-12)
    u = RNG.standard_normal(3)
    close(fgrad.vjp(f, x)[1](u)[0], J.T @ u, 1e-12)
    close(fgrad.jacrev(f)(x), J, 1e-12)
    close(fgrad.jacfwd(f)(x), J, 1e-12)


def test_a_value_used_twice_accumulates_random_cotangents():
    x = RNG.standard_normal(3)
    u = RNG.standard_normal(3)
    # y is read by three primitives: its cotangent is the sum of three contributions
    (g,) = fgrad.vjp(lambda x: (lambda y: y * y + fnp.sin(y) - 3.0 * y)(2.0 * x), x)[1](u)
    y = 2 * x
    close(g, 2 * u * (2 * y + np.cos(y) - 3.0), 1e-12)


# -- control flow ------------------------------------------------------------------------


def test_scan_vjp_with_random_cotangents_for_carry_and_ys():
    xs = RNG.standard_normal((5, 2))
    c0 = RNG.standard_normal(2)

    def f(c0):
        def body(c, x):
            c = fnp.sin(c) * x + c
            return c, c * c

        return lax.scan(body, c0, xs)

    u = (RNG.standard_normal(2), RNG.standard_normal((5, 2)))
    (g,) = fgrad.vjp(f, c0)[1](u)
    close(g, fd_vjp(f, c0, u), 1e-6)
    (g_rev,) = fgrad.vjp(lambda c: lax.scan(lambda c, x: (c * x, c), c0 * c, xs,
                                            reverse=True), c0)[1](u)
    close(g_rev, fd_vjp(lambda c: lax.scan(lambda c, x: (c * x, c), c0 * c, xs,
                                            reverse=True), c0, u), 1e-6)


def test_cond_and_while_vjp_with_random_cotangents():
    x = RNG.standard_normal(3) + 2.0

    def f(x):
        return lax.cond(fnp.sum(x) > 0, lambda x: (fnp.sin(x), x * x),
                        lambda x: (x, -x), x)

    u = (RNG.standard_normal(3), RNG.standard_normal(3))
    close(fgrad.vjp(f, x)[1](u)[0], u[0] * np.cos(x) + 2 * x * u[1], 1e-12)
    close(fgrad.vjp(fgrad.jit(f), x)[1](u)[0], u[0] * np.cos(x) + 2 * x * u[1], 1e-12)

    def g(x):
        return lax.fori_loop(0, 3, lambda i, v: v * x + i, x)

    u1 = RNG.standard_normal(3)
    close(fgrad.vjp(g, x)[1](u1)[0], fd_vjp(g, x, u1), 1e-6)
    close(fgrad.vjp(fgrad.jit(g), x)[1](u1)[0], fd_vjp(g, x, u1), 1e-6)


# -- a sweep over fgrad.numpy: random cotangents against finite differences -------------

SWEEP = {
    "add-broadcast": lambda x: x + x[:, :1],
    "sub-broadcast": lambda x: x[:1, :] - x,
    "mul-broadcast": lambda x: x * fnp.sum(x, axis=0),
    "div": lambda x: x / (2.0 + x * x),
    "power": lambda x: (1.5 + x * x) ** x,
    "tanh": fnp.tanh,
    "arctan2": lambda x: fnp.arctan2(x, 1.0 + x * x),
    "cumsum": lambda x: fnp.cumsum(x, axis=1),
    "cumprod": lambda x: fnp.cumprod(x, axis=0),
    "sort": lambda x: fnp.sort(x, axis=1),
    "transpose": lambda x: fnp.transpose(x) * fnp.arange(2.0, 5.0)[:, None],
    "matmul": lambda x: x @ x.T,
    "einsum": lambda x: fnp.einsum("ij,kj->ik", x, fnp.cos(x)),
    "getitem": lambda x: x[np.array([1, 0, 1]), 1:],
    "at-add": lambda x: fnp.at(fnp.zeros(4))[np.array([0, 2, 2])].add(x[1]),
    "max-axis": lambda x: fnp.max(x, axis=1),
    "mean-var": lambda x: fnp.stack([fnp.mean(x, axis=0), fnp.var(x, axis=0)]),
    "norm-axis": lambda x: fnp.linalg.norm(x, axis=0),
    "concatenate": lambda x: fnp.concatenate([x, 2 * x[:, ::-1]], axis=1),
    "where": lambda x: fnp.where(x > 0, x * x, fnp.sin(x)),
    "softmax": lambda x: fgrad.nn.softmax(x, axis=-1),
    "solve": lambda x: fnp.linalg.solve(np.eye(2) * 3 + x[:, :2], x[:, 2]),
}


@pytest.mark.parametrize("name", list(SWEEP))
def test_numpy_vjp_with_random_cotangents(name):
    f = SWEEP[name]
    x = np.random.default_rng(len(name)).standard_normal((2, 3))
    u = np.random.default_rng(7).standard_normal(np.shape(f(x)))
    (g,) = fgrad.vjp(f, x)[1](u)
    close(g, fd_vjp(f, x, u), 1e-6)
    # vmap over several cotangents at once gives each one's vjp
    us = np.random.default_rng(8).standard_normal((3,) + np.shape(u))
    pull = fgrad.vjp(f, x)[1]
    got = fgrad.vmap(lambda u: pull(u)[0])(us)
    for k in range(3):
        close(got[k], fd_vjp(f, x, us[k]), 1e-6)
