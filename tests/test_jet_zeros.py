"""Taylor coefficients known to be zero (``fgrad.transforms.jet_zeros``): every primitive's
rule along series with zero terms (straight paths, gaps, arguments held still, all zero)
against nested ``jvp``; the symbolic path against the dense one (the same series passed
traced, so nothing is known to be zero); integer inputs and pytrees mixing still and
moving leaves; ``jit``, ``vmap`` and ``grad`` around it; ``lax`` control flow; and the
work saved, counted in equations."""

from __future__ import annotations

import math
import warnings
import zlib

import numpy as np
import pytest
from test_jet import JET_CASES, ORDER, _close, _nested_jvp_derivatives, _on_path, _path_terms
from test_primitive_rules import Case, closed_over

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.transforms.jet_zeros import ZERO, as_coefficient, mul, scale, total

# -- every rule along series with zero terms --------------------------------------------------

# which orders (1-based) of each argument's series are nonzero; None: the argument is still
PATTERNS = {
    "straight": lambda n: [(1,)] * n,
    "gaps": lambda n: [(1, 3)] * n,
    "late": lambda n: [(2, 4)] * n,
    "one-moving": lambda n: [(1,)] + [()] * (n - 1),
    "all-zero": lambda n: [()] * n,
}
ROTATED = ["gaps", "late", "one-moving", "all-zero"]


def _sparse_terms(rng, x, nonzero: tuple) -> list:
    """Random terms at the orders in ``nonzero``, concrete arrays of zeros elsewhere."""
    dense = _path_terms(rng, x, ORDER)
    return [t if k + 1 in nonzero else np.zeros_like(t) for k, t in enumerate(dense)]


@pytest.mark.parametrize("c", [c.param() for c in JET_CASES])
def test_rule_with_zero_terms_matches_nested_jvp(c: Case):
    """Each case along the straight path and along one more pattern (drawn by the case's
    id, so that every pattern meets every kind of rule)."""
    args, diff = c.materialize()
    xs = [a for a, d in zip(args, diff) if d]
    f = closed_over(c, args, diff)
    for name in ("straight", ROTATED[zlib.crc32(c.id.encode()) % len(ROTATED)]):
        rng = np.random.default_rng(zlib.crc32((name + c.id).encode()))
        terms = [_sparse_terms(rng, x, p) for x, p in zip(xs, PATTERNS[name](len(xs)))]
        y, series = fgrad.jet(f, tuple(xs), tuple(terms))
        want = _nested_jvp_derivatives(lambda t, ts=terms: f(*_on_path(xs, ts, t)), ORDER)
        single = any(np.asarray(v).dtype in (np.float32, np.complex64) for v in [*xs, y])
        rtol = 2e-3 if single else 1e-8
        for k in range(ORDER):
            _close(series[k], want[k], rtol, f"{name}: order {k + 1}")
            assert np.asarray(series[k]).dtype == np.asarray(want[k]).dtype, name
            assert np.shape(series[k]) == np.shape(want[k]), name


# -- the symbolic path against the dense one --------------------------------------------------


def _workload(x):
    return fnp.sin(x) * fnp.exp(x / 3) + x**3 / (1 + x**2)


FUNCTIONS = [
    ("workload", _workload),
    ("tanh-log-sqrt", lambda x: fnp.tanh(x) * fnp.log(2.0 + x) - fnp.sqrt(1.5 + x * x)),
    ("arctan2-hypot-pow", lambda x: fnp.arctan2(x, 2.0) + fnp.hypot(x, 1.0) + x**2.5),
    ("erf-arcsin-cosh", lambda x: fgrad.scipy.special.erf(x) * fnp.arcsin(x / 2) / fnp.cosh(x)),
    ("digamma (fallback)", lambda x: fgrad.scipy.special.digamma(x + 2.0) * x),
]


def _dense(f, x, terms):
    """``jet`` with the terms passed traced into ``jit``: none is known to be zero."""
    return fgrad.jit(lambda x, terms: fgrad.jet(f, (x,), (terms,)))(x, terms)


@pytest.mark.parametrize("f", [f for _, f in FUNCTIONS], ids=[n for n, _ in FUNCTIONS])
@pytest.mark.parametrize(
    "terms",
    [[1.0] + [0.0] * 9, [0.5, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0], [0.0] * 6],
    ids=["straight", "gaps", "all-zero"],
)
def test_symbolic_zeros_match_dense_series(f, terms):
    x = np.float64(0.6)
    terms = [np.float64(t) for t in terms]
    y, got = fgrad.jet(f, (x,), (terms,))
    y_dense, want = _dense(f, x, terms)
    assert y == pytest.approx(y_dense, rel=1e-14)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a == pytest.approx(b, rel=1e-11, abs=1e-11), f"order {k + 1}"


def test_straight_path_against_closed_form_to_order_12():
    """``g = sin(x) exp(x/3) + x^3/(1+x^2)``: the first term's k-th derivative is
    ``Im[(1/3 + i)^k exp((1/3 + i) x)]``; the second is ``x - x/(1+x^2)``, whose k-th
    derivative (k >= 2) is ``-Re[k! (-1)^k / (x - i)^(k+1)]``."""
    x, order = 0.7, 12
    got = fgrad.taylor_derivatives(_workload, x, order)
    a = complex(1 / 3, 1)
    for k in range(2, order + 1):
        first = (a**k * np.exp(a * x)).imag
        second = -(math.factorial(k) * (-1) ** k / complex(x, -1) ** (k + 1)).real
        assert got[k] == pytest.approx(first + second, rel=1e-10), f"order {k}"


# -- zeros, integers, pytrees ------------------------------------------------------------------


def test_all_zero_series_gives_zero_arrays_of_the_outputs_types():
    x = np.array([0.5, 1.5], dtype=np.float32)
    y, series = fgrad.jet(
        lambda x: {"v": fnp.exp(x) * x, "s": fnp.sum(fnp.sin(x)), "n": fnp.argmax(x)},
        (x,),
        ([np.zeros(2, np.float32)] * 3,),
    )
    for k in range(3):
        for key, want in (("v", (2,)), ("s", ())):
            assert np.shape(series[key][k]) == want and not np.any(series[key][k])
            assert np.asarray(series[key][k]).dtype == np.float32
        assert not np.any(series["n"][k])
    np.testing.assert_allclose(y["v"], np.exp(x) * x, rtol=1e-6)


def test_integer_inputs():
    """An integer argument's terms are integers; zero terms are known to be zero."""
    f = lambda x: x * 3 + x * x  # noqa: E731
    y, series = fgrad.jet(f, (np.int64(2),), ([np.int64(1), np.int64(0), np.int64(0)],))
    assert y == 10 and [float(s) for s in series] == [7.0, 2.0, 0.0]
    _, series = fgrad.jet(f, (np.int64(2),), ([np.int64(0), np.int64(1), np.int64(0)],))
    assert [float(s) for s in series] == [0.0, 7.0, 0.0]  # x(t) = 2 + t^2/2
    _, series = fgrad.jet(f, (np.int64(2),), ([np.int64(0)] * 2,))
    assert [float(s) for s in series] == [0.0, 0.0]
    # an integer leaf held still beside a moving float leaf
    p = {"n": np.int64(3), "x": np.float64(0.5)}
    terms = [{"n": np.int64(0), "x": np.float64(1.0)}, {"n": np.int64(0), "x": np.float64(0.0)}]
    _, series = fgrad.jet(lambda p: p["x"] ** p["n"] + p["n"], (p,), (terms,))
    assert series[0] == pytest.approx(3 * 0.5**2) and series[1] == pytest.approx(6 * 0.5)


def test_pytree_leaves_mixing_zero_and_nonzero_series():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.5, 1.5, 3), np.float64(0.8)
    v, w = rng.standard_normal(3), np.float64(-0.6)

    def f(p):
        return {"u": fnp.sum(fnp.log(p["a"]) * fnp.sin(p["b"] * p["a"])), "b": p["b"] ** 3}

    cases = {
        "b still": [{"a": v, "b": 0.0 * w}, {"a": 0.0 * v, "b": 0.0 * w}, {"a": v, "b": 0.0 * w}],
        "a straight, b curved": [
            {"a": v, "b": 0.0 * w}, {"a": 0.0 * v, "b": w}, {"a": 0.0 * v, "b": 0.0 * w}
        ],
    }
    for name, terms in cases.items():
        _, series = fgrad.jet(f, ({"a": a, "b": b},), (terms,))

        def on_path(t, terms=terms):
            p = _on_path([a, b], [[s["a"] for s in terms], [s["b"] for s in terms]], t)
            return f({"a": p[0], "b": p[1]})

        for key in ("u", "b"):
            want = _nested_jvp_derivatives(lambda t, key=key: on_path(t)[key], 3)
            for k in range(3):
                assert series[key][k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), (name, key, k)


# -- jit, vmap, grad -----------------------------------------------------------------------------


def test_jit_vmap_grad_of_jet_on_straight_paths():
    f, order = _workload, 6
    xs = np.linspace(-0.5, 1.2, 4)
    want = np.array([fgrad.taylor_derivatives(f, x, order)[1:] for x in xs])
    series = ([1.0] + [0.0] * (order - 1),)
    jitted = fgrad.jit(lambda x: fgrad.jet(f, (x,), series)[1])
    np.testing.assert_allclose([jitted(x) for x in xs], want, rtol=1e-12)
    batched = fgrad.vmap(lambda x: fgrad.jet(f, (x,), series)[1])(xs)
    np.testing.assert_allclose(np.array(batched).T, want, rtol=1e-12)
    # a batched direction beside concrete zero terms: [v, 0, ...] gives v^k f^(k)
    vs = np.array([1.0, -2.0, 0.5, 3.0])
    along = fgrad.vmap(lambda x, v: fgrad.jet(f, (x,), ([v] + [0.0] * (order - 1),))[1])(xs, vs)
    powers = vs[:, None] ** np.arange(1, order + 1)
    np.testing.assert_allclose(np.array(along).T, want * powers, rtol=1e-12)
    # d/dx of the k-th derivative is the (k+1)-th, through the symbolic zeros; and under jit
    d5 = fgrad.grad(lambda x: fgrad.jet(f, (x,), ([1.0] + [0.0] * 4,))[1][4])
    for x, row in zip(xs, want):
        assert d5(x) == pytest.approx(row[5], rel=1e-10)
        assert fgrad.jit(d5)(x) == pytest.approx(row[5], rel=1e-10)


def test_grad_through_a_parameter_of_a_still_argument():
    """``w`` enters as a second argument held still (an all-zero series)."""

    def second(w, x):
        _, s = fgrad.jet(lambda w, x: fnp.sum(fnp.tanh(w * x)), (w, x), ([0 * w] * 2, [1.0, 0.0]))
        return s[1]

    w = np.array([0.3, -0.7, 1.1])
    want = fgrad.grad(
        lambda w: fgrad.grad(fgrad.grad(lambda x: fnp.sum(fnp.tanh(w * x))))(0.4) ** 2
    )(w)
    np.testing.assert_allclose(fgrad.grad(lambda w: second(w, 0.4) ** 2)(w), want, rtol=1e-11)


# -- control flow ---------------------------------------------------------------------------------


def _two_operand_cond(x, y):
    return lax.cond(x > 0, lambda x, y: fnp.sin(x) * y + y**2, lambda x, y: fnp.exp(x * y), x, y)


@pytest.mark.parametrize("x", [0.7, -0.4])
def test_cond_with_still_and_curved_operands(x):
    """The staged ``cond`` receives only the coefficients not known to be zero; eager (the
    branch run in Python) and jitted (the cond rule) agree with nested jvp."""
    y = np.float64(1.3)
    terms = ([1.0, 0.0, -0.5, 0.0], [0.0, 0.0, 0.0, 0.0])
    curved = ([0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0])
    for xt, yt in (terms, curved):
        series = ([np.float64(t) for t in xt], [np.float64(t) for t in yt])
        eager = fgrad.jet(_two_operand_cond, (x, y), series)[1]
        jitted = fgrad.jit(lambda x, y, s=series: fgrad.jet(_two_operand_cond, (x, y), s)[1])
        want = _nested_jvp_derivatives(
            lambda t, s=series: _two_operand_cond(*_on_path([x, y], list(s), t)), 4
        )
        np.testing.assert_allclose(eager, want, rtol=1e-9)
        np.testing.assert_allclose(jitted(x, y), want, rtol=1e-9)


def test_jet_keeps_a_quiet_cond_quiet():
    """``vmap`` of a ``cond`` on a batched predicate records a one-branch ``cond`` marked
    ``quiet`` (every example runs the branch that takes ``sqrt`` of negatives too, and the
    floating-point warnings are silenced); a ``jet`` over it records it quiet again."""

    def f(x):
        return lax.cond(x > 0, fnp.sqrt, lambda x: -x, x)

    xs = np.array([4.0, -1.0])
    staged = fgrad.jit(fgrad.vmap(f))
    series = ([np.ones(2), np.zeros(2)],)
    jaxpr = fgrad.make_jaxpr(lambda x: fgrad.jet(staged, (x,), series))(xs).jaxpr
    conds = [e for e in jaxpr.eqns if e.prim.name == "cond"]
    assert len(conds) == 1 and conds[0].params["quiet"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for run in (
            lambda: fgrad.jet(staged, (xs,), series),
            lambda: fgrad.jit(lambda x: fgrad.jet(staged, (x,), series))(xs),
        ):
            y, (d1, d2) = run()
            np.testing.assert_allclose(y, [2.0, 1.0])
            np.testing.assert_allclose(d1, [0.25, -1.0])  # sqrt' = 1 / (2 sqrt)
            np.testing.assert_allclose(d2, [-1.0 / 32.0, 0.0])  # sqrt'' = -x^(-3/2) / 4


# -- the work saved ----------------------------------------------------------------------------


def _equations(f, terms) -> int:
    return len(fgrad.make_jaxpr(lambda x: fgrad.jet(f, (x,), (terms,)))(0.7).jaxpr.eqns)


def _straight(order: int) -> list:
    return [1.0] + [0.0] * (order - 1)


@pytest.mark.parametrize(
    "name,f,per_order",
    [("exp", fnp.exp, 2), ("sin", fnp.sin, 3), ("log", fnp.log, 3), ("x/3", lambda x: x / 3, 1)],
)
def test_straight_path_costs_a_few_operations_per_order(name, f, per_order):
    """Along ``[1, 0, ..., 0]`` a unary rule does O(1) operations per order (its
    recurrence has one nonzero term, with the 1/k folded in), plus the conversion of each
    result to a derivative (times k!); a series whose every term is traced costs O(K^2)."""
    for order in (4, 8, 12):
        assert _equations(f, _straight(order)) <= per_order * order + 2, (name, order)


def test_the_workload_grows_about_quadratically_and_far_below_the_dense_series():
    """``g``'s product ``sin * exp`` is a full Cauchy product (O(K^2)); the rest is O(K)."""
    counts = {k: _equations(_workload, _straight(k)) for k in (4, 8, 12)}
    dense = len(
        fgrad.make_jaxpr(lambda x, t: fgrad.jet(_workload, (x,), (t,)))(0.7, [0.0] * 8).jaxpr.eqns
    )
    assert counts[8] < dense / 2
    # t(12) / t(8) <= (12 / 8)^2 (quadratic growth) + slack for the linear part
    assert counts[12] / counts[8] <= 2.25 + 0.1, counts


# -- the arithmetic itself ---------------------------------------------------------------------


def test_zero_arithmetic():
    a = np.float64(2.0)
    assert as_coefficient(np.zeros(3)) is ZERO and as_coefficient(np.float32(0.0)) is ZERO
    assert as_coefficient(np.array([0.0, 1.0])) is not ZERO
    assert mul(ZERO, a) is ZERO and mul(a, ZERO) is ZERO and mul(a, a) == 4.0
    assert scale(ZERO, 3.0) is ZERO and scale(a, 0) is ZERO and scale(a, 1) is a
    assert total([ZERO, ZERO]) is ZERO and total([ZERO, a, ZERO, a]) == 4.0
