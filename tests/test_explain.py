"""fgrad.explain and source provenance: the pictures of a computation, the residuals a
vjp keeps, why jit traced again, and the user's line recorded on each traced equation."""

from __future__ import annotations

import inspect

import numpy as np

import fgrad
import fgrad.numpy as fnp

HERE = __file__


def _line_of(fn, text: str) -> int:
    """The file line number of the line of ``fn``'s source containing ``text``."""
    lines, first = inspect.getsourcelines(fn)
    (k,) = [i for i, line in enumerate(lines) if text in line]
    return first + k


# -- item 1: source provenance ---------------------------------------------------------


def _sigmoid(t):
    return 1.0 / (1.0 + fnp.exp(-t))


def _neg_log_sigmoid(x, w):
    a = x**2
    b = w * a
    return -fnp.log(_sigmoid(b))


def test_each_equation_records_the_users_line():
    jaxpr = fgrad.make_jaxpr(_neg_log_sigmoid)(1.5, 0.8)
    where = [(e.prim.name, e.source.line, e.source.function) for e in jaxpr.eqns]
    sig = _line_of(_sigmoid, "return")
    assert where == [
        ("pow", _line_of(_neg_log_sigmoid, "a = x**2"), "_neg_log_sigmoid"),
        ("mul", _line_of(_neg_log_sigmoid, "b = w * a"), "_neg_log_sigmoid"),
        ("neg", sig, "_sigmoid"),
        ("exp", sig, "_sigmoid"),
        ("add", sig, "_sigmoid"),
        ("div", sig, "_sigmoid"),
        ("log", _line_of(_neg_log_sigmoid, "fnp.log"), "_neg_log_sigmoid"),
        ("neg", _line_of(_neg_log_sigmoid, "fnp.log"), "_neg_log_sigmoid"),
    ]
    assert all(e.source.file == HERE for e in jaxpr.eqns)


def test_library_functions_are_attributed_to_the_line_that_called_them():
    def f(x):
        return fgrad.nn.relu(x) * 2.0

    jaxpr = fgrad.make_jaxpr(f)(np.ones(3))
    assert len(jaxpr.eqns) >= 2
    assert {e.source.line for e in jaxpr.eqns} == {_line_of(f, "relu")}


def test_pretty_source_prints_file_and_line_per_equation():
    text = fgrad.make_jaxpr(_neg_log_sigmoid)(1.5, 0.8).pretty(source=True)
    eqn_lines = text.splitlines()[1:-1]
    assert len(eqn_lines) == 8
    line = _line_of(_neg_log_sigmoid, "b = w * a")
    assert eqn_lines[1].endswith(f"# test_explain.py:{line} (_neg_log_sigmoid)")
    assert "#" not in str(fgrad.make_jaxpr(_neg_log_sigmoid)(1.5, 0.8))


def test_backward_pass_equations_have_the_users_line_that_asked_for_the_gradient():
    def loss(x):
        return fnp.sum(fnp.sin(x) * x)

    def outer(x):
        return fgrad.grad(loss)(x)

    jaxpr = fgrad.make_jaxpr(outer)(np.ones(3))
    lines = {e.source.line for e in jaxpr.eqns}
    # the forward equations come from loss, the backward ones from the grad call
    assert lines == {_line_of(loss, "fnp.sum"), _line_of(outer, "fgrad.grad")}


def test_jit_keeps_the_source_through_optimisation():
    def f(x):
        y = fnp.sin(x)
        return fnp.exp(y) * 3.0

    jitted = fgrad.jit(f)
    jaxpr = fgrad.make_jaxpr(jitted)(np.ones(2))
    assert [e.source.line for e in jaxpr.eqns] == [
        _line_of(f, "sin"),
        _line_of(f, "exp"),
        _line_of(f, "exp"),
    ]


def test_source_info_switch_turns_recording_off():
    fgrad.config.update("fgrad_source_info", False)
    try:
        jaxpr = fgrad.make_jaxpr(_neg_log_sigmoid)(1.5, 0.8)
    finally:
        fgrad.config.update("fgrad_source_info", True)
    assert all(e.source is None for e in jaxpr.eqns)
    assert "#" not in jaxpr.pretty(source=True)
