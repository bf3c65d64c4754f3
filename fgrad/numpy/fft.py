"""``fgrad.numpy.fft``: NumPy's discrete Fourier transforms, differentiable in both modes.

Every transform pads or truncates its input to the requested sizes (``n``,
``s``) with differentiable indexing, then applies the one ``fft`` primitive
(``fgrad/primitives/fft.py``). ``hfft``/``ihfft`` are ``irfft``/``rfft`` of the
conjugate, as in NumPy; the shifts are ``roll``. Values and dtypes are NumPy's
(single precision stays single precision).
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.source_info import public_api
from fgrad.numpy.complex_numbers import conjugate
from fgrad.numpy.conversion import as_array
from fgrad.numpy.indexing import take
from fgrad.numpy.manipulation import pad, roll
from fgrad.primitives.fft import fft as _fft

_NORMS = (None, "backward", "ortho", "forward")


def _norm(norm) -> str:
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    return norm or "backward"


def _resize(x, axis: int, n: int):
    """Zero-pad or truncate ``x`` to length ``n`` along ``axis``."""
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    size = x.shape[axis]
    if n < size:
        return take(x, np.arange(n), axis=axis)
    if n > size:
        widths = [(0, 0)] * x.ndim
        widths[axis] = (0, n - size)
        return pad(x, widths)
    return x


def _axes_and_sizes(x, s, axes):
    """NumPy's rules for ``s`` and ``axes`` in the n-dimensional transforms."""
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
    axes = [a % x.ndim for a in axes]
    if s is None:
        s = [x.shape[a] for a in axes]
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    return axes, list(s)


def _c2c(kind: str, a, s, axes, norm):
    x = as_array(a)
    axes, s = _axes_and_sizes(x, s, axes)
    for axis, n in zip(axes, s):
        x = _resize(x, axis, n)
    return _fft(x, kind, tuple(axes), norm=_norm(norm))


def fft(a, n=None, axis: int = -1, norm=None, out=None):
    """One-dimensional DFT (``numpy.fft.fft``)."""
    return _c2c("fft", a, None if n is None else [n], [axis], norm)


def ifft(a, n=None, axis: int = -1, norm=None, out=None):
    """One-dimensional inverse DFT (``numpy.fft.ifft``)."""
    return _c2c("ifft", a, None if n is None else [n], [axis], norm)


def fftn(a, s=None, axes=None, norm=None, out=None):
    """N-dimensional DFT (``numpy.fft.fftn``)."""
    return _c2c("fft", a, s, axes, norm)


def ifftn(a, s=None, axes=None, norm=None, out=None):
    """N-dimensional inverse DFT (``numpy.fft.ifftn``)."""
    return _c2c("ifft", a, s, axes, norm)


def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """Two-dimensional DFT (``numpy.fft.fft2``)."""
    return _c2c("fft", a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """Two-dimensional inverse DFT (``numpy.fft.ifft2``)."""
    return _c2c("ifft", a, s, axes, norm)


def rfftn(a, s=None, axes=None, norm=None, out=None):
    """N-dimensional DFT of real input, half spectrum along the last axis (``numpy.fft.rfftn``)."""
    x = as_array(a)
    if x.dtype.kind == "c":
        raise TypeError("rfft: the input must be real; use fgrad.numpy.fft.fft for complex input")
    axes, s = _axes_and_sizes(x, s, axes)
    for axis, n in zip(axes, s):
        x = _resize(x, axis, n)
    return _fft(x, "rfft", tuple(axes), norm=_norm(norm))


def rfft(a, n=None, axis: int = -1, norm=None, out=None):
    """One-dimensional DFT of real input (``numpy.fft.rfft``)."""
    return rfftn(a, None if n is None else [n], [axis], norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """Two-dimensional DFT of real input (``numpy.fft.rfft2``)."""
    return rfftn(a, s, axes, norm)


def irfftn(a, s=None, axes=None, norm=None, out=None):
    """Inverse of :func:`rfftn`: real output of sizes ``s`` (``numpy.fft.irfftn``)."""
    x = as_array(a)
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
    axes = [ax % x.ndim for ax in axes]
    if s is None:
        s = [x.shape[ax] for ax in axes[:-1]] + [2 * (x.shape[axes[-1]] - 1)]
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    for axis, n in zip(axes[:-1], s[:-1]):
        x = _resize(x, axis, n)
    x = _resize(x, axes[-1], s[-1] // 2 + 1)
    return _fft(x, "irfft", tuple(axes), n_last=int(s[-1]), norm=_norm(norm))


def irfft(a, n=None, axis: int = -1, norm=None, out=None):
    """One-dimensional inverse of :func:`rfft` (``numpy.fft.irfft``)."""
    return irfftn(a, None if n is None else [n], [axis], norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """Two-dimensional inverse of :func:`rfft2` (``numpy.fft.irfft2``)."""
    return irfftn(a, s, axes, norm)


_SWAP = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


def hfft(a, n=None, axis: int = -1, norm=None, out=None):
    """DFT of a Hermitian-symmetric signal given by its half (``numpy.fft.hfft``)."""
    _norm(norm)
    return irfft(conjugate(as_array(a)), n, axis, _SWAP[norm])


def ihfft(a, n=None, axis: int = -1, norm=None, out=None):
    """Inverse of :func:`hfft` (``numpy.fft.ihfft``)."""
    _norm(norm)
    return conjugate(rfft(a, n, axis, _SWAP[norm]))


def fftshift(x, axes=None):
    """Move the zero frequency to the centre (``numpy.fft.fftshift``)."""
    x = as_array(x)
    axes = tuple(range(x.ndim)) if axes is None else np.atleast_1d(axes).tolist()
    return roll(x, [x.shape[a] // 2 for a in axes], axes)


def ifftshift(x, axes=None):
    """Inverse of :func:`fftshift` (``numpy.fft.ifftshift``)."""
    x = as_array(x)
    axes = tuple(range(x.ndim)) if axes is None else np.atleast_1d(axes).tolist()
    return roll(x, [-(x.shape[a] // 2) for a in axes], axes)


def fftfreq(n: int, d: float = 1.0, device=None):
    """Sample frequencies of :func:`fft` (``numpy.fft.fftfreq``), on the current device."""
    return (
        backend.asarray(np.fft.fftfreq(n, d))
        if device is None
        else _on(np.fft.fftfreq(n, d), device)
    )


def rfftfreq(n: int, d: float = 1.0, device=None):
    """Sample frequencies of :func:`rfft` (``numpy.fft.rfftfreq``), on the current device."""
    return (
        backend.asarray(np.fft.rfftfreq(n, d))
        if device is None
        else _on(np.fft.rfftfreq(n, d), device)
    )


def _on(values, device):
    return backend.device_put(values, device)


__all__ = [
    "fft",
    "fft2",
    "fftfreq",
    "fftn",
    "fftshift",
    "hfft",
    "ifft",
    "ifft2",
    "ifftn",
    "ifftshift",
    "ihfft",
    "irfft",
    "irfft2",
    "irfftn",
    "rfft",
    "rfft2",
    "rfftfreq",
    "rfftn",
]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
