"""The compiled loops behind a convolution's step (numba, the ``fast`` extra), each against
the NumPy path it replaces and against references:

* im2col (``window_patches(..., materialize=True)``): one pass from the unpadded input into
  memory laid out ``(*out, *window, features)``; the same values as the strided view, bit
  for bit, for random geometries (padding, negative padding, both dilations, strides), a
  fill other than zero, both float dtypes; the convolution's flattening is then a view;
* col2im (``window_patches_transpose``) as a gather: covered bit for bit against NumPy's
  adds in ``tests/test_conv_fast_paths.py``; here through a whole CNN's derivatives;
* ``tie_weights``, the derivative weights of ``reduce_max``/``reduce_min`` (1/k at each of
  k tied extrema): the kernel and NumPy's rule bit for bit, ties, NaN, axes that are not
  adjacent, float32 kept, under ``vmap``; the max pool's gradient with ties against its
  closed form, on NumPy and on the strict non-NumPy backend;
* a small CNN's loss: gradient against central differences and Hessian-vector products
  against differences of gradients, in float64, with and without the kernels, eager and
  jitted; per-example gradients under ``vmap`` against a loop.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax, nn
from fgrad.core.backend import backend_of
from fgrad.core.optional import installed
from fgrad.core.primitive import bind
from fgrad.primitives.reductions import tie_weights_p
from fgrad.primitives.windows import window_patches
from tests.helpers import call_fusing, fusing, numerical_grad
from tests.test_conv_fast_paths import _geometries

HAS_NUMBA = installed("numba")
MODES = ["off", "auto"] if HAS_NUMBA else ["off"]


@pytest.fixture(params=MODES)
def mode(request):
    with fusing(request.param):
        yield request.param


# -- im2col -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_materialized_windows_equal_the_view_bit_for_bit(dtype):
    rng = np.random.default_rng(12)
    for shape, _, window, strides, pads, base, wdil in _geometries():
        x = rng.standard_normal(shape).astype(dtype)
        geometry = (window, strides, pads, base, wdil)
        view = window_patches(x, *geometry, fill=1.5)
        for m in MODES:
            got = call_fusing(m, window_patches, x, *geometry, fill=1.5, materialize=True)
            assert got.shape == view.shape and got.dtype == dtype
            np.testing.assert_array_equal(got, view)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba (the fast extra) is not installed")
def test_materialized_windows_flatten_to_the_patches_matrix_without_a_copy():
    x = np.random.default_rng(13).standard_normal((3, 5, 4, 6)).astype(np.float32)
    geometry = ((1, 3, 3, 1), (1,) * 4, ((0, 0), (1, 1), (1, 1), (0, 0)), (1,) * 4, (1,) * 4)
    # (N, H, W, C, 1, 3, 3, 1), copied by the kernel (fgrad_fuse not 'off')
    p = call_fusing("auto", window_patches, x, *geometry, fill=0, materialize=True)
    cols = np.transpose(p, (0, 1, 2, 4, 5, 6, 7, 3)).reshape(3 * 5 * 4, 9 * 6)
    assert np.shares_memory(cols, p)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # row (n, h, w), column (kh, kw, c): the input at (n, h + kh - 1, w + kw - 1, c)
    np.testing.assert_array_equal(cols[1 * 20 + 2 * 4 + 3].reshape(3, 3, 6), xp[1, 2:5, 3:6])


# -- tie_weights ----------------------------------------------------------------------------


def _numpy_weights(x, ans, axis, dtype):
    hits = x == ans
    return hits.astype(dtype) / hits.sum(axis=axis, keepdims=True).astype(dtype)


WEIGHT_CASES = {
    "pool-tiles": ((4, 3, 2, 5), (0,)),
    "last-axis": ((6, 7), (1,)),
    "middle-two": ((2, 3, 4, 5), (1, 2)),
    "not-adjacent": ((3, 4, 5), (0, 2)),
    "all": ((3, 4), (0, 1)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("cname", list(WEIGHT_CASES))
def test_tie_weights_share_ties_and_both_paths_agree_bit_for_bit(cname, kind, dtype):
    shape, axis = WEIGHT_CASES[cname]
    rng = np.random.default_rng(14)
    x = rng.integers(-2, 3, shape).astype(dtype)  # few values: many ties
    x.flat[0] = np.nan  # NumPy's max propagates NaN: its group's weights are NaN
    ans = (np.max if kind == "max" else np.min)(x, axis=axis, keepdims=True)
    want = _numpy_weights(x, ans, axis, dtype)
    for m in MODES:
        got = call_fusing(m, bind, tie_weights_p, x, ans, axis=axis, dtype=np.dtype(dtype))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)  # NaN where want has NaN
    # each group's weights: 1/k at its k extrema, summing to one (where no NaN)
    finite = ~np.isnan(want).any(axis=axis, keepdims=True)
    sums = np.where(finite, want.sum(axis=axis, keepdims=True), 1.0)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-6)
    hits = (x == ans).sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(np.where((x == ans) & finite, want * hits, 0), (x == ans) & finite)


def test_tie_weights_under_vmap_equal_a_loop(mode):
    x = np.random.default_rng(15).integers(0, 3, (4, 3, 5)).astype(np.float32)
    ans = x.max(axis=0, keepdims=True)

    def f(x, a):
        return bind(tie_weights_p, x, a, axis=(0,), dtype=np.dtype(np.float32))

    got = fgrad.vmap(f, in_axes=(2, 2))(x, ans)  # examples along the last axis
    want = np.stack([f(x[..., i], ans[..., i]) for i in range(5)])
    np.testing.assert_array_equal(got, want)


def _pool_loss(x, u):
    return fnp.sum(nn.max_pool(x, (2, 2), strides=(2, 2)) * u)


def _pool_closed_form(x, u):
    """Each window's cotangent split equally between its maxima."""
    n, h, w, c = x.shape
    blocks = x.reshape(n, h // 2, 2, w // 2, 2, c)
    best = blocks.max(axis=(2, 4), keepdims=True)
    hits = blocks == best
    share = u[:, :, None, :, None] / hits.sum(axis=(2, 4), keepdims=True)
    return (hits * share).reshape(x.shape)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_gradient_with_ties_is_the_closed_form(mode, dtype):
    rng = np.random.default_rng(16)
    x = rng.integers(0, 3, (3, 4, 6, 2)).astype(dtype)
    u = rng.standard_normal((3, 2, 3, 2)).astype(dtype)
    want = _pool_closed_form(x, u)
    for g in (fgrad.grad(_pool_loss)(x, u), fgrad.jit(fgrad.grad(_pool_loss))(x, u)):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, want, rtol=1e-6)


def test_max_pool_gradient_on_the_strict_backend(strict):
    rng = np.random.default_rng(17)
    x = rng.integers(0, 3, (2, 4, 4, 3)).astype(np.float64)
    u = rng.standard_normal((2, 2, 2, 3))
    xd, ud = fgrad.device_put((x, u), strict)
    g = fgrad.grad(_pool_loss)(xd, ud)
    assert backend_of(g).name == strict
    np.testing.assert_allclose(fgrad.device_get(g), _pool_closed_form(x, u), rtol=1e-12)


# -- a small CNN, end to end ------------------------------------------------------------------

DN = ("NHWC", "HWIO", "NHWC")


def _cnn_params(rng, dtype=np.float64):
    return {
        "w1": rng.standard_normal((3, 3, 2, 4)).astype(dtype) * 0.5,
        "w2": rng.standard_normal((3, 3, 4, 3)).astype(dtype) * 0.3,
        "w3": rng.standard_normal((3, 2)).astype(dtype) * 0.5,
    }


def _cnn_loss(p, x):
    h = fnp.tanh(lax.conv_general_dilated(x, p["w1"], (1, 1), "SAME", dimension_numbers=DN))
    h = lax.conv_general_dilated(h, p["w2"], (1, 1), ((1, 0), (0, 1)), dimension_numbers=DN)
    h = nn.max_pool(fnp.sin(h), (2, 2), strides=(2, 2))
    logits = fnp.reshape(h, (h.shape[0], -1)) @ p["w3"]
    return fnp.sum(logits**2) + fnp.sum(fnp.max(logits, axis=1))


def _flat(p):
    return np.concatenate([p[k].ravel() for k in sorted(p)])


def _unflat(v, like):
    out, at = {}, 0
    for k in sorted(like):
        out[k] = v[at : at + like[k].size].reshape(like[k].shape)
        at += like[k].size
    return out


def test_cnn_gradient_and_hessian_match_differences(mode):
    rng = np.random.default_rng(18)
    p, x = _cnn_params(rng), rng.standard_normal((2, 4, 4, 2))
    v = _flat(p)
    g = fgrad.grad(_cnn_loss)(p, x)
    jg = fgrad.jit(fgrad.grad(_cnn_loss))(p, x)
    want = numerical_grad(lambda v: _cnn_loss(_unflat(v, p), x), v)
    np.testing.assert_allclose(_flat(g), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(_flat(jg), _flat(g), rtol=1e-12, atol=1e-13)
    # Hessian-vector product: forward over reverse, against differences of gradients
    t = _unflat(rng.standard_normal(v.size), p)
    hvp = fgrad.jvp(lambda q: fgrad.grad(_cnn_loss)(q, x), (p,), (t,))[1]
    eps = 1e-5
    plus = fgrad.grad(_cnn_loss)(_unflat(v + eps * _flat(t), p), x)
    minus = fgrad.grad(_cnn_loss)(_unflat(v - eps * _flat(t), p), x)
    np.testing.assert_allclose(
        _flat(hvp), (_flat(plus) - _flat(minus)) / (2 * eps), rtol=1e-5, atol=1e-6
    )
    # the input gradient too (col2im), eager against jit
    gx = fgrad.grad(_cnn_loss, argnums=1)(p, x)
    np.testing.assert_allclose(gx, numerical_grad(lambda x: _cnn_loss(p, x), x), atol=1e-7)


def test_cnn_per_example_gradients_under_vmap_equal_a_loop(mode):
    rng = np.random.default_rng(19)
    p, xs = _cnn_params(rng, np.float32), rng.standard_normal((3, 1, 4, 4, 2)).astype(np.float32)
    got = fgrad.jit(fgrad.vmap(fgrad.grad(_cnn_loss), in_axes=(None, 0)))(p, xs)
    for i in range(3):
        want = fgrad.grad(_cnn_loss)(p, xs[i])
        for k in p:
            assert got[k].dtype == np.float32
            np.testing.assert_allclose(got[k][i], want[k], rtol=2e-5, atol=2e-6)


def test_cnn_float32_stays_float32_and_matches_float64(mode):
    rng = np.random.default_rng(20)
    p, x = _cnn_params(rng, np.float32), rng.standard_normal((2, 4, 4, 2)).astype(np.float32)
    g32 = fgrad.jit(fgrad.grad(_cnn_loss, argnums=(0, 1)))(p, x)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    g64 = fgrad.grad(_cnn_loss, argnums=(0, 1))(p64, x.astype(np.float64))
    for k in p:
        assert g32[0][k].dtype == np.float32
        np.testing.assert_allclose(g32[0][k], g64[0][k], rtol=1e-4, atol=1e-4)
    assert g32[1].dtype == np.float32
    np.testing.assert_allclose(g32[1], g64[1], rtol=1e-4, atol=1e-4)
