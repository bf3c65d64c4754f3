"""NaN-ignoring reductions and covariances: ``nanmax``, ``nanvar``, ``nanmedian``, ``cov``,
``corrcoef``, ...

NaN entries are replaced by a neutral value (``-inf`` for ``nanmax``, 1 for
``nanprod``, ...) before the ordinary reduction, so they get derivative 0 and
the rest keep theirs. Order statistics ignore NaN by sorting them last.
"""

from __future__ import annotations

import warnings

import numpy as np

from fgrad.core.tracer import concrete, known_value
from fgrad.numpy import reductions as red
from fgrad.numpy.complex_numbers import imag, real
from fgrad.numpy.conversion import as_array, astype, check_no_out, numpy_scalar
from fgrad.numpy.indexing import sort, take, take_along_axis
from fgrad.numpy.manipulation import (
    broadcast_to,
    concatenate,
    expand_dims,
    moveaxis,
    ravel,
    reshape,
    stack,
)
from fgrad.numpy.products import matmul
from fgrad.numpy.ufuncs import clip, floor, isnan, minimum, sqrt, where
from fgrad.numpy.ufuncs import where as select_where  # where nanmax's where= shadows it


def _filled(a, value):
    a = as_array(a)
    if a.dtype.kind not in "fc":
        return a, None
    nan = isnan(a)
    return where(nan, value, a), nan


def _all_nan(nan, axis) -> bool:
    """Is any slice all NaN? False where the values are unknown (jit, vmap)."""
    return nan is not None and bool(known_value(red.any(red.all(nan, axis))))


def _all_nan_warning(nan, axis, fn):
    if _all_nan(nan, axis):
        warnings.warn(f"All-NaN slice encountered in {fn}", RuntimeWarning, stacklevel=3)


def nanmax(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None):
    """Maximum ignoring NaN (``numpy.nanmax``) of the entries ``where`` keeps, and ``initial``;
    all-NaN slices give NaN (``initial`` if given)."""
    check_no_out(out, "nanmax")
    filled, nan = _filled(a, -np.inf)
    out_ = red.max(filled, axis, keepdims=keepdims, initial=initial, where=where)
    if nan is None or initial is not None:
        return out_
    _all_nan_warning(nan, axis, "nanmax")
    return numpy_scalar(select_where(red.all(nan, axis, keepdims=keepdims), np.nan, out_))


def nanmin(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None):
    """Minimum ignoring NaN (``numpy.nanmin``) of the entries ``where`` keeps, and ``initial``;
    all-NaN slices give NaN (``initial`` if given)."""
    check_no_out(out, "nanmin")
    filled, nan = _filled(a, np.inf)
    out_ = red.min(filled, axis, keepdims=keepdims, initial=initial, where=where)
    if nan is None or initial is not None:
        return out_
    _all_nan_warning(nan, axis, "nanmin")
    return numpy_scalar(select_where(red.all(nan, axis, keepdims=keepdims), np.nan, out_))


def _nan_arg(pick, fill, a, axis, keepdims: bool):
    filled, nan = _filled(a, fill)
    if _all_nan(nan, axis):
        raise ValueError("All-NaN slice encountered")
    return pick(filled, axis, keepdims=keepdims)


def nanargmax(a, axis=None, out=None, *, keepdims: bool = False):
    """Index of the maximum ignoring NaN (``numpy.nanargmax``). An all-NaN slice is an
    error where the values are known; under ``jit`` or ``vmap`` its index is 0."""
    check_no_out(out, "nanargmax")
    return _nan_arg(red.argmax, -np.inf, a, axis, keepdims)


def nanargmin(a, axis=None, out=None, *, keepdims: bool = False):
    """Index of the minimum ignoring NaN (``numpy.nanargmin``). An all-NaN slice is an
    error where the values are known; under ``jit`` or ``vmap`` its index is 0."""
    check_no_out(out, "nanargmin")
    return _nan_arg(red.argmin, np.inf, a, axis, keepdims)


def nanprod(
    a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None, where=None
):
    """Product treating NaN as one (``numpy.nanprod``)."""
    return red.prod(_filled(a, 1.0)[0], axis, dtype, out, keepdims, initial, where)


def nancumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum treating NaN as zero (``numpy.nancumsum``)."""
    check_no_out(out, "nancumsum")
    return red.cumsum(_filled(a, 0.0)[0], axis, dtype)


def nancumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product treating NaN as one (``numpy.nancumprod``)."""
    check_no_out(out, "nancumprod")
    return red.cumprod(_filled(a, 1.0)[0], axis, dtype)


def nanvar(
    a, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False, *, correction=None
):
    """Variance ignoring NaN (``numpy.nanvar``); ``correction`` is the array API's ``ddof``."""
    check_no_out(out, "nanvar")
    ddof = ddof if correction is None else correction
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    filled, nan = _filled(a, 0.0)
    if nan is None:
        return red.var(a, axis, ddof=ddof, keepdims=keepdims)
    count = red.sum(astype(~nan, filled.dtype), axis, keepdims=True)
    mean = red.sum(filled, axis, keepdims=True) / count
    centred = where(nan, 0.0, a - mean)
    if centred.dtype.kind == "c":
        squares = real(centred) ** 2 + imag(centred) ** 2
    else:
        squares = centred * centred
    total = red.sum(squares, axis, keepdims=keepdims)
    count = count if keepdims else red.sum(astype(~nan, total.dtype), axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return numpy_scalar(total / (count - ddof))


def nanstd(
    a, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False, *, correction=None
):
    """Standard deviation ignoring NaN (``numpy.nanstd``); derivative 0 where it is 0."""
    check_no_out(out, "nanstd")
    v = nanvar(a, axis, dtype, ddof=ddof, keepdims=keepdims, correction=correction)
    positive = v > 0
    return numpy_scalar(where(positive, sqrt(where(positive, v, 1.0)), where(v == 0, 0.0, v)))


def _nan_quantile(a, q, axis, keepdims, fn):
    """Quantiles of the non-NaN entries of each slice (NaN last after sorting)."""
    a = as_array(a)
    if a.dtype.kind == "f" and known_value(a) is None:
        return _nan_quantile_traced(a, q, axis, keepdims)
    nan = np.isnan(concrete(a)) if a.dtype.kind in "fc" else None
    if nan is None or not nan.any():
        return red.quantile(a, q, axis=axis, keepdims=keepdims)
    if axis is None:
        values = ravel(a)
        keep = np.flatnonzero(~np.ravel(nan))
        out = red.quantile(take(values, keep), q)
        return out if not keepdims else out.reshape((1,) * a.ndim)
    # slices with different NaN counts: one slice at a time
    axis = axis % a.ndim
    moved = moveaxis(a, axis, -1)
    flat = reshape(moved, (-1, moved.shape[-1]))
    nan_flat = np.reshape(np.moveaxis(nan, axis, -1), (-1, moved.shape[-1]))
    rows = []
    for i in range(flat.shape[0]):
        keep = np.flatnonzero(~nan_flat[i])
        rows.append(red.quantile(flat[i][keep], q) if keep.size else flat[i][0] * np.nan)
    out = reshape(stack(rows, axis=-1), np.shape(q) + moved.shape[:-1])
    if keepdims:
        out = expand_dims(out, axis + np.ndim(q))
    return out


def _nan_quantile_traced(a, q, axis, keepdims):
    """Quantiles of the non-NaN entries where their positions are not known (``jit``,
    ``vmap``): sort each slice (NaN last), interpolate at ``q * (count - 1)``."""
    x = ravel(a) if axis is None else moveaxis(a, axis % a.ndim, -1)
    q_shape = np.shape(q)
    q = reshape(astype(as_array(q), a.dtype), q_shape + (1,) * x.ndim)
    ordered = broadcast_to(sort(x, axis=-1), q_shape + x.shape)
    count = red.sum(~isnan(x), axis=-1, keepdims=True)
    position = q * astype(count - 1, a.dtype)
    lo_float = floor(position)
    lo = astype(lo_float, np.int64)
    lo_safe = minimum(lo, count - 1) * (count > 0)
    hi_safe = minimum(lo + 1, count - 1) * (count > 0)
    below = take_along_axis(ordered, lo_safe, axis=-1)
    above = take_along_axis(ordered, hi_safe, axis=-1)
    frac, diff = position - lo_float, above - below
    out = where(frac >= 0.5, above - diff * (1 - frac), below + diff * frac)  # NumPy's rounding
    out = where(count > 0, out, np.nan)[..., 0]
    if keepdims:
        if axis is None:
            return reshape(out, q_shape + (1,) * a.ndim)
        return expand_dims(out, axis % a.ndim + len(q_shape))
    return out


def nanquantile(
    a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims: bool = False
):
    """Quantiles ignoring NaN (``numpy.nanquantile``, linear interpolation)."""
    return _nan_quantile(a, q, axis, keepdims, "nanquantile")


def nanpercentile(
    a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims: bool = False
):
    """Percentiles ignoring NaN (``numpy.nanpercentile``)."""
    return _nan_quantile(a, np.asarray(q) / 100.0, axis, keepdims, "nanpercentile")


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims: bool = False):
    """Median ignoring NaN (``numpy.nanmedian``)."""
    return _nan_quantile(a, 0.5, axis, keepdims, "nanmedian")


def cov(
    m,
    y=None,
    rowvar: bool = True,
    bias: bool = False,
    ddof=None,
    fweights=None,
    aweights=None,
    *,
    dtype=None,
):
    """The covariance matrix of the rows (variables) of ``m`` (``numpy.cov``)."""
    x = as_array(m)
    if x.ndim > 2:
        raise ValueError("cov: m has more than 2 dimensions")
    # NumPy computes covariances in at least double precision
    target = np.result_type(x.dtype, np.float64) if dtype is None else np.dtype(dtype)
    if y is not None and dtype is None:
        target = np.result_type(target, as_array(y).dtype)
    x = astype(x, target) if x.dtype != target else x
    x = x.reshape((1, -1)) if x.ndim < 2 else x
    if not rowvar and x.shape[0] != 1:
        x = x.T
    if y is not None:
        yy = as_array(y)
        yy = yy.reshape((1, -1)) if yy.ndim < 2 else yy
        if not rowvar and yy.shape[0] != 1:
            yy = yy.T
        x = concatenate([x, astype(yy, x.dtype) if yy.dtype != x.dtype else yy], axis=0)
    ddof = (0 if bias else 1) if ddof is None else ddof
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = np.asarray(concrete(fweights), dtype=float)
    if aweights is not None:
        aw = as_array(aweights)
        w = aw if w is None else aw * w
    if w is None:
        mean = red.mean(x, axis=1, keepdims=True)
        fact = n - ddof
        centred = x - mean
        c = matmul(centred, centred.T.conj() if centred.dtype.kind == "c" else centred.T) / fact
    else:
        w_sum = red.sum(w)
        mean = red.sum(x * w, axis=1, keepdims=True) / w_sum
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = w_sum - ddof
        else:
            fact = w_sum - ddof * red.sum(w * as_array(aweights)) / w_sum
        centred = x - mean
        c = matmul(centred * w, centred.T) / fact
    return numpy_scalar(c[0, 0]) if c.shape == (1, 1) else c


def corrcoef(x, y=None, rowvar: bool = True, *, dtype=None):
    """Pearson correlation coefficients (``numpy.corrcoef``), clipped to [-1, 1] as NumPy."""
    c = as_array(cov(x, y, rowvar, dtype=dtype))
    if c.ndim == 0:
        return c / c
    d = sqrt(red.sum(c * np.eye(c.shape[0]), axis=1))
    out = c / d[:, None] / d[None, :]
    return clip(out, -1, 1)


__all__ = [
    "corrcoef",
    "cov",
    "nanargmax",
    "nanargmin",
    "nancumprod",
    "nancumsum",
    "nanmax",
    "nanmedian",
    "nanmin",
    "nanpercentile",
    "nanprod",
    "nanquantile",
    "nanstd",
    "nanvar",
]
