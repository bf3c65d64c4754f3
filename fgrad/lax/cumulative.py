"""``associative_scan`` and the cumulative reductions of ``jax.lax``.

``associative_scan`` runs in ``ceil(log2 n)`` rounds (Hillis and Steele): round
``r`` combines every element with the one ``2**r`` places before it, so ``fn`` is
called on whole arrays, about ``log2 n`` times, and everything is
``fgrad.numpy``: differentiable, batchable, traceable. ``cummax``, ``cummin`` and
``cumlogsumexp`` are scans of ``maximum``, ``minimum`` and ``logaddexp``;
``cumsum`` and ``cumprod`` are NumPy's.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from fgrad import numpy as fnp
from fgrad.core.errors import ShapeError
from fgrad.core.pytree import tree_flatten, tree_unflatten

__all__ = ["associative_scan", "cumlogsumexp", "cummax", "cummin", "cumprod", "cumsum"]


def _slice(x, axis: int, start, stop):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def associative_scan(fn: Callable, elems, reverse: bool = False, axis: int = 0):
    """Inclusive scan of ``elems`` with an associative ``fn`` (``jax.lax.associative_scan``).

    Parameters
    ----------
    fn : callable
        ``fn(a, b)``, associative, taking and returning pytrees like ``elems`` whose
        arrays run along ``axis`` (it is called on whole slices: ``a`` holds the
        earlier elements, ``b`` the later ones).
    elems : pytree of arrays
        All of one length along ``axis``.
    reverse : bool
        Scan from the end: entry ``i`` combines entries ``i`` to ``n - 1``.
    axis : int

    Returns
    -------
    pytree like ``elems``
        Entry ``i`` is ``fn(... fn(e_0, e_1) ..., e_i)``.
    """
    leaves, treedef = tree_flatten(elems)
    leaves = [fnp.asarray(x) for x in leaves]
    if not leaves:
        return elems
    axis = operator.index(axis)
    axes = [axis % x.ndim if x.ndim else None for x in leaves]
    if None in axes:
        raise ShapeError("lax.associative_scan: the elements must have at least one axis")
    lengths = {x.shape[a] for x, a in zip(leaves, axes)}
    if len(lengths) != 1:
        raise ShapeError(
            f"lax.associative_scan: the elements must have one length along axis {axis}, "
            f"got {sorted(lengths)}"
        )
    (n,) = lengths
    if reverse:
        leaves = [fnp.flip(x, a) for x, a in zip(leaves, axes)]
    shift = 1
    while shift < n:
        earlier = tree_unflatten(
            treedef, [_slice(x, a, None, n - shift) for x, a in zip(leaves, axes)]
        )
        later = tree_unflatten(treedef, [_slice(x, a, shift, None) for x, a in zip(leaves, axes)])
        combined, out_def = tree_flatten(fn(earlier, later))
        if out_def != treedef:
            raise ShapeError(
                f"lax.associative_scan: fn must return the structure of elems ({treedef}), "
                f"got {out_def}"
            )
        leaves = [
            fnp.concatenate([_slice(x, a, None, shift), fnp.asarray(c).astype(x.dtype)], axis=a)
            for x, c, a in zip(leaves, combined, axes)
        ]
        shift *= 2
    if reverse:
        leaves = [fnp.flip(x, a) for x, a in zip(leaves, axes)]
    return tree_unflatten(treedef, leaves)


def _cumulative(name: str, fn: Callable, what: str) -> Callable:
    def cumulative(operand, axis: int = 0, reverse: bool = False):
        return associative_scan(fn, fnp.asarray(operand), reverse=reverse, axis=axis)

    cumulative.__name__ = cumulative.__qualname__ = name
    cumulative.__doc__ = f"""The running {what} along ``axis`` (``jax.lax.{name}``); from the
    end with ``reverse=True``. Differentiable, in ``operand``'s dtype."""
    return cumulative


cummax = _cumulative("cummax", fnp.maximum, "maximum (ties share the derivative)")
cummin = _cumulative("cummin", fnp.minimum, "minimum (ties share the derivative)")
cumlogsumexp = _cumulative("cumlogsumexp", fnp.logaddexp, "``log(sum(exp(x)))``")


def cumsum(operand, axis: int = 0, reverse: bool = False):
    """The running sum along ``axis`` (``jax.lax.cumsum``), in ``operand``'s dtype."""
    x = fnp.asarray(operand)
    if not reverse:
        return fnp.cumsum(x, axis=axis, dtype=x.dtype)
    return fnp.flip(fnp.cumsum(fnp.flip(x, axis), axis=axis, dtype=x.dtype), axis)


def cumprod(operand, axis: int = 0, reverse: bool = False):
    """The running product along ``axis`` (``jax.lax.cumprod``), in ``operand``'s dtype."""
    x = fnp.asarray(operand)
    if not reverse:
        return fnp.cumprod(x, axis=axis, dtype=x.dtype)
    return fnp.flip(fnp.cumprod(fnp.flip(x, axis), axis=axis, dtype=x.dtype), axis)
