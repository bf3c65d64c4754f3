"""NumPy functions whose results carry no derivative, computed on concrete values.

Integer and bit operations (``gcd``, ``bitwise_and``, ``left_shift``, ...), sort
keys (``lexsort``) and histogram counts have zero derivative wherever they have
one. Inside ``grad`` and ``jvp`` the values are known, so these run NumPy's own
function on them (on the arrays' backend) and return plain arrays, exactly as
fgrad's non-differentiable primitives do. Under ``make_jaxpr`` there is no value
and they raise :class:`fgrad.ConcretizationError`.

``histogram`` is the exception that proves the rule: its counts are constant in
the data, but linear in ``weights``, so weighted histograms are differentiable
in the weights (the bins, chosen from the data, carry no derivative).
"""

from __future__ import annotations

import functools

import numpy as np

from fgrad.core import backend
from fgrad.core.tracer import Tracer
from fgrad.numpy_api.creation import as_array
from fgrad.numpy_api.indexing import at


def concrete(x):
    """The value behind a traced ``x`` (``x`` itself if it is not traced)."""
    return x.concrete_value() if isinstance(x, Tracer) else x


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
    "gcd",
    "lcm",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_invert",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "bitwise_count",
    "invert",
    "left_shift",
    "right_shift",
    "lexsort",
    "packbits",
    "unpackbits",
    "histogram_bin_edges",
    "spacing",
]
globals().update({name: _on_values(getattr(np, name)) for name in _NAMES})


def histogram(a, bins=10, range=None, density=None, weights=None):  # noqa: A002 - NumPy's name
    """``numpy.histogram``; differentiable in ``weights`` (each bin sums its weights).

    The bin edges depend on the data only through comparisons, so neither they
    nor unweighted counts have a derivative.
    """
    values = concrete(a)
    if not isinstance(weights, Tracer):
        return np.histogram(values, bins, range, density, concrete(weights))
    edges = np.histogram_bin_edges(values, bins, range)
    values = np.ravel(values)
    nbins = len(edges) - 1
    # bins are half-open [e_i, e_i+1) except the last, which includes its right edge
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = nbins - 1
    inside = (index >= 0) & (index < nbins)
    w = as_array(weights).reshape(-1)[inside]
    counts = at(backend.zeros((nbins,), w.dtype, like=concrete(weights)))[index[inside]].add(w)
    if density:
        counts = counts / (counts.sum() * np.diff(edges))
    return counts, edges


def histogram2d(x, y, bins=10, range=None, density=None, weights=None):  # noqa: A002
    """``numpy.histogram2d`` on concrete values (weighted counts: see :func:`histogram`)."""
    if isinstance(weights, Tracer):
        raise NotImplementedError(
            "histogram2d with traced weights is not differentiable in fgrad yet; use "
            "fgrad.numpy.histogram per axis, or compute the counts outside the function"
        )
    return np.histogram2d(concrete(x), concrete(y), bins, range, density, concrete(weights))


def histogramdd(sample, bins=10, range=None, density=None, weights=None):  # noqa: A002
    """``numpy.histogramdd`` on concrete values (weighted counts: see :func:`histogram`)."""
    if isinstance(weights, Tracer):
        raise NotImplementedError(
            "histogramdd with traced weights is not differentiable in fgrad yet"
        )
    return np.histogramdd(concrete(sample), bins, range, density, concrete(weights))


__all__ = [*_NAMES, "histogram", "histogram2d", "histogramdd"]
