"""``expm``: the matrix exponential by scaling and squaring with a degree-13 Padé approximant.

Higham (2005): ``exp(A) = r13(A / 2**s) ** (2**s)`` with ``s`` the smallest number of
squarings that brings the 1-norm of ``A / 2**s`` below ``theta_13 = 5.37``, where
the approximant's backward error is below the unit roundoff of float64. Everything
is ``fgrad.numpy`` (matrix products and one ``solve``), so ``expm`` is
differentiable (the derivative of the algorithm, accurate to the same order as the
value), batches over leading axes and runs under ``vmap`` and ``jit``. Where ``s``
is only known at run time (under ``jit``) the squarings run ``max_squarings``
times, each kept only for the matrices that need it.
"""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.tracer import known_value
from fgrad.numpy import linalg as la
from fgrad.primitives.elementwise import stop_gradient

__all__ = ["expm"]

# the coefficients of the [13/13] Padé approximant of exp (Higham 2005, table 2.3)
_B = (
    64764752532480000.0,
    32382376266240000.0,
    7771770303897600.0,
    1187353796428800.0,
    129060195264000.0,
    10559470521600.0,
    670442572800.0,
    33522128640.0,
    1323241920.0,
    40840800.0,
    960960.0,
    16380.0,
    182.0,
    1.0,
)
_THETA_13 = 5.371920351148152


def _pade13(a):
    eye = np.eye(a.shape[-1], dtype=a.dtype)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    b = _B
    u_inner = a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
    u = a @ (u_inner + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2
    v = v + b[0] * eye
    return la.solve(v - u, v + u)


def expm(A, *, upper_triangular: bool = False, max_squarings: int = 16):
    """The matrix exponential ``exp(A)`` (``scipy.linalg.expm``, ``jax.scipy.linalg.expm``).

    Parameters
    ----------
    A : array of shape (..., n, n)
        Real or complex; integer matrices are computed in float64.
    upper_triangular : bool
        Accepted for JAX's signature (no faster path here).
    max_squarings : int
        The most squarings (JAX's default 16): a matrix of 1-norm above
        ``5.37 * 2**max_squarings`` gives NaN, as in JAX.

    Returns
    -------
    array
        ``exp(A)``, differentiable in ``A``.
    """
    a = fnp.asarray(A)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expm: A must be a square matrix (or a batch), got shape {a.shape}")
    if a.dtype.kind not in "fc":
        a = a.astype(np.float64)
    norm = fnp.max(fnp.sum(fnp.abs(stop_gradient(a)), axis=-2), axis=-1)
    ratio = fnp.maximum(norm / _THETA_13, 1.0)
    squarings = fnp.ceil(fnp.log2(ratio))
    too_big = squarings > max_squarings
    squarings = fnp.minimum(squarings, max_squarings)
    scale = (2.0**-squarings).astype(a.dtype)
    # a matrix beyond max_squarings gets NaN: its Padé step runs on zeros, never singular
    r = _pade13(fnp.where(too_big[..., None, None], 0, a * scale[..., None, None]))
    known = known_value(squarings)
    rounds = int(np.max(known, initial=0)) if known is not None else max_squarings
    for k in range(rounds):
        if known is not None and np.all(known > k):
            r = r @ r
        else:
            r = fnp.where((squarings > k)[..., None, None], r @ r, r)
    return fnp.where(too_big[..., None, None], math.nan, r)
