"""Picking elements by masks and choices: ``choose``, ``compress``, ``extract``, ``sort_complex``.

Masks and choice indices carry no derivative, so they are read as concrete
values; the picked elements keep theirs (they are gathered with indexing).
"""

from __future__ import annotations

import numpy as np

from fgrad.core.tracer import concrete
from fgrad.numpy.conversion import as_array
from fgrad.numpy.indexing import take, take_along_axis, take_index
from fgrad.numpy.manipulation import broadcast_arrays, ravel
from fgrad.numpy.ufuncs import where


def choose(a, choices, out=None, mode: str = "raise"):
    """``choices[a[i]][i]`` for every position, with broadcasting (``numpy.choose``).

    Differentiable in ``choices``; ``a`` is an integer index array.
    """
    if out is not None:
        raise TypeError("choose(out=...) is not supported: fgrad arrays are immutable")
    index = np.asarray(concrete(a))
    n = len(choices)
    if mode == "wrap":
        index = index % n
    elif mode == "clip":
        index = np.clip(index, 0, n - 1)
    elif np.any((index < 0) | (index >= n)):
        raise ValueError(f"choose: invalid entry in choice array (indices must be in [0, {n}))")
    *options, index = broadcast_arrays(*[as_array(c) for c in choices], index)
    index = concrete(index)
    picked = options[0]
    for k in range(1, n):
        picked = where(index == k, options[k], picked)
    return picked


def compress(condition, a, axis=None, out=None):
    """The slices of ``a`` along ``axis`` where ``condition`` holds (``numpy.compress``)."""
    if out is not None:
        raise TypeError("compress(out=...) is not supported: fgrad arrays are immutable")
    keep = np.flatnonzero(np.asarray(concrete(condition)))
    a = as_array(a)
    length = a.size if axis is None else a.shape[axis]
    if keep.size and keep[-1] >= length:
        raise IndexError(
            f"compress: the condition selects index {keep[-1]} but the axis has length {length}"
        )
    return take(a, keep, axis=axis)


def extract(condition, arr):
    """The elements of ``arr`` where ``condition`` is nonzero, flattened (``numpy.extract``)."""
    mask = np.ravel(np.asarray(concrete(condition))) != 0
    return take_index(ravel(arr), (np.flatnonzero(mask),))


def sort_complex(a):
    """Sort by real part, then imaginary part; always complex (``numpy.sort_complex``)."""
    a = as_array(a)
    values = np.asarray(concrete(a))
    order = np.lexsort((np.imag(values), np.real(values)), axis=-1)
    picked = take_along_axis(a, order, axis=-1)
    dtype = np.sort_complex(np.zeros(0, values.dtype)).dtype
    return picked if picked.dtype == dtype else picked.astype(dtype)


__all__ = ["choose", "compress", "extract", "sort_complex"]
