"""``jit``'s optimiser passes and generated code, checked against NumPy values.

Each case is built so that a pass that is too eager changes the result: literals and
array parameters that differ only in value (common-subexpression elimination must not
merge them), reshapes and transposes that keep the rank (not no-ops), conversions
within a dtype kind, effects whose results are unused (dead-code elimination must keep
them), constant folding of multi-output primitives, and single-output multi-result
equations in the generated Python. The references are NumPy, never fgrad in another
mode, so a bug shared by eager and jitted code cannot pass.
"""

from __future__ import annotations

import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core.jaxpr import ClosedJaxpr, Jaxpr, eval_jaxpr
from fgrad.transforms.optimize import optimize

RNG = np.random.default_rng(3)


def same(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=1e-13)


def test_cse_keeps_literals_that_differ_in_value():
    x = RNG.standard_normal(4)
    f = fgrad.jit(lambda x: (x * 2.0, x * 3.0, x + 2.0, x + 2))
    a, b, c, d = f(x)
    same(a, 2 * x)
    same(b, 3 * x)
    same(c, x + 2)
    same(d, x + 2)
    # and in a derivative, where grad recomputes forward values
    g = fgrad.jit(fgrad.grad(lambda x: fnp.sum(fnp.sin(x * 2.0) + fnp.sin(x * 0.5))))(x)
    same(g, 2 * np.cos(2 * x) + 0.5 * np.cos(0.5 * x))


def test_cse_keeps_array_parameters_that_differ_in_content():
    x = RNG.standard_normal(5)
    i, j = np.array([0, 3]), np.array([3, 0])
    f = fgrad.jit(lambda x: x[i] * 10 + x[j])
    same(f(x), x[i] * 10 + x[j])
    g = fgrad.jit(fgrad.grad(lambda x: fnp.sum(x[i] * fnp.arange(1.0, 3.0) + x[j] ** 2)))(x)
    want = np.zeros(5)
    np.add.at(want, i, np.arange(1.0, 3.0))
    np.add.at(want, j, 2 * x[j])
    same(g, want)


def test_cse_merges_true_repeats_and_keeps_the_value():
    x = RNG.standard_normal(3)
    f = fgrad.jit(lambda x: fnp.sin(x) + fnp.sin(x))
    same(f(x), 2 * np.sin(x))
    text = str(fgrad.make_jaxpr(lambda x: fnp.sin(x) + fnp.sin(x))(x))
    assert text.count("sin") == 2  # make_jaxpr does not optimise; jit's replay does


def test_reshape_and_transpose_keeping_the_rank_are_not_no_ops():
    x = RNG.standard_normal((2, 3))
    y = RNG.standard_normal((2, 3, 4))
    same(fgrad.jit(lambda x: fnp.reshape(x, (3, 2)) * np.arange(2.0))(x),
         x.reshape(3, 2) * np.arange(2.0))
    same(fgrad.jit(lambda y: fnp.transpose(y, (2, 0, 1)))(y), y.transpose(2, 0, 1))
    same(fgrad.jit(lambda y: fnp.transpose(y, (0, 2, 1)) @ np.ones(3))(y),
         y.transpose(0, 2, 1) @ np.ones(3))
    # and the no-ops themselves keep the value
    same(fgrad.jit(lambda x: fnp.reshape(x, (2, 3)) + fnp.transpose(x, (0, 1)))(x), 2 * x)


def test_conversion_within_a_kind_is_not_a_no_op():
    x32 = (RNG.standard_normal(3) * 1e3).astype(np.float32)
    out = fgrad.jit(lambda x: fnp.astype(x, np.float64) + 1e-6)(x32)
    assert out.dtype == np.float64
    same(out, x32.astype(np.float64) + 1e-6)
    out16 = fgrad.jit(lambda x: fnp.astype(x, np.float16))(np.array([1 / 3]))
    assert out16.dtype == np.float16
    assert out16[0] == np.float16(1 / 3)


def test_unused_effects_are_kept(capsys):
    @fgrad.jit
    def f(x):
        fgrad.debug.print("x is {}", fnp.sum(x))
        return x * 2.0

    same(f(np.array([1.0, 2.0])), [2.0, 4.0])
    assert "x is 3.0" in capsys.readouterr().out


def _with_consts(fn, n_consts, *args):
    """``fn``'s jaxpr with its first ``n_consts`` inputs turned into constants."""
    closed = fgrad.make_jaxpr(fn)(*args)
    j = closed.jaxpr
    inner = Jaxpr(list(j.invars[:n_consts]), list(j.invars[n_consts:]), j.eqns, j.outvars)
    return ClosedJaxpr(inner, list(args[:n_consts]), closed.in_tree, closed.out_tree)


def test_constant_folding_of_a_multi_output_primitive():
    c = RNG.standard_normal((3, 3))
    c = c @ c.T + np.eye(3)
    x = RNG.standard_normal(3)
    closed = _with_consts(lambda c, x: fnp.linalg.eigh(c)[0] * x + fnp.linalg.eigh(c)[1][0], 1,
                          c, x)
    opt = optimize(closed)
    assert not opt.jaxpr.eqns or all(e.prim.name != "linalg_eigh" for e in opt.jaxpr.eqns)
    w, v = np.linalg.eigh(c)
    (got,) = eval_jaxpr(opt.jaxpr, opt.consts, x)
    same(np.abs(got - w * x), np.abs(v[0]))  # eigenvectors up to sign
    (unopt,) = eval_jaxpr(closed.jaxpr, closed.consts, x)
    same(got, unopt)


def test_constant_folding_keeps_values():
    c = RNG.standard_normal((2, 3))
    x = RNG.standard_normal(2)
    closed = _with_consts(lambda c, x: (c.T * 2.0) @ x + fnp.sum(c), 1, c, x)
    opt = optimize(closed)
    (got,) = eval_jaxpr(opt.jaxpr, opt.consts, x)
    same(got, (c.T * 2.0) @ x + c.sum())


def test_single_output_multi_result_equation_in_generated_code():
    x = RNG.standard_normal(3)

    def f(x):  # a scan with a carry and no ys: one output, multiple_results=True
        return lax.scan(lambda c, _: (c * 2.0 + 1.0, None), x, None, length=3)[0]

    same(fgrad.jit(f)(x), ((x * 2 + 1) * 2 + 1) * 2 + 1)
    s = fgrad.jit(lambda a: fnp.linalg.svd(a, compute_uv=False))(np.diag([3.0, -2.0]))
    same(s, [3.0, 2.0])


def test_jit_of_grad_matches_closed_form_with_repeated_subexpressions():
    x = RNG.standard_normal(4)
    w = RNG.standard_normal(4)

    def loss(x):
        h = fnp.tanh(x * w)
        return fnp.sum(h * h) + fnp.sum(fnp.tanh(x * w))

    t = np.tanh(x * w)
    want = (2 * t + 1) * (1 - t * t) * w
    same(fgrad.jit(fgrad.grad(loss))(x), want)
    same(fgrad.grad(loss)(x), want)
