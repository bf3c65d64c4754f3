"""``linalg_solve``: the linear-system primitive the rest of ``fgrad.numpy.linalg`` builds on.

``linalg_solve(a, b)`` solves ``a @ x = b`` for square ``a`` of shape ``(..., M, M)``
and ``b`` of shape ``(..., M, K)`` with the same batch shape (the NumPy-facing
wrapper broadcasts and handles vector ``b``). Its impl is the backend's
``linalg.solve`` (LAPACK ``gesv`` on NumPy). The factorisations (Cholesky,
eigh, SVD, QR) are ``custom_jvp`` functions in ``fgrad/numpy_api/linalg.py``
whose derivative rules are linear in the tangent through this primitive and
``dot_general``, which is what lets reverse mode transpose them.

Rules (holomorphic, so no conjugation under fgrad's complex convention)::

    d x = solve(a, d b - d a @ x)
    ct_b = solve(a^T, g)       ct_a = -ct_b @ x^T
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.forward_mode import defjvp
from fgrad.core.primitive import Primitive, bind
from fgrad.core.reverse_mode import defvjp
from fgrad.primitives.dot_general import dot_general
from fgrad.primitives.elementwise import neg


def _solve_abstract_eval(a: ShapedArray, b: ShapedArray) -> ShapedArray:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"linalg_solve: the matrix must be square with shape (..., M, M), got "
            f"{a.str_short()}"
        )
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ShapeError(
            f"linalg_solve: the right-hand side must have shape {a.shape[:-1] + ('K',)} for "
            f"the matrix {a.str_short()}, got {b.str_short()}"
        )
    dtype = np.result_type(a.dtype, b.dtype, np.float64 if a.dtype.kind in "biu" else a.dtype)
    return ShapedArray(b.shape, np.result_type(dtype, np.float16))


linalg_solve_p = Primitive("linalg_solve", lambda a, b: np.linalg.solve(a, b), _solve_abstract_eval)


def linalg_solve(a, b):
    return bind(linalg_solve_p, a, b)


def matrix_transpose(x):
    """Swap the last two axes (a plain transpose, no conjugation)."""
    from fgrad.primitives.shape import transpose

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
defvjp(linalg_solve_p, _solve_vjp_a, _solve_vjp_b)
