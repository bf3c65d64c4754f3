"""Max and min pools whose windows tile the input: ``tile_extremum`` and its derivative maps
``tile_ties`` / ``tile_ties_transpose`` (``fgrad/primitives/tiles.py``), the path of
``reduce_window`` / ``nn.max_pool`` when stride = window and there is no padding.

* the compiled loops (numba, ``fgrad_fuse`` not ``'off'``) and the NumPy path give the
  same bits, and both the references' (a max over a reshaped view; ``1/k`` of a window's
  cotangent at each of its ``k`` extrema), over geometries: 1-3 windowed axes, windows of
  1, axes no window covers to the end (cut), one feature, ties, NaN, infinities, float32
  and float64, max and min;
* the tiled path against the general one (``window_patches`` and ``reduce_max``);
* float64 gradients against central differences, Hessian-vector products against
  differences of gradients and ``fgrad.hessian`` against differences of ``grad``;
* ``vmap`` against a loop (operands batched and not), ``jit`` against eager, Taylor mode
  against ``jvp``, the strict non-NumPy backend, and the shape errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax, nn
from fgrad.core.backend import backend_of
from fgrad.core.errors import ShapeError
from fgrad.core.optional import installed
from fgrad.primitives.tiles import tile_extremum, tile_ties, tile_ties_transpose
from tests.helpers import call_fusing, fusing, numerical_grad

MODES = ["off", "auto"] if installed("numba") else ["off"]


@pytest.fixture(params=MODES)
def mode(request):
    with fusing(request.param):
        yield request.param


#: (shape, window): a CNN's NHWC pool, NCHW (one feature), a cut, 1-d, 3-d, all windows 1
GEOMETRIES = [
    ((3, 8, 8, 5), (1, 2, 2, 1)),
    ((2, 3, 6, 6), (1, 1, 3, 2)),
    ((2, 7, 9, 3), (1, 2, 4, 1)),
    ((11,), (3,)),
    ((2, 4, 6, 4, 2), (1, 2, 3, 2, 1)),
    ((3, 4), (1, 1)),
    ((2, 5, 3), (1, 2, 3)),
]


def _view(x, window):
    """The reference's windows: a reshaped view ``(*out, *window)`` of the covered part."""
    out = tuple(n // k for n, k in zip(x.shape, window))
    x = x[tuple(slice(0, o * k) for o, k in zip(out, window))]
    split = [v for o, k in zip(out, window) for v in (o, k)]
    nd = len(window)
    return x.reshape(split).transpose(*range(0, 2 * nd, 2), *range(1, 2 * nd, 2))


def _reference(x, g, window, kind):
    """The extremum and the shared cotangent, from the view (NumPy's max and weights)."""
    nd = len(window)
    axes = tuple(range(nd, 2 * nd))
    tiles = _view(x, window)
    best = (np.max if kind == "max" else np.min)(tiles, axis=axes)
    hits = tiles == best[(...,) + (None,) * nd]
    weights = hits.astype(x.dtype) / hits.sum(axis=axes, keepdims=True).astype(x.dtype)
    spread = np.zeros_like(x)
    _view(spread, window)[...] = weights * g[(...,) + (None,) * nd]
    return best, spread


def _operand(rng, shape, dtype, special):
    x = rng.integers(-2, 3, shape).astype(dtype)  # few values: many ties
    if special:
        flat = x.reshape(-1)
        flat[0], flat[len(flat) // 2], flat[-1] = np.nan, -np.inf, np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("special", [False, True], ids=["ties", "nan-inf"])
def test_both_paths_give_the_references_bits(dtype, kind, special):
    rng = np.random.default_rng(30)
    for shape, window in GEOMETRIES:
        x = _operand(rng, shape, dtype, special)
        out = tuple(n // k for n, k in zip(shape, window))
        g = rng.standard_normal(out).astype(dtype)
        best, spread = _reference(x, g, window, kind)
        for m in MODES:
            got = call_fusing(m, tile_extremum, x, window, kind)
            assert got.dtype == dtype and got.shape == out
            np.testing.assert_array_equal(got, best)  # NaN where best has NaN
            back = call_fusing(m, tile_ties_transpose, g, x, best, window)
            assert back.dtype == dtype and back.shape == shape
            np.testing.assert_array_equal(back, spread)


def test_ties_share_and_nan_spreads_over_its_window(mode):
    x = np.array([[1.0, 3.0, 3.0, 0.0, 7.0], [2.0, np.nan, -1.0, 5.0, 9.0]])
    best = tile_extremum(x, (1, 2), "max")
    np.testing.assert_array_equal(best, [[3.0, 3.0], [np.nan, 5.0]])
    back = tile_ties_transpose(np.array([[2.0, 4.0], [1.0, 8.0]]), x, best, (1, 2))
    want = [[0.0, 2.0, 4.0, 0.0, 0.0], [np.nan, np.nan, 0.0, 8.0, 0.0]]
    np.testing.assert_array_equal(back, want)  # the uncovered column gets zero
    t = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(tile_ties(t, x, best, (1, 2)), [[1.0, 2.0], [np.nan, 8.0]])


@pytest.mark.parametrize("kind", ["max", "min"])
def test_tiled_reduce_window_equals_the_general_path(mode, kind):
    """Tiling windows, and the same windows through ``window_patches`` (a padding no window
    reaches forces that path): values and gradients, with ties, float32."""
    rng = np.random.default_rng(31)
    x = rng.integers(0, 3, (2, 6, 7, 3)).astype(np.float32)
    u = rng.standard_normal((2, 3, 2, 3)).astype(np.float32)
    op, init = (fnp.maximum, -np.inf) if kind == "max" else (fnp.minimum, np.inf)
    dims = (1, 2, 3, 1)

    def tiled(x):
        return fnp.sum(lax.reduce_window(x, init, op, dims, dims, "VALID") * u)

    def general(x):
        pads = ((0, 0), (0, 0), (0, 1), (0, 0))
        return fnp.sum(lax.reduce_window(x, init, op, dims, dims, pads) * u)

    assert "tile_extremum" in str(fgrad.make_jaxpr(tiled)(x))
    assert "tile_extremum" not in str(fgrad.make_jaxpr(general)(x))
    (v1, g1), (v2, g2) = fgrad.value_and_grad(tiled)(x), fgrad.value_and_grad(general)(x)
    assert g1.dtype == np.float32
    np.testing.assert_allclose(v1, v2, rtol=1e-6)
    np.testing.assert_array_equal(g1, g2)


# -- derivatives in float64 ------------------------------------------------------------------


def _distinct(rng, shape):
    """Values at least 0.05 apart: no ties within a finite difference's step."""
    return (rng.permutation(np.prod(shape)).reshape(shape) * 0.05 - 1.0) + 0.01 * rng.random(
        shape
    )


U = np.random.default_rng(32).standard_normal((2, 2, 3, 2))


def _loss(x, u=U):
    """A max pool (cut rows), a min pool over channels, and a smooth function around them."""
    p = nn.max_pool(fnp.sin(x), (2, 2), strides=(2, 2))  # (2, 5, 7, 2) -> (2, 2, 3, 2)
    q = lax.reduce_window(x * x, np.inf, fnp.minimum, (1, 1, 1, 2), (1, 1, 1, 2), "VALID")
    return fnp.sum(p**2 * u) + fnp.sum(fnp.exp(q[:, :4, :6] * 0.3) * fnp.sum(p))


def test_gradient_and_hvp_match_differences(mode):
    rng = np.random.default_rng(33)
    x = _distinct(rng, (2, 5, 7, 2))
    g = fgrad.grad(_loss)(x)
    scale = np.abs(g).max()
    np.testing.assert_allclose(g, numerical_grad(_loss, x), rtol=1e-6, atol=1e-8 * scale)
    np.testing.assert_array_equal(fgrad.jit(fgrad.grad(_loss))(x), g)
    v = rng.standard_normal(x.shape)
    hvp = fgrad.jvp(fgrad.grad(_loss), (x,), (v,))[1]
    eps = 1e-5
    fd = (fgrad.grad(_loss)(x + eps * v) - fgrad.grad(_loss)(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, fd, rtol=1e-6, atol=1e-8 * np.abs(hvp).max())
    # reverse over reverse: the vjp of the pullback (tile_ties_transpose's transpose)
    rvr = fgrad.grad(lambda x: fnp.sum(fgrad.grad(_loss)(x) * v))(x)
    np.testing.assert_allclose(rvr, hvp, rtol=1e-10, atol=1e-12 * np.abs(hvp).max())


def test_hessian_matches_differences_of_the_gradient(mode):
    rng = np.random.default_rng(34)
    x = _distinct(rng, (1, 4, 5, 1))
    w = rng.standard_normal((1, 2, 2, 1))

    def f(x):
        pooled = nn.max_pool(x**3, (2, 2), strides=(2, 2))
        return fnp.sum(fnp.tanh(pooled) * w) + fnp.sum(x**2) * 0.1

    h = fgrad.hessian(f)(x).reshape(x.size, x.size)
    grad = fgrad.grad(f)
    eps, rows = 1e-5, []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = eps
        e = e.reshape(x.shape)
        rows.append(((grad(x + e) - grad(x - e)) / (2 * eps)).ravel())
    np.testing.assert_allclose(h, np.array(rows), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)


def test_taylor_mode_agrees_with_jvp(mode):
    rng = np.random.default_rng(35)
    x, v = _distinct(rng, (1, 4, 6, 2)), rng.standard_normal((1, 4, 6, 2))

    def f(x):
        return nn.max_pool(x, (2, 3), strides=(2, 3)) * 2.0 + 1.0

    y, (y1, y2) = fgrad.jet(f, (x,), ((v, np.zeros_like(v)),))
    np.testing.assert_array_equal(y, f(x))
    np.testing.assert_allclose(y1, fgrad.jvp(f, (x,), (v,))[1], rtol=1e-14)
    np.testing.assert_array_equal(y2, 0.0)  # piecewise linear: no curvature


# -- vmap, jit, other backends, errors -----------------------------------------------------


def test_vmap_equals_a_loop(mode):
    rng = np.random.default_rng(36)
    xs = rng.integers(0, 3, (4, 5, 3, 2)).astype(np.float32)  # examples along axis 2

    def f(x, u):
        return fnp.sum(nn.max_pool(x[None], (2, 2), strides=(2, 2)) * u)

    us = rng.standard_normal((3, 1, 2, 2, 2)).astype(np.float32)
    x0 = xs[..., 0, :]
    got = fgrad.vmap(fgrad.value_and_grad(f), in_axes=(2, 0))(xs, us)
    shared = fgrad.vmap(fgrad.grad(f), in_axes=(None, 0))(x0, us)  # x, max unbatched
    for i in range(3):
        v, g = fgrad.value_and_grad(f)(xs[:, :, i], us[i])
        np.testing.assert_array_equal(got[0][i], v)
        np.testing.assert_array_equal(got[1][i], g)
        np.testing.assert_array_equal(shared[i], fgrad.grad(f)(x0, us[i]))
    t = rng.standard_normal(xs.shape).astype(np.float32)
    tangents = fgrad.vmap(
        lambda x, t: fgrad.jvp(lambda x: nn.max_pool(x[None], (2, 2)), (x,), (t,))[1],
        in_axes=(2, 2),
    )(xs, t)
    for i in range(3):
        want = fgrad.jvp(lambda x: nn.max_pool(x[None], (2, 2)), (xs[:, :, i],), (t[:, :, i],))
        np.testing.assert_array_equal(tangents[i], want[1])


def test_jit_equals_eager_bit_for_bit(mode):
    rng = np.random.default_rng(37)
    x = rng.integers(0, 4, (3, 8, 6, 4)).astype(np.float32)
    u = rng.standard_normal((3, 4, 3, 4)).astype(np.float32)

    def f(x):
        return fnp.sum(nn.max_pool(fnp.maximum(x, 1.0), (2, 2), strides=(2, 2)) * u)

    jitted = fgrad.jit(fgrad.value_and_grad(f))
    for _ in range(3):  # past the switch to the fused program
        v, g = jitted(x)
    want = fgrad.value_and_grad(f)(x)
    np.testing.assert_array_equal(v, want[0])
    np.testing.assert_array_equal(g, want[1])


def test_strict_backend_gives_numpys_values(strict):
    rng = np.random.default_rng(38)
    x = _distinct(rng, (2, 5, 7, 2))
    v = rng.standard_normal(x.shape)
    xd, vd, ud = fgrad.device_put((x, v, U), strict)
    g = fgrad.grad(_loss)(xd, ud)
    hvp = fgrad.jvp(lambda x: fgrad.grad(_loss)(x, ud), (xd,), (vd,))[1]
    assert backend_of(g).name == strict and backend_of(hvp).name == strict
    np.testing.assert_allclose(fgrad.device_get(g), fgrad.grad(_loss)(x), rtol=1e-13)
    want = fgrad.jvp(fgrad.grad(_loss), (x,), (v,))[1]
    np.testing.assert_allclose(fgrad.device_get(hvp), want, rtol=1e-13)


def test_shape_errors_name_the_primitive_and_shapes():
    x = np.zeros((4, 6))
    with pytest.raises(ShapeError, match=r"tile_extremum: window \(2,\) needs one"):
        tile_extremum(x, (2,), "max")
    with pytest.raises(ShapeError, match=r"tile_ties_transpose: the cotangent"):
        tile_ties_transpose(np.zeros((3, 3)), x, np.zeros((2, 3)), (2, 2))
    with pytest.raises(ShapeError, match=r"tile_ties: the tangent"):
        tile_ties(np.zeros((4, 5)), x, np.zeros((2, 3)), (2, 2))


# -- the elementwise kernels around the pool ----------------------------------------------------


@pytest.mark.skipif(not installed("numba"), reason="the fused kernels need numba")
def test_short_inner_loops_read_their_length_at_run_time():
    """A bias-add and ReLU over 16 channels (a CNN layer's tail): the kernel's innermost loop
    reads its length from the input (LLVM does not vectorize a short loop of known length
    once it unrolled it), the outer ones are literals; the values are the replay's."""
    rng = np.random.default_rng(39)
    x = rng.standard_normal((64, 8, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)

    def f(x, b):
        z = x + b
        return z, fnp.maximum(z, 0.0)

    text = call_fusing("force", lambda: fgrad.jit(f).lower(x, b).as_text())
    assert "for i2 in range(x0.shape[2]):" in text and "for i0 in range(64):" in text
    fused = call_fusing("force", lambda: fgrad.jit(f)(x, b))
    plain = call_fusing("off", lambda: fgrad.jit(f)(x, b))
    for a, c in zip(fused, plain):
        np.testing.assert_array_equal(a, c)
