"""The LAPACK factorisations as multi-output primitives, so that ``make_jaxpr`` and
``jit`` can record them.

=================  =====================  ==========================================
primitive          results                for ``a`` of shape ``(..., M, N)``
=================  =====================  ==========================================
``linalg_eigh``    ``w, v``               ``(..., M)`` real, ``(..., M, M)``; square
``linalg_eig``     ``w, v``               ``(..., M)``, ``(..., M, M)``, both complex
``linalg_svd``     ``u, s, vh``           ``(..., M, K)``, ``(..., K)`` real,
                                          ``(..., K, N)`` with ``K = min(M, N)``
``linalg_qr``      ``q, r``               ``(..., M, K)``, ``(..., K, N)``
``linalg_slogdet`` ``sign, logabsdet``    ``(...)`` in ``a``'s dtype, ``(...)`` real
=================  =====================  ==========================================

``svd`` and ``qr`` are the reduced factorisations (the ones with a derivative).
``eig`` is always complex here, as in JAX: an abstract value cannot have NumPy's
"real when every eigenvalue happens to be real" dtype; ``fgrad.numpy.linalg.eig``
applies that rule to concrete results only.

These primitives carry no derivative or batch rules. Each is bound by a
``custom_jvp`` function in ``fgrad/numpy/linalg.py`` (declared as the
primitive's ``custom_rules``) whose forward rule gives the derivative and which
``vmap`` calls once on the whole stack: see :class:`fgrad.core.primitive.Primitive`.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import DtypeError, ShapeError
from fgrad.core.primitive import Primitive, bind

_LAPACK_DTYPES = tuple(map(np.dtype, ("float32", "float64", "complex64", "complex128")))


def _check_matrix(a: ShapedArray, name: str, square: bool) -> None:
    if a.ndim < 2 or (square and a.shape[-1] != a.shape[-2]):
        what = "square with shape (..., M, M)" if square else "a matrix (..., M, N)"
        raise ShapeError(f"{name}: the input must be {what}, got {a.str_short()}")
    if a.dtype not in _LAPACK_DTYPES:
        raise DtypeError(
            f"{name}: LAPACK takes float32, float64, complex64 or complex128, got "
            f"{a.str_short()}; convert with .astype(np.float64) first"
        )


def _real(dtype: np.dtype) -> np.dtype:
    return np.finfo(dtype).dtype


def _complex(dtype: np.dtype) -> np.dtype:
    return np.result_type(dtype, np.complex64)


def _multi(name: str, impl, abstract_eval) -> Primitive:
    # LAPACK writes its results into new arrays: no view of the input to guard against
    return Primitive(name, impl, abstract_eval, multiple_results=True, returns_views=False)


# -- eigh -------------------------------------------------------------------------------


def _eigh_abstract_eval(a: ShapedArray, *, lower: bool) -> tuple[ShapedArray, ...]:
    _check_matrix(a, "linalg_eigh", square=True)
    return ShapedArray(a.shape[:-1], _real(a.dtype)), ShapedArray(a.shape, a.dtype)


def _eigh_impl(a, *, lower: bool) -> tuple:
    return tuple(backend.namespace(a).linalg.eigh(a, "L" if lower else "U"))


linalg_eigh_p = _multi("linalg_eigh", _eigh_impl, _eigh_abstract_eval)


def linalg_eigh(a, lower: bool) -> tuple:
    """Eigenvalues (ascending) and eigenvectors of the Hermitian matrices LAPACK builds
    from the lower (``lower=True``) or upper triangle of ``a``."""
    return bind(linalg_eigh_p, a, lower=lower)


# -- eig --------------------------------------------------------------------------------


def _eig_abstract_eval(a: ShapedArray) -> tuple[ShapedArray, ...]:
    _check_matrix(a, "linalg_eig", square=True)
    dtype = _complex(a.dtype)
    return ShapedArray(a.shape[:-1], dtype), ShapedArray(a.shape, dtype)


def _eig_impl(a) -> tuple:
    dtype = _complex(a.dtype)
    w, v = backend.namespace(a).linalg.eig(a)
    return tuple(x if x.dtype == dtype else x.astype(dtype) for x in (w, v))


linalg_eig_p = _multi("linalg_eig", _eig_impl, _eig_abstract_eval)


def linalg_eig(a) -> tuple:
    """Eigenvalues and unit-norm eigenvectors of general square matrices, as complex arrays."""
    return bind(linalg_eig_p, a)


# -- svd --------------------------------------------------------------------------------


def _reduced_factors(a: ShapedArray, name: str) -> tuple[ShapedArray, ShapedArray]:
    """The left ``(..., M, K)`` and right ``(..., K, N)`` factors of a reduced
    factorisation of ``a`` ``(..., M, N)``, ``K = min(M, N)``."""
    _check_matrix(a, name, square=False)
    *batch, m, n = a.shape
    k = min(m, n)
    return ShapedArray((*batch, m, k), a.dtype), ShapedArray((*batch, k, n), a.dtype)


def _svd_abstract_eval(a: ShapedArray) -> tuple[ShapedArray, ...]:
    u, vh = _reduced_factors(a, "linalg_svd")
    return u, ShapedArray(vh.shape[:-1], _real(a.dtype)), vh


def _svd_impl(a) -> tuple:
    return tuple(backend.namespace(a).linalg.svd(a, full_matrices=False))


linalg_svd_p = _multi("linalg_svd", _svd_impl, _svd_abstract_eval)


def linalg_svd(a) -> tuple:
    """The reduced singular value decomposition ``(u, s, vh)``, ``s`` descending."""
    return bind(linalg_svd_p, a)


# -- qr ---------------------------------------------------------------------------------


def _qr_abstract_eval(a: ShapedArray) -> tuple[ShapedArray, ...]:
    return _reduced_factors(a, "linalg_qr")


def _qr_impl(a) -> tuple:
    return tuple(backend.namespace(a).linalg.qr(a, mode="reduced"))


linalg_qr_p = _multi("linalg_qr", _qr_impl, _qr_abstract_eval)


def linalg_qr(a) -> tuple:
    """The reduced QR decomposition ``(q, r)``."""
    return bind(linalg_qr_p, a)


# -- slogdet ----------------------------------------------------------------------------


def _slogdet_abstract_eval(a: ShapedArray) -> tuple[ShapedArray, ...]:
    _check_matrix(a, "linalg_slogdet", square=True)
    return ShapedArray(a.shape[:-2], a.dtype), ShapedArray(a.shape[:-2], _real(a.dtype))


def _slogdet_impl(a) -> tuple:
    return tuple(backend.namespace(a).linalg.slogdet(a))


linalg_slogdet_p = _multi("linalg_slogdet", _slogdet_impl, _slogdet_abstract_eval)


def linalg_slogdet(a) -> tuple:
    """``(sign, log|det|)`` of square matrices; ``sign`` is a unit phase for complex ``a``."""
    return bind(linalg_slogdet_p, a)
