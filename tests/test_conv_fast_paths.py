"""The fast paths of convolutions and pooling, each against a direct loop reference.

* the convolution's vjps (the input gradient as ``col2im(g @ w^T)``, the weight gradient
  as ``patches^T @ g``, with and without feature groups) against the transpose of the
  loop reference, built column by column from unit inputs;
* ``window_patches_transpose`` (col2im) through its compiled loop (numba) and through
  NumPy's adds: bit-identical, and equal to a scatter loop;
* ``reduce_window`` over windows that tile the input (stride = window) as one reshaped
  copy, against the reference, with ties shared, and the general path beside it.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax, nn
from fgrad.core.config import flags
from fgrad.core.optional import installed
from fgrad.primitives import window_kernels
from fgrad.primitives.windows import window_patches, window_patches_transpose
from tests.helpers import numerical_grad
from tests.test_conv import (
    CONFIGS,
    IDS,
    _conv_fn,
    _explicit_pads,
    _inputs,
    reference_conv,
    reference_window,
)

# whether numba is installed, not window_kernels.usable(): that also reads fgrad_fuse, which
# another test file may have left changed when this module is imported
HAS_NUMBA = installed("numba")


@pytest.fixture(params=["off", "auto"])
def fuse(request):
    """Both implementations of the windowed loops: NumPy's ("off") and the compiled one."""
    if request.param == "auto" and not HAS_NUMBA:
        pytest.skip("numba (the fast extra) is not installed")
    old = flags.fuse
    fgrad.config.update("fgrad_fuse", request.param)
    yield request.param
    fgrad.config.update("fgrad_fuse", old)


# -- the convolution's vjps -------------------------------------------------------------------


def _transpose_of_reference(name, x, w, g):
    """``J^T g`` for both arguments, J the loop reference's (linear) maps, column by column."""
    _, _, strides, _, ld, rd, groups = CONFIGS[name]
    pads = _explicit_pads(name, x, w)

    def apply_t(shape, conv_of):
        out = np.zeros(shape)
        for idx in np.ndindex(*shape):
            e = np.zeros(shape)
            e[idx] = 1.0
            out[idx] = np.sum(conv_of(e) * g)
        return out

    gx = apply_t(x.shape, lambda e: reference_conv(e, w, strides, pads, ld, rd, groups))
    gw = apply_t(w.shape, lambda e: reference_conv(x, e, strides, pads, ld, rd, groups))
    return gx, gw


@pytest.mark.parametrize("name", IDS)
def test_conv_vjps_are_the_transposes_of_the_loop_reference(name, fuse):
    x, w = _inputs(name)
    f = _conv_fn(name)
    g = np.random.default_rng(11).standard_normal(f(x, w).shape)
    y, pullback = fgrad.vjp(f, x, w)
    gx, gw = pullback(g)
    want_x, want_w = _transpose_of_reference(name, x, w, g)
    np.testing.assert_allclose(gx, want_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, want_w, rtol=1e-12, atol=1e-12)
    jx, jw = fgrad.jit(lambda x, w, g: fgrad.vjp(f, x, w)[1](g))(x, w, g)
    np.testing.assert_allclose(jx, want_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jw, want_w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["2d-same-stride", "2d-groups-all", "1d-transposed"])
def test_conv_gradients_stay_float32(name, fuse):
    x, w = _inputs(name, np.float32)
    f = _conv_fn(name)
    gx, gw = fgrad.grad(lambda x, w: fnp.sum(f(x, w) ** 2), argnums=(0, 1))(x, w)
    assert gx.dtype == gw.dtype == np.float32
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    want = fgrad.grad(lambda x, w: fnp.sum(f(x, w) ** 2), argnums=(0, 1))(x64, w64)
    np.testing.assert_allclose(gx, want[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, want[1], rtol=1e-4, atol=1e-4)


def test_conv_vjps_are_matmuls_of_windows():
    """The pullback's program: the forward pass takes the windows of lhs once, the weight
    gradient multiplies them with the cotangent, the input gradient adds windows back
    (col2im); three matmuls, no convolution."""
    x, w = _inputs("2d-same-stride")
    f = _conv_fn("2d-same-stride")
    g = np.ones(f(x, w).shape)
    jaxpr = fgrad.make_jaxpr(lambda x, w: fgrad.vjp(f, x, w)[1](g))(x, w)
    names = [eqn.prim.name for eqn in jaxpr.jaxpr.eqns]
    assert names.count("window_patches") == 1 and names.count("window_patches_transpose") == 1
    assert names.count("dot_general") == 3


# -- col2im: window_patches_transpose -----------------------------------------------------


def _scatter_reference(g, in_shape, window, strides, pads, base, wdil):
    """Add each window entry back to its input position, one element at a time."""
    nd = len(in_shape)
    out = np.zeros(in_shape, np.float64)
    for idx in np.ndindex(*g.shape):
        o, k = idx[:nd], idx[nd:]
        padded = [oo * s + kk * d for oo, s, kk, d in zip(o, strides, k, wdil)]
        src = []
        for p, (lo, _), b, n in zip(padded, pads, base, in_shape):
            q = p - lo
            if q < 0 or q % b or q // b >= n:
                break
            src.append(q // b)
        else:
            out[tuple(src)] += g[idx]
    return out


def _geometries():
    rng = np.random.default_rng(3)
    found = []
    while len(found) < 40:
        nd = int(rng.integers(1, 4))
        shape = tuple(int(v) for v in rng.integers(1, 6, nd))
        window = tuple(int(v) for v in rng.integers(1, 4, nd))
        strides = tuple(int(v) for v in rng.integers(1, 3, nd))
        pads = tuple((int(a), int(b)) for a, b in rng.integers(-1, 3, (nd, 2)))
        base = tuple(int(v) for v in rng.integers(1, 3, nd))
        wdil = tuple(int(v) for v in rng.integers(1, 3, nd))
        try:
            geometry = (window, strides, pads, base, wdil)
            out = fgrad.eval_shape(lambda x, p=geometry: window_patches(x, *p), np.zeros(shape))
            out = out.shape
        except Exception:  # noqa: BLE001 - a geometry without windows: draw another
            continue
        found.append((shape, out, window, strides, pads, base, wdil))
    # the convolution's layout: windows over the middle axes, features copied whole
    found.append(((2, 5, 4, 3), (2, 5, 4, 3, 1, 3, 3, 1), (1, 3, 3, 1), (1,) * 4,
                  ((0, 0), (1, 1), (1, 1), (0, 0)), (1,) * 4, (1,) * 4))  # fmt: skip
    found.append(((2, 0, 3), (2, 0, 3, 1, 2, 1), (1, 2, 1), (1,) * 3,
                  ((0, 0), (1, 0), (0, 0)), (1,) * 3, (1,) * 3))  # fmt: skip
    return found


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_col2im_matches_a_scatter_loop_and_both_paths_agree_bit_for_bit(dtype):
    rng = np.random.default_rng(4)
    for shape, out, window, strides, pads, base, wdil in _geometries():
        g = rng.standard_normal(out).astype(dtype)
        results = {}
        for mode in ("off", "auto") if HAS_NUMBA else ("off",):
            old = flags.fuse
            fgrad.config.update("fgrad_fuse", mode)
            try:
                results[mode] = window_patches_transpose(
                    g, shape, window, strides, pads, base, wdil
                )
            finally:
                fgrad.config.update("fgrad_fuse", old)
        want = _scatter_reference(g.astype(np.float64), shape, window, strides, pads, base, wdil)
        for got in results.values():
            assert got.shape == shape and got.dtype == dtype
            tol = 1e-5 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        if len(results) == 2:
            assert np.array_equal(results["off"], results["auto"])


def test_col2im_of_a_transposed_layout_view():
    """The convolution hands col2im a transposed view; the kernel reads it as it lies."""
    rng = np.random.default_rng(5)
    cols = rng.standard_normal((2, 4, 4, 3, 3, 5))  # (N, *out, *window, C) in memory
    g = np.transpose(cols, (0, 1, 2, 5, 3, 4)).reshape(2, 4, 4, 5, 1, 3, 3, 1)
    geometry = ((1, 3, 3, 1), (1, 1, 1, 1), ((0, 0), (1, 1), (1, 1), (0, 0)), (1,) * 4, (1,) * 4)
    got = window_patches_transpose(g, (2, 4, 4, 5), *geometry)
    np.testing.assert_allclose(got, _scatter_reference(g, (2, 4, 4, 5), *geometry), rtol=1e-13)


def test_compiled_loops_are_used_only_where_they_apply():
    f32, f64 = np.zeros(2, np.float32), np.zeros(2)
    assert not window_kernels.usable(np.zeros(2, np.int64))
    assert not window_kernels.usable(f32, f64)
    old = flags.fuse
    try:
        fgrad.config.update("fgrad_fuse", "off")
        assert not window_kernels.usable(f64)
        fgrad.config.update("fgrad_fuse", "auto")
        assert window_kernels.usable(f32, f32) == HAS_NUMBA
    finally:
        fgrad.config.update("fgrad_fuse", old)


# -- reduce_window over tiling windows ---------------------------------------------------


TILED = {
    "2d-exact": ((4, 6), (2, 3)),
    "2d-cropped": ((5, 7), (2, 3)),
    "3d-window-1": ((3, 4, 5), (1, 2, 2)),
    "whole": ((3, 4), (3, 4)),
    "ones": ((3, 4), (1, 1)),
}


def _jaxpr_text(f, x):
    return str(fgrad.make_jaxpr(f)(x))


@pytest.mark.parametrize("kind", ["max", "min", "sum"])
@pytest.mark.parametrize("tname", list(TILED))
def test_tiling_windows_match_the_reference(kind, tname):
    shape, window = TILED[tname]
    n = int(np.prod(shape))
    x = (np.random.default_rng(8).permutation(n) * 0.25 - n / 8).reshape(shape)
    computation = {"max": fnp.maximum, "min": fnp.minimum, "sum": fnp.add}[kind]
    init = {"max": -np.inf, "min": np.inf, "sum": 0.0}[kind]

    def f(x):
        return lax.reduce_window(x, init, computation, window, window, "VALID")

    pads = ((0, 0),) * len(shape)
    want = reference_window(x, kind, window, window, pads)
    np.testing.assert_allclose(f(x), want, rtol=1e-14)
    np.testing.assert_allclose(fgrad.jit(f)(x), want, rtol=1e-14)
    u = np.random.default_rng(9).standard_normal(want.shape)

    def loss(x):
        return fnp.sum(f(x) * u)

    np.testing.assert_allclose(fgrad.grad(loss)(x), numerical_grad(loss, x), atol=1e-7)
    assert "window_patches" not in _jaxpr_text(f, x)
    xs = np.stack([x, -x])
    np.testing.assert_allclose(fgrad.vmap(f)(xs), np.stack([f(x), f(-x)]), rtol=1e-14)


@pytest.mark.parametrize(
    "strides, padding, pads",
    [((1, 1), "VALID", ((0, 0), (0, 0))), ((2, 2), "SAME", ((0, 1), (0, 0)))],
)
def test_overlapping_or_padded_windows_take_the_general_path(strides, padding, pads):
    x = np.arange(12.0).reshape(3, 4)

    def f(x):
        return lax.reduce_window(x, -np.inf, fnp.maximum, (2, 2), strides, padding)

    assert "window_patches" in _jaxpr_text(f, x)
    np.testing.assert_allclose(f(x), reference_window(x, "max", (2, 2), strides, pads))


def test_tiled_max_pool_shares_ties_equally():
    x = np.array([[2.0, 2.0, 2.0, 1.0, 0.0, 3.0]]).reshape(1, 6, 1)  # (batch, width, features)
    g = fgrad.grad(lambda x: fnp.sum(nn.max_pool(x, (3,), strides=(3,))))(x)
    np.testing.assert_allclose(g.ravel(), [1 / 3, 1 / 3, 1 / 3, 0.0, 0.0, 1.0], rtol=1e-15)
    jitted = fgrad.jit(fgrad.grad(lambda x: fnp.sum(nn.max_pool(x, (3,), (3,)))))
    np.testing.assert_allclose(jitted(x).ravel(), g.ravel(), rtol=1e-15)


def test_tiled_pools_agree_with_the_general_path():
    """A tiling window and the same window through the general path (a stride longer
    than the window forces it), on a layout of a CNN: values and gradients."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 8, 8, 4)).astype(np.float32)
    u = rng.standard_normal((3, 4, 4, 4)).astype(np.float32)
    for pool in (nn.max_pool, nn.avg_pool):

        def tiled(x, pool=pool):
            return fnp.sum(pool(x, (2, 2), (2, 2)) * u)

        def general(x, pool=pool):  # one more padded element: the same windows
            return fnp.sum(pool(x, (2, 2), (2, 2), padding=((0, 1), (0, 1))) * u)

        assert "window_patches" not in _jaxpr_text(tiled, x)
        assert "window_patches" in _jaxpr_text(general, x)
        (v1, g1), (v2, g2) = fgrad.value_and_grad(tiled)(x), fgrad.value_and_grad(general)(x)
        assert g1.dtype == np.float32
        np.testing.assert_allclose(v1, v2, rtol=1e-6)
        np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-7)
