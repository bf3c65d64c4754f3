"""Mini-batches for training loops: one call is one epoch over the data.

``minibatches`` slices NumPy arrays outside any transform and yields plain
arrays, ready to pass to a pure training step::

    rng = np.random.default_rng(0)
    for epoch in range(10):
        for xb, yb in fgrad.data.minibatches((x, y), 32, rng=rng):
            params, state, loss = step(params, state, xb, yb)

The shuffling comes only from the ``rng`` passed in: the same seed gives the
same order, and successive calls with one generator give fresh orders.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["minibatches"]


def _as_array(a):
    """Arrays of any backend stay where they are (batches are then cut on their device)."""
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)


def minibatches(
    arrays: np.ndarray | Sequence[Any],
    batch_size: int,
    *,
    rng: np.random.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, ...]] | Iterator[np.ndarray]:
    """Iterate once over the examples in mini-batches (one epoch).

    Parameters
    ----------
    arrays : array or tuple/list of arrays
        Examples along the first axis, the same number in each array. A tuple
        or list gives tuples of batches (``for xb, yb in minibatches((x, y),
        32)``); a single array gives arrays, not 1-tuples.
    batch_size : int
        Examples per batch (positive).
    rng : numpy.random.Generator, optional
        Source of the shuffling order. The permutation is drawn when
        ``minibatches`` is called, so one generator used epoch after epoch gives
        a new order each epoch, reproducibly. When None and ``shuffle`` is
        True, a fresh unseeded generator is used (a different order on every
        run).
    shuffle : bool
        Visit the examples in a random order (else in their order, as views).
    drop_last : bool
        Leave out the last batch if it has fewer than ``batch_size`` examples.
        Otherwise it is kept, so every example appears exactly once per epoch.

    Returns
    -------
    iterator
        Of tuples of arrays (one per input array, in order), or of arrays for a
        single input array. Batches from a shuffled epoch are copies; the
        inputs are never modified.

    Raises
    ------
    ValueError
        If the arrays have different first dimensions, are 0-d or missing, or
        ``batch_size`` is not positive.
    TypeError
        If ``rng`` is not a ``numpy.random.Generator``.
    """
    single = not isinstance(arrays, (tuple, list))
    arrays = [_as_array(a) for a in ([arrays] if single else arrays)]
    if not arrays:
        raise ValueError("minibatches: no arrays given")
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("minibatches: every array needs a first (example) axis; got a 0-d array")
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ValueError(
            f"minibatches: arrays must have the same first dimension (number of examples), "
            f"got {lengths}"
        )
    try:
        batch_size = operator.index(batch_size)
    except TypeError:
        raise TypeError(f"minibatches: batch_size must be an int, got {batch_size!r}") from None
    if batch_size <= 0:
        raise ValueError(f"minibatches: batch_size must be positive, got {batch_size}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"minibatches: rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "create one with rng = np.random.default_rng(seed)"
        )

    n = lengths[0]
    order = None
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng()).permutation(n)
    stop = n - n % batch_size if drop_last else n

    def batches():
        for start in range(0, stop, batch_size):
            if order is None:
                index = slice(start, start + batch_size)
            else:
                index = order[start : start + batch_size]
            batch = tuple(a[index] for a in arrays)
            yield batch[0] if single else batch

    return batches()
