"""``jit``'s fast path: a call with the same signature as the last one skips flattening and
the cache lookup. Every part of the signature must still decide which program runs: each
test calls a function until the fast path holds its program, then changes one part.

Then the optimiser's rewrites that make the programs of ``hessian`` and ``hvp`` smaller:
each must keep every bit of the result."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pytest
from helpers import fusing

import fgrad
import fgrad.numpy as fnp
from fgrad import grad, jit, jvp, vmap
from fgrad.core import backend
from fgrad.transforms.jit_cache import RETRACE_WARNING_AFTER
from fgrad.transforms.optimize import optimize


def counted(fun, **kw):
    """``jit(fun)`` and a list that grows by one at each trace of it."""
    traces = []

    def traced(*args, **kwargs):
        traces.append(len(args))
        return fun(*args, **kwargs)

    traced.__name__ = getattr(fun, "__name__", "f")
    return jit(traced, **kw), traces


def warm(f, *args, **kwargs):
    """Call ``f`` often enough that its fast path holds the program of ``args``."""
    for _ in range(3):
        out = f(*args, **kwargs)
    return out


# every pair differs in one part of the signature only; the second element of each case is
# the value the function returns on the second argument (so a wrong program is caught too)
CHANGES = {
    "shape": (np.ones(3), np.ones(4)),
    "rank": (np.ones(3), np.ones((3, 1))),
    "dtype float32": (np.ones(3), np.ones(3, np.float32)),
    "dtype int": (np.ones(3), np.ones(3, np.int64)),
    "byte order": (np.ones(3), np.ones(3, ">f8")),
    "NumPy scalar type": (np.float64(2.0), np.float32(2.0)),
    "weak Python float vs 0-d array": (2.0, np.array(2.0)),
    "strong NumPy float64 vs weak Python float": (np.float64(2.0), 2.0),
    "Python int vs float": (2, 2.0),
    "Python bool vs int": (True, 1),
    "scalar vs array": (np.float32(2.0), np.ones(1, np.float32)),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_each_leaf_change_traces_again_and_gives_that_programs_result(name):
    a, b = CHANGES[name]
    y = np.ones(1, np.float32)  # promotion with it shows the weak type and the dtype

    def f(x, y):
        return x * 3 + y

    def fresh(x):  # what a jit that never saw another signature returns
        return jit(f)(x, y)

    jf, traces = counted(f)
    warm(jf, a, y)
    assert len(traces) == 1
    out = jf(b, y)
    assert len(traces) == 2
    want = fresh(b)
    assert out.dtype == want.dtype and out.shape == want.shape, name
    np.testing.assert_array_equal(out, want)
    # and back: both programs are kept, neither traces again, each gives its own result
    for x in (a, b, a, a, b, b):
        out, want = jf(x, y), fresh(x)
        assert out.dtype == want.dtype and out.shape == want.shape
        np.testing.assert_array_equal(out, want)
    assert len(traces) == 2


def test_weak_type_decides_the_result_dtype_through_the_fast_path():
    jf = jit(lambda x, y: x + y)
    y = np.ones(2, np.float32)
    assert warm(jf, 1.5, y).dtype == np.float32  # a Python float is weak: float32 stays
    assert jf(np.array(1.5), y).dtype == np.float64  # a 0-d float64 array is not
    assert jf(1.5, y).dtype == np.float32
    assert warm(jf, 2, y).dtype == np.float32
    assert jf(np.int64(2), y).dtype == np.float64  # a NumPy int64 is not weak
    assert jf(2, y).dtype == np.float32


@pytest.mark.parametrize(
    "a, b",
    [
        ((np.ones(2),), (np.ones(2), np.ones(2))),  # number of arguments
        (({"w": np.ones(2)},), (np.ones(2),)),  # a container instead of a leaf
        (({"w": np.ones(2)},), ({"v": np.ones(2)},)),  # dict keys
        (((np.ones(2), np.ones(2)),), ([np.ones(2), np.ones(2)],)),  # tuple vs list
    ],
    ids=["arity", "container", "dict keys", "tuple vs list"],
)
def test_tree_structure_change_traces_again(a, b):
    def f(*args):
        return sum(fnp.sum(x) for x in fgrad.tree_util.tree_leaves(args))

    jf, traces = counted(f)
    warm(jf, *a)
    assert float(jf(*b)) == float(f(*b))
    assert len(traces) == 2
    warm(jf, *b)
    assert float(jf(*a)) == float(f(*a))
    assert len(traces) == 2


class Pair(NamedTuple):
    a: object
    b: object


@pytest.mark.parametrize(
    "a, b",
    [
        ({"w": np.ones(2), "b": np.ones(1)}, {"w": np.ones(3), "b": np.ones(1)}),
        ({"w": np.ones(2), "b": np.ones(1)}, {"w": np.ones(2), "b": np.ones(1, np.float32)}),
        ([np.ones(2), 1.0], [np.ones(2), np.array(1.0)]),
        ([np.ones(2), 1.0], [np.ones(2), np.float32(1.0)]),
        (Pair(np.ones(2), np.ones(2)), (np.ones(2), np.ones(2))),
        ({"w": np.ones(2), "b": np.ones(1)}, {"b": np.ones(2), "w": np.ones(1)}),
        ([np.ones(2), None], [np.ones(2), np.ones(2)]),
    ],
    ids=[
        "leaf shape",
        "leaf dtype",
        "leaf weak type",
        "leaf scalar type",
        "namedtuple",
        "swapped keys",
        "None",
    ],
)
def test_a_change_inside_a_pytree_argument_traces_again(a, b):
    y = np.ones(2, np.float32)

    def f(tree, y):
        leaves = fgrad.tree_util.tree_leaves(tree)
        return sum(fnp.sum(x * k) for k, x in enumerate(leaves, 1)) + y

    def fresh(tree):
        return jit(f)(tree, y)

    jf, traces = counted(f)
    warm(jf, a, y)
    for tree in (b, b, a, a, b):
        out, want = jf(tree, y), fresh(tree)
        assert out.dtype == want.dtype
        np.testing.assert_array_equal(out, want)
    assert len(traces) == 2


def test_keyword_arguments_are_checked_every_call():
    jf, traces = counted(lambda x, scale=1.0: x * scale)
    x = np.ones(2)
    warm(jf, x)
    np.testing.assert_array_equal(jf(x, scale=3.0), 3 * x)
    np.testing.assert_array_equal(jf(x, scale=np.ones(2, np.float32)), x)
    np.testing.assert_array_equal(jf(x), x)
    assert len(traces) == 3


@pytest.mark.parametrize(
    "first, second",
    [(2, 3), (2, 2.0), (1, True), (0.0, -0.0), ((1, 2), (1,))],
    ids=["value", "int vs float", "int vs bool", "zero sign", "tuple length"],
)
def test_a_static_argument_change_traces_again(first, second):
    traces = []

    def f(x, n):
        traces.append(n)
        return x * (len(n) if isinstance(n, tuple) else n)

    x = np.ones(2)
    for kw in ({"static_argnums": 1}, {"static_argnames": "n"}):
        traces.clear()
        jf = jit(f, **kw)
        warm(jf, x, first)
        out = jf(x, second)
        want = f(x, second)
        assert out.dtype == want.dtype
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(np.signbit(out), np.signbit(want))
        assert len(traces) == 3  # two traces, and the eager call just above
        warm(jf, x, first)
        assert len(traces) == 3
        np.testing.assert_array_equal(warm(jf, x, n=second), want)  # by keyword: traced anew
        np.testing.assert_array_equal(warm(jf, x, second), want)
        assert len(traces) == 4


def test_closed_over_values_are_captured_when_traced():
    w = np.ones(3)
    jf = jit(lambda x: x * w)
    x = np.arange(3.0)
    np.testing.assert_array_equal(warm(jf, x), x)
    w[:] = 5.0  # as in JAX: the program keeps the value it was traced with
    np.testing.assert_array_equal(jf(x), x)
    np.testing.assert_array_equal(jf(np.arange(4.0)[:3]), x)  # same signature: same program
    np.testing.assert_array_equal(jf(np.ones(1)), 5 * np.ones(3))  # a new trace reads it anew


def test_results_are_fresh_arrays_on_the_fast_path():
    jf = jit(lambda x: x)
    x = np.arange(3.0)
    for _ in range(4):
        out = jf(x)
        assert not np.shares_memory(out, x)
        out[0] = 99.0
        assert x[0] == 0.0


def test_the_fast_path_keeps_the_least_recently_used_order():
    jf, traces = counted(lambda x: x + 1, cache_size=2)
    a, b, c = np.ones(1), np.ones(2), np.ones(3)
    jf(a)
    jf(b)
    warm(jf, a)  # a: most recently used, through the fast path
    jf(c)  # drops b, not a
    assert len(traces) == 3
    jf(a)
    assert len(traces) == 3
    jf(b)
    assert len(traces) == 4


def test_a_fast_call_after_a_transformed_one_counts_as_most_recent():
    jf, traces = counted(lambda x: fnp.sum(x**2), cache_size=2)
    x = np.ones(3)
    warm(jf, x)
    np.testing.assert_array_equal(grad(jf)(x), 2 * x)  # its own program: the cache is full
    warm(jf, x)  # the plain program is the most recently used again
    jf(np.ones(4))  # so this drops grad's
    assert len(traces) == 3
    warm(jf, x)
    assert len(traces) == 3
    np.testing.assert_array_equal(grad(jf)(x), 2 * x)
    assert len(traces) == 4


def test_transforms_in_between_do_not_confuse_it():
    jf, traces = counted(lambda x: fnp.sin(x) * x)
    x = np.linspace(0.1, 1.0, 4)
    warm(jf, x)
    g = grad(lambda x: fnp.sum(jf(x)))(x)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-14)
    _, t = jvp(jf, (x,), (np.ones(4),))
    np.testing.assert_allclose(t, np.cos(x) * x + np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(vmap(jf)(x[:, None])[:, 0], np.sin(x) * x, rtol=1e-15)
    np.testing.assert_allclose(warm(jf, x), np.sin(x) * x, rtol=1e-15)
    # one plain trace; grad, jvp and vmap each compile their own transform of it
    assert len(traces) == 4


def test_disable_jit_and_nan_checks_still_run_the_function_itself():
    calls = []

    def f(x):
        calls.append(1)
        return fnp.log(x)

    jf = jit(f)
    x = np.ones(2)
    warm(jf, x)
    assert len(calls) == 1
    with fgrad.disable_jit():
        jf(x)
        jf(x)
    assert len(calls) == 3
    fgrad.config.update("jax_debug_nans", True)
    try:
        with pytest.raises(FloatingPointError):
            jf(-x)
    finally:
        fgrad.config.update("jax_debug_nans", False)
    assert np.isnan(jf(-x)).all()  # compiled again: no check


def test_retrace_warning_and_explanations_still_come(caplog):
    jf, traces = counted(lambda x: x * 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, RETRACE_WARNING_AFTER + 2):
            warm(jf, np.ones(n))
    messages = [str(w.message) for w in caught if w.category is fgrad.RetraceWarning]
    assert len(messages) == 1
    assert f"traced and compiled {RETRACE_WARNING_AFTER} times" in messages[0]
    assert f"f64[{RETRACE_WARNING_AFTER - 1}] became f64[{RETRACE_WARNING_AFTER}]" in messages[0]
    fgrad.config.update("jax_explain_cache_misses", True)
    try:
        with caplog.at_level("WARNING", logger="fgrad"):
            warm(jf, np.ones(3, np.float32))
            warm(jf, np.ones(3, np.float32))
    finally:
        fgrad.config.update("jax_explain_cache_misses", False)
    explained = [r.getMessage() for r in caplog.records if "tracing" in r.getMessage()]
    assert len(explained) == 1
    assert "args[0]`: f64[" in explained[0] and "] became f32[3]" in explained[0]


def test_the_default_device_is_part_of_the_signature():
    """Arrays made inside from Python scalars go to the default device: a call of scalars
    alone under another default device runs another program."""
    from strict_backend import BACKEND as STRICT
    from strict_backend import registered as strict_registered

    with strict_registered():
        jf, traces = counted(lambda s: fnp.ones(3) * s)
        s = np.float64(2.0)
        np.testing.assert_array_equal(warm(jf, s), 2.0 * np.ones(3))
        with backend.on_device(STRICT):
            out = jf(s)
        assert backend.backend_of(out) is STRICT
        assert len(traces) == 2
        assert type(warm(jf, s)) is np.ndarray
        assert len(traces) == 2


@pytest.mark.parametrize("x", [np.float64(0.7), 0.7, np.linspace(-1.0, 1.0, 7)])
def test_fused_programs_take_the_fast_path_with_the_same_numbers(x):
    pytest.importorskip("numba")

    def f(x):
        return fnp.sum(fnp.tanh(fnp.sin(x) * 2.0) + x**2 / (1.0 + x))

    with fusing("off"):
        want = jit(f)(x)
    with fusing("force"):
        jf = jit(f)
        for _ in range(4):
            out = jf(x)
            np.testing.assert_allclose(out, want, rtol=1e-12)
            assert type(out) is type(want) is np.float64


# -- the optimiser's rewrites (fgrad/transforms/optimize.py): bit for bit, special values too --

SPECIAL = np.array([0.0, -0.0, 1.5, -2.25, 1e-310, np.inf, -np.inf, np.nan, 3e300])


def optimized_eqns(f, *args) -> list[str]:
    return [e.prim.name for e in optimize(fgrad.make_jaxpr(f)(*args)).jaxpr.eqns]


def bitwise_equal(a, b) -> None:
    """Every bit equal, but a NaN's sign, which IEEE leaves open (``x + (-nan)`` and
    ``x - nan`` differ in it on x86)."""
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind in "fc":
        nan = np.isnan(a)
        np.testing.assert_array_equal(nan, np.isnan(b))
        a, b = np.where(nan, 0, a), np.where(nan, 0, b)
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


REWRITES = {
    # name: (function, the equations left after optimising)
    "x * 1": (lambda x, y: x * 1, []),
    "1.0 * x": (lambda x, y: 1.0 * x, []),
    "x * ones": (lambda x, y: x * fnp.ones(x.shape), []),
    "x / 1": (lambda x, y: x / 1.0, []),
    "x ** 1": (lambda x, y: x**1, []),
    "x - 0": (lambda x, y: x - 0.0, []),
    "--x": (lambda x, y: fnp.negative(-x), []),
    "x ** 0 folds": (lambda x, y: x**0 * 3.0 + y, ["add"]),
    "x + -y": (lambda x, y: x + (-y), ["sub"]),
    "-y + x": (lambda x, y: (-y) + x, ["sub"]),
    "reshape of reshape": (lambda x, y: fnp.reshape(fnp.reshape(x, (3, 3)), (9,)), []),
    "concatenate of one": (lambda x, y: fnp.concatenate([x]), []),
    "x * y and y * x": (lambda x, y: x * y + y * x, ["mul", "add"]),
    "x == y and y == x": (lambda x, y: fnp.logical_and(x == y, y == x), ["eq", "and"]),
    # not identities: kept
    "x + 0": (lambda x, y: x + 0.0, ["add"]),
    "x - (-0.0)": (lambda x, y: x - (-0.0), ["sub"]),
    "max(x, y) and max(y, x)": (
        lambda x, y: fnp.maximum(x, y) - fnp.maximum(y, x),
        ["max", "max", "sub"],
    ),
    "x * 1 on a weak scalar": (lambda x, y: x[0] * 1.0, ["getitem", "mul"]),
}


@pytest.mark.parametrize("name", list(REWRITES))
def test_rewrites_keep_every_bit(name):
    f, left = REWRITES[name]
    x, y = SPECIAL, SPECIAL[::-1].copy()
    assert optimized_eqns(f, x, y) == left
    with np.errstate(all="ignore"):
        want = f(x, y)
        with fusing("off"):
            got = jit(f)(x, y)
    bitwise_equal(got, want)
    assert type(got) is type(want)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, np.bool_])
def test_rewrites_keep_other_real_dtypes(dtype):
    x = np.arange(6).astype(dtype)
    negated_twice = (lambda x: fnp.negative(-x)) if dtype != np.bool_ else (lambda x: x)
    for f in (lambda x: x * 1, negated_twice, lambda x: x**1):
        with np.errstate(all="ignore"):
            bitwise_equal(jit(f)(x), f(x))


def test_what_changes_the_dtype_or_the_complex_numbers_is_kept():
    # int * 1.0 is a float; complex * 1 turns inf + 0j into inf + nan j: neither is x
    assert optimized_eqns(lambda x: x * 1.0, np.arange(3)) == ["mul"]
    z = np.array([np.inf + 0j, 1 - 2j])
    assert optimized_eqns(lambda z: z * 1.0, z) == ["mul"]
    with np.errstate(all="ignore"):
        bitwise_equal(jit(lambda z: z * 1.0)(z), z * 1.0)
    # x ** 0 of ints stays a power (the rewrite is for floats), of a weak scalar too
    assert optimized_eqns(lambda x: x**0, np.arange(3)) == ["pow"]
    # (then a Python number, as Python's 2.0 ** 0 is: the weak type is kept)
    assert optimized_eqns(lambda x: x**0, 2.0) == ["pow", "convert_element_type"]


def test_a_scalar_keeps_its_type():
    """On shape () NumPy returns a scalar where the operand may be a 0-d array: kept."""
    for x in (np.float64(-0.0), np.array(-0.0)):
        for f in (lambda x: x * 1.0, lambda x: fnp.negative(-x), lambda x: x**0):
            got, want = jit(f)(x), f(x)
            assert type(got) is type(want)
            bitwise_equal(got, want)


def test_hessian_program_is_smaller_and_exact():
    """``hessian`` of ``x ** 2`` terms leaves ``2 * x ** 1`` and ``1 * x ** 0``: folded."""

    def f(x):
        return fnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    x = np.linspace(-1.0, 1.5, 9)
    h = fgrad.hessian(f)
    names = optimized_eqns(h, x)
    assert "pow" not in names or names.count("pow") == 1  # only x ** 2 itself is left
    want = np.zeros((9, 9))
    i = np.arange(8)
    want[i, i] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    want[i + 1, i + 1] += 200
    want[i, i + 1] = want[i + 1, i] = -400 * x[:-1]
    np.testing.assert_allclose(jit(h)(x), want, rtol=1e-13, atol=1e-12)
    with fusing("off"):
        np.testing.assert_array_equal(jit(h)(x), h(x))
