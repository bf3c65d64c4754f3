"""Compiled loops for the windowed primitives, used when numba is installed (``fast`` extra).

NumPy adds a window's worth of cotangents back to the input (col2im, the transpose of
taking windows) one window position at a time; when the windows' entries are not
contiguous (the layout a convolution's input gradient comes in) each of those adds runs
over runs of a few features and is several times slower than the copy it undoes.
:func:`add_windows` does the same additions in one compiled loop nest over rows of
contiguous features, in the same order per element as NumPy's (window position by window
position), so the results are bit-identical.

The kernels run only on NumPy float arrays, with numba importable and the ``fgrad_fuse``
flag not ``"off"``; otherwise the callers keep their NumPy code (:func:`usable` decides).
numba is imported when the first kernel is compiled, with ``cache=True`` so that a later
process loads the machine code from numba's disk cache.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import numpy as np

from fgrad.core.config import flags
from fgrad.core.optional import installed

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_compiled: dict[str, Callable] = {}


def usable(*arrays) -> bool:
    """Whether the compiled kernels may run on ``arrays`` (see the module docstring)."""
    if flags.fuse == "off" or not installed("numba"):
        return False
    return all(
        type(a) is np.ndarray and a.dtype in _FLOATS and a.dtype == arrays[0].dtype for a in arrays
    )


def _kernel(name: str, fn: Callable) -> Callable:
    kernel = _compiled.get(name)
    if kernel is None:
        import numba  # the optional dependency: only when a kernel is first needed

        kernel = _compiled[name] = numba.njit(cache=True, nogil=True)(fn)
    return kernel


def _add_rows(g, buf, row_offsets, window_offsets):  # pragma: no cover - compiled by numba
    # g: (rows, window positions, features); buf: (buffer rows, features)
    rows, positions, features = g.shape
    for k in range(positions):
        shift = window_offsets[k]
        for m in range(rows):
            target = row_offsets[m] + shift
            for f in range(features):
                buf[target, f] += g[m, k, f]


def _offsets(counts, steps, strides) -> np.ndarray:
    """``sum_a i_a * steps[a] * strides[a]`` over the grid ``counts``, in C order, as int64."""
    out = np.zeros((), np.int64)
    for n, step, stride in zip(counts, steps, strides):
        out = np.add.outer(out, np.arange(n, dtype=np.int64) * (step * stride))
    return out.ravel()


def add_windows(buf, g, starts, window_strides, window_dilation) -> None:
    """``buf[start + o * stride + w * dilation] += g[o, w]`` for every output position ``o``
    and window position ``w`` (``g`` is ``(*out, *window)`` over ``buf``'s axes).

    Trailing axes that are copied whole (window 1, stride 1, output as long as ``buf``'s
    axis, start 0) become the contiguous feature rows the kernel adds.
    """
    nd = buf.ndim
    out, window = g.shape[:nd], g.shape[nd:]
    if g.size == 0:
        return
    lead = nd
    while (
        lead > 0
        and window[lead - 1] == 1
        and window_strides[lead - 1] == 1
        and out[lead - 1] == buf.shape[lead - 1]
        and starts[lead - 1] == 0
    ):
        lead -= 1
    features = prod(buf.shape[lead:])
    row_strides = [prod(buf.shape[a + 1 : lead]) for a in range(lead)]
    start = sum(s * r for s, r in zip(starts[:lead], row_strides))
    rows = _offsets(out[:lead], window_strides[:lead], row_strides) + start
    shifts = _offsets(window[:lead], window_dilation[:lead], row_strides)
    # (*out_lead, *window_lead, *out_rest, *window_rest): the trailing window entries are 1
    order = (*range(lead), *range(nd, nd + lead), *range(lead, nd), *range(nd + lead, 2 * nd))
    g3 = np.transpose(g, order).reshape(rows.size, shifts.size, features)
    _kernel("add_rows", _add_rows)(g3, buf.reshape(-1, features), rows, shifts)
