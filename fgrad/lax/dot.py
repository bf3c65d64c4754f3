"""``jax.lax``'s products: ``dot_general`` (contractions with batch axes), ``dot`` and
``batch_matmul``, on the ``dot_general`` primitive that ``fgrad.numpy``'s products use.

The result's axes are JAX's: the batch axes, then ``lhs``'s free axes, then ``rhs``'s.
Operands of different dtypes are promoted (as ``jax.lax.dot_general`` does);
``preferred_element_type`` names the dtype to compute and return in (``int8`` inputs
accumulated in ``int32``, ``float16`` ones in ``float32``). ``precision`` (a
:class:`Precision`, a string or a pair) is accepted and ignored: NumPy multiplies in the
operands' own precision.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Sequence

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import ShapeError
from fgrad.primitives.dot_general import dot_general as _dot_general_primitive

DimensionNumbers = tuple[tuple[Sequence[int], Sequence[int]], tuple[Sequence[int], Sequence[int]]]


class Precision(enum.Enum):
    """``jax.lax.Precision``, accepted by the ``precision`` arguments and ignored: NumPy
    multiplies in the operands' own precision (float32 stays float32, float64 float64)."""

    DEFAULT = 0
    HIGH = 1
    HIGHEST = 2


#: ``jax.lax``'s type names for annotations: ``((lhs_contract, rhs_contract),
#: (lhs_batch, rhs_batch))`` and what ``precision=`` accepts
DotDimensionNumbers = tuple[
    tuple[Sequence[int], Sequence[int]], tuple[Sequence[int], Sequence[int]]
]
PrecisionLike = Precision | str | tuple | None


def _in_dtype(lhs, rhs, preferred_element_type):
    dtype = (
        fnp.result_type(lhs, rhs)
        if preferred_element_type is None
        else np.dtype(preferred_element_type)
    )
    return fnp.astype(lhs, dtype), fnp.astype(rhs, dtype)


def dot_general(
    lhs,
    rhs,
    dimension_numbers: DimensionNumbers,
    precision=None,
    preferred_element_type=None,
):
    """Contract ``lhs`` with ``rhs`` over paired axes, batched over others
    (``jax.lax.dot_general``).

    Parameters
    ----------
    lhs, rhs : array
    dimension_numbers : ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))
        Non-negative axes: those summed over pairwise (equal sizes) and those batched
        over pairwise (equal sizes).
    precision
        Ignored (NumPy computes in the operands' precision).
    preferred_element_type : dtype, optional
        The dtype to compute in and return; by default the operands' promoted dtype.

    Returns
    -------
    array
        Axes: the batch axes, ``lhs``'s remaining axes, ``rhs``'s remaining axes.

    Examples
    --------
    >>> # attention scores: (batch, q, d) x (batch, k, d) -> (batch, q, k)
    >>> lax.dot_general(q, k, (((2,), (2,)), ((0,), (0,))))
    """
    del precision
    (lc, rc), (lb, rb) = dimension_numbers
    dims = (
        (tuple(map(operator.index, lc)), tuple(map(operator.index, rc))),
        (tuple(map(operator.index, lb)), tuple(map(operator.index, rb))),
    )
    x, y = _in_dtype(fnp.asarray(lhs), fnp.asarray(rhs), preferred_element_type)
    return _dot_general_primitive(x, y, dims)


def dot(lhs, rhs, precision=None, preferred_element_type=None):
    """The vector-vector, matrix-vector or matrix-matrix product (``jax.lax.dot``).

    Both operands have 1 or 2 axes; ``lhs``'s last axis is contracted with ``rhs``'s
    first. For other ranks use :func:`dot_general` (or ``fgrad.numpy.matmul``).
    """
    x, y = fnp.asarray(lhs), fnp.asarray(rhs)
    if np.ndim(x) not in (1, 2) or np.ndim(y) not in (1, 2):
        raise ShapeError(
            f"lax.dot: takes vectors and matrices, got shapes {np.shape(x)} and "
            f"{np.shape(y)}; use lax.dot_general with dimension_numbers, or fgrad.numpy.matmul"
        )
    return dot_general(x, y, (((np.ndim(x) - 1,), (0,)), ((), ())), None, preferred_element_type)


def batch_matmul(lhs, rhs, precision=None):
    """Matrix products over the leading (batch) axes: ``(..., m, k) x (..., k, n)`` to
    ``(..., m, n)``, both of one rank and equal batch sizes (``jax.lax.batch_matmul``)."""
    x, y = fnp.asarray(lhs), fnp.asarray(rhs)
    nd = np.ndim(x)
    if nd < 2 or np.ndim(y) != nd or np.shape(x)[:-2] != np.shape(y)[:-2]:
        raise ShapeError(
            f"lax.batch_matmul: needs operands of one rank (at least 2) with equal batch "
            f"sizes, got shapes {np.shape(x)} and {np.shape(y)}"
        )
    batch = tuple(range(nd - 2))
    return dot_general(x, y, (((nd - 1,), (nd - 2,)), (batch, batch)), precision)


__all__ = [
    "DotDimensionNumbers",
    "Precision",
    "PrecisionLike",
    "batch_matmul",
    "dot",
    "dot_general",
]
