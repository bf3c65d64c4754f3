"""``fft``: discrete Fourier transforms over given axes, one primitive for four kinds.

``kind`` is ``"fft"`` or ``"ifft"`` (complex to complex), ``"rfft"`` (real to
the half spectrum along the last of ``axes``) or ``"irfft"`` (half spectrum to
real, of length ``n_last``). Sizes along the axes are fixed by the caller
(``fgrad/numpy/fft.py`` pads and truncates first), so the primitive is a
fixed linear map. Its jvp applies it to the tangent. Its vjp is the plain
transpose (fgrad's complex convention): the DFT matrix is symmetric, so
``fft`` and ``ifft`` are their own transposes with the same ``norm``;
``rfft``'s transpose zero-pads the half spectrum and takes a full ``fft``
(the backward pass keeps the real part for the real input); ``irfft``'s is
``ifft`` of the cotangent restricted to the half spectrum, with the interior
frequencies, which stand for two conjugate ones, counted twice.
"""

from __future__ import annotations

import functools

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp, linear_jvp
from fgrad.primitives.elementwise import real
from fgrad.primitives.indexing import getitem, index_set
from fgrad.primitives.structural import past_batch


def _impl(x, kind: str, axes: tuple[int, ...], n_last: int, norm: str):
    fft = backend.namespace(x).fft
    if kind == "fft":
        return fft.fftn(x, axes=axes, norm=norm)
    if kind == "ifft":
        return fft.ifftn(x, axes=axes, norm=norm)
    if kind == "rfft":
        return fft.rfftn(x, axes=axes, norm=norm)
    s = [x.shape[a] for a in axes[:-1]] + [n_last]
    return fft.irfftn(x, s=s, axes=axes, norm=norm)


@functools.lru_cache(maxsize=64)
def _dtype(kind: str, dtype: np.dtype) -> np.dtype:
    probe = np.zeros((2,), dtype)
    return _impl(probe, kind, (0,), 2, "backward").dtype


def _abstract_eval(x: ShapedArray, *, kind, axes, n_last, norm) -> ShapedArray:
    shape = list(x.shape)
    if kind == "rfft":
        shape[axes[-1]] = x.shape[axes[-1]] // 2 + 1
    elif kind == "irfft":
        shape[axes[-1]] = n_last
    return ShapedArray(tuple(shape), _dtype(kind, np.dtype(x.dtype)))


fft_p = Primitive("fft", _impl, _abstract_eval)


def fft(x, kind: str, axes: tuple[int, ...], n_last: int = 0, norm: str = "backward"):
    return bind(fft_p, x, kind=kind, axes=tuple(axes), n_last=n_last, norm=norm)


def _first(m: int, axis: int) -> tuple:
    """The index of the first ``m`` entries along ``axis``."""
    return (slice(None),) * axis + (slice(0, m),)


def _pad_last(g, axis: int, n: int):
    """``g`` padded with zeros at the end of ``axis`` to length ``n``."""
    shape = g.shape[:axis] + (n,) + g.shape[axis + 1 :]
    return index_set(backend.zeros(shape, g.dtype, like=g), g, _first(g.shape[axis], axis))


def _vjp(g, ans, x, kind, axes, n_last, norm):
    ct = _vjp_complex(g, ans, x, kind, axes, n_last, norm)
    if x.dtype.kind != "c" and ct.dtype.kind == "c":
        # a real input's cotangent is the real part (the convention the backward pass
        # applies to complex cotangents); irfft's output cotangent is real, so it does not
        return real(ct)
    return ct


def _vjp_complex(g, ans, x, kind, axes, n_last, norm):
    if kind in ("fft", "ifft"):
        return fft(g, kind, axes, norm=norm)
    last = axes[-1]
    if kind == "rfft":  # real part taken by the backward pass (x is real)
        return fft(_pad_last(g, last, x.shape[last]), "fft", axes, norm=norm)
    # irfft: x is the half spectrum of length m, ans has length n_last along `last`
    m = x.shape[last]
    full = getitem(fft(g, "ifft", axes, norm=norm), _first(m, last))
    twice = np.full(m, 2.0)
    twice[0] = 1.0
    if n_last % 2 == 0:
        twice[-1] = 1.0
    shape = [1] * x.ndim
    shape[last] = m
    return full * backend.asarray(twice.reshape(shape), like=full)


defjvp(fft_p, linear_jvp(fft_p))
defvjp(fft_p, _vjp, reads=("",))


def _batch(size, vals, dims, *, kind, axes, n_last, norm):
    d = dims[0]
    return fft(vals[0], kind, past_batch(axes, d), n_last, norm), d


defbatch(fft_p, _batch)
