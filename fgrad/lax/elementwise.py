"""``select``, ``select_n``, ``clamp``, ``population_count``, ``clz`` and ``mulhi``: the
selecting and bit-counting ``jax.lax`` operations, kept strict as in ``jax.lax``: ``select`` takes a
boolean predicate and two branches of one shape and dtype rather than broadcasting and
promoting (``fnp.where`` does).
"""

from __future__ import annotations

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import DtypeError, ShapeError
from fgrad.numpy.conversion import in_dtype


def select(pred, on_true, on_false):
    """``on_true`` where ``pred`` is true, else ``on_false``, element by element.

    Parameters
    ----------
    pred
        A boolean array of the branches' shape, or a boolean scalar.
    on_true, on_false
        Arrays of one shape and one dtype.

    Returns
    -------
    array
        The elements chosen; the derivative flows to the branch chosen at each element.

    Examples
    --------
    >>> lax.select(x > 0, x, fnp.zeros_like(x))   # relu
    """
    shape_t, shape_f, shape_p = np.shape(on_true), np.shape(on_false), np.shape(pred)
    if shape_t != shape_f:
        raise ShapeError(
            f"lax.select: on_true and on_false must have one shape, got {shape_t} and "
            f"{shape_f}; broadcast them first, or use fnp.where, which broadcasts"
        )
    dtype_t, dtype_f = fnp.result_type(on_true), fnp.result_type(on_false)
    if dtype_t != dtype_f:
        raise DtypeError(
            f"lax.select: on_true and on_false must have one dtype, got {dtype_t} and "
            f"{dtype_f}; cast one with .astype, or use fnp.where, which promotes"
        )
    if fnp.result_type(pred) != np.bool_:
        raise DtypeError(
            f"lax.select: pred must be boolean, got dtype {fnp.result_type(pred)}; "
            "compare it (e.g. pred != 0)"
        )
    if shape_p not in ((), shape_t):
        raise ShapeError(
            f"lax.select: pred must be a scalar or have the branches' shape {shape_t}, "
            f"got shape {shape_p}"
        )
    return fnp.where(pred, on_true, on_false)


def select_n(which, *cases):
    """``cases[which]``, element by element (``jax.lax.select_n``).

    Parameters
    ----------
    which
        A boolean (two cases: ``False`` picks ``cases[0]``) or integer array, a scalar
        or of the cases' shape; an index outside ``[0, len(cases))`` picks the last
        case.
    *cases
        Arrays of one shape and one dtype.

    Returns
    -------
    array
        The chosen elements; the derivative flows to the case chosen at each element.
    """
    if not cases:
        raise ValueError("lax.select_n: give at least one case")
    shapes = {np.shape(c) for c in cases}
    dtypes = {fnp.result_type(c) for c in cases}
    if len(shapes) != 1:
        raise ShapeError(f"lax.select_n: the cases must have one shape, got {sorted(shapes)}")
    if len(dtypes) != 1:
        raise DtypeError(
            f"lax.select_n: the cases must have one dtype, got {sorted(map(str, dtypes))}; "
            "cast them with .astype"
        )
    kind = fnp.result_type(which).kind
    if kind not in "biu":
        raise DtypeError(f"lax.select_n: which must be boolean or integer, got {kind!r} kind")
    if kind == "b" and len(cases) > 2:
        raise ValueError("lax.select_n: a boolean which picks between two cases only")
    if np.shape(which) not in ((), np.shape(cases[0])):
        raise ShapeError(
            f"lax.select_n: which must be a scalar or have the cases' shape "
            f"{np.shape(cases[0])}, got {np.shape(which)}"
        )
    out = cases[0]
    for i, case in enumerate(cases[1:], start=1):
        out = fnp.where(which >= i, case, out)
    return out


def clamp(min, x, max):  # noqa: A002 - JAX's argument names
    """``x`` clipped to ``[min, max]`` (``jax.lax.clamp``; note the argument order).

    The derivative in ``x`` is 1 inside the bounds and 0 outside; the bounds get the
    derivative where they are chosen.
    """
    dtype = fnp.result_type(x)
    low, high = in_dtype(min, dtype), in_dtype(max, dtype)
    return fnp.minimum(fnp.maximum(x, low), high)


def population_count(x):
    """The number of set bits of each integer, in ``x``'s dtype (``jax.lax.population_count``).

    Negative integers count their two's complement bits (``-1`` of int32 has 32), as
    in JAX; NumPy's ``bitwise_count`` counts those of the absolute value.
    """
    dtype = fnp.result_type(x)
    if dtype.kind == "i":
        x = fnp.asarray(x).astype(np.dtype(f"u{dtype.itemsize}"))
    return fnp.bitwise_count(x).astype(dtype)


def _unsigned(x):
    """``x``'s bits as the unsigned integer of its width."""
    dtype = fnp.result_type(x)
    return fnp.asarray(x).astype(np.dtype(f"u{dtype.itemsize}")) if dtype.kind == "i" else x


def clz(x):
    """The number of leading zero bits of each integer, in ``x``'s dtype (``jax.lax.clz``):
    ``0`` has as many as its width, a negative integer none."""
    dtype = fnp.result_type(x)
    if dtype.kind not in "iu":
        raise DtypeError(f"lax.clz: the operand must be an integer, got {dtype}")
    v = _unsigned(x)
    shift = 1
    while shift < dtype.itemsize * 8:  # every bit below the highest set one is set too
        v = v | (v >> v.dtype.type(shift))
        shift *= 2
    ones = fnp.bitwise_count(v).astype(dtype)
    return dtype.type(dtype.itemsize * 8) - ones


def mulhi(x, y, /):
    """The high half of the double-width product of integers of one dtype
    (``jax.lax.mulhi``): ``(x * y) >> bits``, with the product computed exactly."""
    dtype = fnp.result_type(x)
    if fnp.result_type(y) != dtype or dtype.kind not in "iu":
        raise DtypeError(
            f"lax.mulhi: the operands must be integers of one dtype, got {dtype} and "
            f"{fnp.result_type(y)}"
        )
    bits = dtype.itemsize * 8
    if bits <= 32:
        wide = np.dtype(f"{dtype.kind}{2 * dtype.itemsize}")
        product = fnp.asarray(x).astype(wide) * fnp.asarray(y).astype(wide)
        return (product >> wide.type(bits)).astype(dtype)
    u64, low32, s32 = np.dtype(np.uint64), np.uint64(0xFFFFFFFF), np.uint64(32)
    a, b = _unsigned(x), _unsigned(y)
    a_lo, a_hi, b_lo, b_hi = a & low32, a >> s32, b & low32, b >> s32
    cross = (a_lo * b_lo >> s32) + (a_hi * b_lo & low32) + (a_lo * b_hi & low32)
    high = a_hi * b_hi + (a_hi * b_lo >> s32) + (a_lo * b_hi >> s32) + (cross >> s32)
    if dtype.kind == "u":
        return high
    # the signed high half: subtract the other operand where one is negative (mod 2**64)
    high = high - fnp.where(fnp.asarray(x) < 0, b, u64.type(0))
    high = high - fnp.where(fnp.asarray(y) < 0, a, u64.type(0))
    return high.astype(dtype)
