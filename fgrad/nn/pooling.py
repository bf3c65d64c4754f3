"""Pooling over the spatial axes of ``(batch, *spatial, features)`` arrays, as in Flax.

Both are :func:`fgrad.lax.reduce_window` with a window of 1 on the batch and feature
axes. A max pool's cotangent goes to each window's maximum (ties share it equally).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fgrad.lax.windows import reduce_window, reduction_identity
from fgrad.numpy.conversion import as_array
from fgrad.numpy.ufuncs import divide
from fgrad.primitives.window_geometry import Pairs


def _geometry(x, window_shape, strides, padding):
    """The spatial window, strides and padding, and the axes around them (batch, features)."""
    window = tuple(int(k) for k in window_shape)
    nsp = len(window)
    strides = (1,) * nsp if strides is None else tuple(int(s) for s in strides)
    if len(strides) != nsp:
        raise ValueError(f"pool: strides {strides} need one entry per window axis {window}")
    if x.ndim not in (nsp + 1, nsp + 2):
        raise ValueError(
            f"pool: inputs of shape {x.shape} do not fit the {nsp}-d window {window}: "
            "expected (batch, *spatial, features) or (*spatial, features)"
        )
    return window, strides, padding, (1,) * (x.ndim - nsp - 1)


def _pool(x, kind: str, init, window, strides, padding, lead):
    if not isinstance(padding, str):
        padding = ((0, 0),) * len(lead) + tuple(padding) + ((0, 0),)
    return reduce_window(x, init, kind, lead + window + (1,), lead + strides + (1,), padding)


def max_pool(
    inputs,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str | Pairs = "VALID",
):
    """Max pooling (``flax.linen.max_pool``).

    Parameters
    ----------
    inputs : array
        ``(batch, *spatial, features)`` or ``(*spatial, features)``.
    window_shape : sequence of int
        The window, one entry per spatial axis.
    strides : sequence of int, optional
        Step between windows (default 1 on every spatial axis).
    padding : str or sequence of (int, int)
        ``'VALID'``, ``'SAME'`` or one ``(lo, hi)`` pair per spatial axis; padded
        positions never win.

    Returns
    -------
    array
        The pooled array, ``inputs``' dtype.
    """
    x = as_array(inputs)
    init = reduction_identity("max", x.dtype)
    return _pool(x, "max", init, *_geometry(x, window_shape, strides, padding))


def avg_pool(
    inputs,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str | Pairs = "VALID",
    count_include_pad: bool = True,
):
    """Average pooling (``flax.linen.avg_pool``); arguments as :func:`max_pool`.

    ``count_include_pad=False`` divides each window's sum by the number of input
    elements in it rather than by the window size.
    """
    x = as_array(inputs)
    window, strides, padding, lead = _geometry(x, window_shape, strides, padding)
    total = _pool(x, "sum", 0, window, strides, padding, lead)
    if count_include_pad:
        return divide(total, x.dtype.type(np.prod(window)))
    ones = np.ones(x.shape[len(lead) :], x.dtype)
    counts = _pool(ones, "sum", 0, window, strides, padding, ())
    return divide(total, counts)
