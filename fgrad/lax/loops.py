"""``fori_loop``, ``scan`` and ``map``: JAX's structured loops with a known trip count.

Where values are concrete (eager mode, and ``grad``, ``jvp``, ``vmap`` of concrete
values) these are Python loops: nothing is faster, and every transform sees ordinary
operations. Where the loop is being staged (under ``jit`` or ``make_jaxpr``: some
trace that records without values is active), the body is traced once and the loop
becomes one ``scan`` equation (:mod:`fgrad.lax.scan`), so the program's size, its
compile time and its memory do not grow with the trip count. ``fori_loop`` then
passes the index as a traced integer scalar, as JAX does (eagerly it is a Python
int); with a bound that is not known while tracing, ``fori_loop`` becomes a
:func:`~fgrad.lax.while_loop` (forward mode works through it; reverse mode does not,
as in JAX).

Every loop checks that its body returns a carry of the same pytree structure,
shapes and dtypes as it was given, as JAX does, so a dtype that drifts from one
iteration to the next is an error at the first iteration, not a silent promotion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.errors import ShapeError
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.trace_stack import innermost_staging
from fgrad.core.tracer import known_value
from fgrad.lax.checks import check_same_types, promoting_weak_carry
from fgrad.lax.scan import scan_loop, trace_body
from fgrad.lax.while_loop import while_loop
from fgrad.numpy.conversion import asarray
from fgrad.numpy.creation import zeros
from fgrad.numpy.manipulation import stack
from fgrad.primitives.elementwise import weakly_typed
from fgrad.transforms.make_jaxpr import make_jaxpr


def _staging() -> bool:
    """Is a trace without values (``jit``, ``make_jaxpr``) active? Only then can a loop's
    operands or the values its body closes over lack a concrete value."""
    return innermost_staging() is not None


def _checked_step(body_fun: Callable, i, val):
    """``body_fun(i, val)``, which must keep the carry's structure, shapes and dtypes."""
    new = body_fun(i, val)
    check_same_types("fori_loop", new, val, "body_fun's result", "the carry it was given")
    return new


def fori_loop(lower, upper, body_fun: Callable, init_val) -> Any:
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)`` (``jax.lax.fori_loop``).

    Parameters
    ----------
    lower, upper
        The bounds, integer scalars. Where both are known while tracing the loop is a
        ``scan``; a traced bound (under ``jit``) makes it a ``while_loop``, which
        ``jvp`` differentiates and ``grad`` cannot (as in JAX).
    body_fun
        ``body_fun(i, val) -> val``, returning the same structure, shapes and dtypes;
        ``i`` is a Python int eagerly and a traced integer scalar under ``jit``.
    init_val
        The initial carry, a pytree of arrays.

    Returns
    -------
    The final carry.

    Examples
    --------
    >>> fgrad.lax.fori_loop(0, 10, lambda i, x: x - 0.1 * fgrad.grad(loss)(x), x0)
    """
    return promoting_weak_carry(lambda v: _fori_loop(lower, upper, body_fun, v), init_val)


def _fori_loop(lower, upper, body_fun: Callable, init_val) -> Any:
    start, stop = known_value(lower), known_value(upper)
    if start is None or stop is None:
        return _fori_while(lower, upper, body_fun, init_val)
    start, stop = int(start), int(stop)
    if _staging():
        index = np.asarray(start, np.result_type(get_aval(lower).dtype, get_aval(upper).dtype))[()]
        # Python int bounds: the index is a Python int, as the eager loop's (and JAX's weakly
        # typed index), so that ``val32 + i * 0.5`` stays float32
        weak = type(lower) is int and type(upper) is int

        def step(carry, _):
            i, val = carry
            return (i + 1, _checked_step(body_fun, weakly_typed(i) if weak else i, val)), None

        no_xs = tree_flatten(None)[1]
        staged = _staged_scan(step, (index, init_val), [], no_xs, max(stop - start, 0), False)
        if staged is not None:
            return staged[0][1]
    val = init_val
    for i in range(start, stop):
        val = _checked_step(body_fun, i, val)
    return val


def _fori_while(lower, upper, body_fun: Callable, init_val):
    """``fori_loop`` with a bound not known while tracing: a ``while_loop`` on the index."""
    dtype = np.result_type(get_aval(lower).dtype, get_aval(upper).dtype)
    if dtype.kind not in "iu":
        raise TypeError(
            f"fori_loop: the bounds must be integers, got {get_aval(lower).str_short()} and "
            f"{get_aval(upper).str_short()}"
        )

    def body(state):
        i, stop, val = state
        return i + 1, stop, _checked_step(body_fun, i, val)

    state = (asarray(lower, dtype), asarray(upper, dtype), init_val)
    return while_loop(lambda s: s[0] < s[1], body, state)[2]


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

    Notes
    -----
    Where values are known this is a Python loop. Under ``jit``/``make_jaxpr`` it
    is one ``scan`` equation whose body is traced once, differentiable in both
    modes and batchable (see :mod:`fgrad.lax.scan`).

    Examples
    --------
    >>> def step(h, x):
    ...     h = fnp.tanh(h @ W + x @ U)
    ...     return h, h
    >>> h_last, hs = fgrad.lax.scan(step, h0, xs)     # an RNN over xs's first axis
    """
    return promoting_weak_carry(lambda c: _scan(f, c, xs, length, reverse), init)


def _scan(f: Callable, init, xs, length: int | None, reverse: bool) -> tuple[Any, Any]:
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
    staged = _staged_scan(f, init, xs_flat, xs_tree, n, reverse) if _staging() else None
    if staged is not None:
        return staged
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


def _staged_scan(f: Callable, init, xs_flat: list, xs_tree, length: int, reverse: bool):
    """The scan as one ``scan`` equation, its body traced once; or None where every
    operand and every value the body closes over is known (a ``make_jaxpr`` trace only
    records tangents, as ``linearize`` does): then the Python loop runs, as eagerly."""
    init_flat, carry_tree = tree_flatten(init)
    n_carry = len(init_flat)
    y_tree = []

    def flat_body(*args):
        carry = tree_unflatten(carry_tree, list(args[:n_carry]))
        new, y = f(carry, tree_unflatten(xs_tree, list(args[n_carry:])))
        check_same_types("scan", new, carry, "f's carry", "the carry it was given")
        y_flat, tree = tree_flatten(y)
        y_tree.append(tree)
        return [*tree_flatten(new)[0], *y_flat]

    avals = [get_aval(c) for c in init_flat]
    avals += [ShapedArray(get_aval(x).shape[1:], get_aval(x).dtype) for x in xs_flat]
    body, consts = trace_body(flat_body, avals, [*init_flat, *xs_flat])
    if all(known_value(v) is not None for v in [*consts, *init_flat, *xs_flat]):
        return None
    out = scan_loop(body, [*consts, *init_flat, *xs_flat], len(consts), n_carry, length, reverse)
    return tree_unflatten(carry_tree, out[:n_carry]), tree_unflatten(y_tree[0], out[n_carry:])


def map(f: Callable, xs) -> Any:  # noqa: A001 - JAX's name
    """``stack([f(x) for x in xs])`` over the leading axis of a pytree ``xs``, one slice
    at a time (``jax.lax.map``): a :func:`scan` without a carry.

    Unlike ``vmap``, each slice runs separately, so memory holds one slice's
    intermediates; under ``jit`` it is one ``scan`` equation.
    """
    return scan(lambda carry, x: (carry, f(x)), None, xs)[1]


def _empty_outputs(f: Callable, init, xs_flat: list, xs_tree):
    """The stacked outputs of zero steps: ``f``'s output shapes, traced, with length 0."""
    slices = [zeros(get_aval(x).shape[1:], get_aval(x).dtype) for x in xs_flat]
    example = tree_unflatten(xs_tree, slices)
    closed = make_jaxpr(lambda c, x: f(c, x)[1])(init, example)
    leaves = [zeros((0,) + v.aval.shape, v.aval.dtype) for v in closed.jaxpr.outvars]
    return tree_unflatten(closed.out_tree, leaves)
