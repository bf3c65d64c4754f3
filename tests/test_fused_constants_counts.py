"""Two things fused kernels compute beyond floats read from memory, bit for bit the replay's.

**Constants of one value** are written into a kernel's source as a scalar: a strided
broadcast, and an array filled with one value (what constant folding makes of a
gradient's broadcast: the ``1/n`` of a mean, the factor of an L2 penalty), in float64,
float32 and bool, NaN and inf included. An array whose values differ, even only in the
sign of a zero, is read from memory.

**Counts of booleans** (``sum`` of a bool array: NumPy's default integer; the tie count in
the gradient of ``max``) are added up inside the kernel, over every subset of axes, with and
without ``keepdims``, and converted to float there; a count the program returns, or that a
NumPy call reads, comes out as NumPy's integer.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import jit_run

import fgrad
import fgrad.numpy as fnp
from fgrad.transforms import fusion
from fgrad.transforms.optimize import optimize

pytest.importorskip("numba")

RNG = np.random.default_rng(116)


@pytest.fixture(autouse=True)
def _kernel_folder(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))


def _identical(got, want) -> None:
    for g, w in zip(fgrad.tree_util.tree_leaves(got), fgrad.tree_util.tree_leaves(want)):
        assert type(g) is type(w)
        assert np.asarray(g).dtype == np.asarray(w).dtype and np.shape(g) == np.shape(w)
        np.testing.assert_array_equal(g, w)
        assert np.array_equal(np.signbit(g), np.signbit(w))  # +0.0 and -0.0 differ


def _kernel_text(fn, args) -> str:
    text = fgrad.jit(fn).lower(*args).as_text()
    assert "def kernel(" in text, "nothing fused"
    return text[text.index("def kernel(") :]


def _kernel_inputs(fn, args) -> list:
    """The shapes of the arrays each kernel of ``fn``'s fused program reads."""
    closed = fusion.fuse(optimize(fgrad.make_jaxpr(fn)(*args)))
    assert closed is not None, "nothing fused"
    return [
        tuple(v.aval.shape for v in e.invars)
        for e in closed.jaxpr.eqns
        if isinstance(e.prim, fusion.FusedKernel)
    ]


class TestConstants:
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    @pytest.mark.parametrize("value", [0.375, -0.0, 1e-300, np.inf, np.nan], ids=repr)
    @pytest.mark.parametrize("layout", ["filled", "broadcast"])
    def test_a_constant_of_one_value_is_written_into_the_kernel(self, dtype, value, layout):
        x = RNG.standard_normal((8, 3)).astype(dtype)
        c = np.full((8, 3), value, dtype)
        if layout == "broadcast":
            c = np.broadcast_to(dtype(value), (8, 3))

        def f(x):
            return x * c + x * x, fnp.sum(x / (c + 2.0))

        inputs = _kernel_inputs(f, (x,))
        # the kernel reads x alone: the constant is in its source
        assert inputs == [((8, 3),)]
        _identical(jit_run(f, (x,), "force"), jit_run(f, (x,), "off"))

    def test_the_literal_is_the_constants_value(self):
        x = RNG.standard_normal((8, 3))
        c = np.full((8, 3), 0.0015)

        def f(x):
            return fnp.sum(x * c + x * x)

        assert "0.0015" in _kernel_text(f, (x,))
        _identical(jit_run(f, (x,), "force"), np.sum(x * c + x * x))

    @pytest.mark.parametrize(
        "make",
        [
            lambda: np.where(np.arange(24).reshape(8, 3) == 5, -0.0, 0.0),  # a zero's sign
            lambda: np.full((8, 3), 0.375) + np.eye(8, 3) * 1e-16,  # one value differs
            lambda: np.where(np.arange(24).reshape(8, 3) == 23, np.nan, 1.0),
        ],
        ids=["signed-zero", "one-ulp-apart", "nan-at-end"],
    )
    def test_a_constant_of_several_values_is_read_from_memory(self, make):
        x = RNG.standard_normal((8, 3))
        c = make()

        def f(x):
            return 1.0 / (x * 0.0 + c), fnp.sum(x * c + x * x)

        assert ((8, 3), (8, 3)) in [tuple(sorted(ins)) for ins in _kernel_inputs(f, (x,))]
        _identical(jit_run(f, (x,), "force"), jit_run(f, (x,), "off"))

    def test_a_bool_constant_of_one_value(self):
        x = RNG.standard_normal((8, 3))
        m = np.ones((8, 3), bool)

        def f(x):
            return fnp.where(fnp.logical_and(m, x > 0.0), x * 2.0, x * 3.0)

        assert _kernel_inputs(f, (x,)) == [((8, 3),)]
        _identical(jit_run(f, (x,), "force"), jit_run(f, (x,), "off"))

    def test_the_gradient_of_a_mean_with_an_l2_penalty(self):
        """The erm_epoch pattern: the mean's 1/n and the penalty's factor, folded into
        filled arrays, reach the kernels as literals; the numbers are the replay's."""
        w = RNG.standard_normal((6, 4))
        x = RNG.standard_normal((5, 6))

        def loss(w):
            return fnp.mean(fnp.maximum(x @ w, 0.0) ** 2) + 3e-3 * 0.5 * fnp.sum(w * w)

        step = fgrad.value_and_grad(loss)
        closed = fusion.fuse(optimize(fgrad.make_jaxpr(step)(w)))
        read = {v for e in closed.jaxpr.eqns for v in e.invars}
        for v, c in zip(closed.jaxpr.constvars, closed.consts):
            if np.ndim(c) and v in read:
                assert not fusion._inlinable(c), "a one-valued constant is still read"
        _identical(jit_run(step, (w,), "force"), jit_run(step, (w,), "off"))


def _axes(ndim: int):
    for r in range(1, ndim + 1):
        yield from itertools.combinations(range(ndim), r)


class TestCounts:
    # float32 on two shapes only: the count is an integer whatever the values' dtype, and
    # each case compiles a kernel per axis subset from a cold cache
    @pytest.mark.parametrize(
        ("shape", "dtype"),
        [(s, np.float64) for s in [(7,), (6, 5), (3, 4, 5), (1, 9), (9, 1)]]
        + [((7,), np.float32), ((6, 5), np.float32)],
        ids=str,
    )
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_ties_of_max_over_every_subset_of_axes(self, dtype, shape, keepdims):
        # many ties; no zeros: which of -0.0 and 0.0 a max keeps is not NumPy's in kernels
        x = (np.round(RNG.standard_normal(shape) * 2.0) + 0.5).astype(dtype)
        for axis in _axes(len(shape)):

            def f(x, axis=axis):
                m = fnp.max(x, axis=axis, keepdims=True)
                count = fnp.sum(x == m, axis=axis, keepdims=keepdims)
                scale = count.astype(dtype) * 0.5
                d = x - m  # no transcendental function: those are libm's in a kernel
                out = fnp.sum(d * d + 2.0, axis=axis, keepdims=keepdims) / scale
                return out, fgrad.grad(lambda x: fnp.sum(fnp.max(x, axis=axis) ** 2))(x)

            text = fgrad.jit(f).lower(x).as_text()
            assert "reduce_sum(" not in text[: text.index("def kernel(")], axis  # fused
            _identical(jit_run(f, (x,), "force"), jit_run(f, (x,), "off"))

    @pytest.mark.parametrize("axis", [0, 1, None])
    def test_a_count_comes_out_as_numpys_integer(self, axis):
        x = RNG.standard_normal((6, 5))

        def f(x):
            count = fnp.sum(x > 0.0, axis=axis)
            return count, count.astype(x.dtype) * 0.25 + fnp.sum(x * 2.0, axis=axis)

        got, want = jit_run(f, (x,), "force"), jit_run(f, (x,), "off")
        assert np.asarray(got[0]).dtype == np.sum(x > 0, axis=axis).dtype
        np.testing.assert_array_equal(got[0], np.sum(x > 0.0, axis=axis))
        _identical(got, want)
