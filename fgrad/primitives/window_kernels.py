"""Compiled loops for the windowed primitives and the max's tie weights, used when numba
is installed (``fast`` extra): a convolution's im2col, its col2im, a max pool's
derivative weights, and the tiling max or min pool and its derivative.

:func:`take_windows` (im2col) copies every window of an array in one pass from the
unpadded input (padding and holes written as the fill value) into memory laid out
``(*out, *window, features)``, so that the convolution's reshape to the patches matrix
is a view; NumPy instead pads the input and copies a strided 8-d view whose inner runs
are a few features long.

NumPy adds a window's worth of cotangents back to the input (col2im, the transpose of
taking windows) one window position at a time, into a padded buffer that is then cropped;
when the windows' entries are not contiguous (the layout a convolution's input gradient
comes in) each of those adds runs over runs of a few features and is several times slower
than the copy it undoes. :func:`gather_windows` computes each input element once instead:
one compiled loop nest over the input's rows of contiguous features gathers, from a small
table of which window read it where, the entries to add, in the same order per element as
NumPy's (window position by window position), so the results are bit-identical; no padded
buffer is written, and the result is contiguous.

:func:`tie_weights` computes ``reduce_max``'s derivative weights (1/k at each of k tied
extrema) in one loop instead of a compare, a boolean sum, two conversions and a division.

:func:`tile_extremum` and :func:`tile_spread` are a max (or min) pool whose windows tile
the input (``fgrad.primitives.tiles``): one pass reads every window in place (the rows
table of im2col, no copy) and writes its extremum; one pass gives each element of a
window its share of the window's cotangent (``1/k`` of it at each of ``k`` tied
extrema, 0 elsewhere), computed as NumPy's rule computes it (the weight, then the
product), so the bits are NumPy's.

The kernels run only on NumPy float arrays, with numba importable and the ``fgrad_fuse``
flag not ``"off"``; otherwise the callers keep their NumPy code (:func:`usable` decides).
numba is imported when the first kernel is compiled, with ``cache=True`` so that a later
process loads the machine code from numba's disk cache.
"""

from __future__ import annotations

import functools
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

        kernel = _compiled[name] = numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
    return kernel


def _gather_rows(g, sources, out):  # pragma: no cover - compiled by numba
    # g: (images, out rows, window positions, features); sources: (in rows, window
    # positions), the out row each window position of each in row was read into, or -1;
    # out: (images, in rows, features)
    images, rows, features = out.shape
    positions = sources.shape[1]
    for b in range(images):
        for r in range(rows):
            for f in range(features):
                out[b, r, f] = 0
            for k in range(positions):
                m = sources[r, k]
                if m >= 0:
                    for f in range(features):
                        out[b, r, f] += g[b, m, k, f]


def _take_rows(x, reads, fill, out):  # pragma: no cover - compiled by numba
    # x: (images, in rows, features); reads: (out rows, window positions), the in row each
    # window position of each out row reads, or -1 (padding or a hole: fill);
    # out: (images, out rows, window positions, features)
    images, rows, positions, features = out.shape
    for b in range(images):
        for r in range(rows):
            for k in range(positions):
                i = reads[r, k]
                if features == 1:  # one channel: no inner loop to set up per window entry
                    out[b, r, k, 0] = x[b, i, 0] if i >= 0 else fill
                elif i >= 0:
                    for f in range(features):
                        out[b, r, k, f] = x[b, i, f]
                else:
                    for f in range(features):
                        out[b, r, k, f] = fill


def _combine(table, axis, size):
    """Extend a (rows, positions) table of row indices by one more axis's (n, k) table of
    indices along it (``size`` long); -1 anywhere stays -1."""
    rows, positions = table.shape
    n, k = axis.shape
    combined = table[:, None, :, None] * size + axis[None, :, None, :]
    missing = (table[:, None, :, None] < 0) | (axis[None, :, None, :] < 0)
    return np.where(missing, -1, combined).reshape(rows * n, positions * k)


@functools.lru_cache(maxsize=64)
def _table(backward, in_shape, out, window, strides, padding, base_dilation, window_dilation):
    """Which rows the windows connect, over the axes given (C order everywhere).

    Forward (``backward=False``): for every output position ``o`` and window position
    ``w``, the input position read, or -1 where the window reads padding or a hole: per
    axis ``i = (o * stride + w * dilation - lo) / base``, where that is an integer in
    ``[0, n)``. Backward: for every input position ``i`` and window position ``w``, the
    output position whose window read ``i`` at ``w``, or -1: per axis
    ``o = (lo + i * base - w * dilation) / stride``, where that is an integer in
    ``[0, out)``.
    """
    table = np.zeros((1, 1), np.int64)
    for n, o, k, s, (lo, _), bd, wd in zip(
        in_shape, out, window, strides, padding, base_dilation, window_dilation
    ):
        w = np.arange(k)[None, :] * wd
        if backward:
            at, step, size = lo + np.arange(n)[:, None] * bd - w, s, o
        else:
            at, step, size = np.arange(o)[:, None] * s + w - lo, bd, n
        axis = np.where((at % step == 0) & (at >= 0) & (at < size * step), at // step, -1)
        table = _combine(table, axis, size)
    table.flags.writeable = False  # shared by the calls with this geometry
    return table


def _whole(n, o, k, s, pads, bd) -> bool:
    """Whether an axis is copied whole by the windows (each element is its own window)."""
    return k == 1 and s == 1 and bd == 1 and pads == (0, 0) and o == n


@functools.lru_cache(maxsize=64)
def _layout(in_shape, out, window, strides, padding, base_dilation, window_dilation):
    return _Layout(in_shape, out, window, strides, padding, base_dilation, window_dilation)


class _Layout:
    """The windows ``(*out, *window)`` of an ``in_shape`` operand as the kernels see them.

    Leading axes copied whole are the images the loops run over, trailing ones the
    contiguous features they copy or add; the axes between are looked up in a table of
    rows. ``order`` lays the windows out as ``(*out_lead, *out_mid, *window_lead,
    *window_mid, *out_trail, *window_trail)``: ``(images, rows, positions, features)``.
    """

    def __init__(self, in_shape, out, window, strides, padding, base_dilation, window_dilation):
        nd = len(in_shape)
        geometry = (in_shape, out, window, strides, padding, base_dilation, window_dilation)
        whole = [_whole(*a) for a in zip(*geometry[:-1])]
        trail = nd
        while trail > 0 and whole[trail - 1]:
            trail -= 1
        lead = 0
        while lead < trail and whole[lead]:
            lead += 1
        self.order = (*range(trail), *range(nd, nd + trail), *range(trail, nd),
                      *range(nd + trail, 2 * nd))  # fmt: skip
        self.inverse = tuple(int(a) for a in np.argsort(self.order))
        self.images, self.features = prod(out[:lead]), prod(out[trail:])
        self.rows_in, self.rows_out = prod(in_shape[lead:trail]), prod(out[lead:trail])
        self.positions = prod(window[lead:trail])
        self.mid = tuple(tuple(v[lead:trail]) for v in geometry)


def take_windows(x, out, window_dimensions, window_strides, padding, base_dilation,
                 window_dilation, fill):  # fmt: skip
    """im2col: every window of ``x``, shape ``(*out, *window_dimensions)`` as
    ``window_patches`` defines it (``fill`` in padding and holes), copied in one pass into
    memory laid out ``(*out, *window, features)`` (see :class:`_Layout`), so that flattening
    each output position's window with the trailing features is a view."""
    geometry = (window_dimensions, window_strides, padding, base_dilation, window_dilation)
    layout = _layout(x.shape, out, *geometry)
    shape = (*out, *window_dimensions)
    patches = np.empty(tuple(shape[a] for a in layout.order), x.dtype)
    if patches.size:
        rows = x.reshape(layout.images, layout.rows_in, layout.features)
        reads = _table(False, *layout.mid)
        flat = patches.reshape(layout.images, layout.rows_out, layout.positions, layout.features)
        _kernel("take_rows", _take_rows)(rows, reads, x.dtype.type(fill), flat)
    return np.transpose(patches, layout.inverse)


def gather_windows(g, in_shape, window_strides, padding, base_dilation, window_dilation):
    """col2im: the ``in_shape`` array whose element ``i`` sums ``g[o, w]`` over every output
    position ``o`` and window position ``w`` whose window read ``i`` (``g`` is ``(*out,
    *window)``; the geometry is ``window_patches``'s), the terms added in window-position
    order, as NumPy's loop adds them. No padded buffer is written."""
    nd = len(in_shape)
    out, window = g.shape[:nd], g.shape[nd:]
    layout = _layout(
        tuple(in_shape), out, window, window_strides, padding, base_dilation, window_dilation
    )
    g4 = np.transpose(g, layout.order).reshape(
        layout.images, layout.rows_out, layout.positions, layout.features
    )
    result = np.empty((layout.images, layout.rows_in, layout.features), g.dtype)
    if result.size:
        sources = _table(True, *layout.mid)
        _kernel("gather_rows", _gather_rows)(g4, sources, result)
    return result.reshape(in_shape)


def _tie_weights(x, ans, out):  # pragma: no cover - compiled by numba
    # x, out: (before, reduced, after); ans: (before, after)
    before, reduced, after = x.shape
    count = np.empty(after, out.dtype)
    for a in range(before):
        for c in range(after):
            count[c] = 0
        for j in range(reduced):
            for c in range(after):
                out[a, j, c] = x[a, j, c] == ans[a, c]
                count[c] += out[a, j, c]
        for j in range(reduced):
            for c in range(after):
                out[a, j, c] = out[a, j, c] / count[c]


def tie_weights(x, ans, axis: tuple[int, ...]):
    """``(x == ans) / count`` over ``axis`` (a run of adjacent axes, ``ans`` the extremum
    with them kept as ones) in one compiled loop: the weights a max or min reduction's
    derivative gives each element, ties sharing. The ties are counted in ``x``'s (float)
    dtype, exactly as long as fewer than ``2 ** (nmant + 1)`` elements are reduced (the
    caller checks), so the results are bit-identical to NumPy's rule."""
    lo, hi = min(axis), max(axis) + 1
    shape = (prod(x.shape[:lo]), prod(x.shape[lo:hi]), prod(x.shape[hi:]))
    out = np.empty(shape, x.dtype)
    if out.size:
        rows = np.ascontiguousarray(x).reshape(shape)
        best = np.ascontiguousarray(ans).reshape(shape[0], shape[2])
        _kernel("tie_weights", _tie_weights)(rows, best, out)
    return out.reshape(x.shape)


def _tile_extremum(x, reads, is_max, out):  # pragma: no cover - compiled by numba
    # x: (images, in rows, features); reads: (out rows, window positions), the in row each
    # window position of each out row reads (never -1: tiles have no padding);
    # out: (images, out rows, features). A NaN wins, as in np.max.
    images, rows, features = out.shape
    positions = reads.shape[1]
    for b in range(images):
        for r in range(rows):
            i = reads[r, 0]
            for f in range(features):
                out[b, r, f] = x[b, i, f]
            for k in range(1, positions):
                i = reads[r, k]
                for f in range(features):
                    v = x[b, i, f]
                    o = out[b, r, f]
                    if (v > o if is_max else v < o) or v != v:
                        out[b, r, f] = v


def _tile_spread(g, x, best, reads, out):  # pragma: no cover - compiled by numba
    # g, best: (images, out rows, features); x, out: (images, in rows, features), out
    # zero where no window reads; reads as in _tile_extremum
    images, rows, features = g.shape
    positions = reads.shape[1]
    count = np.empty(features, out.dtype)
    for b in range(images):
        for r in range(rows):
            for f in range(features):
                count[f] = 0
            for k in range(positions):
                i = reads[r, k]
                for f in range(features):
                    out[b, i, f] = x[b, i, f] == best[b, r, f]
                    count[f] += out[b, i, f]
            for k in range(positions):
                i = reads[r, k]
                for f in range(features):
                    out[b, i, f] = out[b, i, f] / count[f] * g[b, r, f]


def _tile_layout(shape, window):
    """The kernels' view of tiling ``window``s over ``shape`` and their rows table."""
    nd = len(shape)
    out = tuple(n // k for n, k in zip(shape, window))
    layout = _layout(tuple(shape), out, tuple(window), tuple(window), ((0, 0),) * nd,
                     (1,) * nd, (1,) * nd)  # fmt: skip
    return out, layout, _table(False, *layout.mid)


def tile_extremum(x, window: tuple[int, ...], kind: str):
    """The max (``kind='max'``) or min of every window of ``x`` that tiles it (stride =
    window, no padding; the ``n % k`` trailing elements of an axis are in no window), in
    one pass over ``x``."""
    out, layout, reads = _tile_layout(x.shape, window)
    result = np.empty((layout.images, layout.rows_out, layout.features), x.dtype)
    if result.size:
        rows = np.ascontiguousarray(x).reshape(layout.images, layout.rows_in, layout.features)
        _kernel("tile_extremum", _tile_extremum)(rows, reads, kind == "max", result)
    return result.reshape(out)


def tile_spread(g, x, best, window: tuple[int, ...]):
    """The cotangent of :func:`tile_extremum`: ``g`` (one value per window) shared
    equally between each window's elements equal to its extremum ``best``, 0 elsewhere;
    shape and layout of ``x``. Exact while a window has fewer than ``2 ** (nmant + 1)``
    elements (the caller checks), as NumPy's weights are."""
    out, layout, reads = _tile_layout(x.shape, window)
    covered = all(n % k == 0 for n, k in zip(x.shape, window))
    result = (np.empty if covered else np.zeros)(x.shape, g.dtype)
    if g.size:
        shape = (layout.images, layout.rows_out, layout.features)
        _kernel("tile_spread", _tile_spread)(
            np.ascontiguousarray(g).reshape(shape),
            np.ascontiguousarray(x).reshape(layout.images, layout.rows_in, layout.features),
            np.ascontiguousarray(best).reshape(shape),
            reads,
            result.reshape(layout.images, layout.rows_in, layout.features),
        )
    return result
