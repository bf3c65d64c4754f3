"""The linear-algebra primitives ``linalg_solve``, ``linalg_cholesky``, ``linalg_det``.

``linalg_solve(a, b)`` solves ``a @ x = b`` for square ``a`` of shape ``(..., M, M)``
and ``b`` of shape ``(..., M, K)`` with the same batch shape (the NumPy-facing
wrapper broadcasts and handles vector ``b``). ``linalg_cholesky(a)`` factors
``(..., M, M)`` Hermitian positive-definite matrices, ``linalg_det(a)`` takes
determinants. Impls go through the inputs'
array module (LAPACK on NumPy, cuSOLVER on CuPy). The other factorisations (eigh,
SVD, QR, eig) and slogdet are multi-output primitives
(``fgrad/primitives/factorizations.py``) bound by ``custom_jvp`` functions in
``fgrad/numpy/linalg.py``, whose rules are linear in the tangent through these
primitives and ``dot_general``, which is what lets reverse mode transpose them.

Rules of ``linalg_solve`` (holomorphic, so no conjugation under fgrad's complex
convention)::

    d x = solve(a, d b - d a @ x)
    ct_b = solve(a^T, g)       ct_a = -ct_b @ x^T
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp
from fgrad.primitives.dot_general import dot_general
from fgrad.primitives.elementwise import add, conj, mul, neg
from fgrad.primitives.structural import (
    batch_to_front,
    broadcast_to,
    reduce_sum,
    reshape,
    transpose,
)


def _check_square(a: ShapedArray, name: str, hint: str = "") -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"{name}: the matrix must be square with shape (..., M, M), got {a.str_short()}" + hint
        )


def _solve_abstract_eval(a: ShapedArray, b: ShapedArray) -> ShapedArray:
    _check_square(a, "linalg_solve")
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ShapeError(
            f"linalg_solve: the right-hand side must have shape {a.shape[:-1] + ('K',)} for "
            f"the matrix {a.str_short()}, got {b.str_short()}"
        )
    dtype = np.result_type(a.dtype, b.dtype, np.float64 if a.dtype.kind in "biu" else a.dtype)
    return ShapedArray(b.shape, np.result_type(dtype, np.float16))


def _solve_impl(a, b):
    """LAPACK through the inputs' own array module, so CuPy arrays stay on the device."""
    return backend.namespace(a).linalg.solve(a, b)


linalg_solve_p = Primitive("linalg_solve", _solve_impl, _solve_abstract_eval)


def linalg_solve(a, b):
    return bind(linalg_solve_p, a, b)


def matrix_transpose(x):
    """Swap the last two axes (a plain transpose, no conjugation)."""
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, perm)


def batched_matmul(x, y):
    """``x @ y`` for operands with the same batch shape ``(..., M, K) @ (..., K, N)``."""
    nb = x.ndim - 2
    batch = tuple(range(nb))
    return dot_general(x, y, (((nb + 1,), (nb,)), (batch, batch)))


def _solve_vjp_b(g, ans, a, b):
    return linalg_solve(matrix_transpose(a), g)


def _solve_vjp_a(g, ans, a, b):
    return neg(batched_matmul(linalg_solve(matrix_transpose(a), g), matrix_transpose(ans)))


defjvp(
    linalg_solve_p,
    lambda t, ans, a, b: neg(linalg_solve(a, batched_matmul(t, ans))),
    lambda t, ans, a, b: linalg_solve(a, t),
)
defvjp(linalg_solve_p, _solve_vjp_a, _solve_vjp_b, reads=("ans a", "a"))


# -- cholesky ---------------------------------------------------------------------------------
#
# ``linalg_cholesky(a)`` is the lower factor ``L`` of the Hermitian matrix LAPACK builds from
# the lower triangle of ``a``. Its derivatives treat ``a`` as Hermitian, as JAX and HIPS
# autograd do: a tangent ``t`` enters through its Hermitian part ``S = (t + t^H) / 2``, so a
# gradient with respect to ``a`` is Hermitian too and a gradient step keeps ``a`` Hermitian.
# Along Hermitian directions this is the derivative of the function LAPACK computes.
#
#     dL = L @ Phi(L^-1 S L^-H),   Phi: strict lower triangle plus half the diagonal
#
# The vjp is this map transposed step by step (transpose of conj is conj); the last step,
# the transpose of taking the Hermitian part, is taking the Hermitian part.


def _cholesky_abstract_eval(a: ShapedArray) -> ShapedArray:
    _check_square(a, "linalg_cholesky", "; pass a Hermitian positive-definite matrix")
    return ShapedArray(a.shape, np.result_type(a.dtype, np.float16))


def _cholesky_impl(a):
    return backend.namespace(a).linalg.cholesky(a)


linalg_cholesky_p = Primitive("linalg_cholesky", _cholesky_impl, _cholesky_abstract_eval)


def linalg_cholesky(a):
    return bind(linalg_cholesky_p, a)


def _constant_matrix(m: np.ndarray, like):
    """``m`` in ``like``'s float (or complex) dtype, on ``like``'s device."""
    return backend.asarray(m.astype(np.result_type(like.dtype, np.float16)), like=like)


def _phi_mask(x):
    """The strict lower triangle plus half the diagonal, as ones and halves."""
    n = x.shape[-1]
    return _constant_matrix(np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n), x)


def _adjoint(x):
    return conj(matrix_transpose(x))


def _hermitian_part(x):
    return mul(add(x, _adjoint(x)), 0.5)


def _cholesky_jvp(t, ans, a):
    s = _hermitian_part(t)
    x = linalg_solve(ans, _adjoint(linalg_solve(ans, s)))
    return batched_matmul(ans, mul(x, _phi_mask(ans)))


def _cholesky_vjp(g, ans, a):
    lt = matrix_transpose(ans)
    gx = mul(batched_matmul(lt, g), _phi_mask(ans))
    return _hermitian_part(linalg_solve(lt, _adjoint(linalg_solve(lt, gx))))


defjvp(linalg_cholesky_p, _cholesky_jvp)
defvjp(linalg_cholesky_p, _cholesky_vjp, reads=("ans",))


# -- det --------------------------------------------------------------------------------------
#
# ``linalg_det(a)``: determinants of ``(..., M, M)``. Jacobi's formula, holomorphic:
#
#     d det = det * sum(inv(a)^T * da)        ct_a = (g * det) * inv(a)^T
#
# Both need ``inv(a)``, so they are undefined at singular ``a`` (LinAlgError from the solve).


def _det_abstract_eval(a: ShapedArray) -> ShapedArray:
    _check_square(a, "linalg_det")
    return ShapedArray(a.shape[:-2], np.result_type(a.dtype, np.float16))


linalg_det_p = Primitive(
    "linalg_det", lambda a: backend.namespace(a).linalg.det(a), _det_abstract_eval
)


def linalg_det(a):
    return bind(linalg_det_p, a)


def _inverse_transpose(a):
    """``inv(a)^T`` as a solve against a stack of identities, batched like ``a``."""
    eye = _constant_matrix(np.eye(a.shape[-1]), a)
    return linalg_solve(matrix_transpose(a), broadcast_to(eye, a.shape))


def _det_jvp(t, ans, a):
    return mul(ans, reduce_sum(mul(_inverse_transpose(a), t), (a.ndim - 2, a.ndim - 1)))


def _det_vjp(g, ans, a):
    return mul(reshape(mul(g, ans), ans.shape + (1, 1)), _inverse_transpose(a))


defjvp(linalg_det_p, _det_jvp)
defvjp(linalg_det_p, _det_vjp, reads=("ans a",))


# -- batch rules (vmap) -------------------------------------------------------------------
# All three already take stacks of matrices: the batch axis becomes the first stack axis.


def _stacked_batch(prim: Primitive):
    def rule(size, vals, dims):
        return bind(prim, *[batch_to_front(v, d, size) for v, d in zip(vals, dims)]), 0

    return rule


for _p in (linalg_solve_p, linalg_cholesky_p, linalg_det_p):
    defbatch(_p, _stacked_batch(_p))
