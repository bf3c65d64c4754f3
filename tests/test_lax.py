"""fgrad.lax: values against plain Python loops and closed forms, derivatives against
closed forms and finite differences, under jit, vmap and their compositions; errors."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.test_util import check_grads

RNG = np.random.default_rng(23)
A = np.array([2.0, 9.0, 100.0, 0.25])


def newton_sqrt(a):
    """sqrt(a) by Newton's method, iterated until it stops moving: a data-dependent count."""

    def step(x):
        return 0.5 * (x + a / x)

    return lax.while_loop(lambda x: fnp.abs(step(x) - x) > 1e-12 * x, step, a + 0.0)


def halvings(x):
    """(x halved until below 1, how many halvings): a different count per example."""
    return lax.while_loop(lambda s: s[0] >= 1.0, lambda s: (s[0] * 0.5, s[1] + 1), (x, 0))


# -- while_loop ------------------------------------------------------------------------------


def test_while_loop_value_and_derivative_in_every_mode():
    for a in A:
        want, slope = np.sqrt(a), 0.5 / np.sqrt(a)
        np.testing.assert_allclose(newton_sqrt(a), want, rtol=1e-14)
        np.testing.assert_allclose(fgrad.grad(newton_sqrt)(a), slope, rtol=1e-12)
        np.testing.assert_allclose(fgrad.jit(newton_sqrt)(a), want, rtol=1e-14)
        _, t = fgrad.jit(lambda a: fgrad.jvp(newton_sqrt, (a,), (1.0,)))(a)
        np.testing.assert_allclose(t, slope, rtol=1e-12)
    # second order, eagerly: d2/da2 sqrt(a) = -1/4 a^(-3/2)
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(newton_sqrt))(2.0), -0.25 * 2.0**-1.5)


def test_while_loop_replays_with_new_values_without_retracing():
    traces = []

    def f(a):
        traces.append(1)
        return newton_sqrt(a)

    jf = fgrad.jit(f)
    for a in A:  # the trip count differs per value; the compiled loop decides it at run time
        np.testing.assert_allclose(jf(a), np.sqrt(a), rtol=1e-14)
    assert len(traces) == 1


def test_while_loop_under_vmap_gives_each_example_its_own_count():
    x = np.array([0.5, 3.0, 40.0, 1000.0])
    want_x = [halvings(v)[0] for v in x]
    want_n = [halvings(v)[1] for v in x]
    assert want_n == [0, 2, 6, 10]
    for f in (fgrad.vmap(halvings), fgrad.jit(fgrad.vmap(halvings))):
        got_x, got_n = f(x)
        np.testing.assert_array_equal(got_x, want_x)
        np.testing.assert_array_equal(got_n, want_n)
    np.testing.assert_allclose(fgrad.vmap(newton_sqrt)(A), np.sqrt(A), rtol=1e-14)
    # per-example derivatives through the masked loop, eagerly and staged
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(newton_sqrt))(A), 0.5 / np.sqrt(A))
    jac = fgrad.jit(fgrad.jacfwd(fgrad.vmap(newton_sqrt)))(A)
    np.testing.assert_allclose(jac, np.diag(0.5 / np.sqrt(A)), rtol=1e-12, atol=1e-15)


def test_while_loop_batched_closure_and_unbatched_carry():
    def reach(step, bound):  # count steps of size `step` from 0 to beyond `bound`
        return lax.while_loop(lambda s: s[0] <= bound, lambda s: (s[0] + step, s[1] + 1), (0.0, 0))

    steps, bounds = np.array([0.5, 1.0, 3.0]), np.array([2.0, 2.0, 10.0])
    want = [reach(s, b)[1] for s, b in zip(steps, bounds)]
    assert want == [5, 3, 4]
    for f in (fgrad.vmap(reach), fgrad.jit(fgrad.vmap(reach))):
        np.testing.assert_array_equal(f(steps, bounds)[1], want)
    got = fgrad.vmap(reach, in_axes=(0, None))(steps, 2.0)[1]
    np.testing.assert_array_equal(got, [5, 3, 1])


def test_while_loop_derivatives_match_finite_differences():
    def f(x):  # x grows by a factor until its norm passes 10: piecewise smooth in x
        return lax.while_loop(lambda v: fnp.sum(v * v) < 100.0, lambda v: v * 1.3 + 0.1, x)

    check_grads(f, (np.array([0.3, -0.2, 0.5]),), order=2)
    # the loop is smooth between the points where the count changes: a closed form there
    x = np.array([0.3, -0.2, 0.5])
    n, v = 0, x
    while np.sum(v * v) < 100.0:
        v, n = v * 1.3 + 0.1, n + 1
    np.testing.assert_allclose(fgrad.jacfwd(f)(x), 1.3**n * np.eye(3), rtol=1e-12)
    np.testing.assert_allclose(fgrad.jacrev(f)(x), 1.3**n * np.eye(3), rtol=1e-12)


def test_while_loop_is_one_primitive_in_a_jaxpr_and_replays_under_grad():
    closed = fgrad.make_jaxpr(newton_sqrt)(2.0)
    assert [e.prim.name for e in closed.eqns].count("while_loop") == 1
    assert "while_loop[cond={" in str(closed)
    g = fgrad.grad(lambda a: closed(a))(2.0)  # eval_jaxpr replays through while_loop
    np.testing.assert_allclose(g, 0.5 / np.sqrt(2.0), rtol=1e-12)


def test_while_loop_errors_are_clear():
    with pytest.raises(fgrad.TransformError, match=r"while_loop: reverse-mode.*under jit"):
        fgrad.jit(fgrad.grad(newton_sqrt))(2.0)
    with pytest.raises(fgrad.ShapeError, match=r"scalar, got bool\[2\].*fnp.any"):
        lax.while_loop(lambda x: x < 1.0, lambda x: x + 1, np.zeros(2))
    with pytest.raises(TypeError, match=r"while_loop: leaf 0 .* f64\[\].*i64\[\]"):
        # a strong int64 carry (a Python int would take the body's float64, as in JAX)
        lax.while_loop(lambda x: x < 3, lambda x: x + 0.5, np.int64(0))
    with pytest.raises(TypeError, match=r"while_loop: leaf 0 .* f32\[\].*f64\[\]"):
        fgrad.jit(lambda x: lax.while_loop(lambda v: v < 3, lambda v: v.astype(np.float32) + 1, x))(
            np.float64(0.0)  # strong: a Python float would take the body's float32, as in JAX
        )


# -- cond and switch -------------------------------------------------------------------------


def test_cond_runs_one_branch_when_the_predicate_is_known():
    calls = []

    def branch(name, scale):
        def f(x):
            calls.append(name)
            return x * scale

        return f

    assert lax.cond(True, branch("t", 2.0), branch("f", -1.0), 3.0) == 6.0
    assert calls == ["t"]
    assert fgrad.grad(lambda x: lax.cond(x > 0, branch("t", 2.0), branch("f", -1.0), x))(-3.0) == -1
    assert calls == ["t", "f"]


@pytest.mark.parametrize("x", [-3.0, 2.0])
def test_cond_with_unknown_predicate_selects(x):
    def f(x):
        return lax.cond(x > 0, lambda v: v**2, lambda v: fnp.sin(v), x)

    want = x**2 if x > 0 else np.sin(x)
    slope = 2 * x if x > 0 else np.cos(x)
    np.testing.assert_allclose(fgrad.jit(f)(x), want, rtol=1e-15)
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(f))(x), slope, rtol=1e-15)
    xs = np.array([x, -x])
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(f))(xs), [fgrad.grad(f)(v) for v in xs])


def test_cond_checks_predicate_and_branch_types():
    with pytest.raises(fgrad.ShapeError, match=r"cond: .*scalar, got shape \(2,\).*where"):
        lax.cond(np.array([True, False]), lambda x: x, lambda x: x, 1.0)
    with pytest.raises(TypeError, match=r"cond: leaf 0 of false_fun's result is f32\[\]"):
        fgrad.jit(lambda x: lax.cond(x > 0, lambda v: v, lambda v: v.astype(np.float32), x))(1.0)
    with pytest.raises(TypeError, match=r"cond: false_fun's result has structure"):
        fgrad.jit(lambda x: lax.cond(x > 0, lambda v: (v, v), lambda v: v, x))(1.0)


def test_switch_clamps_and_selects():
    branches = [lambda x: x, lambda x: 2 * x, lambda x: x**3]
    for i, want in [(-4, 1.5), (0, 1.5), (1, 3.0), (2, 3.375), (9, 3.375)]:
        assert lax.switch(i, branches, 1.5) == want
        assert fgrad.jit(lambda i, x: lax.switch(i, branches, x))(i, 1.5) == want
    got = fgrad.vmap(lambda i: fgrad.grad(lambda x: lax.switch(i, branches, x))(1.5))(
        np.array([0, 1, 2])
    )
    np.testing.assert_allclose(got, [1.0, 2.0, 3 * 1.5**2])
    with pytest.raises(TypeError, match=r"switch: the index must be a scalar integer, got f64"):
        lax.switch(1.0, branches, 1.5)


# -- fori_loop and scan ----------------------------------------------------------------------


def test_fori_loop_values_and_derivatives():
    def power(x, n):
        return lax.fori_loop(0, n, lambda i, v: v * x, 1.0)

    assert power(1.5, 4) == 1.5**4
    np.testing.assert_allclose(fgrad.grad(power)(1.5, 4), 4 * 1.5**3, rtol=1e-15)
    jitted = fgrad.jit(fgrad.grad(power), static_argnums=1)
    np.testing.assert_allclose(jitted(1.5, 5), 5 * 1.5**4, rtol=1e-15)
    # the index is a Python int: usable for slicing
    x = np.arange(6.0)
    assert lax.fori_loop(0, 3, lambda i, s: s + fnp.sum(x[: i + 1]), 0.0) == 0 + 1 + 3
    # a traced trip count is a while_loop: values and forward mode, but no reverse mode
    assert fgrad.jit(power)(1.5, 4) == 1.5**4
    with pytest.raises(fgrad.TransformError, match="while_loop: reverse-mode"):
        fgrad.jit(fgrad.grad(power))(1.5, 4)


def rnn_loss(params, xs):
    w, u = params

    def step(h, x):
        h = fnp.tanh(h @ w + x @ u)
        return h, fnp.sum(h**2)

    h, per_step = lax.scan(step, fnp.zeros(3), xs)
    return fnp.sum(h) + fnp.mean(per_step)


def test_scan_matches_a_python_loop_and_finite_differences():
    params = (RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=(2, 3)))
    xs = RNG.normal(size=(5, 2))
    h, steps = np.zeros(3), []
    for x in xs:
        h = np.tanh(h @ params[0] + x @ params[1])
        steps.append(np.sum(h**2))
    np.testing.assert_allclose(rnn_loss(params, xs), np.sum(h) + np.mean(steps), rtol=1e-14)
    check_grads(rnn_loss, (params, xs), order=2)
    g = fgrad.grad(rnn_loss)(params, xs)
    for got, want in zip(fgrad.jit(fgrad.grad(rnn_loss))(params, xs), g):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_scan_options():
    xs = {"a": np.arange(4.0), "b": np.ones((4, 2))}
    carry, ys = lax.scan(lambda c, x: (c + x["a"], c * x["b"]), 0.0, xs)
    assert carry == 6.0
    np.testing.assert_array_equal(ys, np.array([0.0, 0.0, 1.0, 3.0])[:, None] * np.ones(2))
    carry, ys = lax.scan(lambda c, x: (c + x, c), 0.0, np.arange(4.0), reverse=True)
    np.testing.assert_array_equal(ys, [6.0, 5.0, 3.0, 0.0])  # outputs keep xs's order
    carry, ys = lax.scan(lambda c, _: (c * 2, None), 1.0, None, length=5)
    assert carry == 32.0 and ys is None
    carry, ys = lax.scan(lambda c, x: (c, x * c), 1.0, np.zeros((0, 3)))
    assert ys.shape == (0, 3) and ys.dtype == np.float64
    with pytest.raises(fgrad.ShapeError, match=r"scan: the leading axes .* \[3, 4\]"):
        lax.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(TypeError, match=r"scan: leaf 0 of f's carry is f64\[2\].*same shape(\n|$)"):
        lax.scan(lambda c, x: (fnp.concatenate([c, x[None]]), x), np.zeros(1), np.ones(3))
    with pytest.raises(fgrad.ShapeError, match="with xs=None, give the number of steps"):
        lax.scan(lambda c, x: (c, x), 0.0)


def test_map_is_a_loop_over_slices():
    xs = {"a": RNG.normal(size=(4, 3)), "b": np.arange(4.0)}
    got = lax.map(lambda x: fnp.sum(x["a"] ** 2) * x["b"], xs)
    np.testing.assert_allclose(got, np.sum(xs["a"] ** 2, axis=1) * xs["b"], rtol=1e-14)
    g = fgrad.grad(lambda a: fnp.sum(lax.map(lambda r: fnp.sin(r) * r, a)))(xs["a"])
    np.testing.assert_allclose(g, np.cos(xs["a"]) * xs["a"] + np.sin(xs["a"]), rtol=1e-14)
    assert lax.stop_gradient is fgrad.stop_gradient
