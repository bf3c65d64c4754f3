"""A call with several outputs is one tape entry, pulled back once with the cotangents of
the outputs that were used; the others are symbolic zeros.

The class of bug: an unused output whose derivative is infinite (``sqrt``, ``log`` at 0)
must not turn the gradient into NaN through a zero cotangent (``0 * inf``), whatever
wraps the call: ``jit`` (under ``grad``), ``checkpoint``, ``custom_jvp``, ``lax.scan``,
``lax.cond``, at first and second order, for every subset of used outputs. ``custom_vjp``
follows JAX: its ``bwd`` receives zeros for the unused outputs. Each call's backward
rule runs once per backward pass, however many outputs are used.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax

pytestmark = pytest.mark.filterwarnings("error")  # a 0 * inf warns before it is NaN

OUTPUTS = ("a", "b0", "b1")
WEIGHTS = {"a": 1.0, "b0": 2.0, "b1": 3.0}


def f(x):
    """A pytree of three outputs; ``b``'s derivatives are infinite at 0, its values not."""
    return {"a": x * x, "b": (fnp.sqrt(x), fnp.cbrt(x))}


# the closed forms of each output's first and second derivative
FIRST = {
    "a": lambda x: 2 * x,
    "b0": lambda x: 0.5 / np.sqrt(x),
    "b1": lambda x: x ** (-2 / 3) / 3,
}
SECOND = {
    "a": lambda x: 2.0,
    "b0": lambda x: -0.25 * x**-1.5,
    "b1": lambda x: -2 / 9 * x ** (-5 / 3),
}


def _leaves(out) -> dict:
    return {"a": out["a"], "b0": out["b"][0], "b1": out["b"][1]}


def _custom_jvp_f():
    g = fgrad.custom_jvp(f)

    @g.defjvp
    def g_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return g(x), {"a": 2 * x * t, "b": (t * 0.5 / fnp.sqrt(x), t / (3 * fnp.cbrt(x) ** 2))}

    return g


def _scan_f(x):
    _, ys = lax.scan(lambda c, _: (c, f(c)), x, None, length=1)
    return {"a": ys["a"][0], "b": (ys["b"][0][0], ys["b"][1][0])}


def _cond_f(x):  # under jit the predicate is unknown: the staged cond
    return lax.cond(x > -1.0, f, lambda x: f(x + 1.0), x)


WRAPPED = {
    "jit": fgrad.jit(f),
    "checkpoint": fgrad.checkpoint(f),
    "custom_jvp": _custom_jvp_f(),
    "scan": _scan_f,
    "cond": _cond_f,
    "jit(checkpoint)": fgrad.jit(fgrad.checkpoint(f)),
    "jit(custom_jvp)": fgrad.jit(_custom_jvp_f()),
    "jit(scan)": fgrad.jit(_scan_f),
    "jit(cond)": fgrad.jit(_cond_f),
}
SUBSETS = [s for n in range(len(OUTPUTS) + 1) for s in itertools.combinations(OUTPUTS, n)]


def _loss(fun, used: tuple):
    def loss(x):
        leaves = _leaves(fun(x))
        return sum((WEIGHTS[k] * leaves[k] for k in used), 0.0 * x)

    return loss


def _points(used: tuple) -> list[float]:
    """0 (infinite derivatives of b) where no b output is used, and an ordinary point."""
    return [2.0] if any(k.startswith("b") for k in used) else [0.0, 2.0]


def _expected(order: dict, used: tuple, x: float) -> float:
    return sum((WEIGHTS[k] * order[k](x) for k in used), 0.0)


def _second(fun):
    return fgrad.grad(fgrad.grad(fun))


# order -> (closed forms, derivative transform)
ORDERS = {"first": (FIRST, fgrad.grad), "second": (SECOND, _second)}


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("used", SUBSETS, ids=lambda s: "+".join(s) or "none")
@pytest.mark.parametrize("name", list(WRAPPED))
def test_derivative_of_any_used_subset(name, used, order):
    closed_forms, derivative = ORDERS[order]
    loss, eager = _loss(WRAPPED[name], used), _loss(f, used)
    for x in _points(used):
        want = _expected(closed_forms, used, x)
        np.testing.assert_allclose(derivative(loss)(x), want, rtol=1e-13)
        np.testing.assert_allclose(derivative(loss)(x), derivative(eager)(x), rtol=1e-13)
        np.testing.assert_allclose(fgrad.jit(derivative(loss))(x), want, rtol=1e-13)


def test_the_reported_grad_of_jit_reproducer():
    def pair(x):
        return x, fnp.sqrt(x)

    assert fgrad.grad(lambda x: pair(x)[0])(0.0) == 1.0
    assert fgrad.grad(lambda x: fgrad.jit(pair)(x)[0])(0.0) == 1.0
    assert fgrad.grad(lambda x: fgrad.checkpoint(pair)(x)[0])(0.0) == 1.0


@pytest.mark.parametrize("name", ["jit", "checkpoint", "custom_jvp", "scan", "cond"])
def test_a_zero_cotangent_passed_by_the_caller_is_used(name):
    """Only unreached outputs are symbolic zeros: zeros the caller passes to a pullback
    are arrays like any other (as in JAX), and meet the infinite derivative at 0 exactly
    as on the eager tape."""
    ct = {"a": 1.0, "b": (0.0, 0.0)}
    with np.errstate(all="ignore"):
        (got,) = fgrad.vjp(WRAPPED[name], 0.0)[1](ct)
        (want,) = fgrad.vjp(f, 0.0)[1](ct)
    assert np.isnan(got) and np.isnan(want)
    (got,) = fgrad.vjp(WRAPPED[name], 2.0)[1](ct)
    np.testing.assert_allclose(got, 4.0, rtol=1e-13)


def test_custom_jvp_rule_with_a_loop_over_tangents():
    """The transposed rule holds a staged scan with two outputs: one joint entry, and
    the unused output's infinite factor never meets a zero cotangent."""

    @fgrad.custom_jvp
    def g(x):
        return x, fnp.sqrt(x)

    @g.defjvp
    def g_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        with np.errstate(divide="ignore"):  # the rule's own factor is inf at 0
            d = 0.5 / fnp.sqrt(x)
        carry, ys = lax.scan(lambda c, _: (c, c * d), t, None, length=1)
        return g(x), (carry, ys[0])

    first = lambda x: g(x)[0]  # noqa: E731
    assert fgrad.grad(first)(0.0) == 1.0
    # the compiled program divides by 0 where the rule does, and its scan still computes
    # the unused ys (0 * inf) whose value it discards: the result is exact all the same
    with np.errstate(divide="ignore", invalid="ignore"):
        assert fgrad.jit(fgrad.grad(first))(0.0) == 1.0
    assert fgrad.grad(fgrad.grad(first))(0.0) == 0.0  # JAX: 0.0 too
    np.testing.assert_allclose(fgrad.grad(lambda x: g(x)[1])(4.0), 0.25, rtol=1e-15)
    np.testing.assert_allclose(fgrad.grad(lambda x: g(x)[0] + g(x)[1])(4.0), 1.25, rtol=1e-15)


def test_transpose_linear_takes_none_as_a_zero_cotangent():
    from fgrad.core.abstract import ShapedArray
    from fgrad.transforms.custom_derivatives import trace_linear
    from fgrad.transforms.linearize import transpose_linear

    aval = ShapedArray((), np.dtype(np.float64))
    lin = trace_linear(lambda ts: [ts[0] * 2.0, ts[0] * np.inf], [aval])
    assert transpose_linear(lin, [np.float64(1.0), None]) == [2.0]
    assert transpose_linear(lin, [None, None]) == [None]


# -- custom_vjp: JAX's semantics -------------------------------------------------------


def _counted_custom_vjp():
    calls = []
    h = fgrad.custom_vjp(f)

    def fwd(x):
        return f(x), x

    def bwd(x, ct):
        calls.append(ct)
        b0, b1 = ct["b"]
        return (2 * x * ct["a"] + 0.5 / fnp.sqrt(x) * b0 + b1 / (3 * fnp.cbrt(x) ** 2),)

    h.defvjp(fwd, bwd)
    return h, calls


def test_custom_vjp_bwd_runs_once_and_gets_zeros_for_unused_outputs():
    h, calls = _counted_custom_vjp()
    g = fgrad.grad(lambda x: h(x)["a"] + 2 * h(x)["a"])(2.0)  # two calls, output a only
    np.testing.assert_allclose(g, 3 * 2 * 2.0)
    assert len(calls) == 2  # once per call
    for ct in calls:
        assert float(ct["b"][0]) == 0.0 and float(ct["b"][1]) == 0.0
        assert ct["b"][0].shape == () and ct["b"][0].dtype == np.float64

    calls.clear()
    g = fgrad.grad(_loss(h, OUTPUTS))(2.0)  # every output used: still one bwd call
    np.testing.assert_allclose(g, _expected(FIRST, OUTPUTS, 2.0), rtol=1e-13)
    assert len(calls) == 1
    np.testing.assert_allclose(
        [calls[0]["a"], calls[0]["b"][0], calls[0]["b"][1]], [1.0, 2.0, 3.0]
    )


def test_custom_vjp_none_used_gives_zero_without_calling_bwd():
    h, calls = _counted_custom_vjp()
    assert fgrad.grad(lambda x: 0.0 * x + fnp.sum(fgrad.stop_gradient(h(x)["a"])))(2.0) == 0.0
    assert calls == []


# -- the backward rule runs once per call ----------------------------------------------


def test_checkpoint_recomputes_once_for_all_used_outputs():
    runs = []

    def counted(x):
        runs.append(1)
        return f(x)

    g = fgrad.grad(_loss(fgrad.checkpoint(counted), OUTPUTS))(2.0)
    np.testing.assert_allclose(g, _expected(FIRST, OUTPUTS, 2.0), rtol=1e-13)
    assert len(runs) == 2  # the forward pass and one recomputation (not one per output)


def test_grad_of_jit_runs_one_backward_program_per_call(monkeypatch):
    from fgrad.transforms import jit_rules

    runs = []
    original = jit_rules._Backward.__call__

    def counted(self, *args):
        runs.append(tuple(self.jaxpr.invars))
        return original(self, *args)

    monkeypatch.setattr(jit_rules._Backward, "__call__", counted)
    jf = fgrad.jit(lambda x: f(x))
    for used in [OUTPUTS, ("a",), ("b0", "b1")]:
        runs.clear()
        g = fgrad.grad(_loss(jf, used))(2.0)
        np.testing.assert_allclose(g, _expected(FIRST, used, 2.0), rtol=1e-13)
        assert len(runs) == 1


def test_grad_of_jit_backward_program_holds_only_reached_outputs():
    """The backward program built for output ``a`` alone reads no cotangent of ``b`` and
    computes nothing of ``b``'s derivatives."""
    from fgrad.transforms.jit_rules import CompiledVJP

    compiled = CompiledVJP(lambda leaves: f(leaves[0]), [np.float64(2.0)], [0])
    only_a = compiled.backward((0,), [2.0]).replay.closed.jaxpr
    everything = compiled.backward((0, 1, 2), [2.0]).replay.closed.jaxpr
    assert len(only_a.eqns) < len(everything.eqns)
    assert "div" not in [e.prim.name for e in only_a.eqns]  # 1/x and 0.5/sqrt(x) are b's
    assert compiled.backward((0,), [2.0]) is compiled.backward((0,), [3.0])  # cached per subset


def test_scan_consts_only_unused_ys_read_get_no_cotangent():
    """``d`` is read only by the unused ys; its derivative is infinite at 0. It gets no
    cotangent (not a zero one), at any order; JAX gives 1.0 and 0.0."""

    def h(x):
        d = fnp.sqrt(x)
        carry, _ = lax.scan(lambda c, _: (c * 1.0, c * d), x, None, length=3)
        return carry

    for fun in (h, fgrad.jit(h)):
        assert fgrad.grad(fun)(0.0) == 1.0
        assert fgrad.grad(fgrad.grad(fun))(0.0) == 0.0


def test_scan_ys_without_cotangent_stay_out_of_the_reverse_scan():
    """A long scan: the carry is used, the ys (infinite derivative at 0) are not."""

    def run(x):
        carry, ys = lax.scan(lambda c, _: (c * 1.0, fnp.sqrt(c)), x, None, length=5)
        return carry

    for fun in (run, fgrad.jit(run)):
        assert fgrad.grad(fun)(0.0) == 1.0
        assert fgrad.grad(fgrad.grad(fun))(0.0) == 0.0
        assert fgrad.jit(fgrad.grad(fun))(0.0) == 1.0


def test_vmap_of_grad_of_jit_with_unused_output():
    jf = fgrad.jit(f)
    xs = np.array([0.0, 1.0, 4.0])
    got = fgrad.vmap(fgrad.grad(lambda x: jf(x)["a"]))(xs)
    np.testing.assert_allclose(got, 2 * xs, rtol=1e-14)
    jac = fgrad.jacrev(lambda x: jf(x)["a"])(xs)  # the backward pass under vmap
    np.testing.assert_allclose(jac, np.diag(2 * xs), rtol=1e-14)


# -- against JAX -----------------------------------------------------------------------


def test_against_jax():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)

    def jf(x):
        return {"a": x * x, "b": (jnp.sqrt(x), jnp.cbrt(x))}

    jax_wrapped = {
        "jit": jax.jit(jf),
        "checkpoint": jax.checkpoint(jf),
        "scan": lambda x: jax.tree.map(
            lambda y: y[0], jax.lax.scan(lambda c, _: (c, jf(c)), x, None, length=1)[1]
        ),
        "cond": lambda x: jax.lax.cond(x > -1.0, jf, lambda x: jf(x + 1.0), x),
    }
    for name, jwrapped in jax_wrapped.items():
        for used in SUBSETS:
            for x in _points(used):
                def jloss(x, used=used, jwrapped=jwrapped):
                    out = jwrapped(x)
                    leaves = {"a": out["a"], "b0": out["b"][0], "b1": out["b"][1]}
                    return sum((WEIGHTS[k] * leaves[k] for k in used), 0.0 * x)

                loss = _loss(WRAPPED[name], used)
                np.testing.assert_allclose(
                    fgrad.grad(loss)(x), float(jax.grad(jloss)(x)), rtol=1e-13
                )
                np.testing.assert_allclose(
                    fgrad.grad(fgrad.grad(loss))(x),
                    float(jax.grad(jax.grad(jloss))(x)),
                    rtol=1e-13,
                )


@pytest.mark.parametrize("name", ["jit", "checkpoint", "custom_jvp"])
def test_complex_outputs_of_a_real_input_give_a_real_gradient(name):
    """The joint entry takes the real part of a real input's cotangent, as the tape does
    for a primitive."""

    def h(x):
        return x * (1.0 + 2.0j), fnp.exp(1j * x)

    wrapped = {"jit": fgrad.jit(h), "checkpoint": fgrad.checkpoint(h)}.get(name)
    if wrapped is None:
        wrapped = fgrad.custom_jvp(h)
        wrapped.defjvp(
            lambda p, t: (h(p[0]), (t[0] * (1.0 + 2.0j), 1j * fnp.exp(1j * p[0]) * t[0]))
        )

    def loss(fun):
        return lambda x: fnp.real(fun(x)[0] * 3.0j) + fnp.imag(fun(x)[1])

    x = 0.7
    got = fgrad.grad(loss(wrapped))(x)
    assert np.isrealobj(got)
    np.testing.assert_allclose(got, -6.0 + np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(got, fgrad.grad(loss(h))(x), rtol=1e-14)


@pytest.mark.parametrize("name", list(WRAPPED))
def test_vmap_compositions_with_an_unused_output(name):
    """vmap(grad), grad(vmap), vmap(grad(grad)) and jit(vmap(grad)) over points where the
    unused outputs' derivatives are infinite (x = 0)."""
    loss = _loss(WRAPPED[name], ("a",))
    xs = np.array([0.0, 1.0, 4.0])
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(loss))(xs), 2 * xs, rtol=1e-14)
    summed = fgrad.grad(lambda v: fnp.sum(fgrad.vmap(loss)(v)))(xs)
    np.testing.assert_allclose(summed, 2 * xs, rtol=1e-14)
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(fgrad.grad(loss)))(xs), 2.0, rtol=1e-14)
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(fgrad.grad(loss)))(xs), 2 * xs, rtol=1e-14)
