"""What the reverse-mode tape keeps, and gradients as arrays of their own.

* Every vjp rule that declares what it reads (``defvjp(..., reads=...)``) gives, with the
  tape keeping only that, bit for bit the gradients it gives with the tape keeping every
  value: for every case of the rule harness (``test_primitive_rules.CASES``) and every
  set of traced arguments (``x * c`` keeps ``c`` but not ``x``), first and second order.
* The tape holds no value no rule reads, checked on the arrays themselves (weak
  references to intermediate results) and by the peak memory ``tracemalloc`` measures.
* Gradients (``vjp``, ``grad``, ``value_and_grad``, ``jacrev``, ``jacfwd``) are writeable
  NumPy arrays sharing memory with no other gradient, input or given cotangent.
"""

from __future__ import annotations

import gc
import itertools
import tracemalloc
import weakref

import numpy as np
import pytest
from test_primitive_rules import DIFF_CASES, Case, _normal_like, closed_over

import fgrad
import fgrad.numpy as fnp
from fgrad.core import rules as rules_table
from fgrad.core.abstract import ShapedArray
from fgrad.core.trace_stack import new_trace
from fgrad.primitives.elementwise import mul_p
from fgrad.primitives.special import erf
from fgrad.transforms import reverse_mode

DECLARED = [c for c in DIFF_CASES if c.prim in rules_table.vjp_reads]


@pytest.fixture
def keep_nothing_extra(monkeypatch):
    """Every value no rule reads is dropped, however small (normally only those > 4 KiB)."""
    monkeypatch.setattr(reverse_mode, "SMALL_VALUE_BYTES", -1)


def _keeping_everything(monkeypatch):
    """The tape as it was before the declarations: every input and result kept."""
    monkeypatch.setattr(reverse_mode, "single_plans", {})


def _traced_subsets(c: Case):
    args, diff = c.materialize()
    positions = [i for i, d in enumerate(diff) if d]
    for r in range(1, len(positions) + 1):
        for subset in itertools.combinations(positions, r):
            yield args, [i in subset for i in range(len(args))], subset


def _both_ways(monkeypatch, compute):
    """``compute()`` with the declarations (keeping as little as they allow) and without."""
    monkeypatch.setattr(reverse_mode, "SMALL_VALUE_BYTES", -1)
    declared = compute()
    with monkeypatch.context() as m:
        _keeping_everything(m)
        everything = compute()
    return declared, everything


def _assert_identical(got, want, what: str) -> None:
    for g, w in zip(got, want, strict=True):
        assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype, what
        np.testing.assert_array_equal(g, w, err_msg=what)


@pytest.mark.parametrize("c", [c.param() for c in DECLARED])
def test_declared_rules_give_the_gradients_of_the_whole_tape(c: Case, monkeypatch):
    for args, diff, subset in _traced_subsets(c):
        f = closed_over(c, args, diff)
        xs = [args[i] for i in subset]
        u = _normal_like(np.random.default_rng(3), c.prim.impl(*args, **c.params))

        def pullback(f=f, xs=xs, u=u):
            return fgrad.vjp(f, *xs)[1](u)

        declared, everything = _both_ways(monkeypatch, pullback)
        _assert_identical(declared, everything, f"traced arguments {subset}")


@pytest.mark.parametrize("c", [c.param() for c in DECLARED if c.second_order])
def test_declared_rules_are_differentiated_as_before(c: Case, monkeypatch):
    """The gradient of ``<pullback(u), w>``: the backward pass itself on a dropping tape."""
    for args, diff, subset in _traced_subsets(c):
        f = closed_over(c, args, diff)
        xs = [args[i] for i in subset]
        rng = np.random.default_rng(4)
        u = _normal_like(rng, c.prim.impl(*args, **c.params))
        ws = [_normal_like(rng, x) for x in xs]

        def weighted(*ys, f=f, u=u, ws=ws):
            cts = fgrad.vjp(f, *ys)[1](u)
            return sum(fnp.real(fnp.sum(ct * w)) for ct, w in zip(cts, ws))

        def second(weighted=weighted, xs=xs):
            return fgrad.grad(weighted, argnums=tuple(range(len(xs))))(*xs)

        declared, everything = _both_ways(monkeypatch, second)
        _assert_identical(declared, everything, f"traced arguments {subset}")


def _record(f, *xs):
    """Run ``f`` on fresh tracers of one GradTrace; return the tape."""
    trace = reverse_mode.GradTrace()
    with new_trace(trace):
        f(*[trace.new_input(x) for x in xs])
    return trace.tape


def test_declarations_are_per_traced_argument(keep_nothing_extra):
    x, c = np.arange(1.0, 7.0).reshape(2, 3), np.full((2, 3), 0.5)
    # x * c with x traced: the cotangent of x needs c, not x, and not the product
    (_, _, vals, links, _, ans), = _record(lambda x: x * c, x)
    assert isinstance(vals[0], ShapedArray) and vals[0].shape == (2, 3)
    assert vals[1] is c and ans is None and links == [(0, 0)]
    # c * x with x traced, the other rule: the same by symmetry
    (_, _, vals, _, _, ans), = _record(lambda x: c * x, x)
    assert vals[0] is c and isinstance(vals[1], ShapedArray) and ans is None
    # both traced: each needs the other
    (_, _, vals, _, _, ans), = _record(lambda x, y: x * y, x, c)
    assert vals[0] is x and vals[1] is c and ans is None
    # exp keeps its result, log its input, sum and reshape neither
    (_, _, vals, _, _, ans), = _record(fnp.exp, x)
    assert isinstance(vals[0], ShapedArray) and np.array_equal(ans, np.exp(x))
    (_, _, vals, _, _, ans), = _record(fnp.log, x)
    assert vals[0] is x and ans is None
    for f in (fnp.sum, lambda x: fnp.reshape(x, (3, 2)), lambda x: x.T, lambda x: x[1]):
        (_, _, vals, _, _, ans), = _record(f, x)
        assert isinstance(vals[0], ShapedArray) and ans is None
    # a matrix product keeps the operand the traced one's cotangent is contracted with
    w = np.ones((3, 4))
    (_, _, vals, _, _, ans), = _record(lambda x: x @ w, x)
    assert isinstance(vals[0], ShapedArray) and vals[1] is w and ans is None


def test_small_values_and_undeclared_primitives_are_kept():
    x = np.arange(1.0, 7.0)  # 48 bytes: a placeholder would cost more than it saves
    (_, _, vals, _, _, ans), = _record(lambda x: x * 2.0, x)
    assert vals[0] is x and ans is not None
    big = np.linspace(0.1, 1.0, 4096)
    ((_, _, vals, _, _, ans),) = _record(erf, big)  # no declaration: everything kept
    assert vals[0] is big and ans is not None


def test_declaring_an_unknown_name_is_refused():
    rules = rules_table.vjp_rules[mul_p]
    with pytest.raises(ValueError, match="'z'.*not a parameter"):
        rules_table.defvjp(mul_p, lambda g, ans, x, y: g * y, None, reads=("z", None))
    with pytest.raises(ValueError, match="2 rules but 1"):
        rules_table.defvjp(mul_p, lambda g, ans, x, y: g, None, reads=("",))
    assert rules_table.vjp_rules[mul_p] is rules  # refused before anything changed


class _Tracked(np.ndarray):
    """An ndarray that can be referenced weakly: NumPy's results keep the subclass."""


def test_tape_keeps_no_intermediate_of_a_chain_of_products():
    def f(x):
        y = x
        refs = []
        for _ in range(8):
            y = y * 1.01
            refs.append(weakref.ref(y.val))
        f.refs = refs
        return fnp.sum(y)

    x = np.linspace(-1.0, 1.0, 20_000).view(_Tracked)
    out, pullback = fgrad.vjp(f, x)
    gc.collect()
    assert [r() is None for r in f.refs] == [True] * 8
    (g,) = pullback(np.ones(()))
    np.testing.assert_allclose(g, np.full(x.shape, 1.01**8), rtol=1e-14)


def test_tape_keeps_what_tanh_needs_and_drops_the_products():
    def f(x):
        y = x
        products, results = [], []
        for _ in range(4):
            p = 0.9 * y
            y = fnp.tanh(p)
            products.append(weakref.ref(p.val))
            results.append(weakref.ref(y.val))
        f.refs = products, results
        return fnp.sum(y)

    x = np.linspace(-1.0, 1.0, 20_000).view(_Tracked)
    out, pullback = fgrad.vjp(f, x)
    gc.collect()
    products, results = f.refs
    assert all(r() is None for r in products)  # tanh's rule reads its result, not its input
    assert all(r() is not None for r in results)
    (g,) = pullback(np.ones(()))
    # d/dy tanh(0.9 y) = 0.9 (1 - tanh(0.9 y)^2), chained back from the last step
    want, ys = np.ones(x.shape), [np.asarray(x)]
    for _ in range(4):
        ys.append(np.tanh(0.9 * ys[-1]))
    for t in reversed(ys[1:]):
        want = want * 0.9 * (1 - t * t)
    np.testing.assert_allclose(g, want, rtol=1e-13)


def _peak_ratio(fn, x) -> float:
    fn(x)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / x.nbytes


def _chain8(x):
    y = x
    for _ in range(8):
        y = y * 1.01
    return fnp.sum(y)


def test_gradient_of_a_chain_of_products_peaks_at_twice_its_input():
    """The issue's figure: it was 9.5x with every intermediate kept (benchmarks/memory.py)."""
    x = np.random.default_rng(0).standard_normal(2**20)  # 8 MiB
    ratio = _peak_ratio(fgrad.grad(_chain8), x)
    assert ratio <= 2.5, ratio
    g = fgrad.grad(_chain8)(x)
    np.testing.assert_allclose(g, np.full(x.shape, 1.01**8), rtol=1e-14)


def test_pullback_holds_less_than_the_input_between_the_passes():
    x = np.random.default_rng(0).standard_normal(2**20)
    gc.collect()
    tracemalloc.start()
    try:
        out, pullback = fgrad.vjp(_chain8, x)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 0.25 * x.nbytes, held / x.nbytes


# -- gradients are arrays of their own (issue 13, item 12) --------------------------------


def _leaves(tree) -> list:
    return fgrad.tree_flatten(tree)[0]


def _assert_private(grads, *others) -> None:
    leaves = _leaves(grads)
    other_leaves = [o for tree in others for o in _leaves(tree)]
    for g in leaves:
        assert isinstance(g, np.ndarray) or np.ndim(g) == 0, type(g)
        if isinstance(g, np.ndarray):
            assert g.flags.writeable, g
    arrays = [g for g in leaves if isinstance(g, np.ndarray)]
    for a, b in itertools.combinations(arrays, 2):
        assert not np.shares_memory(a, b)
    for g in arrays:
        for o in other_leaves:
            assert not np.shares_memory(g, o)


X3 = np.array([0.5, -1.0, 2.0])
M23 = np.arange(6.0).reshape(2, 3) / 4


@pytest.mark.parametrize(
    "name, f, args, argnums",
    [
        ("sum", lambda x: fnp.sum(x), (M23,), 0),
        ("mean", lambda x: fnp.mean(x), (M23,), 0),
        ("sum of a row", lambda x: fnp.sum(x[1]), (M23,), 0),
        ("slice", lambda x: fnp.sum(x[:, 1:]), (M23,), 0),
        ("repeated index", lambda x: fnp.sum(x[np.array([0, 0, 2])]), (X3,), 0),
        ("broadcast bias", lambda p: fnp.sum(p["w"] * 2.0 + p["b"]), ({"w": M23, "b": X3},), 0),
        ("one cotangent, two leaves", lambda a, b: fnp.sum(a + b), (X3, X3 * 2), (0, 1)),
        ("the same array twice", lambda a, b: fnp.sum(a * b), (X3, X3), (0, 1)),
        ("reshape", lambda x: fnp.sum(fnp.reshape(x, (3, 2)) ** 2), (M23,), 0),
        ("transpose", lambda x: fnp.sum(x.T @ np.ones((2, 4))), (M23,), 0),
        ("unused argument", lambda a, b: fnp.sum(a), (X3, M23), (0, 1)),
        ("tuple of leaves", lambda p: fnp.sum(p[0]) + fnp.sum(p[1]), ((X3, X3),), 0),
        ("scalar input", lambda s, x: fnp.sum(s * x), (np.array(2.0), X3), (0, 1)),
    ],
)
def test_gradients_are_writeable_and_share_no_memory(name, f, args, argnums):
    grads = fgrad.grad(f, argnums=argnums)(*args)
    _assert_private(grads, args)
    value, grads2 = fgrad.value_and_grad(f, argnums=argnums)(*args)
    _assert_private(grads2, args)
    _assert_private((grads, grads2))
    for g in _leaves(grads):
        if isinstance(g, np.ndarray):
            before = g.copy()
            g *= 0.5  # the reported failure: "output array is read-only"
            np.testing.assert_array_equal(g, before * 0.5)


def test_vjp_of_identity_does_not_return_the_cotangent_given():
    ct = np.array([1.0, 2.0, 3.0])
    out, pullback = fgrad.vjp(lambda x: x, X3)
    (g,) = pullback(ct)
    np.testing.assert_array_equal(g, ct)
    _assert_private(g, ct, X3, out)
    out, pullback = fgrad.vjp(lambda x, y: (x, y, x), X3, X3 * 2)
    grads = pullback((ct, ct, ct))
    np.testing.assert_array_equal(grads[0], 2 * ct)
    np.testing.assert_array_equal(grads[1], ct)
    _assert_private(grads, ct, X3)
    # the input itself given as the cotangent
    (g,) = fgrad.vjp(lambda x: x + 0.0, X3)[1](X3)
    _assert_private(g, X3)


def test_vjp_cotangent_given_as_a_view_of_an_input():
    base = np.arange(6.0)
    x = base[:3]
    (g,) = fgrad.vjp(lambda x: x * 1.0, x)[1](base[3:])
    np.testing.assert_array_equal(g, [3.0, 4.0, 5.0])
    _assert_private(g, x, base)


def test_jacobians_are_writeable_and_share_no_memory():
    jac = fgrad.jacrev(lambda a, b: a + b, argnums=(0, 1))(X3, X3)
    np.testing.assert_array_equal(jac[0], np.eye(3))
    _assert_private(jac, X3)
    jac = fgrad.jacrev(lambda x: (x, 2 * x))(X3)
    np.testing.assert_array_equal(jac[1], 2 * np.eye(3))
    _assert_private(jac, X3)
    jac = fgrad.jacfwd(lambda x: (x, x.T))(M23)
    _assert_private(jac, M23)
    hess = fgrad.hessian(lambda x: fnp.sum(x**3))(X3)
    np.testing.assert_allclose(hess, np.diag(6 * X3))
    _assert_private(hess, X3)


def test_a_custom_rule_returning_an_input_gives_a_copy():
    @fgrad.custom_vjp
    def passthrough(x):
        return x * 1.0

    passthrough.defvjp(lambda x: (x * 1.0, x), lambda x, g: (x,))  # the input as cotangent
    x = np.array([1.0, 2.0, 3.0])
    g = fgrad.grad(lambda x: fnp.sum(passthrough(x)))(x)
    np.testing.assert_array_equal(g, x)
    _assert_private(g, x)
    view = np.arange(8.0)[2:5]
    g = fgrad.grad(lambda x: fnp.sum(passthrough(x)))(view)
    _assert_private(g, view, view.base)


def test_checkpointed_and_jitted_gradients_are_arrays_of_their_own():
    f = fgrad.checkpoint(lambda a, b: a * 2.0 + b)
    grads = fgrad.grad(lambda a, b: fnp.sum(f(a, b)), argnums=(0, 1))(X3, X3)
    np.testing.assert_array_equal(grads[0], np.full(3, 2.0))
    _assert_private(grads, X3)
    h = fgrad.jit(lambda a, b: fnp.sum(a + b))
    grads = fgrad.grad(h, argnums=(0, 1))(X3, X3 * 2)
    np.testing.assert_array_equal(grads[1], np.ones(3))
    _assert_private(grads, X3)
    grads = fgrad.jit(fgrad.grad(lambda a, b: fnp.sum(a * b), argnums=(0, 1)))(X3, X3)
    np.testing.assert_array_equal(grads[0], X3)
    _assert_private(grads, X3)
