"""fgrad.image.resize and scale_and_translate: closed forms, gradients, jit/vmap, and JAX."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import image

KERNELS = ["linear", "cubic", "lanczos3", "lanczos5"]


def central_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("method", KERNELS)
@pytest.mark.parametrize("shape", [(9, 4), (3, 12), (6, 5)])
def test_a_constant_image_stays_constant(method, shape):
    out = image.resize(np.full((6, 5), 2.5), shape, method)
    np.testing.assert_allclose(out, np.full(shape, 2.5), rtol=1e-12)


def test_linear_closed_forms():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    # upsampling by 2: samples at -0.25, 0.25, 0.75, ... (edge ones see a single pixel)
    up = image.resize(x, (8,), "linear")
    np.testing.assert_allclose(up, [1, 1.25, 1.75, 2.5, 3.5, 5, 7, 8])
    # downsampling by 2 with antialias: a triangle twice as wide around 0.5 and 2.5
    down = image.resize(x, (2,), "linear")
    np.testing.assert_allclose(down, [(0.75 * 1 + 0.75 * 2 + 0.25 * 4) / 1.75,
                                      (0.25 * 2 + 0.75 * 4 + 0.75 * 8) / 1.75])
    np.testing.assert_allclose(image.resize(x, (2,), "linear", antialias=False), [1.5, 6.0])
    np.testing.assert_array_equal(image.resize(x, (4,), "cubic"), x)


def test_nearest_picks_floor_of_the_centre():
    x = np.arange(5 * 3).reshape(5, 3)
    out = image.resize(x, (3, 7), "nearest")
    rows = np.floor((np.arange(3) + 0.5) * 5 / 3).astype(int)
    cols = np.floor((np.arange(7) + 0.5) * 3 / 7).astype(int)
    np.testing.assert_array_equal(out, x[rows][:, cols])
    assert out.dtype == x.dtype


@pytest.mark.parametrize("method", ["linear", "cubic", "lanczos3"])
def test_resize_gradients_jit_vmap_and_dtype(method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    w = rng.normal(size=(7, 3))

    def f(x):
        return fnp.sum(image.resize(x, (7, 3), method) * w)

    np.testing.assert_allclose(fgrad.grad(f)(x), central_difference(f, x), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(fgrad.jit(f)(x), f(x), rtol=1e-12)
    batch = rng.normal(size=(3, 5, 4))
    np.testing.assert_allclose(
        fgrad.vmap(lambda b: image.resize(b, (7, 3), method))(batch),
        image.resize(batch, (3, 7, 3), method), rtol=1e-12,
    )
    assert image.resize(x.astype(np.float32), (7, 3), method).dtype == np.float32
    assert image.resize(x.astype(np.uint8), (7, 3), method).dtype == np.float32


def test_scale_and_translate_gradients_in_scale_and_translation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5))
    w = rng.normal(size=(8, 4))

    def f(params):
        out = image.scale_and_translate(x, (8, 4), (0, 1), params[:2], params[2:], "cubic")
        return fnp.sum(out * w)

    p = np.array([1.3, 0.7, 0.4, -0.3])
    np.testing.assert_allclose(fgrad.grad(f)(p), central_difference(f, p), rtol=1e-5)
    unit = image.scale_and_translate(x, (6, 5), (0, 1), np.ones(2), np.zeros(2), "linear")
    np.testing.assert_allclose(unit, x, rtol=1e-12)
    with pytest.raises(ValueError, match="nearest"):
        image.scale_and_translate(x, (6, 5), (0, 1), np.ones(2), np.zeros(2), "nearest")
    with pytest.raises(ValueError, match="unknown resize method"):
        image.resize(x, (3, 3), "bogus")


@pytest.mark.parametrize("method", ["nearest", *KERNELS])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_matches_jax(method, antialias):
    jax = pytest.importorskip("jax")
    x = np.random.default_rng(2).normal(size=(6, 7, 2)).astype(np.float32)
    for shape in [(12, 5, 2), (3, 14, 2), (9, 9, 2), (6, 7, 1)]:
        np.testing.assert_allclose(
            image.resize(x, shape, method, antialias=antialias),
            jax.image.resize(x, shape, method, antialias=antialias), atol=2e-6,
        )


def test_scale_and_translate_matches_jax():
    jax = pytest.importorskip("jax")
    x = np.random.default_rng(3).normal(size=(6, 7, 2)).astype(np.float32)
    for method in ("linear", "lanczos3"):  # each one compiles in JAX: two keep it quick
        args = ((8, 5, 2), (0, 1), np.array([1.3, 0.6], np.float32),
                np.array([0.5, -1.0], np.float32), method)
        np.testing.assert_allclose(image.scale_and_translate(x, *args),
                                   jax.image.scale_and_translate(x, *args), atol=2e-6)
