"""SciPy's structured matrices (``scipy.linalg.toeplitz``, ``hankel``, ``circulant``, ...).

Those built from a vector (``toeplitz``, ``hankel``, ``circulant``, ``companion``,
``leslie``, ``fiedler``, ``convolution_matrix``) gather its entries with
``fgrad.numpy`` indexing, so they are differentiable in it and trace under ``jit``;
those defined by a size alone (``hilbert``, ``invhilbert``, ``pascal``, ``invpascal``,
``dft``, ``hadamard``, ``helmert``) are NumPy arrays, computed exactly where SciPy is.
"""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.numpy.polynomials import convolution_window


def _vector(x):
    return fnp.ravel(fnp.asarray(x))


def _zero_like(x):
    return fnp.zeros((), x.dtype)


def toeplitz(c, r=None):
    """The Toeplitz matrix with first column ``c`` and first row ``r`` (``r[0]`` ignored;
    default ``conj(c)``, a Hermitian matrix)."""
    c = _vector(c)
    r = fnp.conj(c) if r is None else _vector(r)
    i, j = np.arange(c.shape[0])[:, None], np.arange(r.shape[0])[None, :]
    below = fnp.take(c, np.clip(i - j, 0, None))
    above = fnp.take(r, np.clip(j - i, 0, None))
    dtype = fnp.result_type(c, r)
    return fnp.where(i >= j, below, above).astype(dtype)


def hankel(c, r=None):
    """The Hankel matrix with first column ``c`` and last row ``r`` (``r[0]`` ignored;
    default zeros)."""
    c = _vector(c)
    r = fnp.zeros_like(c) if r is None else _vector(r)
    m = c.shape[0]
    s = np.arange(m)[:, None] + np.arange(r.shape[0])[None, :]
    from_c = fnp.take(c, np.clip(s, 0, m - 1))
    from_r = fnp.take(r, np.clip(s - m + 1, 0, None))
    return fnp.where(s < m, from_c, from_r).astype(fnp.result_type(c, r))


def circulant(c):
    """The circulant matrix with first column ``c``: ``C[i, j] = c[(i - j) mod n]``."""
    c = _vector(c)
    n = c.shape[0]
    return fnp.take(c, (np.arange(n)[:, None] - np.arange(n)[None, :]) % n)


def companion(a):
    """The companion matrix of the polynomial with coefficients ``a`` (highest first):
    first row ``-a[1:] / a[0]``, ones below the diagonal."""
    a = _vector(a)
    n = a.shape[0]
    if n < 2:
        raise ValueError("companion: the polynomial needs at least two coefficients")
    first = -a[1:] / a[0]
    shift = np.eye(n - 1, k=-1, dtype=first.dtype)
    row = np.arange(n - 1)[:, None] == 0
    return fnp.where(row, first[None, :], shift)


def leslie(f, s):
    """The Leslie matrix: fecundities ``f`` in the first row, survivals ``s`` below the
    diagonal."""
    f, s = _vector(f), _vector(s)
    n = f.shape[0]
    if s.shape[0] != n - 1:
        raise ValueError(f"leslie: s must have length len(f) - 1 = {n - 1}, got {s.shape[0]}")
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    sub = fnp.take(fnp.concatenate([s, fnp.zeros((1,), s.dtype)]), np.clip(j, 0, n - 1))
    body = fnp.where(i == j + 1, sub, _zero_like(sub))
    dtype = fnp.result_type(f, s)
    return fnp.where(i == 0, f[None, :], body).astype(dtype)


def fiedler(a):
    """The symmetric Fiedler matrix ``|a[i] - a[j]|``."""
    a = _vector(a)
    return fnp.abs(a[:, None] - a[None, :])


def convolution_matrix(a, n: int, mode: str = "full"):
    """The matrix ``A`` with ``A @ v == numpy.convolve(a, v, mode)`` for ``v`` of length
    ``n``."""
    a = _vector(a)
    m = a.shape[0]
    start, rows = convolution_window(m, n, mode, "convolution_matrix")
    i = np.arange(start, start + rows)[:, None]
    k = i - np.arange(n)[None, :]
    inside = (k >= 0) & (k < m)
    return fnp.where(inside, fnp.take(a, np.clip(k, 0, m - 1)), _zero_like(a))


def hilbert(n: int) -> np.ndarray:
    """The Hilbert matrix ``1 / (i + j + 1)``."""
    i = np.arange(n)
    return 1.0 / (i[:, None] + i[None, :] + 1)


def invhilbert(n: int) -> np.ndarray:
    """The exact inverse of the Hilbert matrix (integers, as floats)."""
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            sign = -1 if (i + j) % 2 else 1
            out[i, j] = (
                sign * (i + j + 1) * math.comb(n + i, n - j - 1) * math.comb(n + j, n - i - 1)
                * math.comb(i + j, i) ** 2
            )
    return out


def pascal(n: int, kind: str = "symmetric") -> np.ndarray:
    """The Pascal matrix: ``C(i + j, i)`` (symmetric), or its lower/upper Cholesky-like
    factor ``C(i, j)`` / ``C(j, i)``."""
    if kind not in ("symmetric", "lower", "upper"):
        raise ValueError(f"pascal: kind must be symmetric, lower or upper, got {kind!r}")
    lower = np.array([[math.comb(i, j) for j in range(n)] for i in range(n)], dtype=np.int64)
    if kind == "lower":
        return lower
    if kind == "upper":
        return lower.T
    return lower @ lower.T


def invpascal(n: int, kind: str = "symmetric") -> np.ndarray:
    """The exact inverse of :func:`pascal` (integers)."""
    if kind not in ("symmetric", "lower", "upper"):
        raise ValueError(f"invpascal: kind must be symmetric, lower or upper, got {kind!r}")
    inv_lower = np.array(
        [[(-1) ** (i - j) * math.comb(i, j) for j in range(n)] for i in range(n)], dtype=np.int64
    )
    if kind == "lower":
        return inv_lower
    if kind == "upper":
        return inv_lower.T
    return inv_lower.T @ inv_lower


def dft(n: int, scale: str | None = None, *, dtype=None) -> np.ndarray:
    """The DFT matrix ``exp(-2 pi i j k / n)``, scaled by ``1/n`` (``"n"``) or
    ``1/sqrt(n)`` (``"sqrtn"``)."""
    k = np.arange(n)
    m = np.exp(-2j * np.pi * np.outer(k, k) / n)
    if scale == "n":
        m = m / n
    elif scale == "sqrtn":
        m = m / math.sqrt(n)
    elif scale is not None:
        raise ValueError(f"dft: scale must be None, 'n' or 'sqrtn', got {scale!r}")
    return m if dtype is None else m.astype(dtype)


def hadamard(n: int, dtype=int) -> np.ndarray:
    """The Sylvester Hadamard matrix of order ``n`` (a power of two)."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"hadamard: n must be a positive power of two, got {n}")
    h = np.ones((1, 1), dtype=dtype)
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def helmert(n: int, full: bool = False) -> np.ndarray:
    """The Helmert matrix: orthonormal rows, the first (kept with ``full``) constant."""
    h = np.tril(np.ones((n, n)), -1) - np.diag(np.arange(n))
    d = np.arange(n) * np.arange(1, n + 1)
    h[0] = 1
    d[0] = n
    h = h / np.sqrt(d)[:, None]
    return h if full else h[1:]


__all__ = [
    "circulant",
    "companion",
    "convolution_matrix",
    "dft",
    "fiedler",
    "hadamard",
    "hankel",
    "helmert",
    "hilbert",
    "invhilbert",
    "invpascal",
    "leslie",
    "pascal",
    "toeplitz",
]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
