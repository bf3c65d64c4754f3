"""``fori_loop``, ``scan`` and ``map``: JAX's structured loops with a known trip count.

fgrad traces Python, so these are Python loops: their trip counts are known while
tracing, so under ``jit`` the loop is unrolled into the compiled program (its
size grows with the count). Unlike JAX's, the loop index ``fori_loop`` passes is a
Python int.

Every loop checks that its body returns a carry of the same pytree structure,
shapes and dtypes as it was given, as JAX does, so a dtype that drifts from one
iteration to the next is an error at the first iteration, not a silent promotion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fgrad.core.abstract import get_aval
from fgrad.core.errors import ConcretizationError, ShapeError
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.tracer import known_value
from fgrad.lax.checks import check_same_types
from fgrad.numpy_api.creation import zeros
from fgrad.numpy_api.manipulation import stack


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
