"""Convolutions, ``reduce_window`` and pooling: values against direct loops and SciPy,
derivatives against central finite differences (float64), and every composition of
``jit``, ``vmap`` and ``grad``; JAX cross-checks where JAX is installed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.test_util import check_grads
from tests.helpers import numerical_grad

# -- independent references: loops over output positions, in the NC... / OI... layout --


def _dilate_pad(x, dilation, pads, fill=0.0):
    """``x`` (spatial axes only) with holes and padding, element by element."""
    shape = [max((n - 1) * d + 1, 0) + lo + hi for n, d, (lo, hi) in zip(x.shape, dilation, pads)]
    out = np.full(shape, fill, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        pos = [i * d + lo for i, d, (lo, _) in zip(idx, dilation, pads)]
        if all(0 <= p < s for p, s in zip(pos, shape)):
            out[tuple(pos)] = x[idx]
    return out


def reference_conv(x, w, strides, pads, lhs_dil, rhs_dil, groups=1):
    """out[n, o, p] = sum over c in o's group and window k of xp[n, c, p*s + k*d] w[o, c, k]."""
    n, c = x.shape[:2]
    o, i = w.shape[:2]
    window = w.shape[2:]
    xp = np.stack(
        [np.stack([_dilate_pad(x[b, f], lhs_dil, pads) for f in range(c)]) for b in range(n)]
    )
    extent = [(k - 1) * d + 1 for k, d in zip(window, rhs_dil)]
    out_sp = [max((L - e) // s + 1, 0) for L, e, s in zip(xp.shape[2:], extent, strides)]
    out = np.zeros((n, o, *out_sp))
    og = o // groups
    for b, f, *p in itertools.product(range(n), range(o), *map(range, out_sp)):
        g = f // og
        total = 0.0
        for ci in range(i):
            for k in np.ndindex(*window):
                q = tuple(pp * s + kk * d for pp, s, kk, d in zip(p, strides, k, rhs_dil))
                total += xp[(b, g * i + ci, *q)] * w[(f, ci, *k)]
        out[(b, f, *p)] = total
    return out


def reference_window(x, kind, window, strides, pads, base=None, wdil=None):
    base = base or (1,) * x.ndim
    wdil = wdil or (1,) * x.ndim
    fill = {"max": -np.inf, "min": np.inf, "sum": 0.0}[kind]
    xp = _dilate_pad(x, base, pads, fill)
    extent = [(k - 1) * d + 1 for k, d in zip(window, wdil)]
    out_sp = [max((L - e) // s + 1, 0) for L, e, s in zip(xp.shape, extent, strides)]
    reduce = {"max": np.max, "min": np.min, "sum": np.sum}[kind]
    out = np.zeros(out_sp)
    for p in np.ndindex(*out_sp):
        vals = [
            xp[tuple(pp * s + kk * d for pp, s, kk, d in zip(p, strides, k, wdil))]
            for k in np.ndindex(*window)
        ]
        out[p] = reduce(vals)
    return out


def same_pads(in_sp, window, strides):
    """SAME from its definition: ceil(n / s) outputs, the odd pad element at the end."""
    pads = []
    for n, k, s in zip(in_sp, window, strides):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


# -- configurations: (lhs shape NC..., rhs shape OI..., strides, padding, lhs_dil, rhs_dil, G)

CONFIGS = {
    "1d-valid": ((2, 3, 7), (4, 3, 3), (1,), "VALID", (1,), (1,), 1),
    "1d-same-stride2": ((2, 2, 7), (3, 2, 3), (2,), "SAME", (1,), (1,), 1),
    "1d-explicit-dilated": ((1, 2, 9), (2, 2, 3), (1,), ((2, 1),), (1,), (3,), 1),
    "1d-transposed": ((2, 2, 4), (3, 2, 3), (1,), ((2, 2),), (2,), (1,), 1),
    "1d-groups": ((2, 4, 6), (6, 2, 2), (2,), ((1, 0),), (1,), (1,), 2),
    "2d-valid": ((2, 3, 5, 6), (4, 3, 3, 2), (1, 1), "VALID", (1, 1), (1, 1), 1),
    "2d-same-stride": ((2, 2, 7, 6), (3, 2, 3, 3), (2, 3), "SAME", (1, 1), (1, 1), 1),
    "2d-rhs-dilated": ((1, 2, 7, 7), (2, 2, 2, 3), (1, 2), "SAME", (1, 1), (2, 2), 1),
    "2d-lhs-dilated": ((1, 2, 3, 4), (2, 2, 3, 2), (1, 1), ((2, 2), (1, 0)), (2, 3), (1, 1), 1),
    "2d-crop": ((2, 2, 6, 6), (2, 2, 2, 2), (2, 2), ((-1, 1), (1, -2)), (1, 1), (1, 1), 1),
    "2d-depthwise": ((2, 3, 5, 5), (3, 1, 3, 3), (1, 1), "SAME", (1, 1), (1, 1), 3),
    "2d-groups-all": ((1, 4, 6, 5), (6, 2, 2, 2), (2, 1), ((1, 1), (0, 2)), (1, 2), (2, 1), 2),
}
IDS = list(CONFIGS)


def _inputs(name, dtype=np.float64):
    lhs_shape, rhs_shape = CONFIGS[name][:2]
    rng = np.random.default_rng(len(name) * 7919 + sum(map(ord, name)))
    return (
        rng.standard_normal(lhs_shape).astype(dtype),
        rng.standard_normal(rhs_shape).astype(dtype),
    )


def _conv_fn(name):
    _, _, strides, padding, ld, rd, groups = CONFIGS[name]

    def f(x, w):
        return lax.conv_general_dilated(x, w, strides, padding, ld, rd, feature_group_count=groups)

    return f


def _explicit_pads(name, x, w):
    _, _, strides, padding, ld, rd, _ = CONFIGS[name]
    if not isinstance(padding, str):
        return padding
    in_sp = [(n - 1) * d + 1 for n, d in zip(x.shape[2:], ld)]
    extent = [(k - 1) * d + 1 for k, d in zip(w.shape[2:], rd)]
    return same_pads(in_sp, extent, strides) if padding == "SAME" else ((0, 0),) * len(in_sp)


# -- values ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IDS)
def test_conv_matches_direct_loops(name):
    x, w = _inputs(name)
    _, _, strides, _, ld, rd, groups = CONFIGS[name]
    want = reference_conv(x, w, strides, _explicit_pads(name, x, w), ld, rd, groups)
    got = _conv_fn(name)(x, w)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv_matches_scipy_correlate():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((9, 8)), rng.standard_normal((3, 3))
    for padding, mode in (("VALID", "valid"), ("SAME", "same")):
        got = lax.conv(x[None, None], w[None, None], (1, 1), padding)[0, 0]
        np.testing.assert_allclose(got, signal.correlate(x, w, mode=mode), rtol=1e-12)
    # lax.conv_with_general_padding with input dilation 1 and a full pad is scipy's 'full'
    got = lax.conv_with_general_padding(
        x[None, None], w[None, None], (1, 1), ((2, 2), (2, 2)), (1, 1), (1, 1)
    )[0, 0]
    np.testing.assert_allclose(got, signal.correlate(x, w, mode="full"), rtol=1e-12)


@pytest.mark.parametrize(
    "dn",
    [
        ("NHWC", "HWIO", "NHWC"),
        ("NCHW", "HWIO", "NHWC"),
        ("NHWC", "OIHW", "NCHW"),
        ("CNHW", "IOHW", "HWNC"),
    ],
)
def test_layouts_are_transposes_of_the_default(dn):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    want = lax.conv_general_dilated(x, w, (2, 1), "SAME", rhs_dilation=(1, 2))  # NCHW, OIHW
    lhs_spec, rhs_spec, out_spec = dn
    x2 = np.transpose(x, ["NCHW".index(c) for c in lhs_spec])
    w2 = np.transpose(w, ["OIHW".index(c) for c in rhs_spec])
    got = lax.conv_general_dilated(
        x2, w2, (2, 1), "SAME", rhs_dilation=(1, 2), dimension_numbers=dn
    )
    np.testing.assert_allclose(got, np.transpose(want, ["NCHW".index(c) for c in out_spec]))
    numbers = lax.conv_dimension_numbers(x2.shape, w2.shape, dn)
    assert numbers.lhs_spec == tuple(lhs_spec.index(c) for c in "NCHW")
    assert numbers.rhs_spec == tuple(rhs_spec.index(c) for c in "OIHW")
    again = lax.conv_general_dilated(
        x2, w2, (2, 1), "SAME", rhs_dilation=(1, 2), dimension_numbers=numbers
    )
    np.testing.assert_array_equal(again, got)


def test_spatial_axes_pair_up_by_letter_in_the_kernels_order():
    """With 'WH' in the kernel, strides and padding are given in the kernel's order."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 7, 5)), rng.standard_normal((3, 2, 3, 2))
    want = lax.conv_general_dilated(x, w, (2, 1), ((1, 1), (0, 0)))
    got = lax.conv_general_dilated(
        x,
        np.swapaxes(w, 2, 3),
        (1, 2),
        ((0, 0), (1, 1)),
        dimension_numbers=("NCHW", "OIWH", "NCHW"),
    )
    np.testing.assert_allclose(got, want)


def test_three_spatial_axes():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 2, 4, 3, 5)), rng.standard_normal((2, 2, 2, 2, 3))
    got = lax.conv_general_dilated(x, w, (1, 1, 2), "SAME", rhs_dilation=(1, 2, 1))
    pads = same_pads((4, 3, 5), (2, 3, 3), (1, 1, 2))
    np.testing.assert_allclose(
        got, reference_conv(x, w, (1, 1, 2), pads, (1, 1, 1), (1, 2, 1)), rtol=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype):
    x, w = _inputs("2d-groups-all", dtype)
    f = _conv_fn("2d-groups-all")
    assert f(x, w).dtype == dtype
    gx, gw = fgrad.grad(lambda x, w: fnp.sum(f(x, w) ** 2), argnums=(0, 1))(x, w)
    assert gx.dtype == gw.dtype == dtype
    y = np.moveaxis(x, 1, -1)
    assert fgrad.nn.max_pool(y, (2, 2)).dtype == dtype
    assert fgrad.nn.avg_pool(y, (2, 2), padding="SAME").dtype == dtype
    assert fgrad.jit(f)(x, w).dtype == dtype
    assert lax.conv(x[:, :2], w, (1, 1), "VALID", preferred_element_type=np.float64).dtype == (
        np.float64
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_numpy_and_scipy_convolutions_keep_dtype(dtype):
    signal = pytest.importorskip("scipy.signal")
    a, v = np.arange(1, 6).astype(dtype), np.array([2, -1, 3]).astype(dtype)
    for mode in ("full", "same", "valid"):
        for ours, theirs in (
            (fnp.convolve(a, v, mode), np.convolve(a, v, mode)),
            (fnp.correlate(a, v, mode), np.correlate(a, v, mode)),
            (fgrad.scipy.signal.convolve(a, v, mode), signal.convolve(a, v, mode)),
        ):
            assert ours.dtype == theirs.dtype
            np.testing.assert_allclose(ours, theirs, rtol=1e-6)


# -- derivatives ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", IDS)
def test_conv_gradients_match_central_differences(name):
    x, w = _inputs(name)
    f = _conv_fn(name)
    u = np.random.default_rng(5).standard_normal(f(x, w).shape)

    def loss(x, w):
        return fnp.sum(f(x, w) * u)

    gx, gw = fgrad.grad(loss, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(gx, numerical_grad(loss, x, w, argnums=0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, numerical_grad(loss, x, w, argnums=1), rtol=1e-6, atol=1e-8)
    check_grads(f, (x, w), order=2)


@pytest.mark.parametrize("name", ["1d-groups", "2d-same-stride", "2d-groups-all"])
def test_conv_compositions_agree(name):
    x, w = _inputs(name)
    f = _conv_fn(name)
    u = np.random.default_rng(6).standard_normal(f(x, w).shape)

    def loss(x, w):
        return fnp.sum(fnp.tanh(f(x, w)) * u)

    g = fgrad.grad(loss, argnums=(0, 1))
    want = g(x, w)
    for variant in (fgrad.grad(fgrad.jit(loss), argnums=(0, 1)), fgrad.jit(g)):
        for a, b in zip(variant(x, w), want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fgrad.jit(f)(x, w), f(x, w), rtol=1e-13)


@pytest.mark.parametrize("name", ["1d-groups", "2d-same-stride", "2d-groups-all", "2d-crop"])
@pytest.mark.parametrize("jit", [False, True])
def test_vmap_over_lhs_rhs_and_both(name, jit):
    x, w = _inputs(name)
    rng = np.random.default_rng(7)
    xs = np.stack([x, x + rng.standard_normal(x.shape)])
    ws = np.stack([w, w * 0.5 + rng.standard_normal(w.shape)])
    f = _conv_fn(name)
    wrap = fgrad.jit if jit else (lambda h: h)
    loop_x = np.stack([f(a, w) for a in xs])
    loop_w = np.stack([f(x, b) for b in ws])
    loop_both = np.stack([f(a, b) for a, b in zip(xs, ws)])
    np.testing.assert_allclose(wrap(fgrad.vmap(f, (0, None)))(xs, w), loop_x, rtol=1e-12)
    np.testing.assert_allclose(wrap(fgrad.vmap(f, (None, 0)))(x, ws), loop_w, rtol=1e-12)
    np.testing.assert_allclose(wrap(fgrad.vmap(f))(xs, ws), loop_both, rtol=1e-12)
    # a batch axis that is not the first one
    got = fgrad.vmap(f, (x.ndim, 0), out_axes=1)(np.moveaxis(xs, 0, -1), ws)
    np.testing.assert_allclose(got, np.moveaxis(loop_both, 0, 1), rtol=1e-12)
    # per-example gradients: vmap of grad against a loop of grads
    u = rng.standard_normal(f(x, w).shape)

    def loss(x, w):
        return fnp.sum(f(x, w) * u)

    per = wrap(fgrad.vmap(fgrad.grad(loss, argnums=(0, 1))))(xs, ws)
    for k in range(2):
        gx, gw = fgrad.grad(loss, argnums=(0, 1))(xs[k], ws[k])
        np.testing.assert_allclose(per[0][k], gx, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(per[1][k], gw, rtol=1e-12, atol=1e-12)


# -- reduce_window and pooling -----------------------------------------------------------------

WINDOWS = {
    "valid": ((2, 2), (2, 2), "VALID", None, None),
    "overlap": ((3, 2), (1, 2), "VALID", None, None),
    "same": ((3, 3), (2, 2), "SAME", None, None),
    "padded": ((2, 3), (2, 1), ((1, 0), (2, 1)), None, None),
    "dilated": ((2, 2), (1, 2), ((0, 1), (1, 1)), (2, 1), (1, 2)),
}


def _distinct(shape, seed=0):
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.25 - n / 8).reshape(shape)


@pytest.mark.parametrize("kind", ["max", "min", "sum"])
@pytest.mark.parametrize("wname", list(WINDOWS))
def test_reduce_window_values_and_gradients(kind, wname):
    window, strides, padding, base, wdil = WINDOWS[wname]
    x = _distinct((5, 7))
    computation = {"max": fnp.maximum, "min": fnp.minimum, "sum": fnp.add}[kind]
    init = {"max": -np.inf, "min": np.inf, "sum": 0.0}[kind]

    def f(x):
        return lax.reduce_window(x, init, computation, window, strides, padding, base, wdil)

    extent = [(k - 1) * d + 1 for k, d in zip(window, wdil or (1, 1))]
    in_sp = [(n - 1) * d + 1 for n, d in zip(x.shape, base or (1, 1))]
    pads = (
        same_pads(in_sp, extent, strides)
        if padding == "SAME"
        else ((0, 0),) * 2
        if padding == "VALID"
        else padding
    )
    want = reference_window(x, kind, window, strides, pads, base, wdil)
    np.testing.assert_allclose(f(x), want)
    np.testing.assert_allclose(fgrad.jit(f)(x), want)
    u = np.random.default_rng(8).standard_normal(want.shape)

    def loss(x):
        return fnp.sum(f(x) * u)

    np.testing.assert_allclose(fgrad.grad(loss)(x), numerical_grad(loss, x), atol=1e-8)
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(loss))(x), fgrad.grad(loss)(x))
    xs = np.stack([x, _distinct(x.shape, 1)])
    np.testing.assert_allclose(fgrad.vmap(f)(xs), np.stack([f(a) for a in xs]))
    check_grads(f, (x,), order=2)


def test_reduce_window_init_value_and_names():
    x = np.arange(12.0).reshape(3, 4)
    got = lax.reduce_window(x, 1.0, "add", (2, 2), (1, 2), "VALID")
    np.testing.assert_allclose(got, reference_window(x, "sum", (2, 2), (1, 2), ((0, 0),) * 2) + 1)
    got = lax.reduce_window(x, 5.0, "max", (2, 2), (2, 2), "VALID")
    np.testing.assert_allclose(got, [[5.0, 7.0]])
    np.testing.assert_allclose(  # a product, recognised by name like the others
        lax.reduce_window(x, 1.0, fnp.multiply, (1, 2), (1, 2), "VALID"), x[:, ::2] * x[:, 1::2]
    )
    with pytest.raises(ValueError, match="computation 'mean' is none of"):
        lax.reduce_window(x, 0.0, "mean", (2, 2), (1, 1), "VALID")


def test_max_pool_tie_shares_the_cotangent():
    x = np.array([[3.0, 3.0], [1.0, 0.0]])[None, :, :, None]
    g = fgrad.grad(lambda x: fgrad.nn.max_pool(x, (2, 2))[0, 0, 0, 0])(x)
    np.testing.assert_allclose(g[0, :, :, 0], [[0.5, 0.5], [0.0, 0.0]])


def test_pools_match_closed_forms():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 6, 4, 5))  # NHWC
    blocks = x.reshape(3, 3, 2, 2, 2, 5)
    np.testing.assert_allclose(fgrad.nn.max_pool(x, (2, 2), (2, 2)), blocks.max(axis=(2, 4)))
    np.testing.assert_allclose(fgrad.nn.avg_pool(x, (2, 2), (2, 2)), blocks.mean(axis=(2, 4)))
    # integers: padded positions hold the smallest integer, and the dtype is kept
    ints = np.arange(3 * 6 * 4 * 5).reshape(x.shape) % 17
    got = fgrad.nn.max_pool(ints, (2, 2), (2, 2), padding="SAME")
    assert got.dtype == ints.dtype
    np.testing.assert_array_equal(got, ints.reshape(blocks.shape).max(axis=(2, 4)))
    # unbatched input, as in Flax
    np.testing.assert_allclose(fgrad.nn.max_pool(x[0], (2, 2), (2, 2)), blocks[0].max(axis=(1, 3)))
    # SAME: padded positions never win a max; averages count them or not
    got = fgrad.nn.max_pool(x, (3, 3), padding="SAME")
    for b, c in itertools.product(range(3), range(5)):
        want = reference_window(x[b, :, :, c], "max", (3, 3), (1, 1), ((1, 1), (1, 1)))
        np.testing.assert_allclose(got[b, :, :, c], want)
    total = fgrad.nn.avg_pool(x, (3, 3), padding="SAME") * 9
    exact = fgrad.nn.avg_pool(x, (3, 3), padding="SAME", count_include_pad=False)
    counts = reference_window(np.ones((6, 4)), "sum", (3, 3), (1, 1), ((1, 1), (1, 1)))
    np.testing.assert_allclose(exact, total / counts[None, :, :, None])
    assert counts[0, 0] == 4.0


def test_pool_gradients_match_central_differences():
    x = _distinct((2, 4, 6, 3)) / 8

    def loss(x):
        y = fgrad.nn.max_pool(x, (2, 3), (2, 2), padding="SAME")
        z = fgrad.nn.avg_pool(x, (3, 2), (1, 2), padding=((1, 1), (0, 0)))
        return fnp.sum(y**2) + fnp.sum(fnp.sin(z))

    np.testing.assert_allclose(fgrad.grad(loss)(x), numerical_grad(loss, x), atol=1e-8)


# -- errors ------------------------------------------------------------------------------


def test_errors_name_the_problem():
    x, w = np.zeros((1, 4, 5, 5)), np.zeros((6, 3, 3, 3))
    with pytest.raises(fgrad.ShapeError, match="feature_group_count"):
        lax.conv(x, w, (1, 1), "VALID")
    with pytest.raises(ValueError, match="distinct letters"):
        lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIH", "NCHW"))
    with pytest.raises(ValueError, match="window_strides"):
        lax.conv(x, w[:, :4], (1,), "VALID")
    with pytest.raises(ValueError, match="padding"):
        lax.conv(x, w[:, :4], (1, 1), "FULL")
    with pytest.raises(ValueError, match="lhs_dilation"):
        lax.conv_general_dilated(x, w[:, :4], (1, 1), "SAME", lhs_dilation=(2, 2))
    with pytest.raises(NotImplementedError, match="batch_group_count"):
        lax.conv_general_dilated(x, w[:, :4], (1, 1), "SAME", batch_group_count=2)
    with pytest.raises(ValueError, match="window"):
        fgrad.nn.max_pool(np.zeros((2, 3)), (2, 2))


# -- JAX, where installed --------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("name", IDS)
def test_conv_and_its_vjp_match_jax(jax, name):
    x, w = _inputs(name)
    params = CONFIGS[name][2:]
    strides, padding, ld, rd, groups = params
    if isinstance(padding, str) and ld != (1,) * len(ld):
        padding = _explicit_pads(name, x, w)

    def jf(x, w):
        return jax.lax.conv_general_dilated(
            x, w, strides, padding, ld, rd, feature_group_count=groups
        )

    want, pull = jax.vjp(jf, x, w)
    got, pull_f = fgrad.vjp(_conv_fn(name), x, w)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-12)
    u = np.random.default_rng(10).standard_normal(got.shape)
    for a, b in zip(pull_f(u), pull(u)):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("kind", ["max", "sum"])
@pytest.mark.parametrize("wname", list(WINDOWS))
def test_reduce_window_and_its_vjp_match_jax(jax, wname, kind):
    window, strides, padding, base, wdil = WINDOWS[wname]
    x = _distinct((5, 7))
    init = -np.inf if kind == "max" else 0.0
    op, jop = (fnp.maximum, jax.lax.max) if kind == "max" else (fnp.add, jax.lax.add)

    def jf(x):
        return jax.lax.reduce_window(x, init, jop, window, strides, padding, base, wdil)

    def f(x):
        return lax.reduce_window(x, init, op, window, strides, padding, base, wdil)

    got, pull_f = fgrad.vjp(f, x)
    np.testing.assert_allclose(got, np.asarray(jf(x)))
    if kind == "max" and base is not None:
        return  # JAX has no derivative of a max over a base-dilated input
    _, pull = jax.vjp(jf, x)
    # without ties the cotangents agree too (at ties fgrad shares, JAX picks one)
    u = np.random.default_rng(11).standard_normal(got.shape)
    np.testing.assert_allclose(pull_f(u)[0], np.asarray(pull(u)[0]), rtol=1e-12)
