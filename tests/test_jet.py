"""Taylor mode (``fgrad.jet``): every primitive's rule against nested ``jvp``, closed
forms to order 12, and ``jet`` under ``jit``, ``vmap``, ``grad`` and through ``lax``
control flow, against the eager result and against nested derivatives."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import import_file
from test_primitive_rules import DIFF_CASES, Case, closed_over

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core.primitive import registry
from fgrad.core.rules import jet_rules
from fgrad.transforms.jet import jet_flat

# -- the rule harness: every differentiable primitive against nested jvp -------------------

ORDER = 4


def _nested_jvp_derivatives(h, order: int) -> list:
    """``[h'(0), ..., h^(order)(0)]`` of a function of a scalar ``t``, by nested ``jvp``."""
    out, g = [], h
    for _ in range(order):
        g = _derivative_of(g)
        out.append(g(np.float64(0.0)))
    return out


def _derivative_of(g):
    return lambda t: fgrad.jvp(g, (t,), (np.float64(1.0),))[1]


def _path_terms(rng, x, order: int) -> list:
    """Random derivatives of a path through ``x`` (every order nonzero)."""
    terms = []
    for _ in range(order):
        v = rng.standard_normal(np.shape(x))
        if np.iscomplexobj(x):
            v = v + 1j * rng.standard_normal(np.shape(x))
        terms.append(np.asarray(v, dtype=x.dtype))
    return terms


def _on_path(xs: list, terms: list, t):
    """``x(t) = x + sum_k terms[k] t^(k+1) / (k+1)!`` for each argument."""
    out = []
    for x, ts in zip(xs, terms):
        p = x
        for k, d in enumerate(ts):
            p = p + d * (t ** (k + 1) / math.factorial(k + 1))
        out.append(p)
    return out


def _close(got, want, rtol: float, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


JET_CASES = [c for c in DIFF_CASES if c.second_order and not c.prim.multiple_results]


@pytest.mark.parametrize("c", [c.param() for c in JET_CASES])
def test_rule_matches_nested_jvp(c: Case):
    args, diff = c.materialize()
    xs = [a for a, d in zip(args, diff) if d]
    rng = np.random.default_rng(zlib.crc32(("jet" + c.id).encode()))
    terms = [_path_terms(rng, x, ORDER) for x in xs]
    f = closed_over(c, args, diff)
    y, series = fgrad.jet(f, tuple(xs), tuple(terms))
    want = _nested_jvp_derivatives(lambda t: f(*_on_path(xs, terms, t)), ORDER)
    single = any(np.asarray(v).dtype in (np.float32, np.complex64) for v in [*xs, y])
    rtol = 2e-3 if single else 1e-8
    _close(y, f(*xs), rtol, "primal")
    for k in range(ORDER):
        _close(series[k], want[k], rtol, f"order {k + 1}")
        assert np.asarray(series[k]).dtype == np.asarray(want[k]).dtype


def test_every_differentiable_primitive_is_checked():
    """The harness covers every primitive with a Taylor rule (the others use the fallback,
    which the same harness checks)."""
    checked = {c.prim for c in JET_CASES}
    loops = {"cond", "scan", "while_loop"}
    missing = [p.name for p in jet_rules if p not in checked and p.name not in loops]
    assert not missing


# -- closed forms, to order 12 -------------------------------------------------------------


def _unit_series(order: int) -> tuple:
    return ([1.0] + [0.0] * (order - 1),)


CLOSED_FORMS = [
    ("exp", fnp.exp, 0.3, lambda k, x: math.exp(x)),
    ("sin", fnp.sin, 0.7, lambda k, x: math.sin(x + k * math.pi / 2)),
    ("cos", fnp.cos, -1.1, lambda k, x: math.cos(x + k * math.pi / 2)),
    ("log", fnp.log, 1.7, lambda k, x: (-1) ** (k - 1) * math.factorial(k - 1) / x**k),
    ("reciprocal", lambda x: 1.0 / (1.0 - x), 0.2,
     lambda k, x: math.factorial(k) / (1 - x) ** (k + 1)),
    ("sqrt", fnp.sqrt, 2.5, lambda k, x: math.prod(0.5 - j for j in range(k)) * x ** (0.5 - k)),
    ("power", lambda x: x**2.5, 1.3,
     lambda k, x: math.prod(2.5 - j for j in range(k)) * x ** (2.5 - k)),
    ("exp2x", lambda x: fnp.exp(2 * x), 0.1, lambda k, x: 2.0**k * math.exp(2 * x)),
    ("sinh", fnp.sinh, 0.4, lambda k, x: math.cosh(x) if k % 2 else math.sinh(x)),
    ("cosh", fnp.cosh, 0.4, lambda k, x: math.sinh(x) if k % 2 else math.cosh(x)),
    ("log1p", fnp.log1p, 0.5, lambda k, x: (-1) ** (k - 1) * math.factorial(k - 1) / (1 + x) ** k),
    ("expm1", fnp.expm1, -0.2, lambda k, x: math.exp(x)),
    ("x^7 at 0", lambda x: x**7, 0.0, lambda k, x: 5040.0 if k == 7 else 0.0),
]


@pytest.mark.parametrize("name,f,x,derivative", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_closed_forms_to_order_12(name, f, x, derivative):
    order = 12
    y, series = fgrad.jet(f, (x,), _unit_series(order))
    for k in range(1, order + 1):
        want = derivative(k, x)
        assert series[k - 1] == pytest.approx(want, rel=1e-9, abs=1e-9), f"{name} order {k}"


def _nested_workload(x):
    return fnp.sin(x) * fnp.exp(x / 3) + x**3 / (1 + x**2)


@pytest.mark.parametrize(
    "f",
    [
        _nested_workload,
        lambda x: fnp.tanh(x) * fnp.arctan(x) - fnp.tan(0.3 * x),
        lambda x: fgrad.nn.sigmoid(x) + fnp.arcsinh(x) * fnp.cbrt(x + 2.0),
        lambda x: fgrad.scipy.special.erf(x) * fnp.arcsin(x / 3) + fnp.arctanh(x / 2),
        lambda x: fnp.arctan2(fnp.sin(x), 1.5 + x) + fnp.hypot(x, 2.0 * x + 1.0),
        lambda x: fnp.power(fnp.exp(x), x) + fnp.power(2.0, x) + fnp.arccos(x / 4),
    ],
    ids=["nested-workload", "tanh-arctan-tan", "sigmoid-arcsinh-cbrt", "erf-arcsin-arctanh",
         "arctan2-hypot", "pow"],
)
def test_all_orders_match_nested_grad(f):
    """One jet of order 8 against 8 nested ``grad``s (float64)."""
    x, order = 0.7, 8
    got = fgrad.taylor_derivatives(f, x, order)
    g = f
    assert got[0] == pytest.approx(f(x), rel=1e-12)
    for k in range(1, order + 1):
        g = fgrad.grad(g)
        assert got[k] == pytest.approx(g(x), rel=1e-9, abs=1e-9), f"order {k}"


def test_order_12_against_nested_jvp_on_a_path():
    """A curved input path (every order nonzero), to order 12."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, size=3)
    terms = [rng.standard_normal(3) for _ in range(12)]

    def f(x):
        return fnp.sum(fnp.exp(-x) * fnp.sin(2 * x)) + fnp.log(fnp.sum(x * x))

    y, series = fgrad.jet(f, (x,), (terms,))
    # nested jvp of depth 12 is 4096 evaluations: lower it with jet's own result at order 6
    want = _nested_jvp_derivatives(lambda t: f(*_on_path([x], [terms], t)), 6)
    for k in range(6):
        assert series[k] == pytest.approx(want[k], rel=1e-9)
    # orders 7-12: the 6th derivative of (the 6th derivative along the path), by jet of jet
    def sixth(t):
        return fgrad.jet(lambda s: f(*_on_path([x], [terms], s)), (t,), _unit_series(6))[1][5]

    _, high = fgrad.jet(sixth, (np.float64(0.0),), _unit_series(6))
    for k in range(6):
        assert series[6 + k] == pytest.approx(high[k], rel=1e-8)


# -- the API -------------------------------------------------------------------------------


def test_pytrees_in_and_out():
    params = {"a": np.array([1.0, 2.0]), "b": np.float64(0.5)}
    terms = [
        {"a": np.array([1.0, 0.0]), "b": np.float64(1.0)},
        {"a": np.zeros(2), "b": np.float64(0.0)},
    ]

    def f(p):
        return {"s": fnp.sum(p["a"] * p["b"]), "pair": (p["a"] ** 2, p["b"])}

    y, series = fgrad.jet(f, (params,), (terms,))
    assert y["s"] == pytest.approx(1.5)
    # s(t) = (1 + t + 2) (0.5 + t) = 1.5 + 3.5 t + t^2
    assert series["s"][0] == pytest.approx(3.5) and series["s"][1] == pytest.approx(2.0)
    np.testing.assert_allclose(series["pair"][0][0], [2.0, 0.0])  # a0^2: 2 a0 a0'
    np.testing.assert_allclose(series["pair"][0][1], [2.0, 0.0])  # 2 a0'^2
    assert series["pair"][1] == [1.0, 0.0]


def test_constant_outputs_have_zero_series():
    y, series = fgrad.jet(lambda x: (x * 2, np.ones(3)), (1.0,), ([1.0, 0.0],))
    np.testing.assert_array_equal(series[1][0], np.zeros(3))
    assert series[0] == [2.0, 0.0]


def test_order_zero():
    y, series = fgrad.jet(fnp.exp, (1.0,), ([],))
    assert y == pytest.approx(math.e) and series == []


def test_directional_derivative():
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    got = fgrad.directional_derivative(lambda x: fnp.sum(x**4), x, v, 4)
    assert got == pytest.approx(24 * np.sum(v**4), rel=1e-12)
    f = lambda x: fnp.sum(fnp.sin(x) * x[::-1])  # noqa: E731
    quad = fgrad.directional_derivative(f, x, v, 2)
    assert quad == pytest.approx(v @ fgrad.hessian(f)(x) @ v, rel=1e-10)
    vec = fgrad.directional_derivative(lambda x: {"y": fnp.exp(x)}, x, v, 3)
    np.testing.assert_allclose(vec["y"], np.exp(x) * v**3, rtol=1e-12)


def test_taylor_derivatives_elementwise_on_arrays():
    x = np.array([0.1, 0.5, 2.0])
    ds = fgrad.taylor_derivatives(fnp.exp, x, 5)
    for d in ds:
        np.testing.assert_allclose(d, np.exp(x), rtol=1e-13)


@pytest.mark.parametrize(
    "primals,series,match",
    [
        ((1.0,), ([1.0], [0.0]), "2 series"),
        ((1.0, 2.0), ([1.0], [1.0, 0.0]), "same length"),
        ((np.ones(2),), ([np.ones(3)],), "shape"),
        ((np.ones(2),), ([np.ones(2, np.float32)],), "dtype"),
        ((1.0,), (1.0,), "list of derivative terms"),
    ],
)
def test_errors_name_the_problem(primals, series, match):
    with pytest.raises(fgrad.TransformError, match=match):
        fgrad.jet(fnp.sin, primals, series)


# -- composition ---------------------------------------------------------------------------

SERIES5 = _unit_series(5)


def _jet_terms(f, x):
    return np.array(fgrad.jet(f, (x,), SERIES5)[1])


def _nested(f, x, order=5):
    out, g = [], f
    for _ in range(order):
        g = fgrad.grad(g)
        out.append(g(x))
    return np.array(out)


def _staged(f):
    return fgrad.make_jaxpr(lambda x: fgrad.jet(f, (x,), SERIES5))(0.7).jaxpr


def test_jit_of_jet_matches_eager_and_compiles_once():
    f = _nested_workload
    jitted = fgrad.jit(lambda x: fgrad.jet(f, (x,), SERIES5))
    for x in (0.3, -1.2):
        np.testing.assert_allclose(np.array(jitted(x)[1]), _jet_terms(f, x), rtol=1e-13)
    # the jitted program has no trace of jet left: only primitives on its inputs
    names = {e.prim.name for e in _staged(f).eqns}
    # (convert_element_type: Python's arithmetic on the weakly typed 0.7 gives Python numbers)
    assert names <= {"sin", "cos", "exp", "mul", "div", "add", "sub", "neg", "pow",
                     "convert_element_type"}  # fmt: skip


def test_vmap_of_jet_matches_loop():
    xs = np.linspace(-1.0, 1.5, 5)
    f = lambda x: fnp.tanh(x) * fnp.exp(-x * x)  # noqa: E731
    batched = fgrad.vmap(lambda x: fgrad.jet(f, (x,), SERIES5)[1])(xs)
    np.testing.assert_allclose(np.array(batched).T, [_jet_terms(f, x) for x in xs], rtol=1e-13)
    # jet of a vmapped function: the same numbers
    v = fgrad.jet(fgrad.vmap(f), (xs,), ([np.ones(5)] + [np.zeros(5)] * 4,))[1]
    np.testing.assert_allclose(np.array(v).T, [_jet_terms(f, x) for x in xs], rtol=1e-13)


def test_grad_of_a_function_using_jet():
    """A loss on a second derivative, differentiated: what physics-informed training does."""
    w = np.array([0.3, -0.7, 1.1])

    def second(w, x):
        return fgrad.jet(lambda x: fnp.sum(fnp.tanh(w * x) * w), (x,), ([1.0, 0.0],))[1][1]

    def by_nested(w, x):
        return fgrad.grad(fgrad.grad(lambda x: fnp.sum(fnp.tanh(w * x) * w)))(x)

    g = fgrad.grad(lambda w: second(w, 0.4) ** 2)(w)
    want = fgrad.grad(lambda w: by_nested(w, 0.4) ** 2)(w)
    np.testing.assert_allclose(g, want, rtol=1e-11)
    jg = fgrad.jit(fgrad.grad(lambda w: second(w, 0.4) ** 2))(w)
    np.testing.assert_allclose(jg, want, rtol=1e-11)


def test_jet_of_jit_custom_jvp_and_checkpoint():
    @fgrad.custom_jvp
    def softplus(x):
        return fnp.log1p(fnp.exp(x))

    softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] * fgrad.nn.sigmoid(p[0])))
    f = lambda x: softplus(x) * fnp.sin(x)  # noqa: E731
    plain = lambda x: fnp.log1p(fnp.exp(x)) * fnp.sin(x)  # noqa: E731
    want = _nested(plain, 0.4)
    np.testing.assert_allclose(_jet_terms(f, 0.4), want, rtol=1e-10)
    np.testing.assert_allclose(_jet_terms(fgrad.jit(plain), 0.4), want, rtol=1e-10)
    np.testing.assert_allclose(_jet_terms(fgrad.checkpoint(plain), 0.4), want, rtol=1e-10)


def test_jet_of_jet():
    inner = lambda x: fgrad.jet(fnp.sin, (x,), ([1.0, 0.0],))[1][1]  # -sin  # noqa: E731
    got = _jet_terms(inner, 0.3)
    np.testing.assert_allclose(got, -_nested(fnp.sin, 0.3), rtol=1e-12)


# -- control flow: eager (Python loops) and staged (the loop rules) -------------------------


def _f_cond(x):
    return lax.cond(x > 0, lambda x: fnp.sin(x) * x, lambda x: fnp.exp(x), x)


def _f_switch(x):
    return lax.switch(fnp.argmax(fnp.array([x, 0.5])), [fnp.cos, lambda x: x**3], x)


def _f_scan(x):
    def step(c, a):
        c = fnp.sin(c) * a + x
        return c, c * c

    c, ys = lax.scan(step, 0.3, fnp.array([1.0, 2.0, 0.5]))
    return c + ys.sum()


def _f_fori(x):
    return lax.fori_loop(0, 3, lambda i, y: y * fnp.cos(y + x), x)


def _f_while(x):
    # the trip count depends on x's value: staged under jit
    def body(s):
        y, n = s
        return y * 1.5 + fnp.sin(x) * 0.1, n + 1

    return lax.while_loop(lambda s: s[0] < 10.0, body, (x * x + 1.0, 0))[0]


LOOPS = [_f_cond, _f_switch, _f_scan, _f_fori, _f_while]


@pytest.mark.parametrize("f", LOOPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("x", [0.7, -0.4])
def test_control_flow_eager_and_jitted(f, x):
    eager = _jet_terms(f, x)
    np.testing.assert_allclose(eager, _nested(f, x), rtol=1e-10, atol=1e-12)
    jitted = fgrad.jit(lambda x: fgrad.jet(f, (x,), SERIES5))(x)
    np.testing.assert_allclose(np.array(jitted[1]), eager, rtol=1e-12, atol=1e-13)
    assert jitted[0] == pytest.approx(f(x), rel=1e-14)


@pytest.mark.parametrize("f", [_f_cond, _f_scan, _f_while], ids=lambda f: f.__name__)
def test_staged_control_flow_stays_one_primitive(f):
    """Under jit the loop or branch stays one equation (the rule ran the body under jet)."""
    names = [e.prim.name for e in _staged(f).eqns]
    assert sum(n in ("cond", "scan", "while_loop") for n in names) == 1


def test_vmap_of_jet_through_staged_control_flow():
    xs = np.array([0.7, -0.4, 1.3])
    for f in LOOPS:
        want = [_jet_terms(f, x) for x in xs]
        for transform in (fgrad.vmap, lambda g: fgrad.jit(fgrad.vmap(g))):
            got = transform(lambda x, f=f: fgrad.jet(f, (x,), SERIES5)[1])(xs)
            np.testing.assert_allclose(np.array(got).T, want, rtol=1e-12)


def test_fallback_runs_one_order_lower():
    """A primitive without a rule (digamma) is expanded by integrating its jvp; its own
    rule's primitives (polygamma) go through the fallback again."""
    special = pytest.importorskip("scipy.special")
    assert registry["digamma"] not in jet_rules
    f = fgrad.scipy.special.digamma
    got = fgrad.taylor_derivatives(f, 1.7, 6)
    for k in range(1, 7):
        assert got[k] == pytest.approx(special.polygamma(k, 1.7), rel=1e-10)


def test_jet_trace_is_named_in_tracer_repr():
    seen = []
    fgrad.jet(lambda x: seen.append(repr(x)) or x, (1.0,), ([1.0],))
    assert "under jet (order 1)" in seen[0]


def test_jet_flat_gives_zero_series_to_constants():
    out = jet_flat(lambda x: [x * 2.0, np.float64(3.0)], [[np.float64(1.0), np.float64(1.0)]], 1)
    assert out[0] == [2.0, 2.0] and out[1] == [3.0, 0.0]


# -- the examples ----------------------------------------------------------------------------


def _example(name: str):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    return import_file(path, f"example_{name}")


def test_taylor_ode_example_matches_solve_ivp(capsys):
    pytest.importorskip("scipy")
    result = _example("taylor_ode").main(["--order", "16", "--tol", "1e-13"])
    assert result["taylor_error"] < 1e-11  # back at the start after one period
    assert result["taylor_energy_drift"] < 1e-12
    assert result["difference"] < 1e-9


def test_pinn_example_learns_the_solution(tmp_path, capsys):
    result = _example("pinn_bvp").main(["--steps", "1500", "--plot", str(tmp_path / "p.png")])
    assert result["loss"][-1] < 1e-4 * result["loss"][0]
    assert result["error"] < 2e-3


@pytest.mark.parametrize(
    "f",
    [
        lambda a: fnp.linalg.slogdet(a)[1],
        lambda a: fnp.sum(fnp.linalg.eigh(a)[0] ** 3),
        lambda a: fnp.sum(fnp.linalg.svd(a, compute_uv=False)),
        lambda a: fnp.sum(fnp.linalg.inv(a) @ a[0]),
    ],
    ids=["slogdet", "eigh", "svd", "inv"],
)
def test_factorisations_through_the_fallback(f):
    """Multi-output primitives (LAPACK factorisations) are expanded through the
    ``custom_jvp`` function that carries their rules."""
    rng = np.random.default_rng(3)
    b = rng.standard_normal((3, 3))
    a = b @ b.T + 3 * np.eye(3)
    v = rng.standard_normal((3, 3))
    v = v + v.T
    _, series = fgrad.jet(f, (a,), ([v, np.zeros((3, 3)), np.zeros((3, 3))],))
    want = _nested_jvp_derivatives(lambda t: f(a + t * v), 3)
    np.testing.assert_allclose(series, want, rtol=1e-8, atol=1e-10)
