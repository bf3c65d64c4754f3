"""fgrad.debug.print: values printed when they are known, under every transform, once per
call under jit (never folded, merged or dropped by the optimiser)."""

from __future__ import annotations

import numpy as np

import fgrad
import fgrad.numpy as fnp


def loss(w, x):
    fgrad.debug.print("w={w} total={}", fnp.sum(x), w=w)
    return fnp.sum(w * x)


W, X = np.arange(3.0), np.ones(3)


def printed(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_eager_grad_and_jvp_print_values_not_tracers(capsys):
    loss(W, X)
    fgrad.grad(loss)(W, X)
    fgrad.jvp(loss, (W, X), (X, X))
    assert printed(capsys) == ["w=[0. 1. 2.] total=3.0"] * 3


def test_jit_prints_every_call_with_its_values(capsys):
    step = fgrad.jit(loss)
    step(W, X)
    step(W + 1, X)
    fgrad.jit(fgrad.grad(loss))(W, X)
    fgrad.grad(fgrad.jit(loss))(W, X)  # the compiled forward program prints
    assert printed(capsys) == [
        "w=[0. 1. 2.] total=3.0",
        "w=[1. 2. 3.] total=3.0",
        "w=[0. 1. 2.] total=3.0",
        "w=[0. 1. 2.] total=3.0",
    ]


def test_vmap_prints_the_batch(capsys):
    ws = np.stack([W, W + 10])
    for f in (fgrad.vmap(loss, in_axes=(0, None)), fgrad.jit(fgrad.vmap(loss, in_axes=(0, None)))):
        f(ws, X)
    assert printed(capsys) == ["w=[[ 0.  1.  2.]", " [10. 11. 12.]] total=3.0"] * 2


def test_the_optimiser_keeps_prints_of_constants_and_repeats(capsys):
    def f(x):
        fgrad.debug.print("constant {}", np.float64(2.0))  # inputs all constant: not folded
        fgrad.debug.print("x {}", x)
        fgrad.debug.print("x {}", x)  # the same equation twice: not merged
        return x * 2.0  # nothing reads the prints: not dropped

    closed = fgrad.make_jaxpr(f)(1.0)  # tracing prints nothing
    assert str(closed).count("    debug_print[") == 3
    jf = fgrad.jit(f)
    assert jf(1.5) == 3.0 and jf(2.5) == 5.0
    assert printed(capsys) == ["constant 2.0", "x 1.5", "x 1.5", "constant 2.0", "x 2.5", "x 2.5"]


def test_a_print_in_a_custom_jvp_rule_does_not_break_reverse_mode(capsys):
    @fgrad.custom_jvp
    def f(x):
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        fgrad.debug.print("tangent {}", t)
        return f(x), fnp.cos(x) * t

    assert fgrad.jvp(f, (1.0,), (2.0,))[1] == 2 * np.cos(1.0)
    assert printed(capsys) == ["tangent 2.0"]
    # reverse mode transposes the rule's linear part; the print has nothing to transpose
    assert fgrad.grad(f)(1.0) == np.cos(1.0)
