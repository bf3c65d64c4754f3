"""The convolution as im2col (``window_patches``) and one ``dot_general``, and the CNN step.

The channels-last convolution is composed of primitives, so its rules are theirs: these
are the checks the rule harness (``tests/test_primitive_rules.py``) ran on it when it was a
primitive, in float64, over every geometry (strides, padding and cropping, both
dilations, groups, depthwise, three spatial axes, an empty batch):

* values against the loop reference of ``tests/test_conv.py``;
* jvp against central differences and vjp against jvp (dot-product identity), to second
  order (``check_grads``);
* ``vmap`` with the batch axis first, last and absent from either argument, and the
  pullback under ``vmap``, against loops over examples;
* Taylor series (``jet``) against the bilinear closed form, and value, jvp and vjp on
  the strict non-NumPy backend against NumPy's.

Then what the composition buys: the patches matrix is taken once per convolution and
read by both the forward matmul and the weight gradient; max-pool ties share the
cotangent in every float dtype, eager and jitted; and the CNN step of
``benchmarks/cnn.py`` runs eager and under ``jit`` without a NumPy floating-point
warning (``np.seterr(all='raise')`` users and the NaN checker would trip on one).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.core.backend import backend_of
from fgrad.primitives.conv import conv_general_dilated
from fgrad.primitives.reductions import reduce_max
from fgrad.test_util import check_grads
from tests.helpers import import_file
from tests.test_conv import reference_conv

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# (lhs (N, *spatial, C), rhs (*window, I, O), strides, padding pairs, lhs_dil, rhs_dil, G)
GEOMETRIES = {
    "1d-valid": ((2, 5, 3), (2, 3, 4), (1,), ((0, 0),), (1,), (1,), 1),
    "1d-stride-dilated": ((2, 7, 2), (3, 2, 3), (2,), ((1, 2),), (1,), (2,), 1),
    "1d-transposed": ((1, 4, 2), (3, 2, 2), (1,), ((2, 1),), (2,), (1,), 1),
    "2d": ((2, 5, 4, 2), (3, 2, 2, 3), (1, 2), ((1, 1), (0, 1)), (1, 1), (1, 1), 1),
    "2d-all": ((1, 6, 5, 4), (2, 2, 2, 4), (2, 1), ((1, -1), (2, 0)), (1, 2), (2, 1), 2),
    "depthwise": ((2, 4, 4, 3), (2, 2, 1, 3), (1, 1), ((0, 0), (1, 1)), (1, 1), (1, 1), 3),
    "3d": ((1, 3, 3, 3, 1), (2, 2, 2, 1, 2), (1, 1, 1), ((0, 0),) * 3, (1,) * 3, (1,) * 3, 1),
    "empty-batch": ((0, 4, 2), (2, 2, 3), (1,), ((0, 0),), (1,), (1,), 1),
}
NAMES = list(GEOMETRIES)


def _case(name):
    lhs, rhs, strides, pads, ld, rd, groups = GEOMETRIES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x, w = rng.standard_normal(lhs), rng.standard_normal(rhs)

    def f(x, w):
        return conv_general_dilated(x, w, strides, pads, ld, rd, groups)

    return f, x, w


def _reference(name, x, w):
    """The loop reference, in its NC... / OI... layout and back."""
    _, _, strides, pads, ld, rd, groups = GEOMETRIES[name]
    nsp = x.ndim - 2
    if x.shape[0] == 0:  # the loop stacks examples: its shape from one, then none
        return _reference(name, np.zeros((1, *x.shape[1:])), w)[:0]
    xr = np.moveaxis(x, -1, 1)
    wr = np.transpose(w, (nsp + 1, nsp, *range(nsp)))
    return np.moveaxis(reference_conv(xr, wr, strides, pads, ld, rd, groups), 1, -1)


@pytest.mark.parametrize("name", NAMES)
def test_values_match_the_loop_reference(name):
    f, x, w = _case(name)
    np.testing.assert_allclose(f(x, w), _reference(name, x, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fgrad.jit(f)(x, w), _reference(name, x, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_to_second_order(name):
    f, x, w = _case(name)
    check_grads(f, (x, w), order=2)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_against_loops(name):
    f, x, w = _case(name)
    rng = np.random.default_rng(3)
    xs = np.stack([x, rng.standard_normal(x.shape)])
    ws = np.stack([w, rng.standard_normal(w.shape)])
    both = np.stack([f(a, b) for a, b in zip(xs, ws)])
    np.testing.assert_allclose(fgrad.vmap(f)(xs, ws), both, rtol=1e-12, atol=1e-12)
    # the batch axis last in lhs, absent from either argument
    got = fgrad.vmap(f, (x.ndim, 0))(np.moveaxis(xs, 0, -1), ws)
    np.testing.assert_allclose(got, both, rtol=1e-12, atol=1e-12)
    loop_w = np.stack([f(x, b) for b in ws])
    np.testing.assert_allclose(fgrad.vmap(f, (None, 0))(x, ws), loop_w, rtol=1e-12, atol=1e-12)
    loop_x = np.stack([f(a, w) for a in xs])
    np.testing.assert_allclose(fgrad.vmap(f, (0, None))(xs, w), loop_x, rtol=1e-12, atol=1e-12)
    # the pullback under vmap (per-example gradients) against a loop of pullbacks
    gs = rng.standard_normal(both.shape)

    def pullback(x, w, g):
        return fgrad.vjp(f, x, w)[1](g)

    per = fgrad.vmap(pullback)(xs, ws, gs)
    for k in range(2):
        for got, want in zip(per, pullback(xs[k], ws[k], gs[k])):
            np.testing.assert_allclose(got[k], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_taylor_series_of_the_bilinear_map(name):
    """``jet`` along ``(x + t x1, w + t w1)`` (derivative coefficients, as JAX's): the series
    of a bilinear map ends at order 2, ``y' = f(x1, w) + f(x, w1)`` and ``y'' = 2 f(x1, w1)``
    (the rule of the old primitive, now ``dot_general``'s through the composition)."""
    f, x, w = _case(name)
    rng = np.random.default_rng(9)
    x1, w1 = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    zx, zw = np.zeros_like(x), np.zeros_like(w)
    y, series = fgrad.jet(f, (x, w), ([x1, zx, zx], [w1, zw, zw]))
    np.testing.assert_allclose(y, f(x, w), rtol=1e-12, atol=1e-12)
    want = [f(x1, w) + f(x, w1), 2 * f(x1, w1), np.zeros_like(y)]
    for got, expected in zip(series, want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_values_and_derivatives_on_another_backend(name, strict):
    """On a non-NumPy backend the windows are cut by strided slices: the value, the jvp and
    the vjp stay on it and equal NumPy's."""
    f, x, w = _case(name)
    rng = np.random.default_rng(4)
    tx, tw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    y, ty = fgrad.jvp(f, (x, w), (tx, tw))
    u = rng.standard_normal(y.shape)
    cts = fgrad.vjp(f, x, w)[1](u)
    xd, wd, txd, twd, ud = fgrad.device_put((x, w, tx, tw, u), strict)
    yd, tyd = fgrad.jvp(f, (xd, wd), (txd, twd))
    ctsd = fgrad.vjp(f, xd, wd)[1](ud)
    for got, want in zip((yd, tyd, *ctsd), (y, ty, *cts)):
        assert backend_of(got).name == strict
        np.testing.assert_allclose(fgrad.device_get(got), want, rtol=1e-10, atol=1e-12)


def _equations(jaxpr) -> list[str]:
    return [eqn.prim.name for eqn in jaxpr.jaxpr.eqns]


@pytest.mark.parametrize("name", ["2d", "2d-all", "depthwise"])
def test_the_patches_are_taken_once_per_convolution(name):
    """The forward matmul and the weight gradient read the same patches matrix: one
    ``window_patches`` and one copying reshape, three matmuls, one col2im."""
    f, x, w = _case(name)

    def loss(x, w):
        return fnp.sum(fnp.tanh(f(x, w)))

    names = _equations(fgrad.make_jaxpr(fgrad.grad(loss, argnums=(0, 1)))(x, w))
    assert names.count("window_patches") == 1
    assert names.count("window_patches_transpose") == 1
    assert names.count("dot_general") == 3
    # and the weight gradient alone needs no col2im
    names = _equations(fgrad.make_jaxpr(fgrad.grad(loss, argnums=1))(x, w))
    assert names.count("window_patches") == 1 and "window_patches_transpose" not in names


def test_errors_name_the_convolution():
    x, w = np.zeros((1, 5, 5, 4)), np.zeros((3, 3, 3, 6))
    with pytest.raises(fgrad.ShapeError, match=r"feature_group_count=1.*input features \(4\)"):
        conv_general_dilated(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1))
    with pytest.raises(fgrad.ShapeError, match="window_strides"):
        conv_general_dilated(x, w[..., :4, :], (1,), ((0, 0), (0, 0)), (1, 1), (1, 1))
    with pytest.raises(fgrad.ShapeError, match="positive"):
        conv_general_dilated(x, w[..., :4, :], (0, 1), ((0, 0), (0, 0)), (1, 1), (1, 1))


# -- max-pool ties ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_tied_maxima_share_the_cotangent_in_every_float_dtype(dtype):
    """Windows with 1 to 4 tied maxima: each gets ``1 / ties`` of the cotangent, in the
    input's dtype, eager and under ``jit``, by rows (axis 1) and by columns (axis 0)."""
    x = np.array([[1, 2, 3, 4], [4, 2, 3, 4], [4, 4, 3, 0], [4, 4, 3, 4]], dtype)
    for axis in (0, 1):

        def f(x, axis=axis):
            return fnp.sum(reduce_max(x, (axis,)) * np.arange(1, 5, dtype=dtype))

        top = x.max(axis=axis, keepdims=True)
        ties = (x == top).sum(axis=axis, keepdims=True)
        want = (x == top) / ties * np.expand_dims(np.arange(1, 5), axis)
        for g in (fgrad.grad(f)(x), fgrad.jit(fgrad.grad(f))(x)):
            assert g.dtype == dtype
            np.testing.assert_array_equal(g, want.astype(dtype))


# -- the CNN step of benchmarks/cnn.py -------------------------------------------------------


@pytest.fixture(scope="module")
def cnn():
    # cnn.py imports its siblings (harness, frameworks) by name, as the benchmark scripts do
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return import_file(BENCHMARKS / "cnn.py", "benchmark_cnn")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("jit", [False, True])
def test_cnn_step_raises_no_floating_point_warning(cnn, jit):
    """Loss and gradients of the benchmark's CNN (float32, SAME convolutions, a 2x2 max
    pool with init ``-inf``) under warnings-as-errors and ``np.seterr(all='raise')``,
    with the fused programs ``jit`` switches to after a few calls; and the same
    numbers as the hand-written NumPy reference."""
    problem = cnn.make_problem()
    x, onehot = problem.data
    step = fgrad.value_and_grad(lambda p, x, y: cnn.loss(fnp, p, x, y))
    if jit:
        step = fgrad.jit(step)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for _ in range(12):
            value, grads = step(problem.params, x, onehot)
    want_value, want = problem.hand_value_and_grad(problem.params, x, onehot)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    for k in want:
        assert grads[k].dtype == np.float32
        np.testing.assert_allclose(grads[k], want[k], rtol=2e-4, atol=2e-5)


def test_lax_conv_matches_the_channels_last_composite():
    """``lax.conv_general_dilated`` in NCHW is the composite, transposed."""
    f, x, w = _case("2d-all")
    _, _, strides, pads, ld, rd, groups = GEOMETRIES["2d-all"]
    got = lax.conv_general_dilated(
        np.moveaxis(x, -1, 1),
        np.transpose(w, (3, 2, 0, 1)),
        strides,
        pads,
        ld,
        rd,
        feature_group_count=groups,
    )
    np.testing.assert_array_equal(np.moveaxis(got, 1, -1), f(x, w))


def _poison_small_buffers(dtype) -> None:
    """Leave signaling NaNs in the buffers NumPy recycles for its next tiny arrays (it
    caches freed small data buffers), as an earlier computation may."""
    bits = {np.float32: np.uint32(0x7FA00001), np.float64: np.uint64(0x7FF4000000000001)}
    arrays = [np.array([bits[dtype]]).view(dtype).copy() for _ in range(16)]
    del arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["reduce_sum", "reduce_max", "reduce_min"])
def test_abstract_eval_of_reductions_reads_no_uninitialised_memory(name, dtype):
    """The reductions find their result dtype by running NumPy on a tiny array; an
    uninitialised one could hold a signaling NaN, and ``np.sum`` of it raises "invalid
    value encountered in reduce" (what the CNN benchmark printed after another
    workload had run in the same process)."""
    prim = fgrad.core.primitive.registry[name]
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for ndim in (1, 2, 4):
            _poison_small_buffers(dtype)
            aval = fgrad.core.abstract.ShapedArray((3,) * ndim, np.dtype(dtype))
            out = prim.abstract_eval(aval, axis=(0,), keepdims=False)
            assert out.shape == (3,) * (ndim - 1) and out.dtype == dtype
