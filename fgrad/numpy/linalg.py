"""``fgrad.numpy.linalg``: NumPy's linear algebra, differentiable to any order.

Three layers:

* Primitives (``fgrad/primitives/linalg.py``): ``linalg_solve``, ``linalg_cholesky``
  and ``linalg_det``, with their own jvp and vjp rules; ``solve``, ``inv``,
  ``matrix_power``, ``tensorsolve``, ``cholesky`` and ``det`` build on them.
* The other factorisations (``eigh``, ``svd``, ``qr``, ``eig``) and ``slogdet``
  return several arrays. Each is a multi-output primitive
  (``fgrad/primitives/factorizations.py``) bound by a ``custom_jvp`` function here:
  the value comes from the backend's LAPACK, the derivative from a forward rule
  written with fgrad operations, linear in the tangent, which reverse mode
  transposes. The rules call the functions themselves, so Hessians work.
* ``norm``, ``pinv``, ``lstsq``, ``cond``, ``matrix_rank``, ... compose those.

Everything here stages under ``make_jaxpr`` and ``jit``.

Conventions (see ``docs/linalg.md``): ``cholesky`` and ``eigh`` read one triangle
of their input, as LAPACK does, and differentiate as functions of a Hermitian
input, as JAX does (HIPS autograd too for ``cholesky``): a tangent enters through
its Hermitian part, so gradients with respect to the matrix are Hermitian. Eigenvector and singular
vector derivatives assume distinct eigen/singular values. Complex inputs follow
fgrad's complex convention.
"""

from __future__ import annotations

import builtins
import functools

import numpy as np

from fgrad.core import backend
from fgrad.core.source_info import public_api
from fgrad.core.tracer import Tracer, known_value
from fgrad.numpy import products
from fgrad.numpy import reductions as red
from fgrad.numpy import ufuncs as uf
from fgrad.numpy.complex_numbers import conj, imag, real
from fgrad.numpy.conversion import as_array, astype
from fgrad.numpy.indexing import take_along_axis
from fgrad.numpy.manipulation import broadcast_to, moveaxis, reshape, swapaxes
from fgrad.numpy.manipulation import diagonal as _diagonal
from fgrad.numpy.products import matmul
from fgrad.primitives.factorizations import (
    linalg_eig,
    linalg_eig_p,
    linalg_eigh,
    linalg_eigh_p,
    linalg_qr,
    linalg_qr_p,
    linalg_slogdet,
    linalg_slogdet_p,
    linalg_svd,
    linalg_svd_p,
)
from fgrad.primitives.linalg import linalg_cholesky, linalg_det, linalg_solve
from fgrad.transforms.custom_derivatives import custom_jvp

#: LAPACK wrappers treat leading axes as a stack, so vmap calls them once on the batch
_stacked_custom_jvp = functools.partial(custom_jvp, vectorized=True)

# NumPy's own result types (namedtuples), so results compare and print as NumPy's do
_ONE = np.ones((1, 1))
EighResult = type(np.linalg.eigh(_ONE))
EigResult = type(np.linalg.eig(_ONE))
SVDResult = type(np.linalg.svd(_ONE))
QRResult = type(np.linalg.qr(_ONE))
SlogdetResult = type(np.linalg.slogdet(_ONE))
LinAlgError = np.linalg.LinAlgError

# -- helpers ------------------------------------------------------------------------------


def _square(a, fn: str):
    a = as_array(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise LinAlgError(
            f"fgrad.numpy.linalg.{fn}: the last two dimensions must be square, got shape {a.shape}"
        )
    if a.dtype.kind not in "fc":
        a = astype(a, np.float64)
    return a


def _T(x):
    return swapaxes(x, -1, -2)


def _H(x):
    return conj(_T(x))


def _eye_like(x, n: int | None = None):
    n = x.shape[-1] if n is None else n
    return backend.asarray(np.eye(n, dtype=x.dtype), like=x)


def _const(values: np.ndarray, like):
    """A constant built with NumPy, placed on ``like``'s device (host arrays never mix in)."""
    return backend.asarray(values, like=like)


def _hermitian_part(t):
    """``(t + t^H) / 2``: how a tangent of a Hermitian-input function enters it."""
    return 0.5 * (t + _H(t))


def _off_diagonal_inverse(d):
    """``F[i, j] = 1 / (d[j] - d[i])`` off the diagonal and 0 on it (safe there)."""
    eye = _const(np.eye(d.shape[-1], dtype=bool), d)
    diff = d[..., None, :] - d[..., :, None]
    return uf.where(eye, 0.0, 1.0 / uf.where(eye, 1.0, diff))


# -- solve and friends --------------------------------------------------------------------


def solve(a, b):
    """Solve ``a @ x = b`` (``numpy.linalg.solve``, NumPy 2 rules).

    ``b`` is a vector when it is 1-D, otherwise a stack of matrices ``(..., M, K)``;
    batch dimensions broadcast.
    """
    a, b = _square(a, "solve"), as_array(b)
    vector = b.ndim == 1
    if vector:
        b = reshape(b, (b.shape[0], 1))
    if b.shape[-2] != a.shape[-1]:
        raise ValueError(
            f"fgrad.numpy.linalg.solve: a of shape {a.shape} and b of shape "
            f"{b.shape if not vector else b.shape[:1]} do not match (a's last dimension must "
            "equal b's first-of-matrix dimension)"
        )
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = broadcast_to(a, batch + a.shape[-2:]) if a.shape[:-2] != batch else a
    b = broadcast_to(b, batch + b.shape[-2:]) if b.shape[:-2] != batch else b
    x = linalg_solve(a, b)
    return x[..., 0] if vector else x


def inv(a):
    """The inverse of square matrices (``numpy.linalg.inv``), as ``solve(a, I)``."""
    a = _square(a, "inv")
    return linalg_solve(a, broadcast_to(_eye_like(a), a.shape))


def matrix_power(a, n: int):
    """``a`` to the integer power ``n`` by repeated squaring; ``n < 0`` uses ``inv(a)``."""
    a = as_array(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise LinAlgError(f"matrix_power: the last two dimensions must be square, got {a.shape}")
    n = int(n)
    if n == 0:
        return broadcast_to(
_eye_like(a), a.shape
        )
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def tensorsolve(a, b, axes=None):
    """Solve ``tensordot(a, x, x.ndim) = b`` for ``x`` (``numpy.linalg.tensorsolve``)."""
    a, b = as_array(a), as_array(b)
    if axes is not None:
        axes = [ax % a.ndim for ax in axes]
        a = moveaxis(a, axes, list(range(a.ndim - len(axes), a.ndim)))
    x_shape = a.shape[b.ndim :]
    n = int(np.prod(x_shape))
    return reshape(solve(reshape(a, (-1, n)), reshape(b, (-1,))), x_shape)


def tensorinv(a, ind: int = 2):
    """The inverse with respect to ``tensordot(.., ind)`` (``numpy.linalg.tensorinv``)."""
    a = as_array(a)
    out_shape = a.shape[ind:] + a.shape[:ind]
    n = int(np.prod(a.shape[:ind]))
    return reshape(inv(reshape(a, (n, -1))), out_shape)


# -- determinants ---------------------------------------------------------------------------


def _trace_solve(a, t):
    """``trace(a^{-1} t)`` over the last two axes."""
    return red.sum(_diagonal(linalg_solve(a, t), 0, -2, -1), axis=-1)


def det(a):
    """The determinant (``numpy.linalg.det``); derivative ``det(a) * inv(a).T``."""
    return linalg_det(_square(a, "det"))


@_stacked_custom_jvp
def _slogdet(a):
    return linalg_slogdet(a)


@_slogdet.defjvp
def _slogdet_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    sign, logabs = _slogdet(a)
    d = _trace_solve(a, t)
    if a.dtype.kind == "c":  # the phase turns with the imaginary part
        return (sign, logabs), (sign * (1j * imag(d)), real(d))
    return (sign, logabs), (sign * 0.0, d)


linalg_slogdet_p.custom_rules = _slogdet


def slogdet(a):
    """``(sign, log|det|)`` (``numpy.linalg.slogdet``); ``log|det|`` has derivative
    ``inv(a).T``, the sign (a phase for complex input) changes only with the phase."""
    return SlogdetResult(*_slogdet(_square(a, "slogdet")))


# -- factorisations -------------------------------------------------------------------------


def cholesky(a, /, *, upper: bool = False):
    """The Cholesky factor ``L`` with ``a = L @ L^H`` (``numpy.linalg.cholesky``).

    Reads the lower triangle of ``a``, as LAPACK does; ``upper=True`` returns ``L^H``.
    Derivatives treat ``a`` as Hermitian: a tangent enters through its Hermitian
    part and gradients with respect to ``a`` are Hermitian (JAX's convention).
    """
    L = linalg_cholesky(_square(a, "cholesky"))
    return _H(L) if upper else L


@_stacked_custom_jvp
def _eigh(a, lower):
    return linalg_eigh(a, lower)


@_eigh.defjvp
def _eigh_jvp(primals, tangents):
    (a, lower), (t, _) = primals, tangents
    w, v = _eigh(a, lower)
    p = matmul(_H(v), matmul(_hermitian_part(t), v))
    dw = real(_diagonal(p, 0, -2, -1))
    dv = matmul(v, _off_diagonal_inverse(w) * p)
    return (w, v), (dw, dv)


linalg_eigh_p.custom_rules = lambda a, lower: _eigh(a, lower)  # params come as keywords


def eigh(a, UPLO: str = "L"):  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) and eigenvectors of Hermitian matrices (``numpy.linalg.eigh``).

    Reads the lower (``UPLO='L'``) or upper triangle. Derivatives treat ``a`` as
    Hermitian (gradients with respect to ``a`` are Hermitian, as in JAX).
    Eigenvector derivatives assume distinct eigenvalues.
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return EighResult(*_eigh(_square(a, "eigh"), UPLO == "L"))


def eigvalsh(a, UPLO: str = "L"):  # noqa: N803 - NumPy's name
    """Eigenvalues of Hermitian matrices (``numpy.linalg.eigvalsh``)."""
    return eigh(a, UPLO).eigenvalues


@_stacked_custom_jvp
def _eig(a):
    w, v = linalg_eig(a)
    if a.dtype.kind == "f" and not isinstance(w, Tracer) and not red.any(imag(w)):
        return w.real, v.real  # NumPy's rule, for concrete values only (see linalg_eig)
    return w, v


@_eig.defjvp
def _eig_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    w, v = _eig(a)
    t = astype(t, w.dtype) if t.dtype != w.dtype else t
    p = linalg_solve(v, matmul(t, v))  # V^-1 dA V
    dw = _diagonal(p, 0, -2, -1)
    dv = matmul(v, _off_diagonal_inverse(w) * p)
    # NumPy's eigenvectors have unit norm: remove the change of norm
    dv = dv - v * real(red.sum(conj(v) * dv, axis=-2, keepdims=True))
    if v.dtype.kind == "c":  # and LAPACK keeps each vector's largest component real
        big = red.argmax(uf.absolute(v), axis=-2)[..., None, :]

        ratio = take_along_axis(dv, big, axis=-2) / take_along_axis(v, big, axis=-2)
        dv = dv - 1j * v * imag(ratio)
    return (w, v), (dw, dv)


linalg_eig_p.custom_rules = _eig


def eig(a):
    """Eigenvalues and unit-norm eigenvectors of general square matrices (``numpy.linalg.eig``).

    Derivatives assume distinct eigenvalues; eigenvector phases are LAPACK's.
    """
    a = _square(a, "eig")
    return EigResult(*_eig(a))


def eigvals(a):
    """Eigenvalues of general square matrices (``numpy.linalg.eigvals``)."""
    return eig(a).eigenvalues


@_stacked_custom_jvp
def _svd(a):
    return linalg_svd(a)


@_svd.defjvp
def _svd_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    u, s, vh = _svd(a)
    v = _H(vh)
    dp = matmul(_H(u), matmul(t, v))
    ds = real(_diagonal(dp, 0, -2, -1))
    s_row = s[..., None, :]
    f = _off_diagonal_inverse(s * s)
    du = matmul(u, f * (dp * s_row + s[..., :, None] * _H(dp)))
    dv = matmul(v, f * (s[..., :, None] * dp + _H(dp) * s_row))
    m, n = a.shape[-2], a.shape[-1]
    s_inv = 1.0 / s_row
    if m > n:  # the part of dA outside U's columns
        du = du + (matmul(t, v) - matmul(u, dp)) * s_inv
    if n > m:
        dv = dv + (matmul(_H(t), u) - matmul(v, _H(dp))) * s_inv
    if a.dtype.kind == "c":  # a phase gauge: put the diagonal's imaginary part in U
        du = du + u * (1j * imag(_diagonal(dp, 0, -2, -1))[..., None, :] * s_inv)
    return (u, s, vh), (du, ds, _H(dv))


linalg_svd_p.custom_rules = _svd


def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """Singular value decomposition ``a = U @ diag(S) @ Vh`` (``numpy.linalg.svd``).

    Differentiable with ``full_matrices=False`` (or square ``a``) and distinct
    singular values; the singular values alone (``compute_uv=False``) always are.
    """
    a = as_array(a)
    if a.ndim < 2:
        raise LinAlgError(f"svd: need an array of at least 2 dimensions, got shape {a.shape}")
    if a.dtype.kind not in "fc":
        a = astype(a, np.float64)
    m, n = a.shape[-2:]
    if full_matrices and m != n and compute_uv:
        if isinstance(a, Tracer):
            raise NotImplementedError(
                "svd(full_matrices=True) of a non-square matrix has no unique derivative; "
                "use full_matrices=False"
            )
        return SVDResult(*np.linalg.svd(a, full_matrices=True))
    u, s, vh = _svd(a)
    return SVDResult(u, s, vh) if compute_uv else s


def svdvals(x, /):
    """Singular values, descending (``numpy.linalg.svdvals``)."""
    return svd(x, compute_uv=False)


@_stacked_custom_jvp
def _qr(a):
    return linalg_qr(a)


@_qr.defjvp
def _qr_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    q, r = _qr(a)
    n = a.shape[-1]
    t_rinv = _H(linalg_solve(_H(r), _H(t)))  # dA R^-1
    x = matmul(_H(q), t_rinv)
    lower = x * _const(np.tril(np.ones((n, n)), -1), x)
    omega = lower - _H(lower)
    if a.dtype.kind == "c":
        omega = omega + 1j * imag(x) * _const(np.eye(n), x)
    dq = matmul(q, omega) + t_rinv - matmul(q, x)
    dr = matmul(_H(q), t) - matmul(omega, r)
    return (q, r), (dq, dr)


linalg_qr_p.custom_rules = _qr


def qr(a, mode: str = "reduced"):
    """QR decomposition (``numpy.linalg.qr``); differentiable for ``mode='reduced'`` or
    ``'r'`` when the matrix has at least as many rows as columns."""
    a = as_array(a)
    if a.dtype.kind not in "fc":
        a = astype(a, np.float64)
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"qr: unrecognized mode {mode!r}")
    m, n = a.shape[-2:]
    if mode in ("complete", "raw") or m < n:
        if isinstance(a, Tracer):
            raise NotImplementedError(
                f"qr: derivatives need mode='reduced' or 'r' and rows >= columns, got mode="
                f"{mode!r} for shape {a.shape}"
            )
        return np.linalg.qr(a, mode=mode)
    q, r = _qr(a)
    return r if mode == "r" else QRResult(q, r)


# -- norms and friends ----------------------------------------------------------------------


def _safe_sqrt(x):
    """``sqrt`` with derivative 0 at 0 (the norm's subgradient) instead of NaN."""
    positive = x > 0
    return uf.where(positive, uf.sqrt(uf.where(positive, x, 1.0)), 0.0)


def _abs2(x):
    return real(x) ** 2 + imag(x) ** 2 if x.dtype.kind == "c" else x * x


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return _safe_sqrt(red.sum(_abs2(x), axis=axis, keepdims=keepdims))
    a = uf.absolute(x)
    if ord == np.inf:
        return red.max(a, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return red.min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return astype(red.sum(a != 0, axis=axis, keepdims=keepdims), a.dtype)
    if ord == 1:
        return red.sum(a, axis=axis, keepdims=keepdims)
    ord = float(ord)
    nonzero = a > 0
    safe = uf.where(nonzero, a, 1.0)
    total = red.sum(uf.where(nonzero, safe**ord, 0.0), axis=axis, keepdims=keepdims)
    if ord < 0:
        return total ** (1.0 / ord)
    positive = total > 0
    return uf.where(positive, uf.where(positive, total, 1.0) ** (1.0 / ord), 0.0)


def _matrix_norm(x, ord, axes, keepdims):
    r, c = axes
    if ord in (None, "fro", "f"):
        out = _safe_sqrt(red.sum(_abs2(x), axis=(r, c), keepdims=keepdims))
        return out
    if ord in ("nuc", 2, -2):
        s = svd(moveaxis(x, (r, c), (-2, -1)), compute_uv=False)
        out = red.sum(s, -1) if ord == "nuc" else (red.max(s, -1) if ord == 2 else red.min(s, -1))
    elif ord in (1, -1, np.inf, -np.inf):
        along, across = (r, c) if ord in (1, -1) else (c, r)
        sums = red.sum(uf.absolute(x), axis=along, keepdims=True)
        pick = red.max if ord in (1, np.inf) else red.min
        out = pick(sums, axis=across, keepdims=True)
        out = reshape(out, tuple(d for i, d in enumerate(out.shape) if i not in (r, c)))
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        shape = list(x.shape)
        shape[r] = shape[c] = 1
        out = reshape(out, tuple(shape))
    return out


def norm(x, ord=None, axis=None, keepdims: bool = False):
    """Vector and matrix norms with NumPy's ``ord``/``axis``/``keepdims`` (``numpy.linalg.norm``).

    Safe at zero: the 2-norm, Frobenius norm and ``p``-norms have gradient 0 (a
    subgradient) at the zero vector instead of NaN.
    """
    x = as_array(x)
    if x.dtype.kind not in "fc":
        x = astype(x, np.float64)
    if axis is None:
        if ord is None:
            return (
                _vector_norm(reshape(x, (-1,)), None, 0, False)
                if not keepdims
                else reshape(_vector_norm(reshape(x, (-1,)), None, 0, False), (1,) * x.ndim)
            )
        if x.ndim == 1:
            return _vector_norm(x, ord, 0, keepdims)
        if x.ndim == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise ValueError("norm: improper number of dimensions to norm")
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    axis = tuple(a % x.ndim for a in axis)
    if len(axis) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
        return _vector_norm(x, ord, axis[0], keepdims)
    if len(axis) == 2:
        if axis[0] == axis[1]:
            raise ValueError("norm: duplicate axes given")
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError("norm: improper number of dimensions to norm")


def vector_norm(x, /, *, axis=None, keepdims: bool = False, ord=2):
    """The vector norm over ``axis`` (all axes by default), NumPy 2's ``vector_norm``."""
    x = as_array(x)
    if axis is None:
        out = norm(reshape(x, (-1,)), ord)
        return reshape(out, (1,) * x.ndim) if keepdims else out
    if isinstance(axis, tuple) and len(axis) > 1:
        keep = [i for i in range(x.ndim) if i not in [a % x.ndim for a in axis]]
        moved = moveaxis(x, [a % x.ndim for a in axis], list(range(len(keep), x.ndim)))
        out = norm(reshape(moved, moved.shape[: len(keep)] + (-1,)), ord, axis=-1)
        if keepdims:
            out = reshape(out, tuple(1 if i not in keep else d for i, d in enumerate(x.shape)))
        return out
    return norm(x, ord, axis=axis, keepdims=keepdims)


def matrix_norm(x, /, *, keepdims: bool = False, ord="fro"):
    """The matrix norm over the last two axes, NumPy 2's ``matrix_norm``."""
    return norm(x, ord, axis=(-2, -1), keepdims=keepdims)


def cond(x, p=None):
    """The condition number (``numpy.linalg.cond``): ``s_max / s_min`` for ``p`` None/2/-2,
    else ``norm(x, p) * norm(inv(x), p)``."""
    x = as_array(x)
    if p in (None, 2, -2):
        s = svd(x, compute_uv=False)
        ratio = s[..., 0] / s[..., -1]
        return ratio if p != -2 else 1.0 / ratio
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


def matrix_rank(A, tol=None, hermitian: bool = False, *, rtol=None):  # noqa: N803
    """The numerical rank (``numpy.linalg.matrix_rank``): the number of singular values
    above ``tol`` (default ``max(s) * rtol``, ``rtol`` default ``max(M, N) * eps``).

    An integer array with no derivative; an array rather than a Python int, so that
    it can be traced.
    """
    A = as_array(A)  # noqa: N806 - NumPy's name
    if A.ndim < 2:
        return astype(red.any(A != 0), np.intp)
    if A.dtype.kind not in "fc":
        A = astype(A, np.float64)  # noqa: N806
    s = uf.absolute(eigvalsh(A)) if hermitian else svd(A, compute_uv=False)
    if tol is None:
        if rtol is None:
            rtol = builtins.max(A.shape[-2:]) * np.finfo(s.dtype).eps
        else:
            rtol = as_array(rtol)[..., None]
        tol = red.max(s, axis=-1, keepdims=True) * rtol
    else:
        tol = as_array(tol)[..., None]
    return astype(red.sum(s > tol, axis=-1), np.intp)


def _pinv_cutoff(s, shape, rcond):
    if rcond is None:
        rcond = builtins.max(shape[-2:]) * np.finfo(s.dtype).eps
    largest = red.max(s, axis=-1, keepdims=True)
    if not isinstance(rcond, Tracer) and np.ndim(rcond) == 0:
        return float(rcond) * largest  # a Python scalar: weakly typed, on any device
    # one cutoff per matrix of the batch, as NumPy's (it broadcasts against the batch)
    return as_array(rcond)[..., None] * largest


def pinv(a, rcond=None, hermitian: bool = False, *, rtol=None):
    """The Moore-Penrose pseudo-inverse via the SVD (``numpy.linalg.pinv``).

    Singular values at most ``rcond * max(s)`` (default ``max(M, N) * eps``) are
    treated as zero; the derivative is that of the kept part, exact for
    full-rank and fixed-rank inputs.
    """
    a = as_array(a)
    if a.dtype.kind not in "fc":
        a = astype(a, np.float64)
    rcond = rtol if rtol is not None else rcond
    u, s, vh = svd(a, full_matrices=False)
    keep = s > _pinv_cutoff(s, a.shape, rcond)
    s_inv = uf.where(keep, 1.0 / uf.where(keep, s, 1.0), 0.0)
    return matmul(_H(vh) * s_inv[..., None, :], _H(u))


def lstsq(a, b, rcond=None):
    """Least-squares solution of ``a @ x = b`` (``numpy.linalg.lstsq``).

    Returns ``(x, residuals, rank, s)`` as NumPy does; ``x``, the residuals and
    ``s`` are differentiable, ``rank`` is an integer. NumPy returns residuals only
    for a full-rank ``a`` with more rows than columns, a shape that depends on the
    values; where they are unknown (``jit``, ``vmap``) ``rank`` is an integer array
    and the residuals are returned whenever there are more rows than columns.
    """
    a, b = as_array(a), as_array(b)
    if a.dtype.kind not in "fc":
        a = astype(a, np.float64)
    m, n = a.shape
    u, s, vh = svd(a, full_matrices=False)
    cutoff = np.finfo(s.dtype).eps * builtins.max(m, n) if rcond is None else rcond
    keep = s > cutoff * red.max(s)
    rank = red.sum(keep)
    s_inv = uf.where(keep, 1.0 / uf.where(keep, s, 1.0), 0.0)
    vector = b.ndim == 1
    b2 = reshape(b, (m, 1)) if vector else b
    x = matmul(_H(vh) * s_inv[None, :], matmul(_H(u), b2))
    known_rank = known_value(rank)
    if m > n and (known_rank is None or known_rank == n):
        resid = red.sum(_abs2(b2 - matmul(a, x)), axis=0)
    else:
        resid = backend.zeros((0,), real(x).dtype, like=x)
    rank = astype(rank, np.int32) if known_rank is None else np.int32(known_rank)
    return (x[:, 0] if vector else x), resid, rank, s



def multi_dot(arrays, *, out=None):
    """Chained matrix product (``numpy.linalg.multi_dot``), left to right; a first 1-D
    array is a row vector and a last one a column vector."""
    if out is not None:
        raise TypeError("multi_dot(out=...) is not supported: fgrad arrays are immutable")
    arrays = [as_array(a) for a in arrays]
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    result = arrays[0]
    for a in arrays[1:]:
        result = matmul(result, a)
    return result


# -- NumPy 2's array-API functions in numpy.linalg ------------------------------------------


def matrix_transpose(x, /):
    """Swap the last two axes (``numpy.linalg.matrix_transpose``)."""
    x = as_array(x)
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: need at least 2 dimensions, got shape {x.shape}")
    return _T(x)


def outer(x1, x2, /):
    """Outer product of two vectors (``numpy.linalg.outer``: 1-D inputs only)."""
    x1, x2 = as_array(x1), as_array(x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"outer: inputs must be 1-D, got shapes {x1.shape} and {x2.shape}")
    return x1[:, None] * x2[None, :]


def vecdot(x1, x2, /, *, axis: int = -1):
    """``sum(conj(x1) * x2, axis)`` (``numpy.linalg.vecdot``)."""
    return products.vecdot(x1, x2, axis=axis)


def diagonal(x, /, *, offset: int = 0):
    """The diagonal over the last two axes (``numpy.linalg.diagonal``)."""
    return _diagonal(as_array(x), offset, -2, -1)


def trace(x, /, *, offset: int = 0, dtype=None):
    """The trace over the last two axes (``numpy.linalg.trace``)."""
    return red.sum(diagonal(x, offset=offset), axis=-1, dtype=dtype)


def cross(x1, x2, /, *, axis: int = -1):
    """Cross product of 3-vectors (``numpy.linalg.cross``)."""
    return products.cross(x1, x2, axis=axis)


def tensordot(x1, x2, /, *, axes=2):
    """``numpy.linalg.tensordot``."""
    return products.tensordot(x1, x2, axes)


__all__ = [
    "LinAlgError",
    "cholesky",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "inv",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "matrix_transpose",
    "multi_dot",
    "norm",
    "outer",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "tensordot",
    "tensorinv",
    "tensorsolve",
    "trace",
    "vecdot",
    "vector_norm",
]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
