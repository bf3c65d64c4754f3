"""``vmap``: map a function over a batch axis without writing the loop.

``vmap(f)(xs)`` computes ``stack([f(x) for x in xs])``, but each primitive runs
once on the whole batch through its batch rule (see :mod:`fgrad.transforms.batching`).
It composes with every other transform: ``vmap(grad(loss), in_axes=(None, 0, 0))``
gives per-example gradients, ``grad(vmap(f))`` differentiates a batched function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from fgrad.core import backend
from fgrad.core.errors import TransformError
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.source_info import api_boundary
from fgrad.core.trace_stack import new_trace
from fgrad.core.tracer import Tracer
from fgrad.primitives.structural import broadcast_to, move_axis
from fgrad.transforms.batching import BatchTrace, BatchTracer

Axes = Any  # an int, None, or a pytree prefix of them


def vmap(
    fun: Callable,
    in_axes: Axes = 0,
    out_axes: Axes = 0,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
) -> Callable:
    """Vectorise ``fun`` over a batch axis of its arguments.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``, that handles
        one example.
    in_axes
        Where the batch axis is in each argument: an int for all arguments, ``None``
        for an argument shared by every example, or a tuple with one entry per
        positional argument, each an int, ``None`` or a pytree prefix of the argument
        (e.g. ``{"w": None, "b": 0}``). Negative axes count from the end. Keyword
        arguments are always mapped over axis 0, as in JAX.
    out_axes
        Where the batch axis goes in each output: an int, ``None`` (the output must
        not depend on the example), or a pytree prefix of the output.
    axis_name
        A name for the batch axis (any hashable, usually a string), so that the
        collectives of :mod:`fgrad.lax` (``psum``, ``pmean``, ``all_gather``, ...) inside
        ``fun`` can reduce over it; nested ``vmap`` calls bind different names, and a
        name refers to the innermost ``vmap`` binding it.
    axis_size
        The batch size, needed only when no argument is mapped. The positional order
        (``axis_name`` before ``axis_size``) is JAX's.

    Returns
    -------
    Callable
        The batched function. Outputs that do not depend on the example are
        broadcast along the batch axis.

    Examples
    --------
    >>> per_example = fgrad.vmap(fgrad.grad(loss), in_axes=(None, 0, 0))
    >>> grads = per_example(params, xs, ys)     # leaves of shape (batch,) + param.shape
    >>> fgrad.vmap(fnp.dot, in_axes=(0, None))(xs, w)   # one dot per row of xs
    >>> fgrad.vmap(lambda x: x / fgrad.lax.psum(x, "i"), axis_name="i")(xs)  # xs / xs.sum(0)
    """
    if axis_size is not None and (not isinstance(axis_size, int) or axis_size < 0):
        raise TransformError(f"vmap: axis_size must be a non-negative int, got {axis_size!r}")

    @api_boundary
    @functools.wraps(fun)
    def batched(*args, **kwargs):
        axes = _in_axes_per_argument(in_axes, len(args))
        flat, in_tree = tree_flatten((args, kwargs))
        flat_axes: list = []
        for k, (arg, ax) in enumerate(zip(args, axes)):
            flat_axes += broadcast_prefix(ax, arg, f"in_axes for argument {k}")
        flat_axes += [0] * (len(flat) - len(flat_axes))
        flat = [_as_array(x) if ax is not None else x for x, ax in zip(flat, flat_axes)]
        flat_axes = [_normalise_axis(x, ax, "in_axes") for x, ax in zip(flat, flat_axes)]
        size = _batch_size(flat, flat_axes, axis_size, in_tree)
        trace = BatchTrace(size, axis_name)
        with backend.default_device_of(flat), new_trace(trace):
            ins = [x if ax is None else BatchTracer(trace, x, ax) for x, ax in zip(flat, flat_axes)]
            a, kw = tree_unflatten(in_tree, ins)
            out = fun(*a, **kw)
            out_flat, out_tree = tree_flatten(out)
            dests = broadcast_prefix(out_axes, out, "out_axes")
            result = [_output(trace, o, dst) for o, dst in zip(out_flat, dests)]
        return tree_unflatten(out_tree, result)

    return batched


def _in_axes_per_argument(in_axes: Axes, nargs: int) -> list:
    if in_axes is None or isinstance(in_axes, int):
        return [in_axes] * nargs
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not isinstance(in_axes, tuple):
        raise TransformError(
            "vmap: in_axes must be an int, None, or a tuple with one entry per positional "
            f"argument, got {type(in_axes).__name__}"
        )
    if len(in_axes) != nargs:
        raise TransformError(
            f"vmap: in_axes has {len(in_axes)} entries but the function was called with "
            f"{nargs} positional arguments; give one entry (an int, None or a pytree "
            "prefix) per argument"
        )
    return list(in_axes)


def broadcast_prefix(prefix: Axes, tree, what: str) -> list:
    """One axis per leaf of ``tree``: ``prefix`` is a tree whose leaves (ints or ``None``)
    each stand for a whole subtree of ``tree``."""
    if prefix is None or isinstance(prefix, (int, np.integer)):
        return [None if prefix is None else int(prefix)] * len(tree_flatten(tree)[0])
    kids, kids_def = tree_flatten(tree, is_leaf=lambda x: x is not tree)
    pre_kids, pre_def = tree_flatten(prefix, is_leaf=lambda x: x is not prefix)
    if kids_def != pre_def:
        raise TransformError(
            f"vmap: {what} must be an int, None, or a prefix of the value's structure; "
            f"it has structure {pre_def} but the value has {kids_def}"
        )
    out: list = []
    for p, kid in zip(pre_kids, kids):
        out += broadcast_prefix(p, kid, what)
    return out


def _as_array(x):
    if isinstance(x, Tracer) or hasattr(x, "shape"):
        return x
    raise TransformError(
        f"vmap: a mapped argument must be an array, got {type(x).__name__} ({x!r}); "
        "pass it with in_axes=None to share it across the batch"
    )


def _normalise_axis(x, axis, what: str):
    if axis is None:
        return None
    ndim = len(x.shape)
    if not -ndim <= axis < ndim:
        raise TransformError(
            f"vmap: {what} asks for axis {axis} of an argument of shape {tuple(x.shape)}, "
            f"which has {ndim} axes"
        )
    return axis % ndim


def _batch_size(flat: list, axes: list, axis_size: int | None, in_tree) -> int:
    sizes = {int(x.shape[ax]) for x, ax in zip(flat, axes) if ax is not None}
    if axis_size is not None:
        sizes.add(axis_size)
    if len(sizes) == 1:
        return sizes.pop()
    if not sizes:
        raise TransformError(
            "vmap: no argument is mapped (every in_axes entry is None); pass axis_size= "
            "to say how many times to repeat the function"
        )
    listed = ", ".join(
        f"leaf {k} (shape {tuple(x.shape)}) axis {ax} has size {x.shape[ax]}"
        for k, (x, ax) in enumerate(zip(flat, axes))
        if ax is not None
    )
    extra = f"; axis_size={axis_size}" if axis_size is not None else ""
    raise TransformError(
        f"vmap: the mapped axes must all have the same size, but {listed}{extra} "
        f"(arguments {in_tree})"
    )


def _output(trace: BatchTrace, x, dst: int | None):
    if trace.owns(x):
        if dst is None:
            raise TransformError(
                "vmap: out_axes is None for an output that varies over the batch; give it "
                "a batch axis (an int) or return only values shared by every example"
            )
        return move_axis(x.val, x.bdim, _normalise_axis(x.val, dst, "out_axes"))
    if dst is None:
        return x
    x = x if isinstance(x, Tracer) or hasattr(x, "shape") else backend.asarray(x)
    shape = tuple(x.shape)
    x = broadcast_to(x, (trace.size,) + shape)
    return move_axis(x, 0, _normalise_axis(x, dst, "out_axes"))
