"""Sums in fused kernels add up in NumPy's order (``fgrad.transforms.sum_order``), bit for bit.

A cluster kernel (:mod:`fgrad.transforms.numba_lowering`) and a loop kernel
(:mod:`fgrad.transforms.fusion_loops`) reproduce ``np.sum``'s order: pairwise over the
contiguous trailing run (8 partial sums, 128-term blocks, halves above), element by element
over leading axes, in the output's dtype. So their sums and means equal NumPy's exactly,
for float32 and float64, runs shorter and longer than 8 and 128 and not multiples of
either, every subset of axes, with and without ``keepdims``. Also: a value that varies
along fewer axes than its cluster (a bias update beside a weight update) is computed in its
own loop nest, independent clusters of one shape interleaved with others join one kernel,
and constants broadcast from a scalar are written into the kernel.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import jit_run

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.transforms import fusion
from fgrad.transforms.optimize import optimize
from fgrad.transforms.sum_order import pairwise_text, trailing_run

pytest.importorskip("numba")

RNG = np.random.default_rng(16)
DTYPES = (np.float32, np.float64)
SHAPES = [
    (1,),
    (5,),
    (8,),
    (9,),
    (128,),
    (129,),
    (300,),
    (1000,),
    (3, 7),
    (64, 10),
    (10, 64),
    (4, 130),
    (130, 4),
    (2, 300),
    (1, 9),
    (9, 1),
    (2, 3, 4),
    (3, 1, 200),
    (5, 40, 9),
    (2, 2, 140),
]
# Every shape in float32, where a different summation order shows first; float64 runs the
# same generated loops with another type, so a few shapes (each block boundary kind) cover
# it. Each case compiles its own kernels from a cold cache, which is what the tests cost.
SHAPE_DTYPES = [(s, np.float32) for s in SHAPES] + [
    (s, np.float64) for s in [(1,), (129,), (1000,), (4, 130), (3, 1, 200), (2, 2, 140)]
]


@pytest.fixture(autouse=True)
def _kernel_folder(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))


def _values(shape, dtype) -> np.ndarray:
    """Terms of many magnitudes and both signs, so every change of order shows."""
    x = RNG.standard_normal(shape) * 10.0 ** RNG.integers(-5, 5, shape)
    return x.astype(dtype)


def _subsets(ndim: int):
    for r in range(1, ndim + 1):
        yield from itertools.combinations(range(ndim), r)


def _fused_kernels(fn, args) -> int:
    """How many kernels (clusters and blocks) the fused program of ``fn`` calls."""
    closed = fusion.fuse(optimize(fgrad.make_jaxpr(fn)(*args)))
    if closed is None:
        return 0
    return sum(isinstance(e.prim, fusion.FusedKernel) for e in closed.jaxpr.eqns)


def _assert_identical(got, want) -> None:
    assert np.asarray(got).dtype == np.asarray(want).dtype
    assert np.shape(got) == np.shape(want)
    np.testing.assert_array_equal(got, want)
    # the same bits: +0.0 and -0.0 compare equal above
    assert np.array_equal(np.signbit(got), np.signbit(want))


class TestClusterSums:
    """One cluster kernel per shape and dtype computes every sum and mean of the shape."""

    @pytest.mark.parametrize(
        ("shape", "dtype"), SHAPE_DTYPES, ids=[f"{s}-{d.__name__}" for s, d in SHAPE_DTYPES]
    )
    def test_sums_and_means_equal_numpys(self, shape, dtype):
        x = _values(shape, dtype)
        subsets = list(_subsets(len(shape)))

        def f(x):
            y = x * 1.5 - 0.25  # computed in the kernel, summed there
            out = []
            for k, axes in enumerate(subsets):
                out.append(fnp.sum(y, axis=axes, keepdims=k % 2 == 1))
                out.append(fnp.mean(y, axis=axes, keepdims=k % 2 == 0))
            return out

        assert _fused_kernels(f, (x,)) >= 1
        got = jit_run(f, (x,), "force")
        y = x * dtype(1.5) - dtype(0.25)
        for k, axes in enumerate(subsets):
            _assert_identical(got[2 * k], np.sum(y, axis=axes, keepdims=k % 2 == 1))
            _assert_identical(got[2 * k + 1], np.mean(y, axis=axes, keepdims=k % 2 == 0))

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_a_sum_of_negative_zeros_is_positive_zero(self, dtype):
        x = np.zeros((3, 200), dtype)

        def f(x):
            y = -(x * x)
            return fnp.sum(y), fnp.sum(y, axis=0), fnp.sum(y, axis=1)

        got = jit_run(f, (x,), "force")
        y = -(x * x)
        for a, b in zip(got, (np.sum(y), np.sum(y, axis=0), np.sum(y, axis=1))):
            _assert_identical(a, b)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_float32_sums_stay_float32(self, dtype):
        # a long run of float32 terms whose float64 sum rounds differently
        x = np.full(4097, 0.1, dtype) * np.linspace(1.0, 3.0, 4097).astype(dtype)
        got = jit_run(lambda x: fnp.sum(x * 3.0 + 1.0), (x,), "force")
        _assert_identical(got, np.sum(x * dtype(3.0) + dtype(1.0)))

    def test_a_fused_training_epoch_equals_the_replay(self):
        sizes = (6, 9, 9, 4)
        params = [
            {"W": RNG.standard_normal((m, n)) * 0.3, "b": RNG.standard_normal(n) * 0.1}
            for m, n in zip(sizes[:-1], sizes[1:])
        ]
        batches = [(RNG.standard_normal((5, 6)), np.eye(4)[RNG.integers(0, 4, 5)])]
        batches = batches * 3

        def loss(params, x, onehot):
            h = x
            for layer in params[:-1]:
                h = fnp.maximum(h @ layer["W"] + layer["b"], 0.0)
            logits = h @ params[-1]["W"] + params[-1]["b"]
            d = logits - onehot  # a squared loss: no exp or log, whose libm values differ
            penalty = sum(fnp.sum(layer["W"] * layer["W"]) for layer in params)
            return fnp.mean(fnp.sum(d * d, axis=1)) + 1e-3 * penalty

        def epoch(params, batches):
            for x, y in batches:
                grads = fgrad.grad(loss)(params, x, y)
                params = fgrad.tree_util.tree_map(lambda p, g: p - 0.05 * g, params, grads)
            return params

        fused = jit_run(epoch, (params, batches), "force")
        replay = jit_run(epoch, (params, batches), "off")
        for a, b in zip(fgrad.tree_util.tree_leaves(fused), fgrad.tree_util.tree_leaves(replay)):
            _assert_identical(a, b)


class TestLoopSums:
    """Sums in a scan body: held in scalars (small values) or as whole arrays."""

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(
        "shape", [(9,), (2, 3, 4), (3, 1, 5), (4, 9), (200,), (3, 140)], ids=str
    )
    def test_sums_equal_numpys(self, shape, dtype):
        x = _values(shape, dtype)
        subsets = list(_subsets(len(shape)))

        def f(x):
            def step(c, _):
                sums = [
                    fnp.sum(c, axis=axes, keepdims=k % 2 == 1) for k, axes in enumerate(subsets)
                ]
                return c * 1.5, sums

            return lax.scan(step, x, None, length=2)[1]

        got = jit_run(f, (x,), "force")
        want = jit_run(f, (x,), "off")
        for a, b in zip(got, want):
            _assert_identical(a, b)
        c = x * dtype(1.5)
        for k, axes in enumerate(subsets):
            _assert_identical(got[k][1], np.sum(c, axis=axes, keepdims=k % 2 == 1))


class TestSumOrder:
    """The order itself: the run NumPy adds pairwise, and the pairwise expression."""

    @pytest.mark.parametrize(
        "shape, axes, run",
        [
            ((4, 5), (1,), (1,)),
            ((4, 5), (0,), ()),
            ((4, 5), (0, 1), (0, 1)),
            ((4, 1), (0,), (0,)),  # a kept axis of length 1 does not end the run
            ((3, 4, 5), (0, 2), (2,)),
            ((3, 4, 5), (1, 2), (1, 2)),
            ((3, 1, 5), (0, 2), (0, 2)),
            ((1, 1), (0, 1), ()),
        ],
    )
    def test_trailing_run(self, shape, axes, run):
        assert trailing_run(shape, axes) == run

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 127, 128, 129, 255, 256, 300, 1031])
    def test_pairwise_text_is_numpys_sum_of_a_run(self, n, dtype):
        x = _values((n,), dtype)
        terms = [f"x[{k}]" for k in range(n)]
        zero = "np.float32(0.0)" if dtype == np.float32 else "np.float64(0.0)"
        expr = pairwise_text(terms, zero)
        # evaluate in the dtype at every step, as a kernel does
        value = eval(expr, {"np": np, "x": x})  # noqa: S307 - our own generated expression
        _assert_identical(dtype(0.0) + value, np.sum(x))


class TestLayout:
    """Where each value of a cluster is computed, and which values a kernel reads."""

    def test_a_bias_update_is_its_own_loop_nest(self):
        w, g, b, gb = (RNG.standard_normal(s) for s in ((6, 5), (6, 5), (5,), (5,)))

        def update(w, g, b, gb):
            return w - 0.1 * (g + 0.01 * w), b - 0.1 * gb

        text = fgrad.jit(update).lower(w, g, b, gb).as_text()
        with_fusion = jit_run(update, (w, g, b, gb), "force")
        replay = jit_run(update, (w, g, b, gb), "off")
        for a, c in zip(with_fusion, replay):
            _assert_identical(a, c)
        kernel = text[text.index("def kernel(") :]
        assert "\n    for i1 in range(5):\n" in kernel  # the bias: one loop of 5, first
        assert kernel.count("for i0 in range(6):") == 1

    def test_independent_work_of_one_shape_joins_one_kernel(self, monkeypatch):
        monkeypatch.setattr(fusion, "join_blocks", lambda closed, make_kernel: None)
        a, b = RNG.standard_normal((7, 3)), RNG.standard_normal(4)

        def f(a, b):
            # the (7, 3) chain is interrupted by (4,) work it does not read
            y = a * 2.0 + 1.0
            z = b * 3.0 - 1.0
            y = y * y - a
            z = z * z + b
            return fnp.sum(y * 0.5), fnp.sum(z * 0.25)

        assert _fused_kernels(f, (a, b)) == 2  # not 4: one per shape
        got, want = jit_run(f, (a, b), "force"), jit_run(f, (a, b), "off")
        for x, y in zip(got, want):
            _assert_identical(x, y)

    def test_a_broadcast_constant_is_written_into_the_kernel(self):
        x = RNG.standard_normal((8, 3))
        c = np.broadcast_to(np.float64(0.375), (8, 3))

        def f(x):
            return fnp.sum(x * c + x * x)

        text = fgrad.jit(f).lower(x).as_text()
        assert "0.375" in text[text.index("def kernel(") :]
        _assert_identical(jit_run(f, (x,), "force"), np.sum(x * c + x * x))
