"""``cond`` and ``switch``: JAX's structured branching.

With a known predicate (eager mode, ``grad``, ``jvp``) only the chosen branch
runs. With a predicate whose value is unknown (under ``jit``, or one example of a
``vmap`` batch) every branch runs and the results are selected with ``where``,
which is what ``vmap`` of ``cond`` does in JAX too: both branches must then be
safe to evaluate (see ``docs/where_trap.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fgrad.core.abstract import get_aval
from fgrad.core.errors import ShapeError
from fgrad.core.pytree import tree_map
from fgrad.core.tracer import known_value
from fgrad.lax.checks import check_same_types
from fgrad.numpy_api.indexing import take
from fgrad.numpy_api.manipulation import stack
from fgrad.numpy_api.ufuncs import clip, where


def _scalar_predicate(what: str, pred):
    """``pred`` as a known Python bool, or None when its value is unknown; checks its shape."""
    shape = get_aval(pred).shape
    if shape != ():
        raise ShapeError(
            f"{what}: the predicate must be a scalar, got shape {shape}; for an elementwise "
            "choice use fgrad.numpy.where"
        )
    value = known_value(pred)
    return None if value is None else bool(value)


def _select(index, branch_outputs: list, names: list[str], what: str):
    """``branch_outputs[index]`` leaf by leaf, for an index whose value is unknown."""
    for out, name in zip(branch_outputs[1:], names[1:]):
        check_same_types(what, out, branch_outputs[0], name, names[0])
    if len(branch_outputs) == 2:  # cond: where(pred, true, false)
        return tree_map(lambda t, f: where(index, t, f), *branch_outputs)
    return tree_map(lambda *leaves: take(stack(leaves), index, axis=0), *branch_outputs)


def cond(pred, true_fun: Callable, false_fun: Callable, *operands) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)`` (``jax.lax.cond``).

    Parameters
    ----------
    pred
        A scalar: a Python bool, or an array or tracer of shape ``()``.
    true_fun, false_fun
        Functions of ``operands`` returning pytrees of the same structure, shapes
        and dtypes.
    *operands
        Their arguments.

    Returns
    -------
    The chosen branch's result. Where ``pred``'s value is unknown (``jit``, ``vmap``)
    both branches run and the result is selected with ``where``.

    Examples
    --------
    >>> fgrad.lax.cond(x > 0, lambda x: x, lambda x: -x, x)
    """
    known = _scalar_predicate("cond", pred)
    if known is not None:
        return (true_fun if known else false_fun)(*operands)
    outs = [true_fun(*operands), false_fun(*operands)]
    return _select(pred, outs, ["true_fun's result", "false_fun's result"], "cond")


def switch(index, branches: Sequence[Callable], *operands) -> Any:
    """``branches[index](*operands)``, the index clamped into range (``jax.lax.switch``).

    Parameters
    ----------
    index
        A scalar integer (Python int, array or tracer).
    branches
        Functions of ``operands`` returning pytrees of the same structure, shapes
        and dtypes.
    *operands
        Their arguments.

    Returns
    -------
    The chosen branch's result; all branches run and the result is selected where
    ``index``'s value is unknown (``jit``, ``vmap``).
    """
    branches = list(branches)
    if not branches:
        raise ValueError("switch: branches must name at least one function")
    aval = get_aval(index)
    if aval.shape != () or aval.dtype.kind not in "biu":
        raise TypeError(f"switch: the index must be a scalar integer, got {aval.str_short()}")
    value = known_value(index)
    if value is not None:
        return branches[int(np.clip(value, 0, len(branches) - 1))](*operands)
    outs = [branch(*operands) for branch in branches]
    names = [f"branch {k}'s result" for k in range(len(branches))]
    return _select(clip(index, 0, len(branches) - 1), outs, names, "switch")
