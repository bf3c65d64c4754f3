"""fgrad.numpy.fft: NumPy's values and dtypes for every transform, sizes, axes and norm;
derivatives to second order in both modes, including complex inputs; Parseval."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad.test_util import check_grads

RNG = np.random.default_rng(23)
NORMS = [None, "backward", "ortho", "forward"]


def R(*shape):
    return RNG.standard_normal(shape)


def C(*shape):
    return R(*shape) + 1j * R(*shape)


ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fft2", "ifft2", "fftn", "ifftn", "rfft2", "irfft2", "rfftn", "irfftn"]


def _input(name, shape):
    if name in ("rfft", "ihfft", "rfft2", "rfftn"):
        return R(*shape)
    return C(*shape)


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n, axis", [(None, -1), (3, -1), (8, 0), (None, 0)])
def test_one_dimensional_like_numpy(name, norm, n, axis):
    x = _input(name, (4, 5))
    got = getattr(fnp.fft, name)(x, n=n, axis=axis, norm=norm)
    want = getattr(np.fft, name)(x, n=n, axis=axis, norm=norm)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", N_D)
@pytest.mark.parametrize("s, axes", [(None, None), ((4, 6), (0, 2)), ((3, 2), None)])
def test_n_dimensional_like_numpy(name, s, axes):
    x = _input(name, (3, 4, 5))
    if name.endswith("2") and axes is None and s is not None:
        axes = (-2, -1)
    kwargs = {"s": s} | ({"axes": axes} if axes is not None else {})
    got, want = getattr(fnp.fft, name)(x, **kwargs), getattr(np.fft, name)(x, **kwargs)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
def test_single_precision_stays_single(dtype):
    x = R(8).astype(dtype)
    assert fnp.fft.fft(x).dtype == np.fft.fft(x).dtype
    if np.dtype(dtype).kind == "f":
        assert fnp.fft.rfft(x).dtype == np.fft.rfft(x).dtype


def test_shifts_and_frequencies_like_numpy():
    x = R(5, 6)
    for axes in (None, 0, (1,), (0, 1)):
        np.testing.assert_array_equal(fnp.fft.fftshift(x, axes), np.fft.fftshift(x, axes))
        np.testing.assert_array_equal(fnp.fft.ifftshift(x, axes), np.fft.ifftshift(x, axes))
    np.testing.assert_array_equal(fnp.fft.fftfreq(7, 0.5), np.fft.fftfreq(7, 0.5))
    np.testing.assert_array_equal(fnp.fft.rfftfreq(8), np.fft.rfftfreq(8))


GRADS = [
    ("fft", lambda x: fnp.fft.fft(x), R(4, 5)),
    ("fft-complex-ortho", lambda x: fnp.fft.fft(x, norm="ortho", axis=0), C(4, 5)),
    ("fft-n-smaller", lambda x: fnp.fft.fft(x, 3), R(4, 5)),
    ("ifft-n-bigger", lambda x: fnp.fft.ifft(x, 7), C(4, 5)),
    ("rfft", lambda x: fnp.fft.rfft(x), R(4, 6)),
    ("rfft-odd-forward", lambda x: fnp.fft.rfft(x, n=7, norm="forward"), R(4, 6)),
    ("irfft", lambda y: fnp.fft.irfft(y), np.fft.rfft(R(4, 6))),
    ("irfft-odd", lambda y: fnp.fft.irfft(y, n=5, norm="ortho"), np.fft.rfft(R(4, 5))),
    ("fft2-s", lambda x: fnp.fft.fft2(x, s=(5, 3), axes=(0, 2)), R(4, 4, 4) / 10),
    ("rfftn", lambda x: fnp.fft.rfftn(x), R(4, 4, 4) / 10),
    ("rfftn-odd", lambda x: fnp.fft.rfftn(x), R(3, 5) / 10),
    ("irfftn-s", lambda y: fnp.fft.irfftn(y, s=(6, 4), axes=(0, 2)), np.fft.rfftn(R(4, 4, 4))),
    ("hfft", lambda y: fnp.fft.hfft(y), C(3, 4)),
    ("ihfft", lambda x: fnp.fft.ihfft(x), R(3, 6)),
    ("fftshift", lambda x: fnp.fft.fftshift(x, axes=1), R(3, 5)),
]


@pytest.mark.parametrize("name, f, x", GRADS, ids=[g[0] for g in GRADS])
def test_derivatives_second_order_both_modes(name, f, x):
    check_grads(f, (x,), order=2)


def test_parseval_gradient_is_a_closed_form():
    # sum |fft(x)|^2 = n sum x^2, so its gradient is 2 n x
    x = R(8)
    g = fgrad.grad(lambda x: fnp.sum(fnp.abs(fnp.fft.fft(x)) ** 2))(x)
    np.testing.assert_allclose(g, 2 * 8 * x, rtol=1e-12)
    # the round trip irfft(rfft(x)) is the identity: its Jacobian is I
    jac = fgrad.jacrev(lambda x: fnp.fft.irfft(fnp.fft.rfft(x), n=8))(x)
    np.testing.assert_allclose(jac, np.eye(8), atol=1e-12)
    np.testing.assert_allclose(
        fgrad.jacfwd(lambda x: fnp.fft.irfft(fnp.fft.rfft(x), n=8))(x), np.eye(8), atol=1e-12
    )


def test_errors():
    with pytest.raises(ValueError, match="Invalid norm"):
        fnp.fft.fft(R(4), norm="bogus")
    with pytest.raises(ValueError, match="Invalid number of FFT data points"):
        fnp.fft.fft(R(4), n=0)
    with pytest.raises(TypeError, match="must be real"):
        fnp.fft.rfft(C(4))
    with pytest.raises(ValueError, match="different lengths"):
        fnp.fft.fftn(R(3, 3), s=(3,), axes=(0, 1))
