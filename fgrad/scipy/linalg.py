"""``fgrad.scipy.linalg``: SciPy's linear algebra on top of ``fgrad.numpy.linalg``.

Triangular, Cholesky and banded solves, ``sqrtm`` and ``solve_sylvester`` are
compositions, so their derivatives come from ``linalg_solve`` and the
factorisations; see ``docs/linalg.md`` for the conventions. Factors are returned
with the unused triangle set to zero (SciPy may leave other values there).
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.core.tracer import concrete
from fgrad.numpy import linalg as la
from fgrad.scipy.expm import expm
from fgrad.scipy.lu import lu, lu_factor, lu_solve
from fgrad.scipy.special_matrices import (
    circulant,
    companion,
    convolution_matrix,
    dft,
    fiedler,
    hadamard,
    hankel,
    helmert,
    hilbert,
    invhilbert,
    invpascal,
    leslie,
    pascal,
    toeplitz,
)

det, inv, norm, pinv, lstsq, qr, svd = la.det, la.inv, la.norm, la.pinv, la.lstsq, la.qr, la.svd


def _H(x):
    return fnp.conj(fnp.swapaxes(x, -1, -2))


def solve(
    a,
    b,
    lower: bool = False,
    overwrite_a=False,
    overwrite_b=False,
    check_finite=True,
    assume_a="gen",
    transposed: bool = False,
):
    """Solve ``a @ x = b`` (``scipy.linalg.solve``; ``b`` may be a vector or a matrix)."""
    a = fnp.swapaxes(a, -1, -2) if transposed else fnp.asarray(a)
    return la.solve(a, b)


def solve_triangular(
    a,
    b,
    trans=0,
    lower: bool = False,
    unit_diagonal: bool = False,
    overwrite_b=False,
    check_finite=True,
):
    """Solve ``a x = b`` reading only one triangle of ``a`` (``scipy.linalg.solve_triangular``)."""
    a = fnp.asarray(a)
    tri = fnp.tril(a) if lower else fnp.triu(a)
    if unit_diagonal:
        n = a.shape[-1]
        tri = tri * (1 - np.eye(n)) + np.eye(n)
    if trans in (1, "T"):
        tri = fnp.swapaxes(tri, -1, -2)
    elif trans in (2, "C"):
        tri = _H(tri)
    return la.solve(tri, b)


def cholesky(a, lower: bool = False, overwrite_a=False, check_finite=True):
    """The Cholesky factor, upper triangular by default (``scipy.linalg.cholesky``)."""
    L = la.cholesky(a)
    return L if lower else _H(L)


def cho_factor(a, lower: bool = False, overwrite_a=False, check_finite=True):
    """``(c, lower)`` for :func:`cho_solve`."""
    return cholesky(a, lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` given ``cho_factor(a)``."""
    c, lower = c_and_lower
    L = c if lower else _H(c)
    return la.solve(_H(L), la.solve(L, b))


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """Solve with a banded matrix in LAPACK's band storage (``scipy.linalg.solve_banded``):
    ``a[i, j] = ab[u + i - j, j]``. Differentiable in ``ab`` and ``b``."""
    lower, upper = l_and_u
    ab = fnp.asarray(ab)
    n = ab.shape[-1]
    i, j = np.indices((n, n))
    row = upper + i - j
    inside = (row >= 0) & (row < lower + upper + 1)
    gathered = ab[np.where(inside, row, 0), j]
    return la.solve(fnp.where(inside, gathered, 0.0), b)


def solve_sylvester(a, b, q):
    """Solve ``a x + x b = q`` (``scipy.linalg.solve_sylvester``) as one linear system:
    ``(a kron I + I kron b^T) vec(x) = vec(q)`` in row-major order."""
    a, b, q = fnp.asarray(a), fnp.asarray(b), fnp.asarray(q)
    n, m = a.shape[-1], b.shape[-1]
    system = fnp.kron(a, np.eye(m)) + fnp.kron(np.eye(n), fnp.swapaxes(b, -1, -2))
    return fnp.reshape(la.solve(system, fnp.reshape(q, (-1,))), (n, m))


def sqrtm(A, disp: bool = True, blocksize: int = 64):
    """The principal square root of a diagonalizable matrix (``scipy.linalg.sqrtm``).

    Computed as ``V sqrt(W) V^-1`` from the eigendecomposition; complex when an
    eigenvalue is negative or complex, as SciPy (a real result is returned real).
    Derivatives assume distinct eigenvalues.
    """
    A = fnp.asarray(A)
    w, v = la.eig(A)
    w_value = np.asarray(concrete(w))
    if w_value.dtype.kind != "c" and np.any(w_value < 0):
        w, v = w.astype(np.complex128), v.astype(np.complex128)
    scaled = v * fnp.sqrt(w)[..., None, :]
    out = fnp.swapaxes(la.solve(fnp.swapaxes(v, -1, -2), fnp.swapaxes(scaled, -1, -2)), -1, -2)
    if out.dtype.kind == "c" and A.dtype.kind != "c":
        if np.max(np.abs(np.imag(concrete(out))), initial=0.0) < 1e-10 * max(
            1.0, np.max(np.abs(concrete(out)), initial=0.0)
        ):
            return fnp.real(out)
    return out


def eigh(a, b=None, lower: bool = True, eigvals_only: bool = False, **kwargs):
    """Eigenvalues (ascending) and eigenvectors of a symmetric/Hermitian matrix
    (``scipy.linalg.eigh``): ``fgrad.numpy.linalg.eigh`` reading the ``lower`` (or
    upper) triangle, differentiated as a function of a symmetric input
    (``docs/linalg.md``). The generalised problem (``b``) is not supported."""
    if b is not None:
        raise NotImplementedError(
            "scipy.linalg.eigh: fgrad has no generalised eigenproblem (b=...); with b "
            "positive definite, reduce it: L = cholesky(b, lower=True), solve the standard "
            "problem for inv(L) @ a @ inv(L).T and map the eigenvectors back with inv(L).T"
        )
    w, v = la.eigh(a, UPLO="L" if lower else "U")
    return w if eigvals_only else (w, v)


def block_diag(*arrs):
    """The block-diagonal matrix of ``arrs`` (``scipy.linalg.block_diag``); 1-D arrays are
    rows, scalars 1x1 blocks."""
    blocks = [fnp.atleast_2d(fnp.asarray(a)) for a in arrs]
    if not blocks:
        return np.zeros((1, 0))
    dtype = np.result_type(*(b.dtype for b in blocks))
    widths = [b.shape[1] for b in blocks]
    total = sum(widths)
    rows, left = [], 0
    for b, w in zip(blocks, widths):
        pad = ((0, 0), (left, total - left - w))
        rows.append(fnp.pad(b.astype(dtype), pad))
        left += w
    return fnp.concatenate(rows, axis=0)


def eigh_tridiagonal(d, e, *, eigvals_only: bool = False, select: str = "a",
                     select_range=None, tol=None, **kwargs):
    """Eigenvalues (and eigenvectors) of the symmetric tridiagonal matrix with diagonal
    ``d`` and off-diagonal ``e`` (``scipy.linalg.eigh_tridiagonal``), through :func:`eigh`
    of the assembled matrix; ``select="a"`` only."""
    if select != "a":
        raise NotImplementedError("eigh_tridiagonal: only select='a' (all eigenvalues)")
    d, e = fnp.asarray(d), fnp.asarray(e)
    n = d.shape[-1]
    i = np.arange(n)
    off = fnp.concatenate([e, fnp.zeros((1,), e.dtype)])
    below = fnp.where(i[:, None] == i[None, :] + 1, off[None, :], 0.0)
    t = fnp.where(i[:, None] == i[None, :], d[None, :], below + below.T)
    return eigh(t, eigvals_only=eigvals_only)


def polar(a, side: str = "right", *, method: str | None = None, eps=None,
          max_iterations=None):
    """The polar decomposition ``a = u p`` (``side="right"``) or ``a = p u`` (``"left"``):
    ``u`` with orthonormal columns, ``p`` positive semi-definite, from the SVD
    (``scipy.linalg.polar``; JAX's ``method``, ``eps``, ``max_iterations`` accepted).

    Returns
    -------
    (u, p)
    """
    if side not in ("right", "left"):
        raise ValueError(f"polar: side must be 'right' or 'left', got {side!r}")
    w, s, vh = la.svd(a, full_matrices=False)
    u = w @ vh
    if side == "right":
        p = (_H(vh) * s[..., None, :]) @ vh
    else:
        p = (w * s[..., None, :]) @ _H(w)
    return u, p


def expm_frechet(A, E, *, method: str | None = None, compute_expm: bool = True):
    """The Fréchet derivative of ``expm`` at ``A`` in the direction ``E``
    (``scipy.linalg.expm_frechet``): the top-right block of ``expm([[A, E], [0, A]])``.

    Returns
    -------
    ``(expm(A), L)`` with ``compute_expm``, else ``L``.
    """
    A, E = fnp.asarray(A), fnp.asarray(E)
    n = A.shape[-1]
    zero = fnp.zeros_like(A)
    big = fnp.concatenate(
        [fnp.concatenate([A, E], axis=-1), fnp.concatenate([zero, A], axis=-1)], axis=-2
    )
    x = expm(big)
    frechet = x[..., :n, n:]
    return (x[..., :n, :n], frechet) if compute_expm else frechet


__all__ = [
    "block_diag",
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
    "cho_factor",
    "cho_solve",
    "cholesky",
    "det",
    "eigh",
    "eigh_tridiagonal",
    "expm",
    "expm_frechet",
    "inv",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_solve",
    "norm",
    "pinv",
    "polar",
    "qr",
    "solve",
    "solve_banded",
    "solve_sylvester",
    "solve_triangular",
    "sqrtm",
    "svd",
]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
