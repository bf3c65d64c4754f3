"""``bitcast_convert_type`` and ``reduce_precision``: ``jax.lax``'s operations on the bits
of numbers.

Both are primitives of ``fgrad/primitives/elementwise.py``: ``bitcast_convert_type``
(no derivative) and ``reduce_precision``, which rounds floats to fewer exponent and
mantissa bits as XLA does, in integer operations on their bits: the mantissa to
nearest, ties to even; a value beyond the narrower exponent's range becomes an
infinity, one below its smallest normal number a zero (of the same sign); NaN stays
NaN. Its derivative is JAX's: the tangent rounded the same way.
"""

from __future__ import annotations

import operator

from fgrad import numpy as fnp
from fgrad.core.errors import DtypeError
from fgrad.primitives.elementwise import bitcast_convert_type as _bitcast
from fgrad.primitives.elementwise import reduce_precision as _reduce_precision

__all__ = ["bitcast_convert_type", "reduce_precision"]


def bitcast_convert_type(operand, new_dtype):
    """The bits of ``operand`` read as ``new_dtype`` (``jax.lax.bitcast_convert_type``).

    For a narrower ``new_dtype`` the result has a trailing axis of the width ratio; for a
    wider one the operand's last axis must be that ratio and is consumed. No derivative.
    """
    return _bitcast(fnp.asarray(operand), new_dtype)


def reduce_precision(operand, exponent_bits: int, mantissa_bits: int):
    """``operand`` rounded to a float with ``exponent_bits`` and ``mantissa_bits``
    (``jax.lax.reduce_precision``), kept in its dtype: ``(8, 7)`` gives bfloat16's
    values, ``(5, 10)`` float16's. See the module doc for the rounding.

    Parameters
    ----------
    operand : float array
    exponent_bits : int
        At least 1; as many as the dtype's leave the range alone.
    mantissa_bits : int
        At least 0; as many as the dtype's leave the values alone.
    """
    x = fnp.asarray(operand)
    exponent_bits, mantissa_bits = operator.index(exponent_bits), operator.index(mantissa_bits)
    if fnp.result_type(x).kind != "f":
        raise DtypeError(
            f"lax.reduce_precision: the operand must be a float, got {fnp.result_type(x)}"
        )
    if exponent_bits < 1 or mantissa_bits < 0:
        raise ValueError(
            f"lax.reduce_precision: exponent_bits >= 1 and mantissa_bits >= 0, got "
            f"{exponent_bits} and {mantissa_bits}"
        )
    return _reduce_precision(x, exponent_bits, mantissa_bits)
