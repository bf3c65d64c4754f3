"""``cond``, ``switch``, ``fori_loop`` and ``scan``: JAX's structured control flow, in Python.

fgrad traces Python, so these are mostly what their definitions say, written
once so that code ported from JAX runs unchanged under every transform:

* ``cond``/``switch`` with a known predicate (eager mode, ``grad``, ``jvp``) run
  only the chosen branch. With a predicate whose value is unknown (under ``jit``,
  or one example of a ``vmap`` batch) they run every branch and select the
  results with ``where``, which is what ``vmap`` of ``cond`` does in JAX too: both
  branches must then be safe to evaluate (see ``docs/where_trap.md``).
* ``fori_loop`` and ``scan`` are Python loops: their trip counts are known while
  tracing, so under ``jit`` the loop is unrolled into the compiled program (its
  size grows with the count; the replay then has no loop overhead at all).
  Unlike JAX's, the loop index ``fori_loop`` passes is a Python int.

Every loop checks that its body returns a carry of the same pytree structure,
shapes and dtypes as it was given, as JAX does, so a dtype that drifts from one
iteration to the next is an error at the first iteration, not a silent promotion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fgrad.core.abstract import get_aval
from fgrad.core.errors import ConcretizationError, ShapeError
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.tracer import known_value
from fgrad.numpy_api.creation import zeros
from fgrad.numpy_api.indexing import take
from fgrad.numpy_api.manipulation import stack
from fgrad.numpy_api.ufuncs import clip, where


def check_same_types(what: str, got, want, got_name: str, want_name: str) -> None:
    """Raise a TypeError unless ``got`` has ``want``'s pytree structure, shapes and dtypes."""
    got_flat, got_tree = tree_flatten(got)
    want_flat, want_tree = tree_flatten(want)
    if got_tree != want_tree:
        raise TypeError(
            f"{what}: {got_name} has structure {got_tree}, but {want_name} has {want_tree}; "
            "they must match"
        )
    for k, (g, w) in enumerate(zip(got_flat, want_flat)):
        ga, wa = get_aval(g), get_aval(w)
        if ga.shape != wa.shape:
            raise TypeError(
                f"{what}: leaf {k} of {got_name} is {ga.str_short()}, but {want_name} has "
                f"{wa.str_short()} there; they must have the same shape"
            )
        if ga.dtype != wa.dtype:
            raise TypeError(
                f"{what}: leaf {k} of {got_name} is {ga.str_short()}, but {want_name} has "
                f"{wa.str_short()} there; they must have the same dtype (give the initial "
                "value the dtype the function returns, e.g. np.float32(0.0), or convert "
                "inside the function with .astype)"
            )


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


def _static_int(what: str, x) -> int:
    value = known_value(x)
    if value is None:
        raise ConcretizationError(
            f"{what} must be known while tracing: fgrad runs the loop in Python (unrolled "
            "under jit). Pass the bound as a static argument (jit(f, static_argnums=...)), "
            "or use fgrad.lax.while_loop for a trip count that depends on traced values."
        )
    return int(value)


def fori_loop(lower, upper, body_fun: Callable, init_val) -> Any:
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)`` (``jax.lax.fori_loop``).

    Parameters
    ----------
    lower, upper
        The bounds: integers known while tracing (under ``jit``: Python ints or
        static arguments).
    body_fun
        ``body_fun(i, val) -> val``, returning the same structure, shapes and dtypes;
        ``i`` is a Python int.
    init_val
        The initial carry, a pytree of arrays.

    Returns
    -------
    The final carry.

    Examples
    --------
    >>> fgrad.lax.fori_loop(0, 10, lambda i, x: x - 0.1 * fgrad.grad(loss)(x), x0)
    """
    start = _static_int("fori_loop's lower bound", lower)
    stop = _static_int("fori_loop's upper bound", upper)
    val = init_val
    for i in range(start, stop):
        new = body_fun(i, val)
        check_same_types("fori_loop", new, val, "body_fun's result", "the carry it was given")
        val = new
    return val


def scan(
    f: Callable,
    init,
    xs=None,
    length: int | None = None,
    reverse: bool = False,
) -> tuple[Any, Any]:
    """Loop over the leading axis of ``xs`` carrying state, stacking the outputs
    (``jax.lax.scan``).

    Parameters
    ----------
    f
        ``f(carry, x) -> (carry, y)``: the carry keeps its structure, shapes and
        dtypes; ``x`` is one slice of ``xs`` (``None`` if ``xs`` is None).
    init
        The initial carry, a pytree of arrays.
    xs
        A pytree of arrays with a common leading length, or None (then give
        ``length``).
    length
        The number of steps, when ``xs`` is None (checked against ``xs`` otherwise).
    reverse
        Run from the last slice to the first (the outputs stay in ``xs``'s order).

    Returns
    -------
    (carry, ys)
        The final carry and the ``y``s stacked along a new leading axis.

    Examples
    --------
    >>> def step(h, x):
    ...     h = fnp.tanh(h @ W + x @ U)
    ...     return h, h
    >>> h_last, hs = fgrad.lax.scan(step, h0, xs)     # an RNN over xs's first axis
    """
    xs_flat, xs_tree = tree_flatten(xs)
    lengths = {int(get_aval(x).shape[0]) if get_aval(x).shape else None for x in xs_flat}
    if None in lengths:
        raise ShapeError("scan: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise ShapeError(
            f"scan: the leading axes of xs (and length) must agree, got {sorted(lengths)}"
            if lengths
            else "scan: with xs=None, give the number of steps as length="
        )
    (n,) = lengths
    carry, ys = init, []
    for i in reversed(range(n)) if reverse else range(n):
        x = tree_unflatten(xs_tree, [leaf[i] for leaf in xs_flat])
        new, y = f(carry, x)
        check_same_types("scan", new, carry, "f's carry", "the carry it was given")
        carry = new
        ys.append(y)
    if reverse:
        ys.reverse()
    if n == 0:
        return carry, _empty_outputs(f, init, xs_flat, xs_tree)
    return carry, tree_map(lambda *leaves: stack(leaves), *ys)


def map(f: Callable, xs) -> Any:  # noqa: A001 - JAX's name
    """``stack([f(x) for x in xs])`` over the leading axis of a pytree ``xs``, one slice
    at a time (``jax.lax.map``): a :func:`scan` without a carry.

    Unlike ``vmap``, each slice runs separately, so memory holds one slice's
    intermediates; under ``jit`` the loop is unrolled.
    """
    return scan(lambda carry, x: (carry, f(x)), None, xs)[1]


def _empty_outputs(f: Callable, init, xs_flat: list, xs_tree):
    """The stacked outputs of zero steps: ``f``'s output shapes, traced, with length 0."""
    from fgrad.core.make_jaxpr import make_jaxpr

    slices = [zeros(get_aval(x).shape[1:], get_aval(x).dtype) for x in xs_flat]
    example = tree_unflatten(xs_tree, slices)
    closed = make_jaxpr(lambda c, x: f(c, x)[1])(init, example)
    leaves = [zeros((0,) + v.aval.shape, v.aval.dtype) for v in closed.jaxpr.outvars]
    return tree_unflatten(closed.out_tree, leaves)
