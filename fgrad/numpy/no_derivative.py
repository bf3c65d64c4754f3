"""NumPy functions whose results carry no derivative, computed on concrete values.

Bit packing (``packbits``), sort keys (``lexsort``) and histogram counts have
zero derivative wherever they have one (the integer and bit ufuncs, ``gcd``,
``bitwise_and``, ``left_shift``, ..., are non-differentiable primitives instead, so
that they trace). Inside ``grad`` and ``jvp`` the values are known, so these run NumPy's own
function on them (on the arrays' backend) and return plain arrays, exactly as
fgrad's non-differentiable primitives do. Under ``make_jaxpr`` there is no value
and they raise :class:`fgrad.ConcretizationError`.

``histogram`` is the exception that proves the rule: its counts are constant in
the data, but linear in ``weights``, so weighted histograms are differentiable
in the weights (the bins, chosen from the data, carry no derivative).
"""

from __future__ import annotations

import builtins
import functools

import numpy as np

from fgrad.core import backend
from fgrad.core.tracer import Tracer, concrete
from fgrad.numpy.conversion import as_array
from fgrad.numpy.differences import diff
from fgrad.numpy.indexing import at
from fgrad.numpy.manipulation import stack
from fgrad.numpy.ranges import linspace
from fgrad.numpy.reductions import max as max_
from fgrad.numpy.reductions import min as min_


def _on_values(np_fn):
    """``np_fn`` applied to the concrete values of its array arguments."""

    @functools.wraps(np_fn)
    def fn(*args, **kwargs):
        args = [concrete(a) for a in args]
        kwargs = {k: concrete(v) for k, v in kwargs.items()}
        return np_fn(*args, **kwargs)

    fn.__doc__ = (
        f"``numpy.{np_fn.__name__}`` on concrete values; the result has no derivative."
    )
    return fn


_NAMES = [
    "lexsort",
    "packbits",
    "unpackbits",
    "einsum_path",
    "isnat",
]
globals().update({name: _on_values(getattr(np, name)) for name in _NAMES})


def histogram_bin_edges(a, bins=10, range=None, weights=None):  # noqa: A002 - NumPy's name
    """``numpy.histogram_bin_edges``. Evenly spaced edges move with the data's extremes
    (or ``range``), so they are differentiable in them; explicit edges are constants."""
    values = np.asarray(concrete(a))
    edges = np.histogram_bin_edges(values, bins, range, concrete(weights))
    if np.ndim(bins) > 0 or not isinstance(a, Tracer) or range is not None:
        return edges
    lo, hi = min_(a), max_(a)
    if edges[0] != np.min(values):  # NumPy widened an empty range: +-0.5
        return edges
    return linspace(lo, hi, len(edges))


def histogram(a, bins=10, range=None, density=None, weights=None):  # noqa: A002 - NumPy's name
    """``numpy.histogram``; differentiable in ``weights`` (each bin sums its weights) and,
    through the bin edges, in the data's extremes (edges, densities).

    Which bin each value falls into is decided on concrete values, so counts have
    no derivative in the data itself.
    """
    if not isinstance(a, Tracer) and not isinstance(weights, Tracer):
        return np.histogram(a, bins, range, density, weights)
    values = np.ravel(np.asarray(concrete(a)))
    edges = histogram_bin_edges(a, bins, range)
    edges_value = np.asarray(concrete(edges))
    if not isinstance(weights, Tracer):
        counts, _ = np.histogram(values, edges_value, weights=weights)
    else:
        nbins = len(edges_value) - 1
        # bins are half-open [e_i, e_i+1) except the last, which includes its right edge
        index = np.searchsorted(edges_value, values, side="right") - 1
        index[values == edges_value[-1]] = nbins - 1
        inside = (index >= 0) & (index < nbins)
        w = as_array(weights).reshape(-1)[inside]
        zeros = backend.zeros((nbins,), w.dtype, like=weights)
        counts = at(zeros)[index[inside]].add(w)
    if density:
        counts = counts / (counts.sum() * diff(edges))
    return counts, edges


def histogramdd(sample, bins=10, range=None, density=None, weights=None):  # noqa: A002
    """``numpy.histogramdd``; edges (and densities) differentiable in the data's extremes
    per dimension, counts without derivative (weighted counts: see :func:`histogram`)."""
    if isinstance(weights, Tracer):
        raise NotImplementedError(
            "histogramdd with traced weights is not differentiable in fgrad yet; use "
            "fgrad.numpy.histogram per dimension, or compute the counts outside"
        )
    values = np.asarray(concrete(sample))
    counts, edges_value = np.histogramdd(values, bins, range, None, concrete(weights))
    if not isinstance(sample, Tracer) or np.ndim(bins) > 0 or range is not None:
        if density:
            return np.histogramdd(values, bins, range, True, concrete(weights))
        return counts, edges_value
    columns = [sample[:, d] for d in builtins.range(values.shape[1])]
    edges = [histogram_bin_edges(c, len(e) - 1) for c, e in zip(columns, edges_value)]
    if density:
        volume = 1.0
        for d, e in enumerate(edges):
            shape = [1] * len(edges)
            shape[d] = -1
            volume = volume * diff(e).reshape(shape)
        counts = counts / (counts.sum() * volume)
    return counts, edges


def histogram2d(x, y, bins=10, range=None, density=None, weights=None):  # noqa: A002
    """``numpy.histogram2d`` (see :func:`histogramdd`)."""
    if isinstance(weights, Tracer):
        raise NotImplementedError(
            "histogram2d with traced weights is not differentiable in fgrad yet; use "
            "fgrad.numpy.histogram per axis, or compute the counts outside the function"
        )
    if not (isinstance(x, Tracer) or isinstance(y, Tracer)):
        return np.histogram2d(concrete(x), concrete(y), bins, range, density, concrete(weights))
    counts, edges = histogramdd(stack([as_array(x), as_array(y)], axis=1), bins, range, density)
    return counts, edges[0], edges[1]


__all__ = [*_NAMES, "histogram", "histogram2d", "histogram_bin_edges", "histogramdd"]
