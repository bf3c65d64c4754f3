"""``fgrad.scipy.fft``: the discrete cosine transform of type 2 and its inverse, as JAX has.

Each transformed axis is one contraction with the ``(N, N)`` DCT-II matrix
``2 cos(pi k (2 n + 1) / (2 N))`` (SciPy's unnormalised convention), scaled for
``norm="ortho"``, or with its inverse; so the transforms are linear maps that every
fgrad transform differentiates and batches, and float32 stays float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api

_NORMS = (None, "backward", "ortho", "forward")


def _dct_matrix(n: int, norm: str | None) -> np.ndarray:
    """``M[k, j]``: output ``k`` of the DCT-II of a length-``n`` signal from input ``j``."""
    k, j = np.arange(n)[:, None], np.arange(n)[None, :]
    m = 2.0 * np.cos(np.pi * k * (2 * j + 1) / (2 * n))
    if norm == "ortho":
        m[0] *= np.sqrt(1.0 / (4 * n))
        m[1:] *= np.sqrt(1.0 / (2 * n))
    elif norm == "forward":
        m /= 2 * n
    return m


def _check(type: int, norm: str | None, name: str) -> None:  # noqa: A002
    if type != 2:
        raise NotImplementedError(f"{name}: only type=2 is supported (as in JAX), got {type}")
    if norm not in _NORMS:
        raise ValueError(f"{name}: norm must be one of {_NORMS}, got {norm!r}")


def _resize(x, n: int | None, axis: int):
    """``x`` cut or zero-padded to length ``n`` along ``axis`` (SciPy's ``n``)."""
    if n is None or n == x.shape[axis]:
        return x
    if n < x.shape[axis]:
        return fnp.take(x, np.arange(n), axis=axis)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, n - x.shape[axis])
    return fnp.pad(x, pad)


def _apply(x, matrix: np.ndarray, axis: int):
    dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.dtype(np.float64)
    out = fnp.tensordot(x.astype(dtype), matrix.astype(dtype), axes=([axis], [1]))
    return fnp.moveaxis(out, -1, axis)


def dct(x, type: int = 2, n: int | None = None, axis: int = -1,  # noqa: A002
        norm: str | None = None):
    """The type-2 discrete cosine transform along ``axis`` (``scipy.fft.dct``).

    Parameters
    ----------
    x
        The signal.
    type
        2 only.
    n
        Cut or zero-pad the axis to this length first.
    axis
        The axis to transform.
    norm
        ``None``/``"backward"`` (SciPy's factor 2), ``"ortho"`` or ``"forward"``.

    Returns
    -------
    array
    """
    _check(type, norm, "dct")
    x = fnp.asarray(x)
    axis = axis % x.ndim
    x = _resize(x, n, axis)
    return _apply(x, _dct_matrix(x.shape[axis], norm), axis)


def idct(x, type: int = 2, n: int | None = None, axis: int = -1,  # noqa: A002
         norm: str | None = None):
    """The inverse of :func:`dct` along ``axis`` (``scipy.fft.idct``, type 2).

    Parameters
    ----------
    x
        The transform.
    type
        2 only.
    n
        Cut or zero-pad the axis to this length first.
    axis
        The axis to transform.
    norm
        As in :func:`dct`: ``idct(dct(x, norm=m), norm=m)`` is ``x``.

    Returns
    -------
    array
    """
    _check(type, norm, "idct")
    x = fnp.asarray(x)
    axis = axis % x.ndim
    x = _resize(x, n, axis)
    return _apply(x, np.linalg.inv(_dct_matrix(x.shape[axis], norm)), axis)


def _axes(x, s, axes) -> tuple[list[int], list]:
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
    axes = [a % x.ndim for a in axes]
    sizes = [None] * len(axes) if s is None else list(s)
    if len(sizes) != len(axes):
        raise ValueError(f"s and axes must have the same length, got {s} and {axes}")
    return axes, sizes


def dctn(x, type: int = 2, s: Sequence[int] | None = None,  # noqa: A002
         axes: Sequence[int] | None = None, norm: str | None = None):
    """:func:`dct` over several axes (``scipy.fft.dctn``; default: all)."""
    x = fnp.asarray(x)
    for axis, n in zip(*_axes(x, s, axes)):
        x = dct(x, type, n, axis, norm)
    return x


def idctn(x, type: int = 2, s: Sequence[int] | None = None,  # noqa: A002
          axes: Sequence[int] | None = None, norm: str | None = None):
    """:func:`idct` over several axes (``scipy.fft.idctn``; default: all)."""
    x = fnp.asarray(x)
    for axis, n in zip(*_axes(x, s, axes)):
        x = idct(x, type, n, axis, norm)
    return x


__all__ = ["dct", "dctn", "idct", "idctn"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
