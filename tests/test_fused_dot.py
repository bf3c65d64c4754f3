"""Blocks (``fgrad.transforms.fused_blocks``): ``dot_general`` and structural operations inside
jit's fused kernels, against the NumPy replay (``fgrad_fuse`` forced against off).

Every dimension-number pattern of ``dot_general`` (matrix, vector and scalar operands,
contracting axes on either side, several contracting axes, batch axes leading or not, outer
products), in float64, float32, int32, int64 and mixed dtypes, both as BLAS calls and as
loops, with NEP 50 weak scalars after the product; ``transpose``, ``reshape`` and
``broadcast_to`` of floats, ints and bools; and the benchmark programs (an MLP step, per-example
gradients, a softmax cross-entropy step). A product's error is bounded by
``c * eps * (|x| . |y|)`` (the sum of its terms' magnitudes), ``c`` 1e-12/eps in float64
(the brief's rtol 1e-12) and a few times the contracted length in float32; integers agree
exactly, overflow included.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import jit_run

import fgrad
import fgrad.numpy as fnp
from fgrad.primitives.dot_general import dot_general
from fgrad.transforms import fused_blocks, fusion
from fgrad.transforms.optimize import optimize

numba = pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def _every_block_joined(tmp_path_factory, monkeypatch):
    """Kernels in one folder of the test session, and every run of two or more lowerable
    equations joined into a block, whatever the cost model says (it has its own test)."""
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.setattr(fused_blocks, "_pays_off", lambda block, n_inputs: True)


def _kernel_names(fn, args) -> list[str]:
    closed = fusion.fuse(optimize(fgrad.make_jaxpr(fn)(*args)))
    return [] if closed is None else [e.prim.name for e in closed.jaxpr.eqns]


def _same_types(fused, replay) -> None:
    flat_f, tree_f = fgrad.tree_util.tree_flatten(fused)
    flat_r, tree_r = fgrad.tree_util.tree_flatten(replay)
    assert tree_f == tree_r
    for a, b in zip(flat_f, flat_r):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        assert np.shape(a) == np.shape(b)
        assert isinstance(a, np.ndarray | np.generic), type(a)


# (x shape, y shape, dimension numbers) with n the size of most axes
def _patterns(n: int) -> list[tuple]:
    return [
        ((4, n), (n, 6), (((1,), (0,)), ((), ()))),  # x @ y
        ((n, 4), (n, 6), (((0,), (0,)), ((), ()))),  # x.T @ y
        ((4, n), (6, n), (((1,), (1,)), ((), ()))),  # x @ y.T
        ((n, 4), (6, n), (((0,), (1,)), ((), ()))),  # x.T @ y.T
        ((n,), (n, 6), (((0,), (0,)), ((), ()))),  # vector @ matrix
        ((4, n), (n,), (((1,), (0,)), ((), ()))),  # matrix @ vector
        ((n,), (n,), (((0,), (0,)), ((), ()))),  # vector . vector: a scalar
        ((3, 4, n), (n, 6), (((2,), (0,)), ((), ()))),  # a stack of rows @ matrix
        ((3, 4, n), (4, n, 6), (((1, 2), (0, 1)), ((), ()))),  # two contracted axes
        ((3, n, 4), (6, 4, n), (((2, 1), (1, 2)), ((), ()))),  # ... paired out of order
        ((4, n), (6,), (((), ()), ((), ()))),  # outer product
        ((), (4, n), (((), ()), ((), ()))),  # scalar times matrix
        ((7, 4, n), (7, n, 6), (((2,), (1,)), ((0,), (0,)))),  # batched matmul
        ((4, 7, n), (n, 6, 7), (((2,), (0,)), ((1,), (2,)))),  # batch axes not leading
        ((7, 4), (7, n), (((), ()), ((0,), (0,)))),  # batched outer products
        ((7, n), (7, n), (((1,), (1,)), ((0,), (0,)))),  # batched vector dots
        ((2, 3, 4, n), (2, 3, n), (((3,), (2,)), ((0, 1), (0, 1)))),  # two batch axes
    ]


_DTYPES = [
    ("float64", "float64"),
    ("float32", "float32"),
    ("int32", "int32"),
    ("int64", "int64"),
    ("float32", "float64"),
    ("int32", "float32"),
    ("int64", "float64"),
]


def _data(shape, dtype: str, rng) -> np.ndarray:
    if np.dtype(dtype).kind == "i":
        return rng.integers(-50, 50, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _check_product(got, want, x, y, dims) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "i":
        np.testing.assert_array_equal(got, want)
        return
    (xc, _), _ = dims
    k = int(np.prod([np.shape(x)[i] for i in xc], dtype=np.int64))
    # the sum of the terms' magnitudes bounds any summation order's error
    scale = np.asarray(dot_general(np.abs(x).astype(got.dtype), np.abs(y).astype(got.dtype), dims))
    if got.dtype == np.float64:
        bound = 1e-12 * scale
    else:
        bound = 2 * (k + 1) * np.finfo(np.float32).eps * scale
    bound = np.reshape(bound, want.shape) + np.finfo(got.dtype).tiny
    assert np.all(np.abs(got.astype(np.float64) - want) <= bound)


@pytest.mark.parametrize("dtypes", _DTYPES, ids=lambda d: "-".join(d))
@pytest.mark.parametrize("n", [2, 12])
@pytest.mark.parametrize("loops", [False, True], ids=["cost-model", "loops-only"])
def test_every_dot_general_pattern_matches_the_replay(dtypes, n, loops, monkeypatch):
    if loops:  # every product a loop nest, also those BLAS computes otherwise
        monkeypatch.setattr(fused_blocks, "LOOP_MACS", 1 << 30)
    rng = np.random.default_rng(n)
    for xs, ys, dims in _patterns(n):
        x, y = _data(xs, dtypes[0], rng), _data(ys, dtypes[1], rng)

        def f(x, y, dims=dims):
            d = dot_general(x, y, dims)
            return d, fnp.reshape(d, (1, -1))

        fused, replay = jit_run(f, (x, y), "force"), jit_run(f, (x, y), "off")
        assert "block0" in _kernel_names(f, (x, y)), (xs, ys, dims)
        _same_types(fused, replay)
        for got, want in zip(fused, replay):
            _check_product(got, want, x, y, dims)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_weak_scalars_after_a_product_keep_its_dtype(dtype):
    rng = np.random.default_rng(1)
    x, y = _data((5, 3), dtype, rng), _data((3, 4), dtype, rng)

    def f(x, y):
        d = x @ y
        return fnp.transpose(d) * 2, (d + 1).T, fnp.broadcast_to(d[None], (2, 5, 4))

    fused, replay = jit_run(f, (x, y), "force"), jit_run(f, (x, y), "off")
    _same_types(fused, replay)
    assert all(np.asarray(v).dtype == np.dtype(dtype) for v in fgrad.tree_util.tree_leaves(fused))
    for a, b in zip(fgrad.tree_util.tree_leaves(fused), fgrad.tree_util.tree_leaves(replay)):
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == "float32" else 1e-12)
    assert any(n.startswith("block") for n in _kernel_names(f, (x, y)))


def test_int32_products_wrap_on_overflow_as_numpy_does():
    rng = np.random.default_rng(2)
    x = rng.integers(2**20, 2**24, size=(3, 8)).astype(np.int32)
    y = rng.integers(2**20, 2**24, size=(8, 2)).astype(np.int32)

    def f(x, y):
        d = x @ y
        return d.T, fnp.reshape(d, (-1,))

    fused = jit_run(f, (x, y), "force")
    with np.errstate(over="ignore"):
        want = x @ y
    assert not np.array_equal(want, x.astype(np.int64) @ y.astype(np.int64))  # it wrapped
    np.testing.assert_array_equal(fused[0], want.T)
    np.testing.assert_array_equal(fused[1], want.ravel())


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.bool_])
def test_transpose_reshape_broadcast_of_any_dtype(dtype):
    x = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)

    def f(x):
        t = fnp.transpose(x, (2, 0, 1))
        r = fnp.reshape(t, (4, 6))
        b = fnp.broadcast_to(r[:, None, :], (4, 2, 6))
        return t, r, b, fnp.reshape(x[:1, :1, :1], ())

    fused, replay = jit_run(f, (x,), "force"), jit_run(f, (x,), "off")
    _same_types(fused, replay)
    for a, b in zip(fused, replay):
        np.testing.assert_array_equal(a, b)


def _mlp_step(params, x, y):
    def loss(p):
        h = x
        for w, b in p[:-1]:
            h = fnp.tanh(h @ w + b)
        w, b = p[-1]
        err = h @ w + b - y
        return fnp.mean(err * err)

    value, grads = fgrad.value_and_grad(loss)(params)
    return value, [(w - 0.1 * dw, b - 0.1 * db) for (w, b), (dw, db) in zip(params, grads)]


def _mlp(dtype, sizes=(2, 8, 8, 1), batch=16, seed=0):
    rng = np.random.default_rng(seed)
    params = [
        (
            rng.standard_normal((m, n)).astype(dtype) / np.sqrt(m),
            0.1 * rng.standard_normal(n).astype(dtype),
        )
        for m, n in zip(sizes[:-1], sizes[1:])
    ]
    return (
        params,
        rng.standard_normal((batch, sizes[0])).astype(dtype),
        rng.standard_normal((batch, 1)).astype(dtype),
    )


def _close(fused, replay, dtype) -> None:
    _same_types(fused, replay)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b in zip(fgrad.tree_util.tree_leaves(fused), fgrad.tree_util.tree_leaves(replay)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_step_is_one_block(dtype):
    params, x, y = _mlp(dtype)
    args = (params, x, y)
    fused, replay = jit_run(_mlp_step, args, "force"), jit_run(_mlp_step, args, "off")
    _close(fused, replay, dtype)
    names = _kernel_names(_mlp_step, (params, x, y))
    assert "dot_general" not in names and any(n.startswith("block") for n in names)


def test_per_example_gradients_batched_products_in_a_block():
    params, x, y = _mlp(np.float64, batch=12)

    def loss(p, xi, yi):
        return _mlp_step(p, xi[None], yi[None])[0]

    per_example = fgrad.vmap(fgrad.grad(loss), in_axes=(None, 0, 0))
    fused, replay = (
        jit_run(per_example, (params, x, y), "force"),
        jit_run(per_example, (params, x, y), "off"),
    )
    _close(fused, replay, np.float64)
    names = _kernel_names(per_example, (params, x, y))
    assert "dot_general" not in names and any(n.startswith("block") for n in names)


def test_softmax_cross_entropy_step_matches_the_replay():
    rng = np.random.default_rng(3)
    params, x, _ = _mlp(np.float64, sizes=(6, 16, 5), batch=9)
    onehot = np.eye(5)[rng.integers(0, 5, size=9)]

    def step(p, x, onehot):
        def loss(p):
            h = x
            for w, b in p[:-1]:
                h = fnp.maximum(h @ w + b, 0.0)
            logits = h @ p[-1][0] + p[-1][1]
            z = logits - fnp.max(logits, axis=1, keepdims=True)
            logp = z - fnp.log(fnp.sum(fnp.exp(z), axis=1, keepdims=True))
            return -fnp.mean(fnp.sum(onehot * logp, axis=1)) + 1e-3 * fnp.sum(p[0][0] ** 2)

        value, g = fgrad.value_and_grad(loss)(p)
        return value, fgrad.tree_util.tree_map(lambda a, b: a - 0.05 * b, p, g)

    args = (params, x, onehot)
    _close(jit_run(step, args, "force"), jit_run(step, args, "off"), np.float64)
    assert any(n.startswith("block") for n in _kernel_names(step, args))


def test_cost_model_leaves_cheap_runs_and_large_batched_products_alone(monkeypatch):
    monkeypatch.undo()  # the real cost model
    x = np.ones(3)
    assert _kernel_names(lambda x: x * x * x, (x,)) == []  # two tiny NumPy calls: not fused
    dims = (((2,), (1,)), ((0,), (0,)))
    for n, joins in ((8, True), (64, False)):  # 2^9 and 2^18 multiply-adds (NumPy's matmul)
        a = np.ones((n, n, n))
        (eqn,) = fgrad.make_jaxpr(lambda a, b: dot_general(a, b, dims))(a, a).jaxpr.eqns
        assert fused_blocks.lowerable(eqn) is joins


def test_large_products_and_copies_stay_numpy_calls(monkeypatch):
    # a product large enough for OpenBLAS's threads stays NumPy's (numba's np.dot reaches a
    # second OpenBLAS, whose threads would compete with NumPy's), and so does a large copy
    monkeypatch.undo()
    dims = (((1,), (0,)), ((), ()))
    for n, joins in ((32, True), (64, False)):  # 2^15 and 2^18 multiply-adds
        a = np.ones((n, n))
        (eqn,) = fgrad.make_jaxpr(lambda a, b: dot_general(a, b, dims))(a, a).jaxpr.eqns
        assert fused_blocks.lowerable(eqn) is (joins and fused_blocks._blas_available())
    for n, joins in ((64, True), (256, False)):  # 2^12 and 2^16 elements
        (eqn,) = fgrad.make_jaxpr(lambda a: a.T)(np.ones((n, n))).jaxpr.eqns
        assert fused_blocks.lowerable(eqn) is joins
