"""The transforms themselves: grad, value_and_grad, vjp, jvp, make_jaxpr, stop_gradient.

Expected numbers come from closed-form derivatives, central finite differences
in float64 (``tests/helpers.py``) or identities between transforms, never from
fgrad's own output.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re

import numpy as np
import pytest
from helpers import (
    assert_same_structure_shapes_dtypes,
    assert_tree_allclose,
    numerical_grad,
    numerical_jvp,
    random_like,
    tree_vdot,
)

import fgrad
import fgrad.numpy as fnp

RNG = np.random.default_rng(20240601)


# -- grad and value_and_grad: argnums, has_aux, kwargs ---------------------------------


def f3(x, y, z):
    return x**2 * fnp.sin(y) + fnp.exp(z) * y


def f3_partials(x, y, z):
    return (2 * x * math.sin(y), x**2 * math.cos(y) + math.exp(z), math.exp(z) * y)


X, Y, Z = 1.3, -0.4, 0.25


@pytest.mark.parametrize(
    "argnums, expected_positions",
    [
        (0, 0),
        (1, 1),
        (2, 2),
        (-1, 2),
        (-3, 0),
        ((0, 2), (0, 2)),
        ((2, 0), (2, 0)),
        ((-1, 1), (2, 1)),
        ((0, 1, 2), (0, 1, 2)),
    ],
)
def test_grad_argnums(argnums, expected_positions):
    partials = f3_partials(X, Y, Z)
    got = fgrad.grad(f3, argnums=argnums)(X, Y, Z)
    if isinstance(argnums, int):
        assert np.shape(got) == ()
        np.testing.assert_allclose(got, partials[expected_positions], rtol=1e-13)
    else:
        assert isinstance(got, tuple) and len(got) == len(argnums)
        for g, pos in zip(got, expected_positions):
            np.testing.assert_allclose(g, partials[pos], rtol=1e-13)


def test_grad_tuple_argnums_of_length_one_returns_a_tuple():
    got = fgrad.grad(f3, argnums=(1,))(X, Y, Z)
    assert isinstance(got, tuple) and len(got) == 1
    np.testing.assert_allclose(got[0], f3_partials(X, Y, Z)[1], rtol=1e-13)


def test_value_and_grad_matches_value_and_closed_form():
    value, g = fgrad.value_and_grad(f3, argnums=(0, 1, 2))(X, Y, Z)
    np.testing.assert_allclose(value, X**2 * math.sin(Y) + math.exp(Z) * Y, rtol=1e-14)
    np.testing.assert_allclose(g, f3_partials(X, Y, Z), rtol=1e-13)


def test_grad_has_aux_returns_aux_undifferentiated():
    def f(x):
        y = fnp.sum(x**3)
        return y, {"sq": x**2, "label": "cube", "n": 3}

    x = np.array([1.0, -2.0, 0.5])
    g, aux = fgrad.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-14)
    assert aux["label"] == "cube" and aux["n"] == 3
    # aux comes back as concrete values, not tracers
    assert isinstance(aux["sq"], np.ndarray)
    np.testing.assert_allclose(aux["sq"], x**2)


def test_value_and_grad_has_aux_structure():
    def f(x):
        return fnp.sin(x) * 2.0, fnp.cos(x)

    (value, aux), g = fgrad.value_and_grad(f, has_aux=True)(0.3)
    np.testing.assert_allclose(value, 2 * math.sin(0.3), rtol=1e-14)
    np.testing.assert_allclose(aux, math.cos(0.3), rtol=1e-14)
    np.testing.assert_allclose(g, 2 * math.cos(0.3), rtol=1e-14)


def test_kwargs_are_passed_through_and_not_differentiated():
    def f(x, y, *, scale=1.0, power=2):
        return scale * fnp.sum(x**power) + y

    x = np.array([1.0, 2.0, 3.0])
    g = fgrad.grad(f)(x, 5.0, scale=0.5, power=3)
    np.testing.assert_allclose(g, 0.5 * 3 * x**2, rtol=1e-14)
    value, (gx, gy) = fgrad.value_and_grad(f, argnums=(0, 1))(x, 5.0, scale=2.0)
    np.testing.assert_allclose(value, 2.0 * 14.0 + 5.0)
    np.testing.assert_allclose(gx, 4 * x)
    np.testing.assert_allclose(gy, 1.0)


def test_grad_matches_finite_differences_on_a_small_network():
    params = {"W": RNG.normal(size=(4, 3)), "b": RNG.normal(size=3)}
    x = RNG.normal(size=(5, 4))
    y = RNG.normal(size=(5, 3))

    def loss(p, x, y):
        return fnp.mean((fnp.tanh(x @ p["W"] + p["b"]) - y) ** 2)

    assert_tree_allclose(
        fgrad.grad(loss)(params, x, y), numerical_grad(loss, params, x, y), rtol=1e-6, atol=1e-9
    )


# -- vjp ------------------------------------------------------------------------------


def test_vjp_pullback_returns_a_tuple_even_for_one_primal():
    out, pullback = fgrad.vjp(fnp.sin, 0.5)
    np.testing.assert_allclose(out, math.sin(0.5))
    cts = pullback(1.0)
    assert isinstance(cts, tuple) and len(cts) == 1
    np.testing.assert_allclose(cts[0], math.cos(0.5), rtol=1e-15)


def test_vjp_pullback_is_linear_and_callable_many_times():
    a = RNG.normal(size=(3, 4))

    def f(x, y):
        return fnp.tanh(a @ x) * y

    x, y = RNG.normal(size=4), RNG.normal(size=3)
    out, pullback = fgrad.vjp(f, x, y)
    u, w = RNG.normal(size=3), RNG.normal(size=3)
    gu, gw, guw = pullback(u), pullback(w), pullback(u + 2.0 * w)
    for k in range(2):
        np.testing.assert_allclose(guw[k], gu[k] + 2.0 * gw[k], rtol=1e-12, atol=1e-14)
    again = pullback(u)
    for k in range(2):
        np.testing.assert_array_equal(again[k], gu[k])
    # closed form: d/dx = a^T (u * y * (1 - t^2)), d/dy = u * t
    t = np.tanh(a @ x)
    np.testing.assert_allclose(gu[0], a.T @ (u * y * (1 - t**2)), rtol=1e-12)
    np.testing.assert_allclose(gu[1], u * t, rtol=1e-12)


def test_vjp_has_aux():
    out, pullback, aux = fgrad.vjp(lambda x: (fnp.exp(x), {"half": x / 2}), 0.8, has_aux=True)
    np.testing.assert_allclose(out, math.exp(0.8))
    np.testing.assert_allclose(aux["half"], 0.4)
    (g,) = pullback(2.0)
    np.testing.assert_allclose(g, 2.0 * math.exp(0.8), rtol=1e-15)


def test_vjp_pytree_inputs_and_outputs():
    def f(p, x):
        return {"lin": p["w"] * x, "parts": [fnp.sin(p["w"]), fnp.sum(x**2)]}

    p = {"w": RNG.normal(size=3)}
    x = RNG.normal(size=3)
    out, pullback = fgrad.vjp(f, p, x)
    ct = {"lin": RNG.normal(size=3), "parts": [RNG.normal(size=3), 1.5]}
    gp, gx = pullback(ct)
    w = p["w"]
    np.testing.assert_allclose(gp["w"], ct["lin"] * x + ct["parts"][0] * np.cos(w), rtol=1e-13)
    np.testing.assert_allclose(gx, ct["lin"] * w + 1.5 * 2 * x, rtol=1e-13)
    assert_same_structure_shapes_dtypes(gp, p)


def test_grad_equals_vjp_with_unit_cotangent():
    def f(x):
        return fnp.sum(fnp.sin(x) * fnp.exp(-(x**2)))

    x = RNG.normal(size=6)
    out, pullback = fgrad.vjp(f, x)
    np.testing.assert_array_equal(pullback(1.0)[0], fgrad.grad(f)(x))
    np.testing.assert_allclose(out, f(x), rtol=1e-15)


# -- jvp ------------------------------------------------------------------------------


def test_jvp_scalar_closed_form():
    out, t = fgrad.jvp(lambda x: x**3, (2.0,), (0.5,))
    np.testing.assert_allclose(out, 8.0)
    np.testing.assert_allclose(t, 3 * 4.0 * 0.5)


def test_jvp_on_pytrees():
    Point = collections.namedtuple("Point", "a b")

    def f(d, pt):
        return {"s": d["u"] * pt.a, "t": (fnp.sum(d["v"] ** 2) + pt.b, None)}

    d = {"u": RNG.normal(size=3), "v": RNG.normal(size=(2, 2))}
    pt = Point(RNG.normal(size=3), 0.7)
    td = {"u": RNG.normal(size=3), "v": RNG.normal(size=(2, 2))}
    tpt = Point(RNG.normal(size=3), -1.2)
    out, tangent = fgrad.jvp(f, (d, pt), (td, tpt))
    assert_tree_allclose(out, f(d, pt), rtol=1e-15)
    expected = {
        "s": td["u"] * pt.a + d["u"] * tpt.a,
        "t": (np.sum(2 * d["v"] * td["v"]) + tpt.b, None),
    }
    assert_tree_allclose(tangent, expected, rtol=1e-12)
    assert_tree_allclose(tangent, numerical_jvp(f, (d, pt), (td, tpt)), rtol=1e-6, atol=1e-9)


def test_jvp_of_output_that_ignores_input_is_zero():
    out, t = fgrad.jvp(lambda x, y: (x * 2.0, np.ones(2)), (1.0, 3.0), (1.0, 1.0))
    np.testing.assert_allclose(t[0], 2.0)
    np.testing.assert_array_equal(t[1], np.zeros(2))


def _dict_fun(p):
    h = fnp.tanh(p["x"] @ p["W"] + p["b"])
    return {"h": h * fnp.exp(p["s"]), "stats": [fnp.sum(h**2), fnp.max(p["x"], axis=0)]}


def test_jvp_vjp_dot_product_identity_on_dict_of_arrays():
    p = {
        "x": RNG.normal(size=(4, 3)),
        "W": RNG.normal(size=(3, 5)),
        "b": RNG.normal(size=5),
        "s": RNG.normal(size=()),
    }
    v = random_like(RNG, p)
    out, jv = fgrad.jvp(_dict_fun, (p,), (v,))
    u = random_like(RNG, out)
    out2, pullback = fgrad.vjp(_dict_fun, p)
    (ju,) = pullback(u)
    assert_tree_allclose(out2, out, rtol=1e-15)
    np.testing.assert_allclose(tree_vdot(u, jv), tree_vdot(ju, v), rtol=1e-11)
    # and both agree with finite differences
    assert_tree_allclose(jv, numerical_jvp(_dict_fun, (p,), (v,)), rtol=1e-6, atol=1e-8)


# -- higher order -------------------------------------------------------------------------

X0 = 0.7


def _exp_x3_derivs(x):
    e = math.exp(x)
    return [
        e * x**3,
        e * (x**3 + 3 * x**2),
        e * (x**3 + 6 * x**2 + 6 * x),
        e * (x**3 + 9 * x**2 + 18 * x + 6),
        e * (x**3 + 12 * x**2 + 36 * x + 24),
    ]


def _rational_derivs(x):
    # f = 1 / (1 + x^2)
    q = 1 + x**2
    return [
        1 / q,
        -2 * x / q**2,
        (6 * x**2 - 2) / q**3,
        24 * x * (1 - x**2) / q**4,
        24 * (5 * x**4 - 10 * x**2 + 1) / q**5,
    ]


def _sin_derivs(x):
    return [math.sin(x), math.cos(x), -math.sin(x), -math.cos(x), math.sin(x)]


CASES = [
    ("sin", fnp.sin, _sin_derivs),
    ("exp_x3", lambda x: fnp.exp(x) * x**3, _exp_x3_derivs),
    ("rational", lambda x: 1.0 / (1.0 + x * x), _rational_derivs),
]


@pytest.mark.parametrize("name, f, derivs", CASES, ids=[c[0] for c in CASES])
def test_nested_grad_to_fourth_order(name, f, derivs):
    expected = derivs(X0)
    d = f
    for order in range(1, 5):
        d = fgrad.grad(d)
        np.testing.assert_allclose(d(X0), expected[order], rtol=1e-11, err_msg=f"order {order}")


@pytest.mark.parametrize("name, f, derivs", CASES, ids=[c[0] for c in CASES])
def test_nested_jvp_to_fourth_order(name, f, derivs):
    def deriv(g):
        return lambda x: fgrad.jvp(g, (x,), (1.0,))[1]

    expected = derivs(X0)
    d = f
    for order in range(1, 5):
        d = deriv(d)
        np.testing.assert_allclose(d(X0), expected[order], rtol=1e-11, err_msg=f"order {order}")


@pytest.mark.parametrize("name, f, derivs", CASES, ids=[c[0] for c in CASES])
def test_alternating_forward_and_reverse_to_fourth_order(name, f, derivs):
    def fwd(g):
        return lambda x: fgrad.jvp(g, (x,), (1.0,))[1]

    d4 = fwd(fgrad.grad(fwd(fgrad.grad(f))))
    np.testing.assert_allclose(d4(X0), derivs(X0)[4], rtol=1e-11)


def _hvp_fun(x, a):
    return fnp.sum(x**3) + fnp.dot(a, x) ** 2


def test_hessian_vector_products_jvp_of_grad_and_grad_of_jvp():
    x, a, v = RNG.normal(size=4), RNG.normal(size=4), RNG.normal(size=4)
    hess = np.diag(6 * x) + 2 * np.outer(a, a)
    expected = hess @ v
    _, fwd_over_rev = fgrad.jvp(lambda x_: fgrad.grad(_hvp_fun)(x_, a), (x,), (v,))
    rev_over_fwd = fgrad.grad(lambda x_: fgrad.jvp(lambda y: _hvp_fun(y, a), (x_,), (v,))[1])(x)
    _, pullback = fgrad.vjp(lambda x_: fgrad.grad(_hvp_fun)(x_, a), x)
    (rev_over_rev,) = pullback(v)
    for got in (fwd_over_rev, rev_over_fwd, rev_over_rev):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_perturbation_confusion_grad():
    assert fgrad.grad(lambda x: x * fgrad.grad(lambda y: x * y)(2.0))(3.0) == 6.0


def test_perturbation_confusion_jvp():
    def outer(x):
        return x * fgrad.jvp(lambda y: x * y, (2.0,), (1.0,))[1]

    out, t = fgrad.jvp(outer, (3.0,), (1.0,))
    assert out == 9.0 and t == 6.0


def test_perturbation_confusion_mixed_modes():
    # d/dx [x * d/dy (x * y)] = d/dx x^2 = 2x, whichever mode each level uses
    t = fgrad.jvp(lambda x: x * fgrad.grad(lambda y: x * y)(2.0), (3.0,), (1.0,))[1]
    assert t == 6.0
    g = fgrad.grad(lambda x: x * fgrad.jvp(lambda y: x * y, (2.0,), (1.0,))[1])(3.0)
    assert g == 6.0
    # the inner derivative closes over x in a non-linear way: d/dx [x * d/dy sin(x*y)|y=1]
    g = fgrad.grad(lambda x: x * fgrad.grad(lambda y: fnp.sin(x * y))(1.0))(0.5)
    # h(x) = x * x * cos(x) -> h' = 2x cos x - x^2 sin x
    np.testing.assert_allclose(g, 2 * 0.5 * math.cos(0.5) - 0.25 * math.sin(0.5), rtol=1e-14)


# -- Python control flow and side effects ----------------------------------------------------


def _piecewise(x):
    while x < 10.0:
        x = x * 2.0
    if float(x) > 12.0:
        return fnp.sin(x)
    return x * x


def test_python_control_flow_on_values_under_grad():
    # 3 -> 6 -> 12: x_final = 4 x, 12 is not > 12, so f = 16 x^2, f' = 32 x
    np.testing.assert_allclose(fgrad.grad(_piecewise)(3.0), 96.0)
    # 3.5 -> 7 -> 14: f = sin(4 x), f' = 4 cos(4 x)
    np.testing.assert_allclose(fgrad.grad(_piecewise)(3.5), 4 * math.cos(14.0), rtol=1e-14)
    # 20: loop not entered, f = sin x
    np.testing.assert_allclose(fgrad.grad(_piecewise)(20.0), math.cos(20.0), rtol=1e-14)


def test_python_control_flow_on_values_under_jvp_and_nested_grad():
    np.testing.assert_allclose(fgrad.jvp(_piecewise, (3.0,), (1.0,))[1], 96.0)
    # second derivative of 16 x^2 is 32
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(_piecewise))(3.0), 32.0)


def test_print_and_float_inside_grad(capsys):
    def f(x):
        print("value is", float(x))
        print(x)
        return x * x

    assert fgrad.grad(f)(1.5) == 3.0
    captured = capsys.readouterr().out
    assert "value is 1.5" in captured


def test_forward_pass_runs_once():
    calls = []

    def f(x):
        calls.append(1)
        return fnp.sum(fnp.sin(x) ** 2)

    x = RNG.normal(size=3)
    fgrad.grad(f)(x)
    assert len(calls) == 1
    fgrad.value_and_grad(f)(x)
    assert len(calls) == 2
    _, pullback = fgrad.vjp(f, x)
    pullback(1.0)
    pullback(2.0)
    assert len(calls) == 3
    fgrad.jvp(f, (x,), (x,))
    assert len(calls) == 4
    fgrad.grad(fgrad.grad(lambda s: f(x * s)))(0.5)
    assert len(calls) == 5


# -- pytrees in and out ------------------------------------------------------------------

Pair = collections.namedtuple("Pair", "first second")


@dataclasses.dataclass
class Params:
    w: np.ndarray
    b: np.ndarray


@fgrad.register_dataclass(meta_fields=("activation",))
@dataclasses.dataclass
class Layer:
    w: np.ndarray
    activation: str


def _tree_loss(t):
    act = fnp.tanh if t["layer"].activation == "tanh" else fnp.sin
    total = fnp.sum(t["list"][0] ** 2) + fnp.sum(fnp.sin(t["list"][1][0]))
    total = total + t["pair"].first * fnp.sum(t["pair"].second)
    total = total + fnp.sum(t["params"].w @ t["params"].b)
    return total + fnp.sum(act(t["layer"].w)) + 0.0 * fnp.sum(t["unused"])


def _make_tree(dtype=np.float64):
    def r(*shape):
        return RNG.normal(size=shape).astype(dtype)

    return {
        "list": [r(2), (r(3), None)],
        "pair": Pair(r(), r(2, 2)),
        "params": Params(r(2, 3), r(3)),
        "layer": Layer(r(2), "tanh"),
        "unused": r(4),
        "nothing": None,
    }


def test_grad_pytree_structure_shapes_dtypes_and_values():
    tree = _make_tree()
    g = fgrad.grad(_tree_loss)(tree)
    assert_same_structure_shapes_dtypes(g, tree)
    assert type(g["pair"]) is Pair
    assert type(g["params"]) is Params
    assert type(g["layer"]) is Layer and g["layer"].activation == "tanh"
    assert g["list"][1][1] is None and g["nothing"] is None
    assert_tree_allclose(g, numerical_grad(_tree_loss, tree), rtol=1e-6, atol=1e-9)


def test_grad_pytree_float32_leaves_get_float32_grads():
    tree = _make_tree(np.float32)
    g = fgrad.grad(_tree_loss)(tree)
    assert_same_structure_shapes_dtypes(g, tree)
    expected = numerical_grad(_tree_loss, fgrad.tree_map(lambda x: x.astype(np.float64), tree))
    assert_tree_allclose(g, expected, rtol=1e-4, atol=1e-5)


def test_pytree_outputs_of_jvp_and_vjp_keep_containers():
    def f(x):
        return Pair(first=[x * 2.0, None], second={"k": fnp.sin(x)})

    out, t = fgrad.jvp(f, (0.3,), (1.0,))
    assert type(out) is Pair and type(t) is Pair
    assert out.first[1] is None and t.first[1] is None
    np.testing.assert_allclose(t.second["k"], math.cos(0.3))
    out, pullback = fgrad.vjp(f, 0.3)
    (g,) = pullback(Pair(first=[1.0, None], second={"k": 1.0}))
    np.testing.assert_allclose(g, 2.0 + math.cos(0.3), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_dtype_follows_input_dtype(dtype):
    x = np.array([0.5, -1.0, 2.0], dtype=dtype)
    # float64 constants inside promote the computation, but the gradient has x's dtype
    g = fgrad.grad(lambda x: fnp.sum(fnp.sin(x) * np.array([1.0, 2.0, 3.0])))(x)
    assert g.dtype == dtype and g.shape == x.shape
    np.testing.assert_allclose(g, np.cos(x.astype(np.float64)) * [1, 2, 3], rtol=1e-6)
    g32 = fgrad.grad(lambda s: s * s * 2.5)(dtype(1.5))
    assert np.asarray(g32).dtype == dtype and np.shape(g32) == ()
    np.testing.assert_allclose(g32, 7.5)


def test_gradient_of_unused_input_is_zeros_of_its_shape_and_dtype():
    def f(x, y, z):
        return fnp.sum(x**2)

    x = np.ones(3)
    y = np.ones((2, 4), np.float32)
    gx, gy, gz = fgrad.grad(f, argnums=(0, 1, 2))(x, y, 7.0)
    np.testing.assert_array_equal(gx, 2 * x)
    assert gy.shape == (2, 4) and gy.dtype == np.float32
    np.testing.assert_array_equal(gy, 0)
    assert np.shape(gz) == () and np.asarray(gz).dtype == np.float64 and gz == 0
    # a function that ignores its input completely
    np.testing.assert_array_equal(fgrad.grad(lambda x: 3.0)(np.ones(2)), np.zeros(2))


# -- make_jaxpr and eval_jaxpr --------------------------------------------------------


def _jaxpr_fun(x, w):
    return fnp.sum(fnp.tanh(x @ w) * 2.0) + fnp.sum(fnp.exp(x))


def test_make_jaxpr_prints_typed_equations():
    x, w = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    closed = fgrad.make_jaxpr(_jaxpr_fun)(x, w)
    text = str(closed)
    assert text.startswith("{ lambda")
    assert text.rstrip().endswith("}")
    for prim in ("dot_general", "tanh", "mul", "reduce_sum", "exp", "add"):
        assert re.search(rf"= {prim}\b", text), f"{prim} missing from\n{text}"
    for typ in ("f64[3,4]", "f64[4,2]", "f64[3,2]", "f64[]"):
        assert typ in text, f"{typ} missing from\n{text}"
    # each equation line is `name:type = prim ...`
    eqn_lines = [ln for ln in text.splitlines() if " = " in ln]
    assert len(eqn_lines) == len(closed.eqns)
    for ln in eqn_lines:
        assert re.match(r"^\s+[a-z]+:(f|i|u|c)\d+\[[\d,]*\]|^\s+[a-z]+:bool\[", ln), ln
    # the input variables are typed in the header
    assert re.search(r"[a-z]+:f64\[3,4\] [a-z]+:f64\[4,2\]\. let", text)


def test_make_jaxpr_records_float32_and_literals():
    text = str(fgrad.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(np.ones(5, np.float32)))
    assert "f32[5]" in text and "f64" not in text
    assert "2.0" in text


def test_make_jaxpr_prints_index_parameters():
    text = str(fgrad.make_jaxpr(lambda x: x[::-1, None, np.array([0, 0])])(np.ones((2, 3))))
    assert "getitem" in text and "::-1" in text and "None" in text and "[0,0]" in text
    assert "f64[2,1,2]" in text


def test_make_jaxpr_distinguishes_open_slice_from_integer_index():
    sliced = str(fgrad.make_jaxpr(lambda x: x[1:])(np.ones(3)))
    indexed = str(fgrad.make_jaxpr(lambda x: x[1])(np.ones(3)))
    assert "1:" in sliced
    assert sliced.split("getitem")[1].split("]")[0] != indexed.split("getitem")[1].split("]")[0]


def test_closed_jaxpr_call_and_eval_jaxpr_reproduce_the_function():
    x, w = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    closed = fgrad.make_jaxpr(_jaxpr_fun)(x, w)
    x2, w2 = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    expected = np.sum(np.tanh(x2 @ w2) * 2.0) + np.sum(np.exp(x2))
    np.testing.assert_allclose(closed(x2, w2), expected, rtol=1e-14)
    (flat,) = fgrad.eval_jaxpr(closed.jaxpr, closed.consts, x2, w2)
    np.testing.assert_allclose(flat, expected, rtol=1e-14)


def test_closed_jaxpr_keeps_pytrees_and_constants():
    c = np.arange(4.0)

    def f(d):
        return {"y": d["a"] * c, "z": [fnp.sum(d["b"])]}

    closed = fgrad.make_jaxpr(f)({"a": np.ones(4), "b": np.ones((2, 2))})
    assert len(closed.consts) >= 1
    d2 = {"a": RNG.normal(size=4), "b": RNG.normal(size=(2, 2))}
    assert_tree_allclose(closed(d2), {"y": d2["a"] * c, "z": [np.sum(d2["b"])]}, rtol=1e-15)


def test_grad_and_jvp_through_a_closed_jaxpr_equal_those_of_the_function():
    x, w = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    closed = fgrad.make_jaxpr(_jaxpr_fun)(x, w)
    g_fun = fgrad.grad(_jaxpr_fun, argnums=(0, 1))(x, w)
    g_jaxpr = fgrad.grad(closed, argnums=(0, 1))(x, w)
    assert_tree_allclose(g_jaxpr, g_fun, rtol=1e-14)
    assert_tree_allclose(
        g_fun,
        tuple(numerical_grad(_jaxpr_fun, x, w, argnums=k) for k in (0, 1)),
        rtol=1e-6,
        atol=1e-8,
    )
    tx, tw = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    np.testing.assert_allclose(
        fgrad.jvp(closed, (x, w), (tx, tw))[1],
        fgrad.jvp(_jaxpr_fun, (x, w), (tx, tw))[1],
        rtol=1e-13,
    )


def test_make_jaxpr_of_grad_evaluates_to_the_gradient():
    f = lambda x: fnp.sum(fnp.sin(x) ** 2)  # noqa: E731
    x = RNG.normal(size=3)
    closed = fgrad.make_jaxpr(fgrad.grad(f))(x)
    assert "cos" in str(closed)
    x2 = RNG.normal(size=3)
    np.testing.assert_allclose(closed(x2), 2 * np.sin(x2) * np.cos(x2), rtol=1e-14)


# -- long chains: no recursion limits ------------------------------------------------------

N_CHAIN = 40_000


def _mul_chain(x):
    for _ in range(N_CHAIN):
        x = x * 1.0001
    return x


def _sin_chain(x):
    for _ in range(N_CHAIN):
        x = fnp.sin(x)
    return x


def _sin_chain_reference(x0: float) -> tuple[float, float]:
    """Value and derivative of sin composed N_CHAIN times, by the chain rule in plain NumPy."""
    xs = np.empty(N_CHAIN)
    x = x0
    for k in range(N_CHAIN):
        xs[k] = x
        x = math.sin(x)
    return x, float(np.prod(np.cos(xs)))


def test_long_chain_under_grad():
    np.testing.assert_allclose(fgrad.grad(_mul_chain)(1.0), 1.0001**N_CHAIN, rtol=1e-9)
    value, deriv = _sin_chain_reference(0.5)
    v, g = fgrad.value_and_grad(_sin_chain)(0.5)
    np.testing.assert_allclose(v, value, rtol=1e-12)
    np.testing.assert_allclose(g, deriv, rtol=1e-9)


def test_long_chain_under_jvp():
    value, deriv = _sin_chain_reference(0.5)
    v, t = fgrad.jvp(_sin_chain, (0.5,), (1.0,))
    np.testing.assert_allclose(v, value, rtol=1e-12)
    np.testing.assert_allclose(t, deriv, rtol=1e-9)


def test_long_chain_under_make_jaxpr_and_grad_of_the_jaxpr():
    closed = fgrad.make_jaxpr(_sin_chain)(0.5)
    assert len(closed.eqns) == N_CHAIN
    text = str(closed)
    assert text.count("= sin ") == N_CHAIN
    value, deriv = _sin_chain_reference(0.3)
    np.testing.assert_allclose(closed(0.3), value, rtol=1e-12)
    np.testing.assert_allclose(fgrad.grad(closed)(0.3), deriv, rtol=1e-9)


# -- stop_gradient -----------------------------------------------------------------------


def test_stop_gradient_blocks_derivatives_but_keeps_values():
    x = np.array([0.5, 2.0])
    assert_tree_allclose(fgrad.stop_gradient(x), x)
    g = fgrad.grad(lambda x: fnp.sum(x * fgrad.stop_gradient(x)))(x)
    np.testing.assert_allclose(g, x)
    _, t = fgrad.jvp(lambda x: x * fgrad.stop_gradient(x**2), (3.0,), (1.0,))
    np.testing.assert_allclose(t, 9.0)
    assert fgrad.grad(lambda x: fgrad.stop_gradient(x) * 0.0 + fgrad.stop_gradient(x))(1.0) == 0


def test_stop_gradient_in_nested_derivatives():
    # f(x) = x^2 * sg(x): f' = 2 x sg(x), f'' = 2 sg(x) (the sg factor is a constant at every order)
    f = lambda x: x**2 * fgrad.stop_gradient(x)  # noqa: E731
    np.testing.assert_allclose(fgrad.grad(f)(3.0), 18.0)
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(f))(3.0), 6.0)
    # stop_gradient of an outer variable inside an inner grad
    g = fgrad.grad(lambda x: fgrad.grad(lambda y: y * fgrad.stop_gradient(x) * x)(1.0))(2.0)
    np.testing.assert_allclose(g, 2.0)  # d/dx [sg(x) * x] = sg(x)
