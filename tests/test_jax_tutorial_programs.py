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
        ("from fgrad.lax import broadcast_shapes", "use fgrad.numpy.broadcast_shapes"),
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


# ---------------------------------------------------------------- linear_transpose


def test_linear_transpose_satisfies_the_dot_product_identity():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))

    def f(x, y):
        return {"u": A @ x + B @ y, "v": 3.0 * fnp.cumsum(x)}

    x, y = rng.normal(size=3), rng.normal(size=2)
    ct = {"u": rng.normal(size=4), "v": rng.normal(size=3)}
    tx, ty = fgrad.linear_transpose(f, fgrad.ShapeDtypeStruct((3,), np.float64), y)(ct)
    out = f(x, y)
    lhs = np.vdot(ct["u"], out["u"]) + np.vdot(ct["v"], out["v"])
    np.testing.assert_allclose(np.vdot(tx, x) + np.vdot(ty, y), lhs, rtol=1e-13)
    np.testing.assert_allclose(tx, A.T @ ct["u"] + 3.0 * np.cumsum(ct["v"][::-1])[::-1])


def test_linear_transpose_of_a_jvp_is_the_vjp_as_the_cookbook_checks():
    W = np.linspace(-1.0, 1.0, 6).reshape(2, 3)

    def f(W):
        return fnp.tanh(W @ np.array([0.5, -1.0, 2.0]))

    y, f_jvp = fgrad.linearize(f, W)
    u = np.array([1.0, -2.0])
    np.testing.assert_allclose(
        fgrad.linear_transpose(f_jvp, W)(u)[0], fgrad.vjp(f, W)[1](u)[0], rtol=1e-14
    )


# ---------------------------------------------------------------- jax.nn's other activations

_SELU = (1.6732632423543772, 1.0507009873554805)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


ACTIVATIONS = {
    # name: (closed form, its derivative)
    "elu": (lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1, np.exp(x))),
    "celu": (lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1, np.exp(x))),
    "selu": (
        lambda x: _SELU[1] * np.where(x > 0, x, _SELU[0] * np.expm1(x)),
        lambda x: _SELU[1] * np.where(x > 0, 1, _SELU[0] * np.exp(x)),
    ),
    "leaky_relu": (lambda x: np.where(x >= 0, x, 0.01 * x), lambda x: np.where(x >= 0, 1, 0.01)),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)).astype(float)),
    "hard_tanh": (lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1).astype(float)),
    "hard_sigmoid": (
        lambda x: np.clip(x + 3, 0, 6) / 6,
        lambda x: ((x > -3) & (x < 3)) / 6,
    ),
    "hard_silu": (
        lambda x: x * np.clip(x + 3, 0, 6) / 6,
        lambda x: np.clip(x + 3, 0, 6) / 6 + x * ((x > -3) & (x < 3)) / 6,
    ),
    "swish": (lambda x: x * _np_sigmoid(x), lambda x: _np_sigmoid(x) * (1 + x * _np_sigmoid(-x))),
    "soft_sign": (lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "squareplus": (
        lambda x: (x + np.sqrt(x**2 + 4)) / 2,
        lambda x: (1 + x / np.sqrt(x**2 + 4)) / 2,
    ),
    "mish": (
        lambda x: x * np.tanh(np.logaddexp(0, x)),
        lambda x: np.tanh(np.logaddexp(0, x))
        + x * (1 - np.tanh(np.logaddexp(0, x)) ** 2) * _np_sigmoid(x),
    ),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "identity": (lambda x: x, np.ones_like),
}

# away from every kink (0, +-1, +-3, 6)
X_ACT = np.array([-7.3, -4.1, -2.2, -0.7, -0.2, 0.3, 0.8, 1.7, 2.6, 4.4, 7.9])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_jax_nn_activations_values_and_derivatives(name):
    f = getattr(fgrad.nn, name)
    value, slope = ACTIVATIONS[name]
    np.testing.assert_allclose(f(X_ACT), value(X_ACT), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(
        fgrad.vmap(fgrad.grad(f))(X_ACT), slope(X_ACT), rtol=1e-12, atol=1e-15
    )
    assert f(X_ACT.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_jax_nn_activations_finite_at_extremes(name):
    f = getattr(fgrad.nn, name)
    big = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, slope = f(big), fgrad.vmap(fgrad.grad(f))(big)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(slope))


def test_celu_alpha_glu_and_standardize():
    x = np.array([-2.0, -0.5, 1.5])
    np.testing.assert_allclose(fgrad.nn.celu(x, 2.0), np.where(x > 0, x, 2 * np.expm1(x / 2)))
    np.testing.assert_allclose(fgrad.nn.elu(x, 0.5), np.where(x > 0, x, 0.5 * np.expm1(x)))
    z = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(fgrad.nn.glu(z), z[:, :2] * _np_sigmoid(z[:, 2:]))
    np.testing.assert_allclose(fgrad.nn.glu(z[:2], axis=0), z[:1] * _np_sigmoid(z[1:2]))
    s = fgrad.nn.standardize(z + 1e8, axis=1)
    np.testing.assert_allclose(
        s, (z - z.mean(1, keepdims=True)) / np.sqrt(z.var(1, keepdims=True) + 1e-5), rtol=1e-9
    )


def test_jax_nn_activations_match_jax():
    jax_nn = pytest.importorskip("jax.nn")
    x = X_ACT.astype(np.float32)
    for name in ACTIVATIONS:
        np.testing.assert_allclose(
            getattr(fgrad.nn, name)(x), getattr(jax_nn, name)(x), rtol=2e-6, atol=1e-6
        )
    np.testing.assert_allclose(fgrad.nn.glu(x[:10]), jax_nn.glu(x[:10]), rtol=2e-6)
    np.testing.assert_allclose(
        fgrad.nn.standardize(x), jax_nn.standardize(x), rtol=1e-4, atol=1e-5
    )


# ---------------------------------------------------------------- example_libraries


def _quadratic_loss(p):
    return fnp.sum(fnp.sin(p["w"]) * p["b"][0]) + fnp.sum(p["b"] ** 2)


def _numpy_grad(p):
    w, b = p["w"], p["b"]
    gb = 2 * b
    gb[0] += np.sum(np.sin(w))
    return {"w": np.cos(w) * b[0], "b": gb}


def _reference_adam(p, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam written out in NumPy, for the parameter dict ``p``."""
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    p = {k: x.copy() for k, x in p.items()}
    for i in range(steps):
        g = _numpy_grad(p)
        for k in p:
            m[k] = (1 - b1) * g[k] + b1 * m[k]
            v[k] = (1 - b2) * g[k] ** 2 + b2 * v[k]
            mhat, vhat = m[k] / (1 - b1 ** (i + 1)), v[k] / (1 - b2 ** (i + 1))
            p[k] = p[k] - lr(i) * mhat / (np.sqrt(vhat) + eps)
    return p


P0 = {"w": np.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": np.array([0.5, -0.3])}


@pytest.mark.parametrize("schedule", ["constant", "exponential_decay", "piecewise_constant"])
def test_example_libraries_adam_steps_as_written_out(schedule):
    from fgrad.example_libraries import optimizers

    make = {
        "constant": lambda: 0.05,
        "exponential_decay": lambda: optimizers.exponential_decay(0.1, 5, 0.5),
        "piecewise_constant": lambda: optimizers.piecewise_constant([3, 6], [0.1, 0.05, 0.01]),
    }[schedule]
    lr = {
        "constant": lambda i: 0.05,
        "exponential_decay": lambda i: 0.1 * 0.5 ** (i / 5),
        "piecewise_constant": lambda i: [0.1, 0.05, 0.01][(i > 3) + (i > 6)],
    }[schedule]
    opt_init, opt_update, get_params = optimizers.adam(make())

    @fgrad.jit
    def step(i, state):
        return opt_update(i, fgrad.grad(_quadratic_loss)(get_params(state)), state)

    state = opt_init(P0)
    for i in range(9):
        state = step(i, state)
    want = _reference_adam(P0, 9, lr)
    got = get_params(state)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-13)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("sgd", (0.1,)),
        ("momentum", (0.1, 0.9)),
        ("nesterov", (0.1, 0.9)),
        ("adagrad", (0.1,)),
        ("rmsprop", (0.01,)),
        ("rmsprop_momentum", (0.01,)),
        ("adam", (0.05,)),
        ("adamax", (0.05,)),
    ],
)
def test_example_libraries_optimizers_match_jax(name, args):
    jax = pytest.importorskip("jax")
    jax_opt = pytest.importorskip("jax.example_libraries.optimizers")
    from fgrad.example_libraries import optimizers

    f_init, f_update, f_get = getattr(optimizers, name)(*args)
    j_init, j_update, j_get = getattr(jax_opt, name)(*args)
    fs, js = f_init(P0), j_init({k: v.astype(np.float32) for k, v in P0.items()})
    for i in range(6):
        g = _numpy_grad(f_get(fs))
        fs = f_update(i, g, fs)
        js = j_update(i, jax.tree.map(lambda a: a.astype(np.float32), g), js)
    for k in P0:
        np.testing.assert_allclose(f_get(fs)[k], j_get(js)[k], rtol=1e-4, atol=1e-5)


def test_example_libraries_state_round_trips_and_clips():
    from fgrad.example_libraries import optimizers

    opt_init, opt_update, get_params = optimizers.momentum(0.1, 0.9)
    state = opt_update(0, _numpy_grad(P0), opt_init(P0))
    again = optimizers.pack_optimizer_state(optimizers.unpack_optimizer_state(state))
    leaves = fgrad.tree_leaves(state)
    assert len(leaves) == 4  # (x, velocity) for each of two parameters
    for a, b in zip(leaves, fgrad.tree_leaves(again)):
        np.testing.assert_array_equal(a, b)
    norm = np.sqrt(np.sum(P0["w"] ** 2) + np.sum(P0["b"] ** 2))
    np.testing.assert_allclose(optimizers.l2_norm(P0), norm)
    clipped = optimizers.clip_grads(P0, 0.5)
    np.testing.assert_allclose(optimizers.l2_norm(clipped), 0.5)
    np.testing.assert_allclose(clipped["b"], P0["b"] * 0.5 / norm)
    with pytest.raises(TypeError, match="structure"):
        opt_update(1, {"w": P0["w"]}, state)


def _stax_net(stax):
    return stax.serial(
        stax.Conv(4, (3, 3), padding="SAME"),
        stax.BatchNorm(),
        stax.Relu,
        stax.MaxPool((2, 2), strides=(2, 2)),
        stax.Conv(3, (2, 2)),
        stax.Elu,
        stax.AvgPool((2, 2), padding="SAME"),
        stax.Flatten,
        stax.FanOut(2),
        stax.parallel(stax.Dense(5), stax.serial(stax.Dense(5), stax.Tanh)),
        stax.FanInSum,
        stax.Dense(3),
        stax.LogSoftmax,
    )


def test_stax_network_shapes_and_a_dense_layer_by_hand():
    from fgrad.example_libraries import stax

    init, apply = _stax_net(stax)
    out_shape, params = init(fgrad.random.key(0), (-1, 8, 8, 2))
    assert out_shape == (-1, 3)
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 2))
    y = apply(params, x)
    assert y.shape == (5, 3)
    np.testing.assert_allclose(np.exp(y).sum(1), 1.0, rtol=1e-13)
    d_init, d_apply = stax.serial(stax.Dense(4), stax.Relu)
    shape, ((W, b), ()) = d_init(fgrad.random.key(1), (-1, 3))
    assert shape == (-1, 4) and W.shape == (3, 4) and b.shape == (4,)
    z = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(d_apply([(W, b), ()], z), np.maximum(z @ W + b, 0))


def test_stax_dropout_keeps_the_rate_and_needs_a_key():
    from fgrad.example_libraries import stax

    init, apply = stax.Dropout(0.75)
    _, params = init(fgrad.random.key(0), (-1, 1000))
    out = fgrad.jit(lambda x, k: apply(params, x, rng=k))(np.ones((8, 1000)), fgrad.random.key(3))
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01  # JAX's stax: rate is the probability kept
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    np.testing.assert_array_equal(stax.Dropout(0.75, mode="test")[1](params, out), out)
    with pytest.raises(ValueError, match="rng=key"):
        apply(params, np.ones(3))


def test_stax_network_matches_jax():
    jax = pytest.importorskip("jax")
    jax_stax = pytest.importorskip("jax.example_libraries.stax")
    from fgrad.example_libraries import stax

    init, apply = _stax_net(stax)
    _, j_apply = _stax_net(jax_stax)
    _, params = init(fgrad.random.key(0), (-1, 8, 8, 2))
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 2)).astype(np.float32)
    p32 = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
    np.testing.assert_allclose(apply(p32, x), j_apply(p32, x), rtol=1e-4, atol=1e-5)

    def loss_f(p):
        return fnp.sum(apply(p, x)[:, 0])

    def loss_j(p):
        return jax.numpy.sum(j_apply(p, x)[:, 0])

    grads = zip(jax.tree.leaves(fgrad.grad(loss_f)(p32)), jax.tree.leaves(jax.grad(loss_j)(p32)))
    for a, b in grads:
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


# ---------------------------------------------------------------- fgrad.ops, fgrad.tree paths

_DATA = np.arange(12.0).reshape(6, 2) - 5
_IDS = np.array([0, 2, 2, 0, 7, 1])  # 7 is out of range for 4 segments: dropped


def _segments_by_loop(kind):
    fill = {"sum": 0.0, "prod": 1.0, "max": -np.inf, "min": np.inf}[kind]
    op = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}[kind]
    out = np.full((4, 2), fill)
    for row, k in zip(_DATA, _IDS):
        if 0 <= k < 4:
            out[k] = op(out[k], row)
    return out


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("mode", ["eager", "jit", "vmap"])
def test_segment_reductions_as_a_loop_writes_them(kind, mode):
    f = getattr(fgrad.ops, f"segment_{kind}")
    run = {
        "eager": lambda: f(_DATA, _IDS, 4),
        "jit": lambda: fgrad.jit(lambda d, i: f(d, i, 4))(_DATA, _IDS),
        "vmap": lambda: fgrad.vmap(lambda d: f(d, _IDS, 4))(np.stack([_DATA, _DATA]))[1],
    }[mode]
    np.testing.assert_array_equal(run(), _segments_by_loop(kind))


def test_segment_sum_gradient_gathers_and_num_segments_defaults_to_max_id():
    ids = np.array([0, 2, 2, 1])
    w = np.array([1.0, -2.0, 3.0])
    g = fgrad.grad(lambda d: fnp.sum(fgrad.ops.segment_sum(d, ids, 3) * w))(np.ones(4))
    np.testing.assert_array_equal(g, w[ids])
    np.testing.assert_array_equal(fgrad.ops.segment_sum(np.arange(4.0), ids), [0.0, 3.0, 3.0])


def test_segment_max_gradient_matches_finite_differences():
    d = np.array([0.3, 1.2, -0.4, 2.0, 0.9])
    ids = np.array([1, 0, 1, 0, 2])

    def f(d):
        return fnp.sum(fgrad.ops.segment_max(d, ids, 3) ** 2)

    eps = 1e-6
    fd = [(f(d + eps * e) - f(d - eps * e)) / (2 * eps) for e in np.eye(5)]
    np.testing.assert_allclose(fgrad.grad(f)(d), fd, rtol=1e-8, atol=1e-8)


def test_segment_reductions_match_jax():
    jax = pytest.importorskip("jax")
    for kind in ("sum", "prod", "max", "min"):
        np.testing.assert_allclose(
            getattr(fgrad.ops, f"segment_{kind}")(_DATA, _IDS, 4),
            getattr(jax.ops, f"segment_{kind}")(_DATA.astype(np.float32), _IDS, 4),
        )


def test_tree_key_path_functions_under_jax_tree_names():
    tree = {"a": 1.0, "b": [2.0, 3.0]}
    keystr = fgrad.tree_util.keystr
    assert fgrad.tree.map_with_path(lambda p, x: keystr(p), tree) == {
        "a": "['a']",
        "b": ["['b'][0]", "['b'][1]"],
    }
    assert [(keystr(p), x) for p, x in fgrad.tree.leaves_with_path(tree)] == [
        ("['a']", 1.0),
        ("['b'][0]", 2.0),
        ("['b'][1]", 3.0),
    ]
    pairs, treedef = fgrad.tree.flatten_with_path(tree)
    assert fgrad.tree.unflatten(treedef, [x * 2 for _, x in pairs]) == {"a": 2.0, "b": [4.0, 6.0]}


# ---------------------------------------------------------------- more of jax.scipy.stats

_STATS = ["cauchy", "expon", "laplace", "logistic", "uniform"]


@pytest.mark.parametrize("name", _STATS)
def test_scipy_stats_distributions_match_scipy(name):
    scipy_stats = pytest.importorskip("scipy.stats")
    import fgrad.scipy.stats

    ours, ref = getattr(fgrad.scipy.stats, name), getattr(scipy_stats, name)
    x = np.array([-40.0, -3.0, -0.5, 0.0, 0.2, 0.7, 1.0, 2.5, 40.0])
    loc, scale = 0.3, 1.7
    for fn in ("logpdf", "pdf", "cdf", "sf"):
        np.testing.assert_allclose(
            getattr(ours, fn)(x, loc, scale),
            getattr(ref, fn)(x, loc, scale),
            rtol=1e-12,
            atol=1e-300,
            err_msg=fn,
        )
    q = np.array([1e-9, 0.1, 0.5, 0.9, 1 - 1e-9])
    # SciPy's own quantiles lose ~1e-8 of relative accuracy in the far tails
    np.testing.assert_allclose(ours.ppf(q, loc, scale), ref.ppf(q, loc, scale), rtol=1e-7)
    np.testing.assert_allclose(ours.cdf(ours.ppf(q[1:-1], loc, scale), loc, scale), q[1:-1])


def test_scipy_stats_tail_quantiles_keep_their_accuracy():
    import fgrad.scipy.stats as st

    np.testing.assert_allclose(st.laplace.ppf(1e-9), np.log(2e-9), rtol=1e-15)
    np.testing.assert_allclose(st.laplace.ppf(1 - 2**-40), 40 * np.log(2) - np.log(2), rtol=1e-15)
    np.testing.assert_allclose(st.cauchy.ppf(1e-9), -1 / np.tan(np.pi * 1e-9), rtol=1e-14)
    np.testing.assert_allclose(st.expon.ppf(1e-12), 1e-12, rtol=1e-11)
    np.testing.assert_allclose(st.logistic.ppf(1e-12), np.log(1e-12), rtol=1e-11)


@pytest.mark.parametrize("name", _STATS)
def test_scipy_stats_logpdf_gradients_match_finite_differences(name):
    import fgrad.scipy.stats

    dist = getattr(fgrad.scipy.stats, name)
    x, loc, scale = 0.45, 0.3, 1.7  # inside every support, away from laplace's kink
    args = np.array([x, loc, scale])

    def logpdf(a):
        return dist.logpdf(a[0], a[1], a[2])

    eps = 1e-6
    fd = [(logpdf(args + eps * e) - logpdf(args - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(fgrad.grad(logpdf)(args), fd, rtol=1e-7, atol=1e-9)
    fd_cdf = (dist.cdf(x + eps, loc, scale) - dist.cdf(x - eps, loc, scale)) / (2 * eps)
    np.testing.assert_allclose(fgrad.grad(dist.cdf)(x, loc, scale), fd_cdf, rtol=1e-7)
    np.testing.assert_allclose(fd_cdf, dist.pdf(x, loc, scale), rtol=1e-7)


def test_scipy_linalg_eigh_and_block_diag_match_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    import fgrad.scipy.linalg as fl

    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]])
    w, v = fl.eigh(a)
    np.testing.assert_allclose(w, scipy_linalg.eigh(a, eigvals_only=True), rtol=1e-13)
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, a, atol=1e-13)
    np.testing.assert_allclose(fl.eigh(a, lower=False, eigvals_only=True), w, rtol=1e-13)
    # the largest eigenvalue's gradient is the outer product of its eigenvector
    g = fgrad.grad(lambda m: fl.eigh(m, eigvals_only=True)[-1])(a)
    np.testing.assert_allclose(g, np.outer(v[:, -1], v[:, -1]), atol=1e-12)
    with pytest.raises(NotImplementedError, match="cholesky"):
        fl.eigh(a, np.eye(3))
    blocks = (np.ones((2, 2)), np.arange(3.0), 5.0)
    np.testing.assert_array_equal(fl.block_diag(*blocks), scipy_linalg.block_diag(*blocks))
    g = fgrad.grad(lambda x: fnp.sum(fl.block_diag(x, 2 * x) ** 2))(np.ones((2, 2)))
    np.testing.assert_allclose(g, 10 * np.ones((2, 2)))
