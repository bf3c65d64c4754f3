"""Applying Python functions over arrays: ``apply_along_axis``, ``vectorize``, ``piecewise``, ...

These run the user's function on slices (or elements) of traced arrays and
stack the results, so derivatives flow through whatever the function does. They
are Python loops, as in NumPy: convenient, not fast. Prefer writing the
function on whole arrays when speed matters.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from fgrad.numpy.conversion import as_array, asarray, astype
from fgrad.numpy.creation import zeros
from fgrad.numpy.manipulation import broadcast_arrays, moveaxis, reshape, stack
from fgrad.numpy.ufuncs import logical_not, logical_or, where


def apply_along_axis(func1d, axis: int, arr, *args, **kwargs):
    """``func1d`` applied to every 1-D slice of ``arr`` along ``axis`` (``numpy.apply_along_axis``).

    The result has ``arr``'s other axes in place of ``axis``, followed (at ``axis``)
    by the axes of ``func1d``'s output, as in NumPy.
    """
    arr = as_array(arr)
    axis = axis % arr.ndim
    moved = moveaxis(arr, axis, -1)
    outer = moved.shape[:-1]
    if 0 in outer:
        raise ValueError(
            f"apply_along_axis: arr of shape {arr.shape} has no slice along axis {axis} "
            "to call func1d on (an axis of length 0)"
        )
    results = [asarray(func1d(moved[idx], *args, **kwargs)) for idx in np.ndindex(*outer)]
    out = reshape(stack(results), outer + results[0].shape)
    # func1d's output axes go where `axis` was
    k = results[0].ndim
    return moveaxis(out, tuple(range(len(outer), len(outer) + k)), tuple(range(axis, axis + k)))


def apply_over_axes(func, a, axes):
    """Apply ``func(a, axis)`` repeatedly over ``axes``, keeping dimensions (``numpy``'s)."""
    out = as_array(a)
    for axis in np.atleast_1d(axes):
        res = func(out, int(axis))
        if res.ndim == out.ndim - 1:
            res = reshape(res, res.shape[: axis % out.ndim] + (1,) + res.shape[axis % out.ndim :])
        elif res.ndim != out.ndim:
            raise ValueError("function is not returning an array of the correct shape")
        out = res
    return out


def piecewise(x, condlist, funclist, *args, **kw):
    """``funclist[i](x)`` where ``condlist[i]`` holds (``numpy.piecewise``).

    Every function is evaluated on all of ``x`` and the results are combined with
    ``where``, so a function with a NaN derivative outside its region poisons the
    gradient (the double-``where`` trap); guard its input in that case.
    """
    x = as_array(x)
    # conditions stay traced under jit and vmap (where selects, values are not read)
    conds = [
        astype(asarray(c), bool)
        for c in (condlist if isinstance(condlist, (list, tuple)) else [condlist])
    ]
    if len(funclist) == len(conds) + 1:  # the "otherwise" function
        anywhere = functools.reduce(logical_or, conds) if conds else np.zeros(x.shape, bool)
        conds.append(logical_not(anywhere))
    elif len(funclist) != len(conds):
        raise ValueError(
            f"piecewise: {len(conds)} conditions need {len(conds)} or {len(conds) + 1} "
            f"functions, got {len(funclist)}"
        )
    out = zeros(x.shape, x.dtype)
    for cond, fn in zip(conds, funclist):
        value = fn(x, *args, **kw) if callable(fn) else fn
        out = where(cond, value, out)
    return out


class vectorize:  # noqa: N801 - NumPy's name
    """``numpy.vectorize``: call a scalar Python function on every element (broadcast).

    Derivatives flow through the function. ``excluded`` names positional indices or
    keywords passed through unchanged; ``otypes`` fixes the output dtype.
    """

    def __init__(self, pyfunc, otypes=None, doc=None, excluded=None, cache=False, signature=None):
        if signature is not None:
            raise NotImplementedError("fgrad.numpy.vectorize does not support signature= yet")
        self.pyfunc = pyfunc
        self.otypes = otypes
        self.excluded = set(excluded or ())
        self.__doc__ = doc if doc is not None else pyfunc.__doc__

    def __call__(self, *args, **kwargs):
        vary = [i for i in range(len(args)) if i not in self.excluded]
        arrays = broadcast_arrays(*[as_array(args[i]) for i in vary])
        shape = arrays[0].shape if arrays else ()
        results = []
        for idx in itertools.product(*[range(n) for n in shape]):
            call = list(args)
            for i, arr in zip(vary, arrays):
                call[i] = arr[idx]
            results.append(asarray(self.pyfunc(*call, **kwargs)))
        if not results:
            dtype = np.dtype(self.otypes[0]) if self.otypes else np.float64
            return zeros(shape, dtype)
        out = reshape(stack(results), shape)
        return out if not self.otypes else out.astype(np.dtype(self.otypes[0]))


def fromfunction(function, shape, *, dtype=float, **kwargs):
    """``function(*index_grids)`` (``numpy.fromfunction``): the grids are plain arrays."""
    return function(*np.indices(shape, dtype=dtype), **kwargs)


__all__ = ["apply_along_axis", "apply_over_axes", "fromfunction", "piecewise", "vectorize"]
