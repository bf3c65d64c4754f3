"""fgrad.explain and source provenance: the pictures of a computation, the residuals a
vjp keeps, why jit traced again, and the user's line recorded on each traced equation."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from xml.etree import ElementTree

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.explain.dot import summary

HERE = __file__


def _line_of(fn, text: str) -> int:
    """The file line number of the line of ``fn``'s source containing ``text``."""
    lines, first = inspect.getsourcelines(fn)
    (k,) = [i for i, line in enumerate(lines) if text in line and "_line_of(" not in line]
    return first + k


# -- item 1: source provenance ---------------------------------------------------------


def _sigmoid(t):
    return 1.0 / (1.0 + fnp.exp(-t))


def _neg_log_sigmoid(x, w):
    a = x**2
    b = w * a
    return -fnp.log(_sigmoid(b))


def test_each_equation_records_the_users_line():
    # NumPy scalars: Python numbers would add the conversions keeping them weakly typed
    jaxpr = fgrad.make_jaxpr(_neg_log_sigmoid)(np.float64(1.5), np.float64(0.8))
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
    text = fgrad.make_jaxpr(_neg_log_sigmoid)(np.float64(1.5), np.float64(0.8)).pretty(source=True)
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


# -- item 4: pictures -------------------------------------------------------------------


def _sig(b):
    return 1.0 / (1.0 + np.exp(-b))


def test_graph_of_neg_log_sigmoid_has_values_and_gradients_of_the_notes():
    x, w = 1.5, 0.8
    g = fgrad.explain.graph(_neg_log_sigmoid, x, w, grads=True)
    kinds = [n.kind for n in g.nodes.values()]
    assert kinds == ["input"] * 2 + ["op"] * 8 + ["output"]
    assert len(g.edges) == 10
    a, b = x**2, w * x**2
    c = _sig(b)
    (gx,) = g.find("x")
    (gw,) = g.find("w")
    np.testing.assert_allclose(gx.grad, -(1 - c) * w * 2 * x, rtol=1e-12)
    np.testing.assert_allclose(gw.grad, -(1 - c) * a, rtol=1e-12)
    ops = [n for n in g.nodes.values() if n.kind == "op"]
    values = [float(n.value) for n in ops]
    np.testing.assert_allclose(
        values, [a, b, -b, np.exp(-b), 1 + np.exp(-b), c, np.log(c), -np.log(c)], rtol=1e-12
    )
    # d L / d (each intermediate), closed forms from L = -log c, c = 1 / (1 + e), e = exp(-b)
    e = np.exp(-b)
    dc = -1 / c
    grads = [-(1 - c) * w, -(1 - c), (1 - c), dc * -1 / (1 + e) ** 2, dc * -1 / (1 + e) ** 2,
             dc, -1.0, 1.0]
    np.testing.assert_allclose([float(n.grad) for n in ops], grads, rtol=1e-12)
    # each edge carries the cotangent it sends back: here every value is used once
    for edge in g.edges:
        np.testing.assert_allclose(edge.grad, g.nodes[edge.src].grad, rtol=1e-15)
    (out,) = g.find("output")
    assert float(out.value) == pytest.approx(-np.log(c), rel=1e-12) and float(out.grad) == 1.0


def test_graph_groups_the_operations_of_each_user_call():
    g = fgrad.explain.graph(_neg_log_sigmoid, 1.5, 0.8)
    assert [c.function for c in g.calls] == ["_sigmoid"]
    inside = [n.title for n in g.nodes.values() if n.calls == (0,)]
    assert inside == ["neg", "exp", "add", "div"]
    text = g.to_dot()
    assert text.count("subgraph cluster_call") == 1
    assert "_sigmoid()" in text
    assert g.grads is False and "grad =" not in text
    assert all(e.grad is None for e in g.edges)


def test_dot_text_structure_and_counts():
    g = fgrad.explain.graph(_neg_log_sigmoid, 1.5, 0.8, grads=True)
    text = g.to_dot()
    assert text.startswith("digraph fgrad {") and text.rstrip().endswith("}")
    edge_lines = [ln for ln in text.splitlines() if " -> " in ln]
    node_lines = [ln for ln in text.splitlines() if "[shape=" in ln]
    assert len(edge_lines) == 10 and len(node_lines) == 11
    assert text.count("{") == text.count("}")
    # the gradient of x, in full, on its node and on its edge
    c = _sig(0.8 * 1.5**2)
    gx = f"{-(1 - c) * 0.8 * 3.0:.6g}"
    assert f"grad = {gx}" in text
    assert f"in0 -> op0 [label=<{gx}>];" in text
    assert "f64[] = 2.25" in text  # x**2, the pow node's value


def _reused(x):
    a = x**2
    return -((5 * a) * fnp.log(a))


def test_value_used_twice_shows_both_contributions_and_their_sum():
    x = 1.9
    g = fgrad.explain.graph(_reused, x, grads=True)
    (a_node,) = g.find("pow")
    a = x**2
    b, c = 5 * a, np.log(a)
    # the notes' backward pass: grad_a = -c * 5 (through b = 5a); grad_a += -b / a (c = log a)
    np.testing.assert_allclose(sorted(map(float, a_node.grad_terms)), sorted([-5 * c, -b / a]))
    np.testing.assert_allclose(a_node.grad, -5 * c - b / a, rtol=1e-12)
    (x_node,) = g.find("x")
    np.testing.assert_allclose(x_node.grad, (-5 * c - b / a) * 2 * x, rtol=1e-12)
    np.testing.assert_allclose(x_node.grad, fgrad.grad(_reused)(x), rtol=1e-12)
    text = g.to_dot()
    assert text.count("+= ") == 2  # the two edges out of a
    terms = " + ".join(summary(t) for t in a_node.grad_terms)
    assert f"grad = {terms} = {summary(a_node.grad)}" in text
    assert "grad = -6.41854 + -5.0 = -11.4185" in text  # the numbers above, as written


def test_collapsing_a_function_draws_its_call_as_one_node():
    g = fgrad.explain.graph(_neg_log_sigmoid, 1.5, 0.8, grads=True)
    for collapse in (True, ["_sigmoid"]):
        text = g.to_dot(collapse=collapse)
        assert "subgraph cluster" not in text
        assert [ln for ln in text.splitlines() if "[shape=" in ln].__len__() == 11 - 4 + 1
        edges = [ln.split(" [")[0].strip() for ln in text.splitlines() if " -> " in ln]
        assert len(edges) == 10 - 3  # the three inside sigmoid are gone
        assert "op1 -> call0" in edges and "call0 -> op6" in edges
        assert "4 operations" in text
    assert g.to_dot(collapse=["other"]) == g.to_dot()


def test_skip_connection_gradient_is_the_sum_of_the_skip_and_the_block():
    rng = np.random.default_rng(0)
    W1, W2, x, delta = (rng.normal(size=s) for s in ((5, 3), (3, 5), (3,), (3,)))

    def skip(v):
        return fnp.vdot(delta, W2 @ fnp.maximum(W1 @ v, 0.0) + v)

    g = fgrad.explain.graph(skip, x, grads=True)
    (x_node,) = g.find("v")
    R = np.diag((W1 @ x > 0).astype(float))
    block = W1.T @ R @ W2.T @ delta
    np.testing.assert_allclose(x_node.grad, block + delta, rtol=1e-12)
    terms = sorted(x_node.grad_terms, key=lambda t: float(np.sum(t)))
    expected = sorted([block, delta], key=lambda t: float(np.sum(t)))
    for t, e in zip(terms, expected):
        np.testing.assert_allclose(t, e, rtol=1e-12)
    assert {n.title for n in g.nodes.values() if n.kind == "const"} == {"W1", "W2", "delta"}


def test_mlp_graph_gradients_match_grad_and_values_match_the_forward_pass():
    rng = np.random.default_rng(1)
    p = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4), "V": rng.normal(size=(4, 2))}
    X = rng.normal(size=(5, 3))

    def loss(params, X):
        h = fnp.tanh(X @ params["W"] + params["b"])
        return fnp.sum((h @ params["V"] + h[:, :2]) ** 2)

    g = fgrad.explain.graph(loss, p, X, grads=True)
    expected = fgrad.grad(loss)(p, X)
    for key in p:
        (node,) = g.find(f"params['{key}']")
        np.testing.assert_allclose(node.grad, expected[key], rtol=1e-12)
        np.testing.assert_array_equal(node.value, p[key])
    (tanh,) = g.find("tanh")
    np.testing.assert_allclose(tanh.value, np.tanh(X @ p["W"] + p["b"]), rtol=1e-14)
    assert len(tanh.grad_terms) == 2  # h feeds the matmul and the skip slice
    (out,) = g.find("output")
    np.testing.assert_allclose(out.value, loss(p, X), rtol=1e-14)


def test_graph_of_a_non_scalar_function_refuses_grads_and_says_why():
    with pytest.raises(fgrad.TransformError, match="one value of one element"):
        fgrad.explain.graph(lambda x: x * 2.0, np.ones(3), grads=True)
    g = fgrad.explain.graph(lambda x: x * 2.0, np.ones(3))
    (out,) = g.find("output")
    np.testing.assert_array_equal(out.value, [2.0, 2.0, 2.0])
    assert "[2.0, 2.0, 2.0]" in g.to_dot()


def test_value_summaries():
    assert summary(np.float64(0.1234567891)) == "0.123457"
    assert summary(2.0) == "2.0"
    assert summary(np.int64(3)) == "3"
    assert summary(np.array([1.0, 2.5])) == "[1.0, 2.5]"
    assert summary(np.arange(10.0)) == "mean 4.5 in [0.0, 9.0]"


def test_save_writes_dot_and_renders_only_with_graphviz(tmp_path, monkeypatch):
    g = fgrad.explain.graph(_neg_log_sigmoid, 1.5, 0.8, grads=True)
    path = g.save(tmp_path / "g.dot")
    assert path.read_text() == g.to_dot()
    with pytest.raises(ValueError, match=r"\.dot, \.gv, \.svg"):
        g.save(tmp_path / "g.jpeg")
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(fgrad.FgradError, match="graphviz's `dot` program, which is not installed"):
        g.save(tmp_path / "g.png")
    # without graphviz, an .svg is fgrad's own drawing, collapsed calls too
    own = g.save(tmp_path / "g.svg").read_text()
    assert own == fgrad.explain.svg.to_svg(g) == g._repr_svg_()
    collapsed = g.save(tmp_path / "c.svg", collapse=True).read_text()
    assert collapsed == fgrad.explain.svg.to_svg(g, collapse=True) != own


def test_own_svg_writer_draws_every_node_and_edge_with_values_and_gradients():
    g = fgrad.explain.graph(_reused, 1.9, grads=True)
    root = ElementTree.fromstring(fgrad.explain.svg.to_svg(g))
    ns = "{http://www.w3.org/2000/svg}"
    rects = root.findall(f"{ns}rect")
    assert len(rects) == 1 + len(g.nodes)  # the white background, then one per node
    assert len(root.findall(f"{ns}polyline")) == len(g.edges) == 7
    texts = [t.text for t in root.findall(f"{ns}text")]
    (a_node,) = g.find("pow")
    terms = " + ".join(summary(t) for t in a_node.grad_terms)
    assert f"grad = {terms} = {summary(a_node.grad)}" in texts
    assert texts.count(f"+= {summary(a_node.grad_terms[0])}") == 1
    assert "f64[] = 3.61" in texts  # a = x**2
    # every edge points downwards: arguments are drawn above their uses
    for line in root.findall(f"{ns}polyline"):
        ys = [float(p.split(",")[1]) for p in line.get("points").split()]
        assert ys == sorted(ys) and ys[-1] > ys[0]


def test_save_svg_with_graphviz(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed")
    g = fgrad.explain.graph(_neg_log_sigmoid, 1.5, 0.8, grads=True)
    svg = g.save(tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "_sigmoid()" in svg and "1.5" in svg


def test_import_fgrad_does_not_import_explain():
    code = "import sys, fgrad; print('fgrad.explain' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- item 5: saved residuals ---------------------------------------------------------------


def _sin_exp(x):
    y = fnp.sin(x)
    z = fnp.exp(y)
    return fnp.sum(z * y)


def test_saved_residuals_lists_what_the_rules_read_with_sizes_and_lines():
    x = np.linspace(0.0, 1.0, 1000)  # 8 kB: the tape keeps only what rules read
    res = fgrad.explain.saved_residuals(_sin_exp, x)
    rows = [(r.primitive, r.role, r.argument, r.source.line) for r in res]
    assert rows == [
        ("sin", "input 0", "x", _line_of(_sin_exp, "fnp.sin")),  # cos(x) needs x
        ("exp", "result", None, _line_of(_sin_exp, "fnp.exp")),  # exp' = exp
        ("mul", "input 1", None, _line_of(_sin_exp, "z * y")),  # d(z*y)/dz = y
    ]
    assert all(r.shape == (1000,) and r.dtype == np.float64 and r.nbytes == 8000 for r in res)
    assert all(r.read for r in res)
    assert res.nbytes == 16000  # the argument is not counted
    text = str(res)
    assert text.startswith("vjp of _sin_exp keeps 2 arrays of 16.0 kB")
    assert f"result of exp at test_explain.py:{_line_of(_sin_exp, 'fnp.exp')} (_sin_exp)" in text


def test_saved_residuals_of_small_values_says_which_ones_no_rule_reads():
    res = fgrad.explain.saved_residuals(lambda x: fnp.sum(fnp.exp(fnp.sin(x))), 0.5)
    read = {(r.primitive, r.role): r.read for r in res}
    assert read[("sin", "input 0")] and read[("exp", "result")]
    # sin's rule reads its input, exp's its result: nothing reads sin's result
    assert not read[("sin", "result")]
    assert "its rule does not read it" in str(res)
    # in _sin_exp, mul's rule reads sin's result (y in z * y): read, though sin's is not
    read = {(r.primitive, r.role): r.read for r in fgrad.explain.saved_residuals(_sin_exp, 0.5)}
    assert read[("sin", "result")]


def test_checkpoint_reduces_the_saved_residuals_to_its_inputs():
    def chain(x):
        for _ in range(4):
            x = fnp.sin(x)
        return x

    x = np.linspace(0.0, 1.0, 1000)
    plain = fgrad.explain.saved_residuals(lambda x: fnp.sum(chain(x)), x)
    assert plain.nbytes == 3 * 8000  # the input of each sin after the first
    remat = fgrad.checkpoint(chain)
    saved = fgrad.explain.saved_residuals(lambda x: fnp.sum(remat(x)), x)
    (closure,) = [r for r in saved if r.role == "closure"]
    assert closure.primitive == "custom rule (checkpoint)" and closure.argument == "x"
    # nothing else: the entries after a large checkpointed result keep only what they read
    assert saved.nbytes == 0 and len(saved) == 1
    # and the gradients agree
    np.testing.assert_allclose(
        fgrad.grad(lambda x: fnp.sum(remat(x)))(x), fgrad.grad(lambda x: fnp.sum(chain(x)))(x)
    )


# -- item 6: why jit traced again ---------------------------------------------------------


@pytest.fixture
def explain_misses():
    fgrad.config.update("jax_explain_cache_misses", True)
    yield
    fgrad.config.update("jax_explain_cache_misses", False)


def _retraces(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "tracing" in r.getMessage()]


def test_explained_retraces_name_the_argument_that_changed(explain_misses, caplog):
    @fgrad.jit
    def loss(params, x):
        return fnp.sum(params["w"] * x)

    with caplog.at_level("WARNING", logger="fgrad"):
        loss({"w": np.ones(3)}, np.ones(3))
        loss({"w": np.ones(3)}, np.ones(3))  # cached: nothing to explain
        loss({"w": np.ones(3)}, np.ones(3, np.float32))
        loss({"w": np.ones(4)}, np.ones(4))
        loss({"w": np.ones(3)}, [np.ones(3)])
    line = _line_of(test_explained_retraces_name_the_argument_that_changed, "nothing to") + 1
    messages = _retraces(caplog)
    assert len(messages) == 3
    assert messages[0] == (
        f"jit: tracing `loss` again (trace 2, called at test_explain.py:{line} "
        "(test_explained_retraces_name_the_argument_that_changed)): argument `x`: f64[3] "
        "became f32[3]; compared with the closest of the 1 signature it has programs for"
    )
    # against the closest signature: the float64 one, where only the shapes changed
    assert "argument `params['w']`: f64[3] became f64[4]; argument `x`: f64[3] became " \
        "f64[4]; compared with the closest of the 2 signatures" in messages[1]
    assert "a new argument structure" in messages[2]


def test_explained_retraces_of_static_values_and_transforms(explain_misses, caplog):
    power = fgrad.jit(lambda x, n: x**n, static_argnums=1)
    with caplog.at_level("WARNING", logger="fgrad"):
        assert power(2.0, 2) == 4.0
        assert power(2.0, 3) == 8.0
        assert power(2.0, 2.0) == 4.0
        assert fgrad.grad(power)(2.0, 3) == 12.0
    messages = _retraces(caplog)
    assert "static argument `n`: 2 (int) became 3 (int)" in messages[0]
    assert "static argument `n`: 2 (int) became 2.0 (float)" in messages[1]
    assert "a call under grad/vjp" in messages[2]


def test_retraces_are_not_explained_by_default(caplog):
    f = fgrad.jit(lambda x: x * 2.0)
    with caplog.at_level("WARNING", logger="fgrad"):
        f(np.ones(2))
        f(np.ones(3))
    assert _retraces(caplog) == []


def test_graph_gradients_through_multi_result_equations_loops_and_factorisations():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    g = fgrad.explain.graph(lambda A: fnp.sum(fnp.linalg.eigh(A)[0] ** 2), A, grads=True)
    (a_node,) = g.find("A")
    np.testing.assert_allclose(a_node.grad, 2 * A, rtol=1e-12)  # sum(eig^2) = |A|_F^2

    def scanned(x):
        c, ys = fgrad.lax.scan(lambda c, x: (c * x, c + x), 1.0, x)
        return c + fnp.sum(ys)

    x = np.array([1.0, 2.0, 3.0])
    g = fgrad.explain.graph(scanned, x, grads=True)
    # c = x0 x1 x2, ys = (1 + x0, x0 + x1, x0 x1 + x2): closed-form gradient
    expected = [x[1] * x[2] + 1 + 1 + x[1], x[0] * x[2] + 1 + x[0], x[0] * x[1] + 1]
    np.testing.assert_allclose(g.find("x")[0].grad, expected, rtol=1e-12)
    np.testing.assert_allclose(g.find("x")[0].grad, fgrad.grad(scanned)(x), rtol=1e-12)


def test_graph_through_jit_vmap_and_nested_grad():
    jitted = fgrad.jit(lambda x: fnp.sin(x) * 2.0)
    x = np.array([0.1, 0.2, 0.3])
    g = fgrad.explain.graph(lambda x: fnp.sum(jitted(x)), x, grads=True)
    np.testing.assert_allclose(g.find("x")[0].grad, 2 * np.cos(x), rtol=1e-12)
    g = fgrad.explain.graph(lambda x: fnp.sum(fgrad.vmap(fnp.sin)(x)), x, grads=True)
    np.testing.assert_allclose(g.find("x")[0].grad, np.cos(x), rtol=1e-12)
    g = fgrad.explain.graph(lambda x: fgrad.grad(lambda y: fnp.sin(y) * y)(x), 0.5, grads=True)
    np.testing.assert_allclose(g.find("x")[0].grad, 2 * np.cos(0.5) - 0.5 * np.sin(0.5))


def test_explained_retrace_of_a_dropped_program_says_the_cache_was_full(explain_misses, caplog):
    f = fgrad.jit(lambda x: x * 2.0, cache_size=2)
    with caplog.at_level("WARNING", logger="fgrad"):
        for n in (1, 2, 3, 1):  # the program for shape (1,) is dropped by (3,)
            np.testing.assert_array_equal(f(np.ones(n)), 2.0 * np.ones(n))
    messages = _retraces(caplog)
    assert len(messages) == 3
    assert "became f64[3]; compared with the closest of the 2 signatures" in messages[1]
    assert "a signature seen before, whose program was dropped: the cache keeps the 2" \
        in messages[2]
