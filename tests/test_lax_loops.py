"""Loops compiled as loops: ``scan``, ``fori_loop`` and ``map`` under ``jit``/``make_jaxpr``
are one ``scan`` equation whose body is traced once.

Every program is checked against its eager run (a Python loop, itself checked against
finite differences here) in every composition of ``jit``, ``grad``, ``jvp``, ``vmap``
and ``make_jaxpr``; the staged rules are also run on concrete values (a jaxpr replayed
under the transforms) and checked by finite differences and the jvp/vjp dot-product
identity. The size of a staged program must not depend on the trip count.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.test_util import check_grads
from tests.helpers import numerical_grad

RNG = np.random.default_rng(1313)
W = RNG.normal(size=(3, 3)) * 0.4
XS = RNG.normal(size=(6, 2))


# -- the programs: f(theta) -> scalar, theta a float64 vector of length 3 ------------------


def rnn(theta):
    """Pytree carry and xs, a pytree of ys, a closure over theta and a constant matrix."""

    def step(c, x):
        h = fnp.tanh(c["h"] @ W + theta * x["a"][0] + x["b"])
        return {"h": h, "s": c["s"] + fnp.sum(h * theta)}, (fnp.sum(h**2), h)

    xs = {"a": XS, "b": fnp.cos(XS[:, :1] * theta[0])}
    c, (sq, hs) = lax.scan(step, {"h": fnp.zeros(3), "s": 0.0}, xs)
    return c["s"] + fnp.sum(c["h"]) + fnp.mean(sq) + fnp.sum(hs[::2] * theta)


def reverse_scan(theta):
    """``reverse=True``: the carry runs from the last slice, the ys keep xs's order."""

    def step(c, x):
        c = fnp.sin(c) * theta + x
        return c, c[0] * x

    c, ys = lax.scan(step, theta * 0.5, fnp.outer(XS[:, 0], theta), reverse=True)
    return fnp.sum(c) + fnp.sum(ys * fnp.arange(1.0, 7.0)[:, None])


def length_only(theta):
    """``xs=None`` with ``length``; an integer carry beside the float one."""

    def step(c, _):
        k, v = c
        return (k + 1, v * fnp.cos(theta) + k), None

    (k, v), ys = lax.scan(step, (0, theta), None, length=5)
    assert ys is None
    return fnp.sum(v) * (k - 3)


def newton_ode(theta):
    """Implicit Euler on dy/dt = -theta * y**3: a scan of steps, each an 8-iteration
    Newton solve in a fori_loop (the stiff-ODE shape of issue 13)."""

    def step(y, _):
        def newton(i, z):
            r = z - y + 0.1 * theta * z**3
            return z - r / (1.0 + 0.3 * theta * z**2)

        z = lax.fori_loop(0, 8, newton, y)
        return z, fnp.sum(z)

    y, total = lax.scan(step, fnp.ones(3) + theta, None, length=7)
    return fnp.sum(y) + fnp.sum(total)


def indexed_fori(theta):
    """The fori_loop index used as a value (a traced integer under jit)."""
    return fnp.sum(lax.fori_loop(2, 6, lambda i, v: fnp.sin(v) * theta + i * 0.5, theta))


def mapped(theta):
    """``map``: a scan without a carry."""
    return fnp.sum(lax.map(lambda r: fnp.sum(fnp.tanh(r * theta) ** 2), XS[:, :1] + theta))


PROGRAMS = [rnn, reverse_scan, length_only, newton_ode, indexed_fori, mapped]
THETA = np.array([0.7, -0.4, 1.1])
THETAS = np.array([[0.7, -0.4, 1.1], [0.2, 0.5, -0.9], [1.3, 0.1, 0.4], [-0.6, 0.8, 0.3]])


def close(got, want, rtol=1e-11, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


def replayed(f):
    """``f`` as its staged jaxpr, replayed by binding: the scan equation goes through the
    rules of whatever transform is around the replay, on concrete values."""
    return fgrad.make_jaxpr(f)(THETA)


# -- staged means one equation ---------------------------------------------------------------


def _eqn_names(jaxpr) -> list[str]:
    return [e.prim.name for e in jaxpr.eqns]


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_a_staged_loop_is_a_scan_equation(f):
    names = _eqn_names(fgrad.make_jaxpr(f)(THETA))
    assert "scan" in names
    grad_names = _eqn_names(fgrad.make_jaxpr(fgrad.grad(f))(THETA))
    assert grad_names.count("scan") >= 2  # the forward scan and the reverse one


def test_program_size_does_not_grow_with_the_trip_count():
    def ode(theta, n):
        def step(y, _):
            z = lax.fori_loop(0, 8, lambda i, z: z - (z - y + 0.1 * theta * z**3) / 2.0, y)
            return z, z[0]

        y, ys = lax.scan(step, theta, None, length=n)
        return fnp.sum(y) + fnp.sum(ys)

    def count(fun, n, theta):
        jaxpr = fgrad.make_jaxpr(fun, static_argnums=1)(theta, n)
        return len(jaxpr.eqns), jaxpr

    grad_of_grad = fgrad.grad(lambda t, n: fnp.sum(fgrad.grad(ode)(t, n) ** 2))
    for fun, theta in ((ode, THETA), (fgrad.grad(ode), THETA), (grad_of_grad, THETA),
                       (fgrad.vmap(fgrad.grad(ode), (0, None)), THETAS)):
        small, jaxpr_small = count(fun, 10, theta)
        large, jaxpr_large = count(fun, 1000, theta)
        assert small == large, (small, large)
        assert str(jaxpr_small).replace("10", "N") == str(jaxpr_large).replace("1000", "N")
    # and the body is traced once: the scan's body has O(1) equations
    (eqn,) = [e for e in count(ode, 1000, THETA)[1].eqns
              if e.prim.name == "scan"]
    assert len(eqn.params["body"].jaxpr.eqns) < 20
    assert eqn.params["length"] == 1000


def test_eager_loops_stay_python_loops():
    """Outside staging the index is a Python int and no scan equation exists anywhere."""
    seen = []
    lax.fori_loop(0, 3, lambda i, v: seen.append(type(i)) or v, 0.0)
    assert seen == [int, int, int]
    seen.clear()
    fgrad.jit(lambda x: lax.fori_loop(0, 3, lambda i, v: seen.append(i) or v + i, x))(1.0)
    assert len(seen) == 1 and isinstance(seen[0], fgrad.core.tracer.Tracer)  # traced once
    assert seen[0].dtype == np.int64 and seen[0].shape == ()


# -- values in every mode ----------------------------------------------------------------------


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_values_in_every_mode(f):
    want = f(THETA)
    close(fgrad.jit(f)(THETA), want)
    close(replayed(f)(THETA), want)
    batch = np.array([f(t) for t in THETAS])
    close(fgrad.vmap(f)(THETAS), batch)
    close(fgrad.jit(fgrad.vmap(f))(THETAS), batch)
    close(fgrad.vmap(fgrad.jit(f))(THETAS), batch)
    close(fgrad.vmap(replayed(f))(THETAS), batch)


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_eager_gradient_matches_finite_differences(f):
    close(fgrad.grad(f)(THETA), numerical_grad(f, THETA), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_gradients_in_every_composition(f):
    want = fgrad.grad(f)(THETA)
    close(fgrad.jit(fgrad.grad(f))(THETA), want)
    close(fgrad.grad(fgrad.jit(f))(THETA), want)
    close(fgrad.grad(replayed(f))(THETA), want)
    close(fgrad.jit(fgrad.grad(replayed(f)))(THETA), want)
    batch = np.stack([fgrad.grad(f)(t) for t in THETAS])
    close(fgrad.vmap(fgrad.grad(f))(THETAS), batch)
    close(fgrad.jit(fgrad.vmap(fgrad.grad(f)))(THETAS), batch)
    close(fgrad.vmap(fgrad.jit(fgrad.grad(f)))(THETAS), batch)
    weights = np.array([1.0, -2.0, 0.5, 3.0])

    def batched(thetas):
        return fnp.sum(fgrad.vmap(f)(thetas) * weights)

    want_b = batch * weights[:, None]
    close(fgrad.grad(batched)(THETAS), want_b)
    close(fgrad.jit(fgrad.grad(batched))(THETAS), want_b)
    close(fgrad.grad(fgrad.jit(batched))(THETAS), want_b)


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_forward_mode_in_every_composition(f):
    v = np.array([0.3, -1.0, 0.6])
    want = fgrad.jvp(f, (THETA,), (v,))
    assert np.isclose(want[1], fgrad.grad(f)(THETA) @ v, rtol=1e-12)
    for got in (
        fgrad.jit(lambda t: fgrad.jvp(f, (t,), (v,)))(THETA),
        fgrad.jvp(fgrad.jit(f), (THETA,), (v,)),
        fgrad.jvp(replayed(f), (THETA,), (v,)),
    ):
        close(got[0], want[0])
        close(got[1], want[1])


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_second_derivatives_in_every_composition(f):
    want = fgrad.hessian(f)(THETA)
    close(want, want.T, rtol=1e-10)
    close(fgrad.jit(fgrad.hessian(f))(THETA), want, rtol=1e-10)
    close(fgrad.hessian(replayed(f))(THETA), want, rtol=1e-10)
    close(fgrad.jit(fgrad.jacfwd(fgrad.grad(f)))(THETA), want, rtol=1e-10)
    close(fgrad.jit(fgrad.jacrev(fgrad.grad(f)))(THETA), want, rtol=1e-10)
    g2 = fgrad.grad(lambda t: fgrad.grad(f)(t)[0])
    close(fgrad.jit(g2)(THETA), want[0], rtol=1e-10)
    close(g2(THETA), want[0], rtol=1e-10)


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_staged_rules_on_concrete_values_against_finite_differences(f):
    """The scan's jvp, grad and batch rules run eagerly when a staged jaxpr is replayed;
    checked by finite differences and the jvp/vjp dot-product identity, to order 2."""
    check_grads(replayed(f), (THETA,), order=2)
    check_grads(fgrad.jit(f), (THETA,), order=1)


# -- what the loops carry ----------------------------------------------------------------------


def test_integer_and_float_carries_and_outputs_under_jit():
    def f(x):
        def step(c, xi):
            k, s = c
            return (k + 2, s * xi + k), (k, s)

        (k, s), (ks, ss) = lax.scan(step, (np.int32(1), x), np.arange(1.0, 5.0))
        return k, s, ks, ss

    want = f(0.5)
    got = fgrad.jit(f)(0.5)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        assert np.asarray(g).dtype == np.asarray(w).dtype
    assert got[0].dtype == np.int32 and got[2].dtype == np.int32
    close(fgrad.jit(fgrad.grad(lambda x: f(x)[1] + fnp.sum(f(x)[3])))(0.5),
          fgrad.grad(lambda x: f(x)[1] + fnp.sum(f(x)[3]))(0.5))


def test_float32_carries_keep_their_dtype():
    x = np.arange(4, dtype=np.float32)

    def f(x):
        c, ys = lax.scan(lambda c, xi: (c * np.float32(0.5) + xi, c * 2.0), np.float32(1.0), x)
        return c + fnp.sum(ys)

    assert fgrad.jit(f)(x).dtype == np.float32
    g = fgrad.jit(fgrad.grad(f))(x)
    assert g.dtype == np.float32
    close(g, fgrad.grad(f)(x), rtol=1e-6)


def test_zero_length_scans():
    def f(x):
        c, ys = lax.scan(lambda c, xi: (c * xi, fnp.stack([c, xi])), x, np.zeros((0,)))
        return c, ys

    for run in (f, fgrad.jit(f)):
        c, ys = run(2.0)
        assert c == 2.0 and ys.shape == (0, 2) and ys.dtype == np.float64
    assert fgrad.jit(fgrad.grad(lambda x: f(x)[0] + fnp.sum(f(x)[1])))(2.0) == 1.0
    assert fgrad.jit(lambda x: lax.fori_loop(3, 3, lambda i, v: v * 10.0, x))(2.0) == 2.0
    assert fgrad.jit(lambda x: lax.fori_loop(5, 3, lambda i, v: v * 10.0, x))(2.0) == 2.0
    assert fgrad.jit(lambda x: lax.map(fnp.sin, x))(np.zeros((0, 3))).shape == (0, 3)


def test_closures_over_values_of_enclosing_transforms():
    def inner(a, x):  # the loop body closes over `a` and `x`
        return lax.scan(lambda c, xi: (c * a + fnp.sin(x * xi), c), x, XS[:, 0])[0]

    def outer(a):  # under jit: grad's tracer and jit's both reach the scan as constants
        return fgrad.grad(inner, 1)(a, 0.3) * a

    want = outer(0.8)
    close(fgrad.jit(outer)(0.8), want)
    close(fgrad.grad(fgrad.jit(outer))(0.8), fgrad.grad(outer)(0.8))
    close(fgrad.grad(outer)(0.8), numerical_grad(outer, 0.8), rtol=1e-7)
    a = np.array([0.5, 0.8, -0.3])
    close(fgrad.jit(fgrad.vmap(outer))(a), [outer(v) for v in a])
    close(fgrad.jit(fgrad.vmap(fgrad.grad(outer)))(a), [fgrad.grad(outer)(v) for v in a])


def test_a_carry_becomes_batched_when_the_body_makes_it_vary():
    """The carry starts shared by the batch; the body adds a batched value to it."""

    def f(x):
        c, ys = lax.scan(lambda c, xi: (c + x * xi, c * x), np.zeros(2), XS)
        return c, ys

    xb = np.array([0.5, -1.0, 2.0])
    want = [f(v) for v in xb]
    for got in (fgrad.jit(fgrad.vmap(f))(xb), fgrad.vmap(replayed_of(f, 0.5))(xb)):
        close(got[0], np.stack([w[0] for w in want]))
        close(got[1], np.stack([w[1] for w in want]))


def replayed_of(f, example):
    closed = fgrad.make_jaxpr(f)(example)
    return lambda x: tuple(closed(x))


def test_a_tangent_reaches_a_carry_that_started_untraced():
    def f(x):
        return lax.scan(lambda c, xi: (c * 0.5 + x * xi, c), np.zeros(2), XS)[0]

    v = 1.0
    want = fgrad.jvp(f, (0.7,), (v,))
    got = fgrad.jit(lambda x: fgrad.jvp(f, (x,), (v,)))(0.7)
    close(got[0], want[0])
    close(got[1], want[1])
    close(want[1], np.sum([0.5**k * XS[5 - k] for k in range(6)], axis=0))


def test_gradient_with_respect_to_xs_and_init_under_jit():
    def f(init, xs):
        c, ys = lax.scan(lambda c, x: (fnp.tanh(c * x), c * x**2), init, xs, reverse=True)
        return fnp.sum(c) + fnp.sum(ys)

    init, xs = np.array([0.3, -0.2]), RNG.normal(size=(5, 2))
    for argnums in (0, 1, (0, 1)):
        want = fgrad.grad(f, argnums)(init, xs)
        got = fgrad.jit(fgrad.grad(f, argnums))(init, xs)
        for g, w in zip(fgrad.tree_flatten(got)[0], fgrad.tree_flatten(want)[0]):
            close(g, w)
    close(fgrad.grad(f, 1)(init, xs), numerical_grad(f, init, xs, argnums=1), rtol=1e-7)


# -- fori_loop with a trip count known only at run time ----------------------------------------


def power(x, n):
    return lax.fori_loop(0, n, lambda i, v: v * x + i, 1.0)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_fori_loop_with_a_traced_trip_count_is_a_while_loop(n):
    want = power(1.5, n)
    assert fgrad.jit(power)(1.5, n) == want
    assert "while_loop" in _eqn_names(fgrad.make_jaxpr(power)(1.5, n))
    primal, tangent = fgrad.jit(lambda x, n: fgrad.jvp(lambda x: power(x, n), (x,), (1.0,)))(
        1.5, n
    )
    assert primal == want
    close(tangent, fgrad.grad(power)(1.5, n))
    ns = np.array([0, 2, 5])  # a batched trip count
    close(fgrad.vmap(power, (None, 0))(1.5, ns), [power(1.5, int(k)) for k in ns])
    close(fgrad.jit(fgrad.vmap(power, (None, 0)))(1.5, ns), [power(1.5, int(k)) for k in ns])


def test_fori_loop_with_traced_lower_bound_and_reverse_mode_error():
    f = fgrad.jit(lambda lo, x: lax.fori_loop(lo, 5, lambda i, v: v + i * x, 0.0))
    assert f(2, 1.0) == 2 + 3 + 4
    with pytest.raises(fgrad.TransformError, match="while_loop: reverse-mode.*static_argnums"):
        fgrad.jit(fgrad.grad(power))(1.5, 4)
    static = fgrad.jit(fgrad.grad(power), static_argnums=1)  # the advice works
    close(static(1.5, 4), fgrad.grad(power)(1.5, 4))
    assert "scan" in _eqn_names(fgrad.make_jaxpr(fgrad.grad(power), static_argnums=1)(1.5, 4))
    with pytest.raises(TypeError, match="fori_loop: the bounds must be integers"):
        fgrad.jit(lambda x: lax.fori_loop(0, x, lambda i, v: v, x))(2.0)


# -- errors while staging ----------------------------------------------------------------------


def test_carry_type_errors_are_raised_while_staging():
    with pytest.raises(TypeError, match=r"scan: leaf 0 of f's carry is f64\[2\]"):
        fgrad.jit(lambda x: lax.scan(lambda c, x: (fnp.stack([c, c]), x), x, np.ones(3)))(1.0)
    with pytest.raises(TypeError, match="fori_loop: leaf 0 of body_fun's result is f32"):
        # a strong float64 carry (a Python float would take the body's float32, as in JAX)
        fgrad.jit(lambda x: lax.fori_loop(0, 3, lambda i, v: v.astype(np.float32), x))(
            np.float64(1.0)
        )
    with pytest.raises(fgrad.TransformError, match="scan: the function returned a leaf of type"):
        fgrad.jit(lambda x: lax.scan(lambda c, _: (c, "label"), x, None, length=2))(1.0)


# -- against JAX -------------------------------------------------------------------------------


def test_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def make(np_):
        def f(theta):
            def step(y, x):
                z = jax_or_fgrad_fori(np_, y, theta)
                return z * x, np_.sum(z**2)

            y, ys = scan_of(np_)(step, theta, XS[:, 0])
            return np_.sum(y) + np_.sum(ys)

        return f

    def jax_or_fgrad_fori(np_, y, theta):
        loop = jax.lax.fori_loop if np_ is jnp else lax.fori_loop
        return loop(0, 4, lambda i, z: z - 0.1 * (z - y + theta * np_.sin(z)), y)

    def scan_of(np_):
        return jax.lax.scan if np_ is jnp else lax.scan

    ours, theirs = make(fnp), make(jnp)
    close(fgrad.jit(fgrad.grad(ours))(THETA), jax.jit(jax.grad(theirs))(THETA), rtol=1e-12)
    close(fgrad.jit(fgrad.hessian(ours))(THETA), jax.jit(jax.hessian(theirs))(THETA),
          rtol=1e-10)


# -- loops inside custom rules ---------------------------------------------------------------


def test_a_loop_over_tangents_in_a_custom_jvp_rule_is_transposed():
    """Reverse mode runs a custom_jvp rule transposed; a loop over the tangent in the rule
    is staged (the tangent is abstract there) and transposed as the vjp of the scan."""

    @fgrad.custom_jvp
    def cube(x):
        return x**3

    @cube.defjvp
    def cube_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        t3 = lax.scan(lambda c, _: (c * x, None), t, None, length=2)[0]  # t * x**2
        return cube(x), 3.0 * t3

    @fgrad.custom_vjp
    def square(x):
        return x**2

    def square_fwd(x):
        return x**2, x

    def square_bwd(x, g):  # 2 x g, as a loop over the cotangent
        return (lax.fori_loop(0, 2, lambda i, c: c + x * g, fnp.zeros_like(g)),)

    square.defvjp(square_fwd, square_bwd)
    x = np.array([0.5, -1.5, 2.0])
    ones = np.ones(3)
    for f, d1, d2 in ((cube, 3 * x**2, 6 * x), (square, 2 * x, 2 + 0 * x)):
        close(fgrad.vmap(fgrad.grad(f))(x), d1)
        close(fgrad.jit(fgrad.vmap(fgrad.grad(f)))(x), d1)
        close(fgrad.jacfwd(f)(x), np.diag(d1))
        close(fgrad.jvp(f, (x,), (ones,))[1], d1)
        close(fgrad.jit(fgrad.jacfwd(f))(x), np.diag(d1))
        close(fgrad.vmap(fgrad.grad(fgrad.grad(f)))(x), d2)
        close(fgrad.jit(fgrad.vmap(fgrad.grad(fgrad.grad(f))))(x), d2)


# -- what the rules carry ----------------------------------------------------------------------


def _scan_eqn(jaxpr):
    (eqn,) = [e for e in jaxpr.eqns if e.prim.name == "scan"]
    return eqn


def test_jvp_carries_tangents_only_where_they_can_be_nonzero():
    def f(x):
        def step(c, xi):
            k, free, hit = c  # an int counter, a carry x never reaches, one it reaches
            return (k + 1, free * 0.5 + xi, hit * free + x), hit

        return lax.scan(step, (0, 1.0, 0.0), XS[:, 0])

    eqn = _scan_eqn(fgrad.make_jaxpr(lambda x: fgrad.jvp(f, (x,), (1.0,)))(0.3))
    assert eqn.params["n_carry"] == 3 + 1  # the primal carries and one tangent
    assert len(eqn.outvars) == 3 + 1 + 2  # ... and the stacked y and its tangent
    want = fgrad.jvp(f, (0.3,), (1.0,))
    got = fgrad.jit(lambda x: fgrad.jvp(f, (x,), (1.0,)))(0.3)
    for g, w in zip(fgrad.tree_flatten(got)[0], fgrad.tree_flatten(want)[0]):
        close(g, w)


def test_batched_xs_and_carry_on_any_axis():
    def f(init, xs):
        c, ys = lax.scan(lambda c, x: (fnp.tanh(c * x[0]) + x[1], c * x), init, xs)
        return c, ys

    init = RNG.normal(size=(2, 4))  # batch axis 1
    xs = RNG.normal(size=(5, 2, 4))  # batch axis 2
    want = [f(init[:, b], xs[:, :, b]) for b in range(4)]
    for run in (fgrad.vmap(f, (1, 2)), fgrad.jit(fgrad.vmap(f, (1, 2))),
                fgrad.vmap(fgrad.jit(f), (1, 2))):
        c, ys = run(init, xs)
        close(c, np.stack([w[0] for w in want]))
        close(ys, np.stack([w[1] for w in want]))
    eqn = _scan_eqn(fgrad.make_jaxpr(fgrad.vmap(f, (None, 2)))(init[:, 0], xs))
    assert eqn.outvars[0].aval.shape == (4, 2)  # the shared carry became batched


def test_grad_keeps_the_carries_not_every_intermediate():
    """The forward scan of grad stacks one carry per step, whatever the body computes."""

    def f(theta):
        def step(c, x):
            for _ in range(10):  # many intermediates per step
                c = fnp.sin(c * theta + x)
            return c, None

        return fnp.sum(lax.scan(step, theta, XS[:, 0])[0])

    jaxpr = fgrad.make_jaxpr(fgrad.grad(f))(THETA)
    forward, backward = [e for e in jaxpr.eqns if e.prim.name == "scan"]
    assert [v.aval.shape for v in forward.outvars] == [(3,), (6, 3)]  # carry, stacked carries
    assert backward.params["reverse"] and not forward.params["reverse"]


@pytest.mark.parametrize("n", [0, 1, 4])
def test_integer_results_carry_no_derivative_in_every_rule(n):
    """An integer carry or y of a staged scan (zero steps: still the Python int it started
    as) is a plain value under grad, as the result of a non-differentiable primitive."""

    def f(t):
        def step(c, x):
            k, v = c
            return (k + 1, fnp.sin(v) * t + x), k

        (k, v), ks = lax.scan(step, (0, t), XS[:n, 0])
        return fnp.sum(v) + k * 0.5 + fnp.sum(ks) * 0.25

    closed = fgrad.make_jaxpr(f)(THETA)
    want = fgrad.grad(f)(THETA)
    close(fgrad.grad(closed)(THETA), want)
    close(fgrad.jit(fgrad.grad(f))(THETA), want)
    close(fgrad.vmap(fgrad.grad(closed))(THETAS), [fgrad.grad(f)(t) for t in THETAS])
    close(fgrad.hessian(closed)(THETA), fgrad.hessian(f)(THETA))


def test_prints_in_a_staged_loop_run_once_per_step_under_grad(capsys):
    """The backward pass recomputes each step without its prints (nested loops too)."""

    def f(x):
        def step(c, xi):
            fgrad.debug.print("step {}", c)
            c = lax.fori_loop(0, 2, lambda i, v: v * xi, c)
            return c, None

        return lax.scan(step, x, np.array([1.0, 2.0, 0.5]))[0]

    fgrad.grad(f)(2.0)
    eager = capsys.readouterr().out
    assert eager.split() == ["step", "2.0", "step", "2.0", "step", "8.0"]
    assert fgrad.jit(fgrad.grad(f))(2.0) == 1.0  # f(x) = x * 1 * 4 * 0.25
    assert capsys.readouterr().out == eager
    fgrad.jit(fgrad.grad(fgrad.grad(lambda x: f(x) ** 2)))(2.0)
    assert capsys.readouterr().out.count("step") == 3


def test_the_traced_index_reads_and_updates_arrays():
    """Under jit the fori_loop index is a traced integer: it indexes and updates."""
    x = np.array([1.0, 2.0, 3.0])

    def f(x):
        s = lax.fori_loop(0, 3, lambda i, s: fnp.at(s)[i].set(s[i] * x[i] ** 2 + i), fnp.ones(3))
        return lax.fori_loop(1, 3, lambda i, acc: acc + s[i] * x[i - 1], s[0])

    # s = [x0**2, x1**2 + 1, x2**2 + 2] = [1, 5, 11]; f = s0 + s1 x0 + s2 x1 = 28
    assert f(x) == 28.0 and fgrad.jit(f)(x) == 28.0
    x0, x1, x2 = x
    want = np.array([2 * x0 + x1**2 + 1, 2 * x1 * x0 + x2**2 + 2, 2 * x2 * x1])
    close(fgrad.grad(f)(x), want)
    close(fgrad.jit(fgrad.grad(f))(x), want)
    xs = np.stack([x, 0.5 * x])
    close(fgrad.jit(fgrad.vmap(fgrad.grad(f)))(xs), [fgrad.grad(f)(v) for v in xs])


def test_a_staged_scan_returns_arrays_that_own_their_memory():
    a = np.arange(6.0).reshape(3, 2)
    last = fgrad.jit(lambda xs: lax.scan(lambda c, x: (x, x[::-1]), np.zeros(2), xs))(a)
    for out in last:
        assert not np.shares_memory(out, a)
    np.testing.assert_array_equal(last[0], [4.0, 5.0])
    np.testing.assert_array_equal(last[1], a[:, ::-1])
