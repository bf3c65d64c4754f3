"""Polynomials and 1-D signals: ``polyval``, ``polyfit``, ``roots``, ``convolve``, ``interp``, ...

Coefficients are highest degree first, as in NumPy's ``poly*`` functions.
``convolve`` and ``correlate`` contract with a constant 0/1 band tensor in one
``einsum`` (a Toeplitz product), ``polyfit`` is a least-squares solve, and
``roots`` takes the eigenvalues of the companion matrix, so all are
differentiable in their coefficients and signals.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.tracer import concrete
from fgrad.numpy.complex_numbers import conjugate
from fgrad.numpy.conversion import as_array, asarray, astype
from fgrad.numpy.creation import zeros
from fgrad.numpy.einsum import einsum
from fgrad.numpy.indexing import take
from fgrad.numpy.linalg import eigvals, lstsq
from fgrad.numpy.manipulation import concatenate, flip, stack
from fgrad.numpy.ufuncs import clip, where
from fgrad.primitives.reductions import searchsorted


def polyval(p, x):
    """Evaluate the polynomial ``p`` at ``x`` by Horner's rule (``numpy.polyval``)."""
    p, x = as_array(p), asarray(x)
    y = zeros(x.shape, np.result_type(p.dtype, x.dtype))
    for k in range(p.shape[0]):
        y = y * x + p[k]
    return y


def _pad_front(p, n: int):
    return concatenate([zeros((n - p.shape[0],), p.dtype), p]) if p.shape[0] < n else p


def polyadd(a1, a2):
    """Sum of two polynomials (``numpy.polyadd``)."""
    a1, a2 = as_array(a1), as_array(a2)
    n = max(a1.shape[0], a2.shape[0])
    return _pad_front(a1, n) + _pad_front(a2, n)


def polysub(a1, a2):
    """Difference of two polynomials (``numpy.polysub``)."""
    a1, a2 = as_array(a1), as_array(a2)
    n = max(a1.shape[0], a2.shape[0])
    return _pad_front(a1, n) - _pad_front(a2, n)


def polymul(a1, a2):
    """Product of two polynomials: the full convolution of their coefficients."""
    return convolve(a1, a2)


def polyder(p, m: int = 1):
    """The ``m``-th derivative of the polynomial ``p`` (``numpy.polyder``)."""
    p = as_array(p)
    for _ in range(m):
        n = p.shape[0] - 1
        if n <= 0:
            return zeros((1,), p.dtype)
        p = p[:-1] * np.arange(n, 0, -1)
    return p


def polyint(p, m: int = 1, k=None):
    """The ``m``-th antiderivative of ``p`` with integration constants ``k``."""
    p = as_array(p)
    ks = np.zeros(m) if k is None else np.atleast_1d(k)
    for i in range(m):
        n = p.shape[0]
        p = concatenate([p / np.arange(n, 0, -1), asarray([ks[i]], p.dtype)])
    return p


def vander(x, N=None, increasing: bool = False):
    """The Vandermonde matrix: columns are powers of ``x`` (``numpy.vander``)."""
    x = as_array(x)
    n = x.shape[0] if N is None else N
    powers = np.arange(n) if increasing else np.arange(n - 1, -1, -1)
    return x[:, None] ** powers[None, :]


def polyfit(x, y, deg: int, rcond=None, full: bool = False, w=None, cov: bool = False):
    """Least-squares polynomial fit (``numpy.polyfit``); differentiable in ``x``, ``y``, ``w``."""
    if full or cov:
        raise NotImplementedError("polyfit: full= and cov= are not supported")
    x, y = as_array(x), as_array(y)
    lhs = vander(x, deg + 1)
    if w is not None:
        w = as_array(w)
        lhs = lhs * w[:, None]
        y = y * (w if y.ndim == 1 else w[:, None])
    scale = np.sqrt(np.sum(np.square(np.asarray(concrete(lhs))), axis=0))
    coeffs = lstsq(lhs / scale, y, rcond)[0]
    return coeffs / (scale if y.ndim == 1 else scale[:, None])


def roots(p):
    """The roots of ``p``: eigenvalues of its companion matrix (``numpy.roots``)."""
    p = as_array(p)
    nonzero = np.flatnonzero(np.asarray(concrete(p)))
    if nonzero.size == 0:
        return zeros((0,), p.dtype)
    trailing = p.shape[0] - nonzero[-1] - 1
    p = p[nonzero[0] : nonzero[-1] + 1]
    n = p.shape[0] - 1
    if n < 1:
        return zeros((trailing,), p.dtype)
    top = -p[1:] / p[0]
    below = backend.asarray(np.eye(n - 1, n), like=p)
    companion = concatenate([top[None, :], below], axis=0)
    r = eigvals(companion)
    return concatenate([r, zeros((trailing,), r.dtype)]) if trailing else r


def poly(seq_of_zeros):
    """The coefficients of the monic polynomial with the given roots (``numpy.poly``)."""
    z = as_array(seq_of_zeros)
    if z.ndim == 2 and z.shape[0] == z.shape[1]:
        z = eigvals(z)
    c = asarray([1.0], z.dtype if z.dtype.kind in "fc" else np.float64)
    for k in range(z.shape[0]):
        c = convolve(c, stack([asarray(1.0, c.dtype), -z[k]]))
    return c


def convolution_window(n1: int, n2: int, mode: str, caller: str = "convolve") -> tuple[int, int]:
    """Where ``numpy.convolve``'s ``mode`` output sits in the full convolution of
    sequences of lengths ``n1`` and ``n2``.

    Parameters
    ----------
    n1, n2 : int
        The two sequences' lengths.
    mode : str
        ``'full'``, ``'same'`` or ``'valid'``.
    caller : str
        The function named in the error.

    Returns
    -------
    (start, length) : tuple of int
        The output is ``full[start:start + length]``.

    Raises
    ------
    ValueError
        For another ``mode``.
    """
    full = n1 + n2 - 1
    if mode == "full":
        return 0, full
    if mode == "same":
        length = max(n1, n2)
        return (full - length) // 2, length
    if mode == "valid":
        return min(n1, n2) - 1, max(n1, n2) - min(n1, n2) + 1
    raise ValueError(f"{caller}: mode must be 'full', 'same' or 'valid', got {mode!r}")


def _band(n1: int, n2: int, mode: str, like, dtype):
    """``T[i, j, k] = 1`` where output ``k`` of ``mode`` receives ``a[i] * v[j]``."""
    start, length = convolution_window(n1, n2, mode)
    i, j = np.indices((n1, n2))
    k = i + j - start
    t = np.zeros((n1, n2, length), dtype)
    keep = (k >= 0) & (k < length)
    t[i[keep], j[keep], k[keep]] = 1.0
    return backend.asarray(t, like=like)


def convolve(a, v, mode: str = "full"):
    """Discrete linear convolution of two 1-D sequences (``numpy.convolve``)."""
    a, v = as_array(a), as_array(v)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"convolve: inputs must be 1-D, got shapes {a.shape} and {v.shape}")
    if a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError("convolve: inputs cannot be empty")
    # a 0/1 tensor in the inputs' own dtype: float32 stays float32, integers stay exact
    band = _band(a.shape[0], v.shape[0], mode, like=a, dtype=np.result_type(a.dtype, v.dtype))
    return einsum("i,j,ijk->k", a, v, band)


def correlate(a, v, mode: str = "valid"):
    """Cross-correlation of two 1-D sequences (``numpy.correlate``)."""
    v = as_array(v)
    if v.dtype.kind == "c":
        v = conjugate(v)
    return convolve(a, flip(v), mode)


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation (``numpy.interp``); differentiable in ``x``, ``xp``
    (increasing) and ``fp``, and traceable: the intervals are found by ``searchsorted``."""
    if period is not None:
        raise NotImplementedError("interp: period= is not supported")
    x, fp = asarray(x), as_array(fp)
    xp = astype(as_array(xp), np.result_type(as_array(xp).dtype, np.float64))
    n = xp.shape[0]
    idx = clip(searchsorted(xp, x, "right") - 1, 0, n - 2)
    x0, x1 = take(xp, idx), take(xp, idx + 1)
    f0, f1 = take(fp, idx), take(fp, idx + 1)
    out = f0 + (x - x0) / (x1 - x0) * (f1 - f0)
    lo = fp[0] if left is None else left
    hi = fp[-1] if right is None else right
    out = where(x < xp[0], lo, where(x > xp[-1], hi, out))
    return where(x == xp[-1], fp[-1], out)  # exact at the last knot


__all__ = [
    "convolve",
    "correlate",
    "interp",
    "poly",
    "polyadd",
    "polyder",
    "polyfit",
    "polyint",
    "polymul",
    "polysub",
    "polyval",
    "roots",
    "vander",
]
