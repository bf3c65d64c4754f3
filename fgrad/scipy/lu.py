"""LU factorisation with partial pivoting: ``lu``, ``lu_factor``, ``lu_solve`` (SciPy's API).

Written as Doolittle elimination in ``fgrad.numpy`` operations, one step per column
(a Python loop of ``min(m, n)`` steps, each on whole arrays, any leading batch axes
included): the pivot is chosen by ``argmax`` and rows are swapped by gathering, so
the factorisation runs under ``jit`` (the pivots are then traced), ``vmap`` and
``grad``. The derivative is that of the elimination for the pivots chosen, which is
the derivative of the factors (the pivoting is piecewise constant).
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.numpy import linalg as la

__all__ = ["lu", "lu_factor", "lu_solve"]


def _swap_index(n: int, k: int, p):
    """The row order that swaps row ``k`` with row ``p`` (``p`` per batch entry)."""
    rows = np.arange(n)
    p = p[..., None]
    return fnp.where(rows == k, p, fnp.where(rows == p, k, rows))


def _factor(a):
    """``(lu, piv, perm)``: the packed factors, LAPACK's 0-based row swaps, and the row
    order with ``a[perm] = L @ U``."""
    a = fnp.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"lu: a must be a matrix (or a batch of them), got shape {a.shape}")
    if a.dtype.kind not in "fc":
        a = a.astype(np.float64)
    m, n = a.shape[-2:]
    batch = tuple(a.shape[:-2])
    lu_ = a
    perm = fnp.broadcast_to(np.arange(m), batch + (m,))
    pivots = []
    cols = np.arange(n)
    for k in range(min(m, n)):
        p = fnp.argmax(fnp.abs(lu_[..., k:, k]), axis=-1) + k
        order = _swap_index(m, k, p)
        lu_ = fnp.take_along_axis(lu_, order[..., None], axis=-2)
        perm = fnp.take_along_axis(perm, order, axis=-1)
        pivots.append(p)
        pivot = lu_[..., k, k]
        safe = fnp.where(pivot == 0, 1, pivot)
        below = lu_[..., k + 1 :, :]
        factors = fnp.where(pivot[..., None] == 0, 0, below[..., k] / safe[..., None])
        updated = below - factors[..., None] * lu_[..., k : k + 1, :]
        below = fnp.where(cols > k, updated, fnp.where(cols == k, factors[..., None], below))
        lu_ = fnp.concatenate([lu_[..., : k + 1, :], below], axis=-2)
    piv = fnp.stack(pivots, axis=-1) if pivots else fnp.zeros(batch + (0,), np.int64)
    return lu_, piv.astype(np.int32), perm


def lu_factor(a, overwrite_a: bool = False, check_finite: bool = True):
    """The packed LU factorisation ``(lu, piv)`` (``scipy.linalg.lu_factor``).

    Parameters
    ----------
    a : array of shape (..., m, n)
    overwrite_a, check_finite
        Accepted for SciPy's signature.

    Returns
    -------
    lu : array
        ``U`` in the upper triangle, the multipliers of the unit lower ``L`` below it.
    piv : int32 array
        Row ``i`` was swapped with row ``piv[i]`` (LAPACK's order, 0-based).
    """
    lu_, piv, _ = _factor(a)
    return lu_, piv


def lu(a, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """``a = P @ L @ U`` (``scipy.linalg.lu``).

    Parameters
    ----------
    a : array of shape (..., m, n)
    permute_l : bool
        Return ``(P @ L, U)`` instead.
    overwrite_a, check_finite
        Accepted for SciPy's signature.

    Returns
    -------
    (p, l, u), or (pl, u) with ``permute_l``
        ``p`` (m, m) a permutation matrix, ``l`` (m, k) unit lower triangular,
        ``u`` (k, n) upper triangular, ``k = min(m, n)``.
    """
    lu_, _, perm = _factor(a)
    m, n = lu_.shape[-2:]
    k = min(m, n)
    lower = fnp.tril(lu_[..., :, :k], -1) + np.eye(m, k, dtype=lu_.dtype)
    upper = fnp.triu(lu_[..., :k, :])
    # P[perm[i], i] = 1, so that (P L U)[perm[i]] = (L U)[i] = a[perm[i]]
    p = (perm[..., None, :] == np.arange(m)[:, None]).astype(lu_.dtype)
    if permute_l:
        return fnp.matmul(p, lower), upper
    return p, lower, upper


def _order_from_pivots(piv, m: int):
    perm = fnp.broadcast_to(np.arange(m), tuple(piv.shape[:-1]) + (m,))
    for k in range(piv.shape[-1]):
        perm = fnp.take_along_axis(perm, _swap_index(m, k, piv[..., k]), axis=-1)
    return perm


def lu_solve(lu_and_piv, b, trans: int = 0, overwrite_b: bool = False, check_finite: bool = True):
    """Solve ``a x = b`` from :func:`lu_factor`'s result (``scipy.linalg.lu_solve``).

    Parameters
    ----------
    lu_and_piv : (lu, piv)
    b : array of shape (n,) or (n, k)
    trans : {0, 1, 2}
        Solve ``a x = b``, ``a^T x = b`` or ``a^H x = b``.

    Returns
    -------
    array
        ``x``, shaped like ``b``; differentiable in ``lu`` and ``b``.
    """
    lu_, piv = lu_and_piv
    lu_, b = fnp.asarray(lu_), fnp.asarray(b)
    n = lu_.shape[-1]
    if lu_.shape[-2] != n:
        raise ValueError(f"lu_solve: the factors must be square, got shape {lu_.shape}")
    if b.shape[0] != n:
        raise ValueError(f"lu_solve: b's first axis must have length {n}, got shape {b.shape}")
    perm = _order_from_pivots(fnp.asarray(piv), n)
    eye = np.eye(n, dtype=lu_.dtype)
    lower = fnp.tril(lu_, -1) + eye
    upper = fnp.triu(lu_)
    rhs = b if b.ndim > 1 else b[:, None]
    if trans in (0, "N"):
        x = la.solve(upper, la.solve(lower, fnp.take(rhs, perm, axis=0)))
    elif trans in (1, 2, "T", "C"):
        flip = (
            fnp.swapaxes if trans in (1, "T") else (lambda m, i, j: fnp.conj(fnp.swapaxes(m, i, j)))
        )
        z = la.solve(flip(lower, -1, -2), la.solve(flip(upper, -1, -2), rhs))
        x = fnp.take(z, fnp.argsort(perm), axis=0)
    else:
        raise ValueError(f"lu_solve: trans must be 0, 1 or 2, got {trans!r}")
    return x if b.ndim > 1 else x[:, 0]
