"""``ravel_pytree``: a pytree of arrays as one flat vector, and the way back.

Useful to hand gradients to optimisers that want a vector (``scipy.optimize``)
and to form full Hessians of functions of pytrees.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.abstract import get_aval
from fgrad.core.pytree import tree_flatten, tree_unflatten


def ravel_pytree(tree) -> tuple[object, Callable]:
    """Flatten a pytree of arrays into a 1-D array and return the inverse function.

    Parameters
    ----------
    tree
        A pytree whose leaves are arrays or scalars (traced values are fine).

    Returns
    -------
    flat, unravel
        ``flat`` concatenates every leaf, raveled, in ``tree_leaves`` order, in
        the leaves' common result dtype. ``unravel(v)`` splits a vector of that
        length back into the tree, each leaf with its original shape and dtype.
        Both are differentiable.
    """
    leaves, treedef = tree_flatten(tree)
    avals = [get_aval(x) for x in leaves]
    sizes = [a.size for a in avals]
    dtype = np.result_type(*[a.dtype for a in avals]) if avals else np.dtype(np.float64)
    if leaves:
        flat = fnp.concatenate([fnp.ravel(fnp.asarray(x, dtype)) for x in leaves])
    else:
        flat = np.zeros(0, dtype)
    ends = np.cumsum(sizes).tolist()
    starts = [0] + ends[:-1]
    total = int(sum(sizes))

    def unravel(vector):
        shape = tuple(np.shape(vector)) if not hasattr(vector, "shape") else vector.shape
        if shape != (total,):
            raise ValueError(
                f"unravel expects a vector of shape ({total},) for this pytree, got shape {shape}"
            )
        parts = [
            fnp.reshape(vector[s:e], a.shape).astype(a.dtype)
            for s, e, a in zip(starts, ends, avals)
        ]
        return tree_unflatten(treedef, parts)

    return flat, unravel
