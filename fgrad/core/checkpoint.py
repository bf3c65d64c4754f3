"""``checkpoint``: trade compute for memory in reverse mode (rematerialisation).

Under ``grad``/``vjp`` a checkpointed function runs without recording its
intermediate values; the tape keeps only its inputs and outputs. When the
backward pass reaches it, the function runs again under ``vjp``, restricted to the
outputs that received a cotangent, and that fresh pullback supplies the cotangents
(once per backward pass, however many outputs are used; an unused output's
derivative is never computed, so an infinite one cannot turn into NaN). Peak
memory of a deep chain of checkpointed blocks is then set by one block rather than
the whole chain. Other transforms simply call the function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fgrad.core.argnums import replace_at
from fgrad.core.custom_derivatives import record_joint, unwrap_own
from fgrad.core.primitive import top_trace
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.reverse_mode import GradTrace, vjp


def checkpoint(fun: Callable) -> Callable:
    """Wrap ``fun`` so that reverse mode recomputes its intermediates instead of storing them.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``.

    Returns
    -------
    Callable
        A function with the same values and derivatives as ``fun``.

    Examples
    --------
    >>> block = fgrad.checkpoint(lambda x: fnp.tanh(x @ W) + x)
    >>> fgrad.grad(lambda x: fnp.sum(block(block(x))))(x0)   # same gradient, less memory
    """

    @functools.wraps(fun)
    def checkpointed(*args):
        flat, in_tree = tree_flatten(args)
        trace = top_trace(flat)
        if not isinstance(trace, GradTrace):
            return fun(*args)
        vals, links = unwrap_own(trace, flat)
        out_flat, out_tree = tree_flatten(fun(*tree_unflatten(in_tree, vals)))
        traced = [pos for pos, _ in links]

        def bwd(cts: dict) -> list:
            reached = sorted(cts)

            def on_traced(*xs):  # only the reached outputs: the others have no cotangent
                out = tree_flatten(fun(*tree_unflatten(in_tree, replace_at(vals, traced, xs))))
                return [out[0][k] for k in reached]

            _, pullback = vjp(on_traced, *[vals[pos] for pos in traced])
            in_cts = pullback([cts[k] for k in reached])
            return replace_at([None] * len(vals), traced, in_cts)

        return tree_unflatten(out_tree, record_joint(trace, vals, links, out_flat, bwd))

    return checkpointed
