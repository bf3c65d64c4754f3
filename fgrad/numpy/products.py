"""Products with NumPy's semantics, all on the ``dot_general`` primitive: matmul, dot, outer, ..."""

from __future__ import annotations

import numpy as np

from fgrad.numpy import reductions as red
from fgrad.numpy.complex_numbers import conjugate
from fgrad.numpy.conversion import as_array, check_no_out, normalize_axes
from fgrad.numpy.manipulation import (
    broadcast_arrays,
    broadcast_to,
    moveaxis,
    ravel,
    reshape,
    stack,
)
from fgrad.primitives.dot_general import dot_general

_NO_BATCH = ((), ())


def matmul(x1, x2):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes broadcast."""
    a, b = as_array(x1), as_array(x2)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: input operands must have at least 1 dimension, got shapes {a.shape} and "
            f"{b.shape}; use `*` to multiply by a scalar"
        )
    if b.ndim <= 2:
        # contracting a's last axis with b's first (or only) axis needs no batching
        return dot_general(a, b, (((a.ndim - 1,), (0,)), _NO_BATCH))
    if a.ndim == 1:
        out = matmul(reshape(a, (1, a.shape[0])), b)
        return reshape(out, out.shape[:-2] + out.shape[-1:])
    batch = _broadcast_batch(a.shape[:-2], b.shape[:-2])
    a = broadcast_to(a, batch + a.shape[-2:])
    b = broadcast_to(b, batch + b.shape[-2:])
    nb = len(batch)
    axes = tuple(range(nb))
    return dot_general(a, b, (((nb + 1,), (nb,)), (axes, axes)))


def _broadcast_batch(s1: tuple[int, ...], s2: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(s1, s2))
    except ValueError:
        raise ValueError(
            f"matmul: the batch dimensions {s1} and {s2} cannot be broadcast together"
        ) from None


def dot(a, b, out=None):
    """``numpy.dot``: a sum product over the last axis of ``a`` and the second-to-last of ``b``."""
    check_no_out(out, "dot")
    a, b = as_array(a), as_array(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return dot_general(a, b, (((a.ndim - 1,), (max(b.ndim - 2, 0),)), _NO_BATCH))


def inner(a, b):
    """Sum product over the last axes of ``a`` and ``b``."""
    a, b = as_array(a), as_array(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return dot_general(a, b, (((a.ndim - 1,), (b.ndim - 1,)), _NO_BATCH))


def vdot(a, b):
    """Dot product of the flattened arrays, conjugating ``a`` if it is complex (``numpy.vdot``)."""
    a = ravel(a)
    if a.dtype.kind == "c":
        a = conjugate(a)
    return inner(a, ravel(b))


def outer(a, b, out=None):
    """Outer product of the flattened arrays: ``out[i, j] = a[i] * b[j]``."""
    check_no_out(out, "outer")
    a, b = ravel(a), ravel(b)
    return reshape(a, (a.shape[0], 1)) * reshape(b, (1, b.shape[0]))


def tensordot(a, b, axes=2):
    """Sum products over the given axes (``numpy.tensordot``)."""
    a, b = as_array(a), as_array(b)
    if isinstance(axes, int):
        xa = tuple(range(a.ndim - axes, a.ndim))
        xb = tuple(range(axes))
    else:
        xa_, xb_ = axes
        xa_ = (xa_,) if isinstance(xa_, int) else tuple(xa_)
        xb_ = (xb_,) if isinstance(xb_, int) else tuple(xb_)
        xa = tuple(normalize_axes(i, a.ndim, "tensordot")[0] for i in xa_)
        xb = tuple(normalize_axes(i, b.ndim, "tensordot")[0] for i in xb_)
    return dot_general(a, b, ((xa, xb), _NO_BATCH))

def kron(a, b):
    """Kronecker product: blocks ``a[i, j] * b`` (``numpy.kron``), by broadcasting."""
    a, b = as_array(a), as_array(b)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + a.shape
    sb = (1,) * (nd - b.ndim) + b.shape
    # interleave: a on even axes, b on odd axes, then merge each pair
    a = reshape(a, tuple(x for n in sa for x in (n, 1)))
    b = reshape(b, tuple(x for n in sb for x in (1, n)))
    return reshape(a * b, tuple(m * n for m, n in zip(sa, sb)))


def cross(a, b, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis=None):
    """Cross product of 2- or 3-vectors along the given axes (``numpy.cross``).

    Two 2-vectors give the scalar z-component, as NumPy does.
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(as_array(a), axisa, -1), moveaxis(as_array(b), axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(
            f"cross: incompatible dimensions for cross product (dimension must be 2 or 3), "
            f"got vectors of length {a.shape[-1]} and {b.shape[-1]}"
        )
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return z
    a2 = a[..., 2] if a.shape[-1] == 3 else None
    b2 = b[..., 2] if b.shape[-1] == 3 else None
    x = a1 * b2 if a2 is None else (-(a2 * b1) if b2 is None else a1 * b2 - a2 * b1)
    y = -(a0 * b2) if a2 is None else (a2 * b0 if b2 is None else a2 * b0 - a0 * b2)
    return moveaxis(stack(broadcast_arrays(x, y, z), axis=-1), -1, axisc)


def vecdot(x1, x2, /, *, axis: int = -1):
    """``sum(conj(x1) * x2, axis)`` with broadcasting (``numpy.vecdot``)."""
    x1, x2 = as_array(x1), as_array(x2)
    if x1.dtype.kind == "c":
        x1 = conjugate(x1)
    products = x1 * x2
    return red.sum(products, axis=axis, dtype=products.dtype)  # int8 stays int8, as in NumPy


def matvec(x1, x2, /):
    """Matrix-vector products over broadcast batches (``numpy.matvec``)."""
    x1, x2 = as_array(x1), as_array(x2)
    return matmul(x1, x2[..., None])[..., 0]


def vecmat(x1, x2, /):
    """Vector-matrix products ``conj(v) @ M`` over broadcast batches (``numpy.vecmat``)."""
    x1, x2 = as_array(x1), as_array(x2)
    if x1.dtype.kind == "c":
        x1 = conjugate(x1)
    return matmul(x1[..., None, :], x2)[..., 0, :]


__all__ = [
    "cross",
    "matvec",
    "vecdot",
    "vecmat",
    "kron",
    "dot",
    "inner",
    "matmul",
    "outer",
    "tensordot",
    "vdot",
]
