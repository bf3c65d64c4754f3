"""Reductions with NumPy's ``axis``/``keepdims``/``dtype``: sum, mean, var, std, max, min, ..."""

from __future__ import annotations

import builtins
import operator

import numpy as np

from fgrad.core.primitive import bind
from fgrad.core.tracer import known_value
from fgrad.numpy.conversion import as_array, astype, check_no_out, normalize_axes, numpy_scalar
from fgrad.numpy.creation import full, ones
from fgrad.numpy.indexing import argsort, take, take_along_axis
from fgrad.numpy.manipulation import (
    broadcast_to,
    concatenate,
    diagonal,
    moveaxis,
    ravel,
    reshape,
    transpose,
)
from fgrad.numpy.ufuncs import floor, isnan, logical_and, maximum, minimum
from fgrad.numpy.ufuncs import where as select_where
from fgrad.primitives import elementwise as ew
from fgrad.primitives import reductions as red
from fgrad.primitives.elementwise import sqrt
from fgrad.primitives.indexing import getitem
from fgrad.primitives.structural import reduce_sum


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _masked(a, where, fill):
    """``a`` with the entries NumPy's ``where=`` mask leaves out replaced by ``fill``, the
    reduction's identity (the mask broadcasts against ``a``, as in NumPy)."""
    if where is None or where is True:
        return a
    return select_where(where, a, _as_dtype(fill, a.dtype))


def _as_dtype(value, dtype):
    """``initial`` or a fill value in the reduced array's dtype, as NumPy casts it."""
    return astype(as_array(value), dtype)


def _mask_count(a, axes, where, keepdims: bool):
    """How many entries a ``where=`` mask keeps in each reduced slice (a Python int when
    there is no mask)."""
    if where is None or where is True:
        return _count(a.shape, axes)
    kept = astype(broadcast_to(where, a.shape), np.intp)
    return reduce_sum(kept, axes, keepdims)


def _per_count(total, count):
    """``total / count``, the count (an int, or per slice under a mask) in the total's
    precision, as NumPy divides; a count of 0 or less gives NaN or inf, as in NumPy."""
    if isinstance(count, int):
        return total / count
    real = np.finfo(total.dtype).dtype if total.dtype.kind in "fc" else np.dtype(np.float64)
    return total / astype(count, real)


def sum(a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None, where=None):  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (``numpy.sum``), of the entries ``where`` keeps, plus ``initial``."""
    check_no_out(out, "sum")
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    res = reduce_sum(_masked(a, where, 0), normalize_axes(axis, a.ndim, "sum"), keepdims)
    # small integers accumulate in 64 bits, as in NumPy; a requested dtype is the result's
    res = res if dtype is None else astype(res, dtype, copy=False)
    return res if initial is None else res + _as_dtype(initial, res.dtype)


def mean(a, axis=None, dtype=None, out=None, keepdims: bool = False, *, where=None):
    """Arithmetic mean over ``axis`` (``numpy.mean``) of the entries ``where`` keeps;
    integers average in float64."""
    check_no_out(out, "mean")
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    axes = normalize_axes(axis, a.ndim, "mean")
    if dtype is None:
        return _masked_mean(a, axes, where, keepdims)
    if where is None:
        total = sum(a, axes, dtype, keepdims=keepdims)  # an integer dtype wraps, as in NumPy
        return astype(total / _count(a.shape, axes), dtype, copy=False)
    return astype(_masked_mean(a, axes, where, keepdims), dtype, copy=False)


def var(
    a,
    axis=None,
    dtype=None,
    out=None,
    ddof: int = 0,
    keepdims: bool = False,
    *,
    where=None,
    mean=None,  # noqa: A002 - NumPy's name (a precomputed mean)
    correction=None,
):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom (``numpy.var``), of the
    entries ``where`` keeps; ``mean`` is a precomputed mean with ``keepdims=True``, and
    ``correction`` the array API's name for ``ddof``."""
    check_no_out(out, "var")
    ddof = ddof if correction is None else correction
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    axes = normalize_axes(axis, a.ndim, "var")
    if mean is None:
        mean = _masked_mean(a, axes, where, True)
    centred = a - mean
    if centred.dtype.kind == "c":  # NumPy: the mean of |x - mean|^2, a real number
        re, im = ew.real(centred), ew.imag(centred)
        squares = re * re + im * im
    else:
        squares = centred * centred
    n = _mask_count(a, axes, where, keepdims)
    dof = builtins.max(n - ddof, 0) if isinstance(n, int) else maximum(n - ddof, 0)
    return _per_count(reduce_sum(_masked(squares, where, 0), axes, keepdims), dof)


def std(
    a,
    axis=None,
    dtype=None,
    out=None,
    ddof: int = 0,
    keepdims: bool = False,
    *,
    where=None,
    mean=None,  # noqa: A002 - NumPy's name (a precomputed mean)
    correction=None,
):
    """Standard deviation over ``axis`` (``numpy.std``), arguments as :func:`var`.

    Where the variance is 0 (one element, or all equal) the derivative is taken
    as 0 instead of the NaN of ``sqrt``'s derivative at 0: exact for a single
    element, and a subgradient at the kink otherwise.
    """
    check_no_out(out, "std")
    v = var(a, axis, dtype, None, ddof, keepdims, where=where, mean=mean, correction=correction)
    positive = v > 0
    elsewhere = ew.select(v == 0, 0.0, v)  # 0 with no derivative, or a NaN variance kept
    return numpy_scalar(ew.select(positive, sqrt(ew.select(positive, v, 1.0)), elsewhere))


def _masked_mean(a, axes, where, keepdims: bool):
    """The mean over ``axes`` of the entries ``where`` keeps."""
    total = reduce_sum(_masked(a, where, 0), axes, keepdims)
    return _per_count(total, _mask_count(a, axes, where, keepdims))


def _extremum(reduce, pick, fn: str, a, axis, out, keepdims, initial, where):
    check_no_out(out, fn)
    a = as_array(a)
    if where is not None and where is not True:
        if initial is None:
            raise ValueError(
                f"{fn}: a where= mask needs initial=, the value of a slice the mask leaves "
                f"empty ({fn} has no identity), as in numpy.{fn}"
            )
        a = _masked(a, where, initial)
    res = reduce(a, normalize_axes(axis, a.ndim, fn), keepdims)
    return res if initial is None else pick(res, _as_dtype(initial, res.dtype))


def max(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None):  # noqa: A001 - NumPy's name
    """Maximum over ``axis`` (of the entries ``where`` keeps, and ``initial``); tied maxima
    share the derivative equally."""
    return _extremum(red.reduce_max, maximum, "max", a, axis, out, keepdims, initial, where)


def min(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None):  # noqa: A001 - NumPy's name
    """Minimum over ``axis`` (of the entries ``where`` keeps, and ``initial``); tied minima
    share the derivative equally."""
    return _extremum(red.reduce_min, minimum, "min", a, axis, out, keepdims, initial, where)


amax = max
amin = min


def _arg_axis(a, axis, fn: str) -> int | None:
    return None if axis is None else normalize_axes(axis, a.ndim, fn)[0]


def argmax(a, axis=None, out=None, *, keepdims: bool = False):
    """Index of the maximum (``numpy.argmax``); an integer result with no derivative."""
    check_no_out(out, "argmax")
    a = as_array(a)
    return bind(red.argmax_p, a, axis=_arg_axis(a, axis, "argmax"), keepdims=keepdims)


def argmin(a, axis=None, out=None, *, keepdims: bool = False):
    """Index of the minimum (``numpy.argmin``); an integer result with no derivative."""
    check_no_out(out, "argmin")
    a = as_array(a)
    return bind(red.argmin_p, a, axis=_arg_axis(a, axis, "argmin"), keepdims=keepdims)


# -- more of NumPy's reductions, composed from the functions above ------------------------


def _merge_last(a, axes):
    rest = [i for i in range(a.ndim) if i not in axes]
    n = _count(a.shape, axes)
    a = transpose(a, rest + list(axes))
    return reshape(a, tuple(a.shape[: len(rest)]) + (n,))


def _restore(out, shape, axes, keepdims):
    if keepdims:
        return reshape(out, tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return out


def prod(a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None, where=None):
    """Product over ``axis`` (``numpy.prod``); exact derivatives, also where entries are 0.

    Built as a balanced tree of elementwise products over the reduced axes, so
    the derivative with respect to one entry is the product of the others.
    """
    check_no_out(out, "prod")
    a = as_array(a)
    if dtype is not None:
        a = astype(a, dtype)
    else:
        a = _scan_dtype(a, None)
    a = _masked(a, where, 1)
    axes = normalize_axes(axis, a.ndim, "prod")
    x = _merge_last(a, axes)
    if x.shape[-1] == 0:
        res = ones(x.shape[:-1], x.dtype, like=x if isinstance(x, np.ndarray) else None)
    else:
        while x.shape[-1] > 1:
            n = x.shape[-1]
            m = n // 2 * 2
            paired = getitem(x, (Ellipsis, slice(0, m, 2))) * getitem(x, (Ellipsis, slice(1, m, 2)))
            if n > m:
                paired = concatenate([paired, getitem(x, (Ellipsis, slice(m, n)))], axis=-1)
            x = paired
        res = getitem(x, (Ellipsis, 0))
    if initial is not None:
        res = res * _as_dtype(initial, res.dtype)
    return numpy_scalar(_restore(res, a.shape, axes, keepdims))


def _scan(a, axis, fn: str, op, identity):
    """Inclusive scan along ``axis`` (Hillis-Steele: log2(n) shifted elementwise ops)."""
    a = as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axes(axis, a.ndim, fn)[0]
    n = a.shape[axis]
    lead = (slice(None),) * axis
    shift = 1
    while shift < n:
        pad_shape = a.shape[:axis] + (shift,) + a.shape[axis + 1 :]
        pad = full(pad_shape, identity, a.dtype, like=a)
        shifted = concatenate([pad, getitem(a, lead + (slice(0, n - shift),))], axis)
        a = op(a, shifted)
        shift *= 2
    return a


def _scan_dtype(a, dtype):
    a = as_array(a)
    if dtype is not None:
        return astype(a, dtype)
    if a.dtype == bool or (a.dtype.kind == "i" and a.dtype.itemsize < np.dtype(np.intp).itemsize):
        return astype(a, np.intp)
    if a.dtype.kind == "u" and a.dtype.itemsize < np.dtype(np.uintp).itemsize:
        return astype(a, np.uintp)
    return a


def cumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum along ``axis`` (the flattened array when None), ``numpy.cumsum``."""
    check_no_out(out, "cumsum")
    return _scan(_scan_dtype(a, dtype), axis, "cumsum", operator.add, 0)


def cumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product along ``axis``; exact derivatives also where entries are 0."""
    check_no_out(out, "cumprod")
    return _scan(_scan_dtype(a, dtype), axis, "cumprod", operator.mul, 1)


def ptp(a, axis=None, out=None, keepdims: bool = False):
    """Range (maximum - minimum) over ``axis`` (``numpy.ptp``)."""
    check_no_out(out, "ptp")
    return max(a, axis, keepdims=keepdims) - min(a, axis, keepdims=keepdims)


def average(a, axis=None, weights=None, returned: bool = False, *, keepdims: bool = False):
    """Weighted average over ``axis`` (``numpy.average``); differentiable in ``a`` and weights."""
    a = as_array(a)
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        if returned:
            axes = normalize_axes(axis, a.ndim, "average")
            scl = np.asarray(float(_count(a.shape, axes)), dtype=np.result_type(avg.dtype, 1.0))
            return avg, np.broadcast_to(scl, avg.shape).copy()
        return avg
    w = as_array(weights)
    axes = normalize_axes(axis, a.ndim, "average")
    if w.shape != a.shape:
        if axis is None:
            raise TypeError("average: axis must be specified when shapes of a and weights differ")
        if w.shape != tuple(a.shape[i] for i in axes):
            raise ValueError("average: shape of weights must be consistent with shape of a")
        w = reshape(w, tuple(a.shape[i] if i in axes else 1 for i in range(a.ndim)))
        w = broadcast_to(w, a.shape)
    if a.dtype.kind in "biu" and w.dtype.kind in "biu":
        a = astype(a, np.float64)
    scl = sum(w, axes, keepdims=keepdims)
    avg = sum(a * w, axes, keepdims=keepdims) / scl
    if returned:
        return avg, broadcast_to(scl, avg.shape) if scl.shape != avg.shape else scl
    return avg


def _nonzero_mask(a):
    a = as_array(a)
    return a if a.dtype == bool else a != 0


def count_nonzero(a, axis=None, *, keepdims: bool = False):
    """Number of non-zero entries over ``axis``; an integer result with no derivative."""
    m = astype(_nonzero_mask(a), np.intp)
    out = sum(m, axis, keepdims=keepdims)
    return out


def all(a, axis=None, out=None, keepdims: bool = False, *, where=None):  # noqa: A001 - NumPy's name
    """Whether every entry over ``axis`` is non-zero (``numpy.all``); no derivative."""
    check_no_out(out, "all")
    return _all_any(_masked(_nonzero_mask(a), where, True), axis, keepdims, "all")


def _all_any(m, axis, keepdims, fn):
    axes = normalize_axes(axis, m.ndim, fn)
    n = sum(astype(m, np.intp), axes, keepdims=keepdims)
    return (n == _count(m.shape, axes)) if fn == "all" else (n > 0)


def any(a, axis=None, out=None, keepdims: bool = False, *, where=None):  # noqa: A001 - NumPy's name
    """Whether some entry over ``axis`` is non-zero (``numpy.any``); no derivative."""
    check_no_out(out, "any")
    return _all_any(_masked(_nonzero_mask(a), where, False), axis, keepdims, "any")


def _nan_zeroed(a):
    a = as_array(a)
    if a.dtype.kind not in "fc":
        return a, None
    nan = isnan(a)
    return select_where(nan, 0, a), nan


def nansum(
    a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None, where=None
):
    """Sum treating NaN as zero (``numpy.nansum``); NaN entries get derivative 0."""
    return sum(_nan_zeroed(a)[0], axis, dtype, out, keepdims, initial, where)


def nanmean(a, axis=None, dtype=None, out=None, keepdims: bool = False, *, where=None):
    """Mean ignoring NaN (``numpy.nanmean``) of the entries ``where`` keeps; all-NaN slices
    give NaN."""
    check_no_out(out, "nanmean")
    z, nan = _nan_zeroed(a)
    if nan is not None:
        where = ~nan if where is None or where is True else logical_and(~nan, where)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mean(z, axis, dtype, keepdims=keepdims, where=where)


def _quantile(a, q, axis, keepdims, fn, method):
    """Linear-interpolation quantiles ``q`` in [0, 1]; gradients flow to the two neighbours."""
    if method != "linear":
        raise NotImplementedError(f"{fn}: only method='linear' is supported")
    a = as_array(a)
    if a.dtype.kind not in "fc":
        a = astype(a, np.float64)
    q_dtype = None if type(q) in (int, float) else as_array(q).dtype
    if q_dtype is not None and q_dtype.kind != "f":  # integer quantiles do not promote
        q_dtype = None
    # a NumPy q (not a Python number) takes part in the promotion, as in NumPy
    if q_dtype is not None and np.result_type(a.dtype, q_dtype) != a.dtype:
        a = astype(a, np.result_type(a.dtype, q_dtype))
    axes = normalize_axes(axis, a.ndim, fn)
    x = _merge_last(a, axes)
    x = take_along_axis(x, argsort(x, axis=-1, stable=True), axis=-1)
    n = x.shape[-1]
    qa = as_array(q)  # q may be traced: the positions are then computed
    if qa.dtype.kind not in "f":  # NumPy computes positions in q's float dtype
        qa = astype(qa, np.float64)
    outside = known_value(any(qa < 0) | any(qa > 1))
    if outside:
        raise ValueError(f"{fn}: quantiles must be in the range [0, 1] (percentiles [0, 100])")
    virtual = qa * (n - 1)
    lo = astype(floor(virtual), np.intp)
    hi = minimum(lo + 1, n - 1)
    t = astype(virtual - lo, x.dtype)
    lo_v = take(x, reshape(lo, (-1,)), axis=-1)
    hi_v = take(x, reshape(hi, (-1,)), axis=-1)
    tt = reshape(t, (-1,))

    diff = hi_v - lo_v
    res = select_where(tt >= 0.5, hi_v - diff * (1 - tt), lo_v + diff * tt)
    # res: rest + (q.size,) -> q.shape + rest (+ keepdims ones)
    res = moveaxis(res, -1, 0)
    rest = res.shape[1:]
    if keepdims:
        rest = tuple(1 if i in axes else d for i, d in enumerate(a.shape))
    return numpy_scalar(reshape(res, qa.shape + rest))


def quantile(
    a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims: bool = False
):
    """The ``q``-th quantiles over ``axis`` (``numpy.quantile``, linear interpolation)."""
    check_no_out(out, "quantile")
    return _quantile(a, q, axis, keepdims, "quantile", method)


def percentile(
    a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims: bool = False
):
    """The ``q``-th percentiles over ``axis`` (``numpy.percentile``, linear interpolation)."""
    check_no_out(out, "percentile")
    return _quantile(a, as_array(q) / 100, axis, keepdims, "percentile", method)


def median(a, axis=None, out=None, overwrite_input=False, keepdims: bool = False):
    """Median over ``axis`` (``numpy.median``); the derivative goes to the middle entries."""
    check_no_out(out, "median")
    return _quantile(a, 0.5, axis, keepdims, "median", "linear")


def trace(a, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype=None, out=None):
    """Sum along a diagonal (``numpy.trace``)."""
    check_no_out(out, "trace")
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "average",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "max",
    "mean",
    "median",
    "min",
    "nanmean",
    "nansum",
    "percentile",
    "prod",
    "ptp",
    "quantile",
    "std",
    "sum",
    "trace",
    "var",
]
