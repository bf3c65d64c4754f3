"""What JAX's own tutorials reach for, run on fgrad: each test is a pattern from a tutorial
cell that failed on fgrad, checked against closed forms, NumPy or finite differences
(and against JAX itself where it is installed)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.ad_checkpoint import checkpoint_name, print_saved_residuals
from fgrad.experimental import io_callback

# ---------------------------------------------------------------- shape errors are TypeErrors


@pytest.mark.parametrize("exc", [TypeError, ValueError])
@pytest.mark.parametrize("mode", ["eager", "jit", "vmap", "grad"])
def test_a_shape_mismatch_is_caught_as_jax_and_numpy_code_expect(exc, mode):
    """JAX raises TypeError for a matmul of mismatched shapes (the NN tutorial's
    ``except TypeError``), NumPy ValueError: fgrad's ShapeError is both."""
    w, x = np.ones((5, 4)), np.ones((3, 5))

    def f(w, x):
        return fnp.sum(fnp.dot(w, x))

    run = {
        "eager": lambda: f(w, x),
        "jit": lambda: fgrad.jit(f)(w, x),
        "vmap": lambda: fgrad.vmap(f, in_axes=(None, 0))(w, x),
        "grad": lambda: fgrad.grad(f)(w, x),
    }[mode]
    with pytest.raises(exc, match="dot_general"):
        run()


# ---------------------------------------------------------------- ShapeDtypeStruct.like, typeof


def test_shape_dtype_struct_like_reads_arrays_scalars_and_tracers():
    assert fgrad.ShapeDtypeStruct.like(np.ones((2, 3), np.float32)) == fgrad.ShapeDtypeStruct(
        (2, 3), np.float32
    )
    assert fgrad.ShapeDtypeStruct.like(2.0) == fgrad.ShapeDtypeStruct((), np.float64)
    assert fgrad.ShapeDtypeStruct.like(np.int32(3)) == fgrad.ShapeDtypeStruct((), np.int32)
    seen = []
    fgrad.vmap(lambda x: seen.append(fgrad.ShapeDtypeStruct.like(x)) or x)(np.ones((4, 3)))
    assert seen == [fgrad.ShapeDtypeStruct((3,), np.float64)]


def _host_sin(x):
    return np.sin(x).astype(x.dtype)


def _callback_sin(x):
    like = fgrad.ShapeDtypeStruct.like(x)
    return fgrad.pure_callback(_host_sin, like, x, vmap_method="sequential")


@pytest.mark.parametrize("mode", ["eager", "jit", "vmap", "scan"])
def test_pure_callback_with_like_as_the_callbacks_tutorial(mode):
    x = np.arange(5.0)
    run = {
        "eager": lambda: _callback_sin(x),
        "jit": lambda: fgrad.jit(_callback_sin)(x),
        "vmap": lambda: fgrad.vmap(_callback_sin)(x),
        "scan": lambda: lax.scan(lambda c, xi: (c, _callback_sin(xi)), None, x)[1],
    }[mode]
    np.testing.assert_allclose(run(), np.sin(x), rtol=1e-15)


def test_typeof_is_the_type_the_function_sees():
    assert fgrad.typeof(np.ones((2, 3), np.float32)).str_short() == "f32[2,3]"
    assert fgrad.typeof(1.0).weak_type and fgrad.typeof(1.0).str_short() == "f64[]"
    seen = []

    def f(x):
        seen.append(fgrad.typeof(x).str_short())
        return x * 2

    out = fgrad.vmap(f)(np.arange(3))
    fgrad.jit(f)(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(out, [0, 2, 4])
    assert seen == ["i64[]", "f32[4,2]"]


# ---------------------------------------------------------------- jit(f).trace(...).jaxpr


def test_jit_trace_gives_the_jaxpr_of_the_call():
    def g(x):
        return fnp.sin(x) * 2.0

    traced = fgrad.jit(g).trace(1.0)
    assert [e.prim.name for e in traced.jaxpr.jaxpr.eqns] == ["sin", "mul"]
    np.testing.assert_allclose(traced.jaxpr(0.3), 2 * np.sin(0.3), rtol=1e-15)
    assert "sin" in traced.lower().as_text()


def test_jit_trace_keeps_static_arguments_out_of_the_jaxpr():
    def log2_if_rank_2(x, n):
        return fnp.log(x) / fnp.log(2.0) if x.ndim == 2 else x**n

    power = fgrad.jit(log2_if_rank_2, static_argnums=1).trace(np.ones(3), 3).jaxpr
    assert len(power.jaxpr.invars) == 1
    np.testing.assert_allclose(power(np.arange(3.0)), np.arange(3.0) ** 3)
    logs = fgrad.jit(log2_if_rank_2, static_argnames="n").trace(np.ones((2, 2)), n=1).jaxpr
    np.testing.assert_allclose(logs(np.full((2, 2), 8.0)), np.full((2, 2), 3.0))


# ---------------------------------------------------------------- configuration flags


@pytest.mark.parametrize(
    ("flag", "value"),
    [("jax_num_cpu_devices", 8), ("jax_remat3", True), ("jax_use_shardy_partitioner", True)],
)
def test_tutorial_flags_are_accepted_and_change_nothing(flag, value):
    before = getattr(fgrad.config, flag)
    fgrad.config.update(flag, value)
    try:
        assert fgrad.device_count() == 1
        np.testing.assert_allclose(fgrad.grad(fgrad.checkpoint(fnp.sin))(0.5), np.cos(0.5))
    finally:
        fgrad.config.update(flag, before)


# ---------------------------------------------------------------- print_saved_residuals


def _g(W, x):
    return fnp.sin(fnp.dot(W, x))


def _layers(W1, W2, W3, x):
    return _g(W3, _g(W2, _g(W1, x)))


def _printed(fun, *args) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(fun, *args)
    return out.getvalue().splitlines()


ARGS = (np.ones((5, 4)), np.ones((6, 5)), np.ones((7, 6)), np.ones(4))


def test_print_saved_residuals_lists_arguments_then_what_each_rule_reads():
    lines = _printed(_layers, *ARGS)
    assert lines[:2] == ["f64[5,4] from the argument W1", "f64[4] from the argument x"]
    # each sin reads its input (the dot's result), each next dot its input (sin's result);
    # the last sin's result is read by nothing
    kept = [line.split()[:4] for line in lines if "from the argument" not in line]
    assert kept == [
        ["f64[5]", "result", "of", "dot_general"],
        ["f64[5]", "result", "of", "sin"],
        ["f64[6]", "result", "of", "dot_general"],
        ["f64[6]", "result", "of", "sin"],
        ["f64[7]", "result", "of", "dot_general"],
    ]
    assert all(" from test_jax_tutorial_programs.py:" in line for line in lines[2:4])


def test_print_saved_residuals_of_checkpointed_layers_keeps_their_inputs_only():
    def f2(W1, W2, W3, x):
        x = fgrad.checkpoint(_g)(W1, x)
        x = fgrad.checkpoint(_g)(W2, x)
        return fgrad.checkpoint(_g)(W3, x)

    lines = _printed(f2, *ARGS)
    assert sum("from the argument" in line for line in lines) == 4
    # the layer outputs that feed the next checkpoint: f64[5] and f64[6], as in JAX
    assert sorted(line.split()[0] for line in lines if "argument" not in line) == [
        "f64[5]",
        "f64[6]",
    ]
    g_plain = fgrad.grad(lambda *a: fnp.sum(_layers(*a)), argnums=(0, 3))(*ARGS)
    g_ckpt = fgrad.grad(lambda *a: fnp.sum(f2(*a)), argnums=(0, 3))(*ARGS)
    for a, b in zip(g_plain, g_ckpt):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_saved_residuals_marks_a_result_read_when_the_next_rule_reads_it():
    """A dot's result that sin then reads is read (it was reported as kept unread)."""
    res = list(fgrad.explain.saved_residuals(lambda W, x: fnp.sum(_g(W, x)), *ARGS[::3]))
    dot_out = [r for r in res if r.primitive == "dot_general" and r.role == "result"]
    assert len(dot_out) == 1 and dot_out[0].read and dot_out[0].shape == (5,)


# ---------------------------------------------------------------- checkpoint policies


def test_name_policies_of_the_remat_tutorial_give_the_plain_gradient():
    policies = fgrad.checkpoint_policies

    def loss(W, x):
        h = checkpoint_name(fnp.sin(W @ x), name="layer0")
        h = checkpoint_name(fnp.sin(W @ h), name="layer1")
        return fnp.sum(h**2)

    W, x = np.linspace(-1, 1, 16).reshape(4, 4), np.linspace(0.1, 0.4, 4)
    want = fgrad.grad(loss)(W, x)
    eps = 1e-6
    E = np.zeros_like(W)
    E[1, 2] = eps
    np.testing.assert_allclose(want[1, 2], (loss(W + E, x) - loss(W - E, x)) / (2 * eps), rtol=1e-7)
    for policy in (
        policies.save_anything_except_these_names("layer1"),
        policies.save_and_offload_only_these_names(
            names_which_can_be_saved=["layer0"], names_which_can_be_offloaded=["layer1"]
        ),
    ):
        got = fgrad.grad(fgrad.checkpoint(loss, policy=policy))(W, x)
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_name_policies_choose_by_name():
    class Eqn:
        def __init__(self, name):
            self.name = name

    keep_all_but = fgrad.checkpoint_policies.save_anything_except_these_names("b")
    assert keep_all_but(Eqn("name"), name="a") and not keep_all_but(Eqn("name"), name="b")
    assert keep_all_but(Eqn("sin"))  # untagged values are saved too
    offload = fgrad.checkpoint_policies.save_and_offload_only_these_names(
        names_which_can_be_saved=["a"], names_which_can_be_offloaded=["c"]
    )
    assert [offload(Eqn("name"), name=n) for n in "abc"] == [True, False, True]
    assert not offload(Eqn("sin"))


# ---------------------------------------------------------------- io_callback


def test_io_callback_runs_on_every_call_of_a_jitted_function():
    rng = np.random.default_rng(0)
    calls = []

    def host_random_like(x):
        calls.append(x.shape)
        return rng.uniform(size=x.shape).astype(x.dtype)

    f = fgrad.jit(lambda x: io_callback(host_random_like, x, x))
    x = np.zeros(5)
    first, second = f(x), f(x)
    want = np.random.default_rng(0).uniform(size=10)
    np.testing.assert_array_equal(np.concatenate([first, second]), want)
    batched = fgrad.vmap(f)(x)  # once per example, in order
    np.testing.assert_array_equal(batched, np.random.default_rng(0).uniform(size=15)[10:])
    assert calls == [(5,), (5,)] + [()] * 5


def test_io_callback_with_no_result_and_constant_arguments_is_not_folded_away():
    said = []

    @fgrad.jit
    def f(x):
        io_callback(lambda: said.append("hello"), None)
        return x * 2

    assert f(1.0) == 2.0 and f(3.0) == 6.0
    assert fgrad.grad(f)(1.0) == 2.0
    assert said == ["hello"] * 3


def test_io_callback_in_scan_and_its_derivative_is_refused():
    seen = []

    def record(v):
        seen.append(float(v))
        return v

    spec = fgrad.ShapeDtypeStruct((), np.float64)
    ys = lax.scan(lambda c, x: (c + x, io_callback(record, spec, c)), 0.0, np.arange(4.0))[1]
    np.testing.assert_array_equal(ys, [0, 0, 1, 3])
    assert seen == [0, 0, 1, 3]
    with pytest.raises(fgrad.TransformError, match="io_callback"):
        fgrad.grad(lambda x: io_callback(record, spec, x))(1.0)


# ---------------------------------------------------------------- names fgrad lacks


@pytest.mark.parametrize(
    ("statement", "advice"),
    [
        ("from fgrad import pmap", "use fgrad.vmap"),
        ("from fgrad.lax import add", "use fgrad.numpy.add"),
        ("from fgrad.experimental import ode", "fgrad.scipy.integrate.odeint"),
        ("from fgrad.debug import breakpoint", "fgrad.debug.callback"),
        ("from fgrad import new_ref", "no mutable array references"),
    ],
)
def test_from_imports_of_missing_names_give_the_advice(statement, advice):
    """``from jax import pmap`` is how JAX programs import: Python turns the module's
    AttributeError into a bare "cannot import name", so fgrad raises the ImportError."""
    with pytest.raises(ImportError, match=advice):
        exec(statement, {})


def test_an_unknown_name_in_a_from_import_stays_pythons_error():
    with pytest.raises(ImportError, match="cannot import name 'no_such_name'"):
        exec("from fgrad import no_such_name", {})


# ---------------------------------------------------------------- against JAX, where installed


def test_tutorial_values_match_jax():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    x = np.arange(5.0, dtype=np.float32)

    def jax_f(x):
        like = jax.ShapeDtypeStruct.like(x)
        return jax.pure_callback(_host_sin, like, x, vmap_method="sequential")

    np.testing.assert_allclose(fgrad.vmap(_callback_sin)(x), jax.vmap(jax_f)(x), rtol=1e-6)
    assert fgrad.typeof(x).str_short() == "f32[5]" and str(jax.typeof(jnp.asarray(x))) == (
        "float32[5]"
    )
    assert len(fgrad.jit(lambda x: fnp.sin(x) * 2.0).trace(x).jaxpr.jaxpr.eqns) == len(
        jax.jit(lambda x: jnp.sin(x) * 2.0).trace(x).jaxpr.eqns
    )
