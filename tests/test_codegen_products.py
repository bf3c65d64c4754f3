"""The replay's call sites and the fused tier's rewrites that the ``erm_epoch`` work added.

* ``dot_general`` that is one ``np.matmul`` (``dot_general.matmul_form``) is written by the
  code generator as that call (``np_matmul(v0, a1.T)``). Every dimension-number pattern
  (vectors, matrices, transposed operands on either side, a stack of rows times a matrix,
  batch axes, outer products, several contracted axes), in float64, float32, int32, int64,
  bool and complex, on non-contiguous inputs and with zero-size axes, gives the eager
  result bit for bit, and for a matmul form the independent NumPy expression it stands for;
  the patterns that are not one matmul keep the impl's call. ``jit`` of ``grad``, ``vmap``
  of ``jit`` and ``jit`` of ``vmap(grad)`` equal eager mode bit for bit.
* ``tie_weights`` (a max or min reduction's derivative weights) is rewritten by
  ``fusible_forms`` into elementwise equations that join the fused kernels: the fused
  program equals the replay and eager mode bit for bit, ties included, in float32 and
  float64, over any axes; where a kernel cannot compute the parts (zero-size arrays) the
  equation stays.
* The pairwise sum of NumPy's order (``sum_order.PAIRWISE_SOURCE``) equals ``np.sum``
  for every length up to 300 and longer ones (blocks of 128 in balanced and unbalanced
  trees), from any offset, both float dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fusing, jit_run

import fgrad
import fgrad.numpy as fnp
from fgrad.primitives.dot_general import dot_general, matmul_form
from fgrad.transforms.codegen import Replay
from fgrad.transforms.fusible_forms import expand
from fgrad.transforms.optimize import optimize

RNG = np.random.default_rng(160)


def _same_bits(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind in "fc":
        assert np.array_equal(got.reshape(-1).view(np.uint8), want.reshape(-1).view(np.uint8))
    else:
        np.testing.assert_array_equal(got, want)


def _data(shape, dtype) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return RNG.random(shape) < 0.5
    if dt.kind in "iu":
        return RNG.integers(-50, 50, shape).astype(dt)
    x = RNG.standard_normal(shape) * 10.0 ** RNG.integers(-3, 3, shape)
    if dt.kind == "c":
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(dt)


M, K, N, B = 5, 7, 3, 4
# (x shape, y shape, dimension numbers, the NumPy expression of a matmul form or None)
PATTERNS = [
    ((K,), (K,), (((0,), (0,)), ((), ())), lambda x, y: np.matmul(x, y)),
    ((K,), (K, N), (((0,), (0,)), ((), ())), lambda x, y: np.matmul(x, y)),
    ((K,), (N, K), (((0,), (1,)), ((), ())), lambda x, y: np.matmul(x, y.T)),
    ((M, K), (K,), (((1,), (0,)), ((), ())), lambda x, y: np.matmul(x, y)),
    ((K, M), (K,), (((0,), (0,)), ((), ())), lambda x, y: np.matmul(x.T, y)),
    ((M, K), (K, N), (((1,), (0,)), ((), ())), lambda x, y: np.matmul(x, y)),
    ((K, M), (K, N), (((0,), (0,)), ((), ())), lambda x, y: np.matmul(x.T, y)),
    ((M, K), (N, K), (((1,), (1,)), ((), ())), lambda x, y: np.matmul(x, y.T)),
    ((K, M), (N, K), (((0,), (1,)), ((), ())), lambda x, y: np.matmul(x.T, y.T)),
    ((B, M, K), (K, N), (((2,), (0,)), ((), ())), lambda x, y: np.matmul(x, y)),
    ((B, M, K), (N, K), (((2,), (1,)), ((), ())), lambda x, y: np.matmul(x, y.T)),
    # not one matmul: the impl's call
    ((B, K, M), (K, N), (((1,), (0,)), ((), ())), None),
    ((M, K), (B, K, N), (((1,), (1,)), ((), ())), None),
    ((M, K, 2), (K, 2, N), (((1, 2), (0, 1)), ((), ())), None),
    ((M,), (N,), (((), ()), ((), ())), None),
    ((B, M, K), (B, K, N), (((2,), (1,)), ((0,), (0,))), None),
    ((M, B, K), (K, N, B), (((2,), (0,)), ((1,), (2,))), None),
]
DTYPES = [np.float64, np.float32, np.int32, np.int64, np.bool_, np.complex128]


def _replay(fn, *args) -> Replay:
    return Replay(optimize(fgrad.make_jaxpr(fn)(*args)))


class TestMatmulCallSites:
    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
    def test_every_pattern_equals_eager_and_numpy_bit_for_bit(self, dtype):
        for xs, ys, dims, numpy_form in PATTERNS:
            x, y = _data(xs, dtype), _data(ys, dtype)
            replay = _replay(lambda a, b, d=dims: dot_general(a, b, d), x, y)
            form = matmul_form(len(xs), len(ys), dims)
            assert (form is not None) == (numpy_form is not None), dims
            assert ("np_matmul(" in replay.source) == (form is not None), replay.source
            assert ("dot_general(" in replay.source) == (form is None), replay.source
            (got,) = replay([x, y])
            eager = dot_general(x, y, dims)
            _same_bits(got, eager)
            if numpy_form is not None:
                _same_bits(got, numpy_form(x, y))
            _same_bits(fgrad.jit(lambda a, b, d=dims: dot_general(a, b, d))(x, y), eager)

    def test_the_transposes_are_views_not_copies(self):
        x, y = _data((K, M), np.float64), _data((N, K), np.float64)
        source = _replay(lambda a, b: dot_general(a, b, (((0,), (1,)), ((), ()))), x, y).source
        assert "np_matmul(a0.T, a1.T)" in source
        assert "ascontiguousarray" not in source and "transpose" not in source

    @pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
    def test_non_contiguous_inputs(self, dtype):
        base_x, base_y = _data((2 * K, 3 * M), dtype), _data((3 * N, 2 * K), dtype)
        x, y = base_x[::2, ::3], base_y[::3, ::-2]  # strided, one reversed
        assert not x.flags.c_contiguous and not y.flags.c_contiguous
        # x: (M, K) read down its columns, y: (K, N) backwards along its rows
        for a, b, dims in [
            (x.T, y.T, (((1,), (0,)), ((), ()))),  # a plain product of strided views
            (x, y, (((0,), (1,)), ((), ()))),  # both transposed back in the call
        ]:
            got = fgrad.jit(lambda a, b, d=dims: dot_general(a, b, d))(a, b)
            _same_bits(got, dot_general(a, b, dims))
            _same_bits(got, np.matmul(x.T, y.T))

    @pytest.mark.parametrize(
        ("xs", "ys", "dims"),
        [
            ((0, K), (K, N), (((1,), (0,)), ((), ()))),
            ((M, 0), (0, N), (((1,), (0,)), ((), ()))),  # an empty sum: zeros
            ((0, M), (N, 0), (((0,), (1,)), ((), ()))),
            ((B, 0, K), (N, K), (((2,), (1,)), ((), ()))),
            ((0,), (0,), (((0,), (0,)), ((), ()))),
        ],
    )
    def test_zero_size_axes(self, xs, ys, dims):
        x, y = _data(xs, np.float64), _data(ys, np.float64)
        got = fgrad.jit(lambda a, b: dot_general(a, b, dims))(x, y)
        _same_bits(got, dot_general(x, y, dims))
        a = x if dims[0][0][0] == x.ndim - 1 else x.T
        _same_bits(got, np.matmul(a, y if dims[0][1][0] == 0 else y.T))

    def test_grad_vmap_and_jit_compositions_equal_eager(self):
        w1, w2 = _data((K, 8), np.float64), _data((8, N), np.float64)
        x = _data((M, K), np.float64)

        def loss(w1, w2, x):
            h = fnp.tanh(x @ w1)
            return fnp.sum((h @ w2) ** 2) + fnp.sum(fnp.dot(x.T, h))

        eager = fgrad.grad(loss, argnums=(0, 1, 2))(w1, w2, x)
        jitted = fgrad.jit(fgrad.grad(loss, argnums=(0, 1, 2)))(w1, w2, x)
        through = fgrad.grad(fgrad.jit(loss), argnums=(0, 1, 2))(w1, w2, x)
        for a, b, c in zip(jitted, through, eager):
            _same_bits(a, c)
            _same_bits(b, c)
        rows = _data((B, M, K), np.float64)
        per_row = fgrad.vmap(fgrad.jit(lambda x: fnp.tanh(x @ w1) @ w2))(rows)
        for k in range(B):
            _same_bits(per_row[k], fnp.tanh(rows[k] @ w1) @ w2)
        per_example = fgrad.jit(fgrad.vmap(fgrad.grad(loss), in_axes=(None, None, 0)))(
            w1, w2, rows
        )
        for k in range(B):
            _same_bits(per_example[k], fgrad.grad(loss)(w1, w2, rows[k]))


@pytest.fixture
def _kernel_folder(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))


def _ties(shape, dtype) -> np.ndarray:
    """Few distinct values, so maxima and minima tie along every axis."""
    return RNG.integers(0, 3, shape).astype(dtype) * dtype(0.5)


@pytest.mark.usefixtures("_kernel_folder")
class TestTieWeightsRewrite:
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_fused_gradients_of_max_and_min_equal_the_replay_and_eager(self, dtype):
        pytest.importorskip("numba")
        x = _ties((4, 6, 5), dtype)

        def f(x):
            y = x * 1.5
            return (
                fnp.sum(fnp.max(y, axis=1) * 2.0)
                + fnp.sum(fnp.min(y, axis=(0, 2)))  # not adjacent axes
                - fnp.sum((y - fnp.max(y, axis=-1, keepdims=True)) ** 2)
            )

        grad = fgrad.grad(f)
        closed = optimize(fgrad.make_jaxpr(grad)(x))
        assert sum(e.prim.name == "tie_weights" for e in closed.jaxpr.eqns) == 3
        assert all(e.prim.name != "tie_weights" for e in expand(closed).jaxpr.eqns)
        fused = jit_run(grad, (x,), "force")
        _same_bits(fused, jit_run(grad, (x,), "off"))
        _same_bits(fused, grad(x))
        text = fgrad.jit(grad).lower(x).as_text()
        assert "tie_weights(" not in text

    def test_the_rewrite_is_the_impl_definition(self):
        x = _ties((6, 7), np.float64)
        ans = x.max(axis=0, keepdims=True)
        (eqn,) = [
            e
            for e in optimize(fgrad.make_jaxpr(fgrad.grad(lambda x: fnp.sum(fnp.max(x, 0))))(x))
            .jaxpr.eqns
            if e.prim.name == "tie_weights"
        ]
        parts = expand(
            fgrad.core.jaxpr.ClosedJaxpr(
                fgrad.core.jaxpr.Jaxpr([], eqn.invars, [eqn], eqn.outvars), [], None, None
            )
        ).jaxpr.eqns
        assert [e.prim.name for e in parts] == [
            "eq",
            "reduce_sum",
            "convert_element_type",
            "convert_element_type",
            "div",
        ]
        env = {eqn.invars[0]: x, eqn.invars[1]: ans}
        for e in parts:
            env[e.outvars[0]] = e.prim.impl(*(env[v] for v in e.invars), **e.params)
        want = (x == ans) / (x == ans).sum(axis=0, keepdims=True)
        _same_bits(env[eqn.outvars[0]], want)
        assert env[eqn.outvars[0]][:, 0].sum() == 1.0

    def test_zero_size_tie_weights_stay_one_equation(self):
        x = np.zeros((3, 0))
        grad = fgrad.grad(lambda x: fnp.sum(fnp.max(x, axis=0)))
        closed = optimize(fgrad.make_jaxpr(grad)(x))
        names = [e.prim.name for e in expand(closed).jaxpr.eqns]
        assert "tie_weights" in names and "eq" not in names
        with fusing("force"):
            _same_bits(fgrad.jit(grad)(x), np.zeros((3, 0)))


def test_block_sums_follow_numpys_pairwise_order():
    numba = pytest.importorskip("numba")
    from fgrad.transforms.sum_order import PAIRWISE_SOURCE

    space = {"np": np, "njit": numba.njit}
    exec(PAIRWISE_SOURCE, space)  # noqa: S102
    pairwise = space["_pairwise"]
    for dtype in (np.float64, np.float32):
        zero = dtype(0)
        data = _data(16400, dtype)
        for n in [*range(300), 1000, 1024, 1100, 2048, 3072, 8192, 16384]:
            for lo in (0, 3, 16):
                want = np.sum(data[lo : lo + n])
                got = pairwise(data, lo, n, zero)  # numba returns a Python float
                assert float(dtype(got)) == got  # a float32 sum stays float32
                _same_bits(dtype(got), want)
