"""The backend follows the data: every primitive and transform on a non-NumPy backend.

Runs on the strict stand-in backend everywhere (tests/strict_backend.py) and on
CuPy when a GPU is present. Results are compared with NumPy's and must stay on
the backend they were computed on.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from strict_backend import BACKEND as STRICT
from test_primitive_rules import CASES, DIFF_CASES, Const, _central_difference, closed_over

import fgrad
from fgrad import nn, optim
from fgrad import numpy as fnp
from fgrad.core.backend import BackendError, backend_of, register_backend

register_backend(STRICT)
DEVICES = ["strict"] + (["gpu"] if "gpu" in fgrad.devices() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def put(tree, device: str):
    return fgrad.device_put(tree, device)


def get(tree):
    return fgrad.device_get(tree)


def assert_on(tree, device: str) -> None:
    for leaf in fgrad.tree_leaves(tree):
        if not isinstance(leaf, (int, float, bool, complex)):
            assert backend_of(leaf).name == device, f"{type(leaf).__name__} is not on {device}"


def check_on_device(fn, args: tuple, device: str) -> None:
    """``fn`` on NumPy arguments and on their copies on ``device``: the results stay on the
    device and equal NumPy's."""
    want = fn(*args)
    got = fn(*put(args, device))
    assert_on(got, device)
    for a, b in zip(fgrad.tree_leaves(get(got)), fgrad.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def _tol(dtype) -> dict:
    return {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}


# -- every primitive: impl, jvp and vjp on the backend agree with NumPy -----------------


def _materialize(case, dtype):
    args, diff = case.materialize()
    args = [
        a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args
    ]
    return args, diff


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", DIFF_CASES, ids=lambda c: c.id)
def test_primitive_rules_on_backend(case, dtype, device):
    args, diff = _materialize(case, dtype)
    f = closed_over(case, args, diff)
    args_d = [put(a, device) if isinstance(a, np.ndarray) else a for a in args]
    f_d = closed_over(case, args_d, diff)
    xs = [a for a, d in zip(args, diff) if d]
    rng = np.random.default_rng(0)
    vs = [rng.standard_normal(x.shape).astype(x.dtype) for x in xs]
    out, t_out = fgrad.jvp(f, tuple(xs), tuple(vs))
    if dtype == np.float64 and case.tangent_space is None and np.asarray(t_out).dtype == dtype:
        # anchored to truth as well: a rule wrong on every backend alike cannot pass
        with np.errstate(all="ignore"):
            fd = _central_difference(f, xs, vs, case.eps)
        np.testing.assert_allclose(t_out, fd, rtol=case.rtol, atol=1e-8)
    out_d, t_out_d = fgrad.jvp(f_d, put(tuple(xs), device), put(tuple(vs), device))
    assert_on((out_d, t_out_d), device)
    np.testing.assert_allclose(get(out_d), out, **_tol(dtype))
    np.testing.assert_allclose(get(t_out_d), t_out, **_tol(dtype))
    u = rng.standard_normal(np.shape(out)).astype(np.asarray(out).dtype)
    cts = fgrad.vjp(f, *xs)[1](u)
    cts_d = fgrad.vjp(f_d, *put(xs, device))[1](put(u, device))
    assert_on(cts_d, device)
    for c, c_d in zip(cts, cts_d):
        np.testing.assert_allclose(get(c_d), c, **_tol(dtype))


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.prim.differentiable], ids=lambda c: c.id
)
def test_primitives_without_derivative_on_backend(case, device):
    args, _ = case.materialize()
    on_device = [a.value if isinstance(a, Const) else a for a in args]
    on_device = [put(a, device) if isinstance(a, np.ndarray) else a for a in on_device]
    plain = [a.value if isinstance(a, Const) else a for a in args]
    out = fgrad.core.primitive.bind(case.prim, *on_device, **case.params)
    assert_on(out, device)
    np.testing.assert_array_equal(get(out), case.prim.impl(*plain, **case.params))


# -- transforms, constants and training on the backend ------------------------------------


def mlp_loss(params, x, y):
    logits = nn.mlp_apply(params, x, activation=fnp.tanh)
    return nn.softmax_cross_entropy(logits, y) + 1e-3 * nn.l2_penalty(params)


def test_training_step_runs_on_the_backend(device):
    rng = np.random.default_rng(0)
    params = nn.mlp_init(rng, [4, 8, 3])
    x, y = rng.normal(size=(16, 4)), rng.integers(0, 3, size=16)
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adamw(1e-2))

    def run(params, x, y):
        state = opt.init(params)
        for _ in range(3):
            loss, grads = fgrad.value_and_grad(mlp_loss)(params, x, y)
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
        return params, loss

    check_on_device(run, (params, x, y), device)


def test_constants_created_inside_transforms_land_on_the_device(device):
    def f(x):
        y = x + fnp.zeros(3) + fnp.ones_like(x) * fnp.arange(3) + fnp.full(3, 0.5)
        y = fnp.at(y)[0].set(fnp.eye(3)[1, 1] * 2 * x[0])
        return fnp.sum(y * fnp.linspace(0, 1, 3)) + fnp.sum(fnp.asarray([1.0, 2.0, 3.0]) * x)

    x = np.array([0.1, 0.2, 0.3])
    xd = put(x, device)
    for transform in (fgrad.grad(f), fgrad.jacfwd(f), fgrad.hessian(f)):
        got = transform(xd)
        assert_on(got, device)
        np.testing.assert_allclose(get(got), transform(x), rtol=1e-12)
    closed = fgrad.make_jaxpr(f)(xd)
    assert_on(closed.consts, device)
    np.testing.assert_allclose(get(closed(xd)), f(x), rtol=1e-12)


def test_higher_order_and_custom_rules_on_the_backend(device):
    x = np.array([0.3, -0.7, 1.1])
    xd = put(x, device)

    @fgrad.custom_vjp
    def cube(v):
        return v**3

    cube.defvjp(lambda v: (v**3, v), lambda v, g: (3 * v**2 * g,))  # linear in g: jvp works

    def f(v):
        return fnp.sum(fnp.logaddexp(v, 0.0) * fnp.sin(v)) + fnp.sum(cube(v) * 3.0)

    for transform in (
        fgrad.grad(fgrad.checkpoint(f)),
        fgrad.jacrev(fgrad.grad(f)),
        lambda v: fgrad.hvp(f, (v,), (v,)),
        lambda v: fgrad.linearize(f, v)[1](v),
    ):
        got = transform(xd)
        assert_on(got, device)
        np.testing.assert_allclose(get(got), transform(x), rtol=1e-12)


# -- mixing backends and moving data -----------------------------------------------------


def test_mixing_backends_is_a_clear_error(device):
    xd = put(np.ones(3), device)
    with pytest.raises(BackendError, match=r"different devices .*device_put"):
        fnp.add(xd, np.ones(3))
    with pytest.raises(BackendError, match=r"different devices"):
        fgrad.grad(lambda v: fnp.sum(v * np.arange(3.0)))(xd)
    with pytest.raises(BackendError, match=r"different devices"):
        fgrad.grad(lambda v, w: fnp.sum(v * w))(xd, np.ones(3))


def test_device_put_and_get_round_trip(device):
    tree = {"a": np.arange(6.0).reshape(2, 3), "b": [np.float32(1.5), 2.0], "c": None}
    on_device = put(tree, device)
    assert_on(on_device["a"], device)
    assert put(on_device, device)["a"] is on_device["a"]  # already there: no copy
    back = get(on_device)
    assert isinstance(back["a"], np.ndarray)
    np.testing.assert_array_equal(back["a"], tree["a"])
    assert back["b"][1] == 2.0 and back["c"] is None
    created = fnp.zeros((2, 2), device=device)
    assert_on(created, device)


def test_devices_and_unknown_device():
    assert fgrad.devices()[0] == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        fgrad.device_put(np.ones(2), "tpu")


def test_import_fgrad_does_not_import_cupy_or_scipy():
    code = (
        "import sys, fgrad, fgrad.numpy, fgrad.optim, fgrad.nn; "
        "x = fgrad.grad(lambda v: fgrad.numpy.sum(v * v))(fgrad.numpy.ones(3)); "
        "bad = [m for m in ('cupy', 'scipy', 'autograd', 'jax', 'torch') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif("gpu" in fgrad.devices(), reason="CuPy with a GPU is present")
def test_asking_for_a_gpu_without_cupy_says_how_to_get_one():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(BackendError, match=r"fgrad\[cuda\]"):
            fgrad.device_put(np.ones(2), "gpu")
    else:  # CuPy installed but no device: CuPy itself reports it
        with pytest.raises(Exception):  # noqa: B017
            fgrad.device_put(np.ones(2), "gpu")


def test_indexing_with_masks_and_indices_on_the_device(device):
    x = np.arange(5.0)
    xd = put(x, device)
    idx = np.array([0, 0, 3])

    def f(v, i):
        return fnp.sum(v[v > 2] ** 2) + fnp.sum(v[i]) + 3 * v[fnp.argmax(v)]

    got = fgrad.grad(f)(xd, put(idx, device))
    assert_on(got, device)
    # d/dv: 2 v on v > 2, the gather's repeated indices accumulate, 3 at the argmax
    np.testing.assert_array_equal(get(got), [2.0, 0.0, 0.0, 7.0, 11.0])
    np.testing.assert_array_equal(get(got), fgrad.grad(f)(x, idx))


LINALG_AND_FFT = {
    "solve": lambda a: fnp.sum(fnp.linalg.solve(a, a[:, 0])),
    "inv-det": lambda a: fnp.sum(fnp.linalg.inv(a)) + fnp.linalg.det(a),
    "slogdet": lambda a: fnp.linalg.slogdet(a)[1],
    "cholesky": lambda a: fnp.sum(fnp.linalg.cholesky(a @ a.T) ** 2),
    "eigh": lambda a: fnp.sum(fnp.linalg.eigh(a + a.T)[0] ** 3),
    "svd": lambda a: fnp.sum(fnp.linalg.svd(a, compute_uv=False)),
    "qr": lambda a: fnp.sum(fnp.linalg.qr(a)[1] ** 2),
    "norm": lambda a: fnp.linalg.norm(a, "nuc") + fnp.linalg.norm(a[0]),
    "eig": lambda a: fnp.sum(fnp.abs(fnp.linalg.eig(a)[0]) ** 2),
    "pinv-rank": lambda a: fnp.sum(fnp.linalg.pinv(a)) * fnp.linalg.matrix_rank(a),
    "fft": lambda a: fnp.sum(fnp.abs(fnp.fft.fft2(a)) ** 2),
    "rfft-irfft": lambda a: fnp.sum(fnp.fft.irfft(fnp.fft.rfft(a, n=6), n=5) ** 2),
}


@pytest.mark.parametrize("name", sorted(LINALG_AND_FFT))
def test_linalg_and_fft_on_the_backend(name, device):
    f = LINALG_AND_FFT[name]
    a = np.eye(4) * 3 + np.random.default_rng(4).standard_normal((4, 4))
    want_value, want_g = fgrad.value_and_grad(f)(a)
    for step in (fgrad.value_and_grad(f), fgrad.jit(fgrad.value_and_grad(f))):
        value, g = step(put(a, device))
        assert_on(g, device)
        np.testing.assert_allclose(get(value), want_value, **_tol(np.float64))
        np.testing.assert_allclose(get(g), want_g, **_tol(np.float64))


# -- vmap on the backend --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_batch_rules_on_backend(case, device):
    examples = [case.materialize(k)[0] for k in range(3)]
    batched = [
        spec.value if isinstance(spec, Const) else np.stack([ex[i] for ex in examples])
        for i, spec in enumerate(case.args)
    ]
    in_axes = tuple(None if isinstance(spec, Const) else 0 for spec in case.args)

    def f(*xs):
        return fgrad.core.primitive.bind(case.prim, *xs, **case.params)

    with np.errstate(all="ignore"):
        want = fgrad.vmap(f, in_axes=in_axes)(*batched)
        got = fgrad.vmap(f, in_axes=in_axes)(
            *[put(b, device) if isinstance(b, np.ndarray) else b for b in batched]
        )
    assert_on(got, device)
    np.testing.assert_allclose(get(got), want, rtol=1e-10, atol=1e-12)


def test_per_example_gradients_on_the_backend(device):
    """Labels index each example's logits: the batch's row ids must be made on the device."""
    rng = np.random.default_rng(1)
    params = nn.mlp_init(rng, [4, 8, 3])
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)

    def example_loss(params, xi, yi):
        logits = nn.mlp_apply(params, xi, activation=fnp.tanh)
        return nn.logsumexp(logits) - logits[yi]

    per_example = fgrad.vmap(fgrad.grad(example_loss), in_axes=(None, 0, 0))
    check_on_device(per_example, (params, x, y), device)


def test_jit_on_the_backend(device):
    """Constants folded at compile time and arrays made from Python scalars at run time
    land on the arguments' device; the cache keeps one program per device."""
    rng = np.random.default_rng(2)
    params = nn.mlp_init(rng, [4, 8, 3])
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    step = fgrad.jit(
        lambda p, x, y, lr: fgrad.tree_map(
            lambda w, g: w - lr * g, p, fgrad.grad(mlp_loss)(p, x, y)
        )
    )
    check_on_device(lambda p, x, y: step(p, x, y, 0.1), (params, x, y), device)
    # transforms of a jitted function compile there too (fgrad/transforms/jit_rules.py)
    jitted_loss = fgrad.jit(mlp_loss)
    check_on_device(fgrad.grad(jitted_loss), (params, x, y), device)
    per_example = fgrad.vmap(jitted_loss, in_axes=(None, 0, 0))
    check_on_device(per_example, (params, x[:, None], y[:, None]), device)
    tangent = fgrad.tree_map(np.ones_like, params)

    def directional(p, t, x, y):
        return fgrad.jvp(lambda q: jitted_loss(q, x, y), (p,), (t,))

    check_on_device(directional, (params, tangent, x, y), device)
    scaled = fgrad.jit(lambda s, v: fnp.astype(s, np.float64) * v + fnp.ones(3))
    out = scaled(2.0, put(np.arange(3.0), device))
    assert_on(out, device)
    np.testing.assert_array_equal(get(out), 2.0 * np.arange(3.0) + 1)


def test_jit_explains_a_failing_equation_of_the_replay(device):
    """A host array closed over meets device arguments only at replay; the generated code
    maps the failure back to its equation, explained as in eager mode."""
    w = np.arange(3.0)
    f = fgrad.jit(lambda v: fnp.sin(v) * w)
    with pytest.raises(BackendError, match=r"`mul` live on different devices.*device_put"):
        f(put(np.ones(3), device))


def test_control_flow_on_the_backend(device):
    """while_loop's compiled impl, its masked vmap loop and scan keep values on the device."""
    from fgrad import lax

    def newton_sqrt(a):
        def step(x):
            return 0.5 * (x + a / x)

        return lax.while_loop(lambda x: fnp.abs(step(x) - x) > 1e-12 * x, step, a)

    a = np.array([2.0, 9.0, 0.25])
    check_on_device(fgrad.vmap(newton_sqrt), (a,), device)
    check_on_device(fgrad.jit(fgrad.vmap(newton_sqrt)), (a,), device)
    check_on_device(fgrad.vmap(fgrad.grad(newton_sqrt)), (a,), device)
    check_on_device(
        fgrad.jit(lambda xs: lax.scan(lambda c, x: (c * x + 1.0, c), fnp.ones(()), xs)),
        (np.arange(1.0, 4.0),),
        device,
    )
