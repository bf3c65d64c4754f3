"""``jit``'s fast path: a call with the same signature as the last one skips flattening and
the cache lookup. Every part of the signature must still decide which program runs: each
test calls a function until the fast path holds its program, then changes one part."""

from __future__ import annotations

import contextlib
import warnings
from typing import NamedTuple

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import grad, jit, jvp, vmap
from fgrad.core import backend
from fgrad.core.backend import register_backend, unregister_backend
from fgrad.transforms.jit_cache import RETRACE_WARNING_AFTER


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
    "weak NumPy float64 vs 0-d array": (np.float64(2.0), np.array(2.0)),
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
    ids=["leaf shape", "leaf dtype", "leaf weak type", "leaf scalar type", "namedtuple",
         "swapped keys", "None"],
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

    register_backend(STRICT)
    try:
        jf, traces = counted(lambda s: fnp.ones(3) * s)
        s = np.float64(2.0)
        np.testing.assert_array_equal(warm(jf, s), 2.0 * np.ones(3))
        with backend.on_device(STRICT):
            out = jf(s)
        assert backend.backend_of(out) is STRICT
        assert len(traces) == 2
        assert type(warm(jf, s)) is np.ndarray
        assert len(traces) == 2
    finally:
        unregister_backend(STRICT.name)


@contextlib.contextmanager
def fusing(mode: str):
    old = fgrad.config.fgrad_fuse
    fgrad.config.update("fgrad_fuse", mode)
    try:
        yield
    finally:
        fgrad.config.update("fgrad_fuse", old)


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
