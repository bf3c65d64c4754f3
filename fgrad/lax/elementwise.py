"""``select`` and ``rsqrt``: the element-wise ``jax.lax`` operations that ``fgrad.numpy``
spells differently (``fnp.where``, ``1 / fnp.sqrt``), kept strict as in ``jax.lax``:
``select`` takes a boolean predicate and two branches of one shape and dtype rather
than broadcasting and promoting.
"""

from __future__ import annotations

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import DtypeError, ShapeError


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


def rsqrt(x):
    """The reciprocal square root ``1 / sqrt(x)``, element-wise, in ``x``'s float dtype.

    Examples
    --------
    >>> lax.rsqrt(np.array([4.0, 0.25]))
    array([0.5, 2. ])
    """
    return fnp.reciprocal(fnp.sqrt(x))
