"""``fgrad.ops``: segment reductions, as JAX's ``jax.ops``.

``segment_sum(data, segment_ids, num_segments)`` adds the rows of ``data`` that share a
segment id (``out[segment_ids[i]] += data[i]``), the way graph networks pool messages
per node; ``segment_max``, ``segment_min`` and ``segment_prod`` reduce likewise. The sum
is ``fnp.at(zeros)[segment_ids].add(data)``; the others reduce a table of the rows
masked by segment membership (``num_segments`` times the data's size, which needs no
concrete ids under ``jit``). Every transform differentiates and batches them. As in JAX,
ids outside ``[0, num_segments)`` are dropped and an empty segment holds the identity
(0, 1, ``-inf``/``+inf``, or the integer extremes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.core.tracer import concrete

Array = Any


def _identity(dtype: np.dtype, kind: str) -> Any:
    if kind == "add":
        return 0
    if kind == "multiply":
        return 1
    low = kind == "max"  # the identity of max is the lowest value
    if dtype.kind == "f" or dtype.kind == "c":
        return -np.inf if low else np.inf
    if dtype.kind == "b":
        return not low
    info = np.iinfo(dtype)
    return info.min if low else info.max


def _segment(data: Array, segment_ids: Array, num_segments: int | None, kind: str) -> Array:
    data = fnp.asarray(data)
    ids = fnp.asarray(segment_ids)
    if num_segments is None:  # as JAX: only from concrete ids (not under jit)
        num_segments = int(np.max(concrete(ids))) + 1 if np.size(ids) else 0
    num_segments = int(num_segments)
    fill = fnp.asarray(_identity(np.dtype(data.dtype), kind), dtype=data.dtype)
    rest = tuple(data.shape[ids.ndim :])
    ids = fnp.reshape(ids, (-1,))
    data = fnp.reshape(data, (ids.shape[0],) + rest)
    if kind == "add":  # a scatter-add: fgrad's .at[].add takes traced ids under every transform
        valid = (ids >= 0) & (ids < num_segments)
        mask = fnp.reshape(valid, valid.shape + (1,) * len(rest))
        out = fnp.zeros((num_segments,) + rest, dtype=data.dtype)
        return fnp.at(out)[fnp.where(valid, ids, 0)].add(fnp.where(mask, data, fill))
    # the others reduce a (segments, rows) table masked by membership: .at[].max needs
    # concrete ids under jit, and out-of-range ids simply match no segment here
    member = ids[None, :] == fnp.arange(num_segments)[:, None]
    member = fnp.reshape(member, member.shape + (1,) * len(rest))
    table = fnp.where(member, data[None], fill)
    reduce = {"multiply": fnp.prod, "max": fnp.max, "min": fnp.min}[kind]
    return reduce(table, axis=1)


def segment_sum(
    data: Array,
    segment_ids: Array,
    num_segments: int | None = None,
    indices_are_sorted: bool = False,
    unique_indices: bool = False,
    **kwargs: Any,
) -> Array:
    """The sum of the rows of ``data`` in each segment: ``out[k] = sum(data[ids == k])``.

    Parameters
    ----------
    data
        An array whose leading axes match ``segment_ids``.
    segment_ids
        Integer ids, one per leading entry of ``data``; ids outside
        ``[0, num_segments)`` are dropped.
    num_segments
        The number of segments, which sets the output's leading size. Left out, it is
        ``max(segment_ids) + 1``, which needs concrete ids (give it under ``jit``).
    indices_are_sorted, unique_indices, **kwargs
        Accepted for JAX compatibility (hints fgrad does not need).

    Returns
    -------
    array
        Shape ``(num_segments,) + data.shape[segment_ids.ndim:]``.

    Examples
    --------
    >>> fgrad.ops.segment_sum(np.array([1.0, 2.0, 3.0]), np.array([0, 0, 2]), 3)
    array([3., 0., 3.])
    """
    return _segment(data, segment_ids, num_segments, "add")


def segment_prod(
    data: Array,
    segment_ids: Array,
    num_segments: int | None = None,
    indices_are_sorted: bool = False,
    unique_indices: bool = False,
    **kwargs: Any,
) -> Array:
    """The product of the rows of ``data`` in each segment (1 for an empty one); see
    :func:`segment_sum`."""
    return _segment(data, segment_ids, num_segments, "multiply")


def segment_max(
    data: Array,
    segment_ids: Array,
    num_segments: int | None = None,
    indices_are_sorted: bool = False,
    unique_indices: bool = False,
    **kwargs: Any,
) -> Array:
    """The maximum of the rows of ``data`` in each segment (``-inf`` for an empty one);
    see :func:`segment_sum`."""
    return _segment(data, segment_ids, num_segments, "max")


def segment_min(
    data: Array,
    segment_ids: Array,
    num_segments: int | None = None,
    indices_are_sorted: bool = False,
    unique_indices: bool = False,
    **kwargs: Any,
) -> Array:
    """The minimum of the rows of ``data`` in each segment (``+inf`` for an empty one);
    see :func:`segment_sum`."""
    return _segment(data, segment_ids, num_segments, "min")


__all__ = ["segment_max", "segment_min", "segment_prod", "segment_sum"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
