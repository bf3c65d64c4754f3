"""``while_loop``: a loop whose trip count may depend on traced values.

Where the predicate's value is known (eager mode, ``grad``, ``jvp``) the loop runs
in Python and is differentiable in both modes (JAX's ``while_loop`` has no reverse
mode). Under ``vmap`` each example has its own predicate, but the batch's values
are known: the loop runs in Python while any example's predicate holds, and an
example that is done keeps its carry (``where``), still differentiable in both
modes. Under ``jit`` the predicate has no value; ``cond_fun`` and ``body_fun`` are
traced once into jaxprs, and the loop is handled by what is tracing it:

* ``jit``/``make_jaxpr`` record one ``while_loop`` primitive; its impl runs the
  two compiled replays (:mod:`fgrad.transforms.codegen`) until the predicate is false.
* ``vmap`` inside ``jit`` records the batched loop: running while any example's
  predicate holds, masking the examples that are done, as in JAX.
* ``jvp`` carries the tangents alongside, through ``jvp`` of the body.
* ``grad``/``vjp`` refuse with an explanation: the backward pass needs every
  iteration's values, and their number is only decided at run time.

The loop binds ``while_loop_p`` with ``bind_call``; the three transform rules
(registered with ``defcall``, applied by the top trace's ``process_call``) are written
as ``while_loop`` calls one level down, so they compose: ``jit(vmap(f))`` batches
first and then records the batched loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fgrad.core.abstract import get_aval
from fgrad.core.errors import ShapeError, TransformError
from fgrad.core.primitive import Primitive, bind_call
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.rules import defcall
from fgrad.core.tracer import Tracer, known_value
from fgrad.lax.checks import check_same_types, promoting_weak_carry
from fgrad.lax.traced_function import TracedFunction
from fgrad.numpy.manipulation import reshape
from fgrad.numpy.reductions import any as any_
from fgrad.numpy.ufuncs import where
from fgrad.primitives.structural import batch_to_front
from fgrad.transforms.argnums import replace_at
from fgrad.transforms.batching import BatchTrace, BatchTracer
from fgrad.transforms.forward_mode import JVPTrace, JVPTracer, jvp
from fgrad.transforms.make_jaxpr import make_jaxpr
from fgrad.transforms.reverse_mode import GradTrace, record_joint
from fgrad.transforms.vmap import vmap


def _while_impl(*operands, cond: TracedFunction, body: TracedFunction) -> tuple:
    cond_consts = operands[: cond.n_consts]
    body_consts = operands[cond.n_consts : cond.n_consts + body.n_consts]
    carry = list(operands[cond.n_consts + body.n_consts :])
    while cond(*cond_consts, *carry)[0]:
        carry = body(*body_consts, *carry)
    return tuple(carry)


def _while_abstract_eval(*avals, cond: TracedFunction, body: TracedFunction) -> tuple:
    return tuple(avals[cond.n_consts + body.n_consts :])


while_loop_p = Primitive("while_loop", _while_impl, _while_abstract_eval, multiple_results=True)


def _replay_with_rules(*operands, cond: TracedFunction, body: TracedFunction) -> tuple:
    """How ``eval_jaxpr`` replays a recorded loop: through :func:`while_loop`, so that a
    transform around the replay applies the rules of this module."""
    cond_consts = operands[: cond.n_consts]
    body_consts = operands[cond.n_consts : cond.n_consts + body.n_consts]
    carry = list(operands[cond.n_consts + body.n_consts :])
    out = while_loop(
        lambda c: cond.bind_each(*cond_consts, *c)[0],
        lambda c: body.bind_each(*body_consts, *c),
        carry,
    )
    return tuple(out)


while_loop_p.custom_rules = _replay_with_rules


def while_loop(cond_fun: Callable, body_fun: Callable, init_val) -> Any:
    """``val = body_fun(val)`` while ``cond_fun(val)`` (``jax.lax.while_loop``).

    Parameters
    ----------
    cond_fun
        ``cond_fun(val) -> scalar bool``.
    body_fun
        ``body_fun(val) -> val``, returning the same pytree structure, shapes and dtypes.
    init_val
        The initial carry, a pytree of arrays.

    Returns
    -------
    The final carry.

    Notes
    -----
    Differentiable in both modes where the predicate's value is known (eagerly);
    under ``jit``, ``jvp`` works and ``grad`` raises (see the module docstring).

    Examples
    --------
    >>> def newton_sqrt(a):
    ...     step = lambda x: 0.5 * (x + a / x)
    ...     return fgrad.lax.while_loop(lambda x: fnp.abs(step(x) - x) > 1e-12, step, a)
    """
    return promoting_weak_carry(lambda v: _while_loop(cond_fun, body_fun, v), init_val)


def _while_loop(cond_fun: Callable, body_fun: Callable, val):
    while True:
        pred = cond_fun(val)
        known = _predicate(pred)
        if known is None:
            if _batch_of(pred) is None:
                return _staged(cond_fun, body_fun, val)
            return _masked(cond_fun, body_fun, val)
        if not known:
            return val
        new = body_fun(val)
        check_same_types("while_loop", new, val, "body_fun's result", "the carry it was given")
        val = new


def _batch_of(pred):
    """The concrete values below a ``vmap`` tracer (the whole batch's predicates), or None
    where there are none (under ``jit``)."""
    while isinstance(pred, Tracer):
        pred = pred.value_below()
    return pred


def _masked(cond_fun: Callable, body_fun: Callable, val):
    """The loop for one example of a concrete ``vmap`` batch: it runs while any example's
    predicate holds, and an example that is done keeps its carry. Written with ``where``
    at this level, so every transform in between, ``grad`` included, sees ordinary
    operations."""
    while True:
        pred = cond_fun(val)
        if not any_(_batch_of(pred)):
            return val
        new = body_fun(val)
        check_same_types("while_loop", new, val, "body_fun's result", "the carry it was given")
        val = tree_map(functools.partial(where, pred), new, val)


def _predicate(pred) -> bool | None:
    aval = get_aval(pred)
    if aval.shape != ():
        raise ShapeError(
            f"while_loop: cond_fun must return a scalar, got {aval.str_short()}; reduce it "
            "with fnp.any or fnp.all"
        )
    value = known_value(pred)
    return None if value is None else bool(value)


def _staged(cond_fun: Callable, body_fun: Callable, init_val):
    """The loop for a predicate whose value is unknown: traced once, then bound."""
    flat, tree = tree_flatten(init_val)

    def flat_body(*carry):
        out = body_fun(tree_unflatten(tree, list(carry)))
        check_same_types("while_loop", out, init_val, "body_fun's result", "the initial carry")
        return tree_flatten(out)[0]

    cond = make_jaxpr(lambda *carry: cond_fun(tree_unflatten(tree, list(carry))))(*flat)
    body = make_jaxpr(flat_body)(*flat)
    out = _loop(TracedFunction(cond), cond.consts, TracedFunction(body), body.consts, flat)
    return tree_unflatten(tree, out)


def _loop(cond: TracedFunction, cond_consts, body: TracedFunction, body_consts, carry) -> list:
    """Run the traced loop at the level of the highest trace among its operands, by that
    transform's rule below."""
    operands = [*cond_consts, *body_consts, *carry]
    return list(bind_call(while_loop_p, *operands, cond=cond, body=body))


def _grad_loop(trace: GradTrace, *operands, cond: TracedFunction, body: TracedFunction) -> list:
    """The loop runs one level down; its results go on the tape with a backward rule that
    refuses. A loop whose results no cotangent reaches (dead, or only feeding integer
    work) is therefore fine under ``grad``, as in JAX, which drops it."""
    vals, links = trace.unwrap(list(operands))
    cond_consts, body_consts, carry = _split(vals, cond, body)
    out = _loop(cond, cond_consts, body, body_consts, carry)
    return record_joint(trace, vals, links, out, _refuse_reverse_mode)


def _refuse_reverse_mode(cts):
    raise TransformError(
        "while_loop: reverse-mode differentiation (grad, vjp) of a loop whose condition "
        "is not known while tracing (under jit) is not supported: the backward pass "
        "needs every iteration's values, and their number is only decided at run time. "
        "Differentiate outside jit (eager grad of while_loop works), or give the loop "
        "a trip count known while tracing: fgrad.lax.scan, or fori_loop with bounds "
        "that are Python ints or static arguments (jit(f, static_argnums=...)); a "
        "fori_loop whose bound is traced is a while_loop."
    )


def _split(values: list, cond: TracedFunction, body: TracedFunction) -> tuple[list, list, list]:
    k = cond.n_consts
    m = k + body.n_consts
    return values[:k], values[k:m], values[m:]


def _jvp_loop(trace: JVPTrace, *operands, cond: TracedFunction, body: TracedFunction) -> list:
    """Tangents of the floating-point carries ride along: the body becomes its ``jvp``."""
    primals, tangents = trace.unzip(operands)
    cond_consts, body_consts, carry = _split(primals, cond, body)
    _, body_const_tangents, carry_tangents = _split(tangents, cond, body)
    n, m = len(carry), len(body_consts)
    floats = [k for k, c in enumerate(carry) if get_aval(c).dtype.kind in "fc"]
    # the body's float arguments, constants then carries: what the jvp moves
    moving = [k for k, c in enumerate(body_consts) if get_aval(c).dtype.kind in "fc"]
    n_const_moving = len(moving)
    moving += [m + k for k in floats]

    def body_jvp(state):
        args, carried = [*body_consts, *state[:n]], state[n:]
        out, t_out = jvp(
            lambda *xs: body.bind_each(*replace_at(args, moving, xs)),
            [args[k] for k in moving],
            [body_const_tangents[k] for k in moving[:n_const_moving]] + list(carried),
        )
        return list(out) + [t_out[k] for k in floats]

    state = while_loop(
        lambda s: cond.bind_each(*cond_consts, *s[:n])[0],
        body_jvp,
        list(carry) + [carry_tangents[k] for k in floats],
    )
    out = list(state[:n])
    for j, k in enumerate(floats):
        out[k] = JVPTracer(trace, out[k], state[n + j])
    return out


def _batched_loop(trace: BatchTrace, *operands, cond: TracedFunction, body: TracedFunction):
    """One loop for the whole batch, running while any example's predicate holds."""
    vals, axes = trace.unbatch(operands)
    cond_consts, body_consts, carry = _split(vals, cond, body)
    cond_axes, body_axes, carry_axes = _split(axes, cond, body)
    carry = [batch_to_front(c, a, trace.size) for c, a in zip(carry, carry_axes)]
    ones = (0,) * len(carry)
    name = trace.axis_name
    preds = vmap(lambda *a: cond.bind_each(*a)[0], in_axes=(*cond_axes, *ones), axis_name=name)
    steps = vmap(lambda *a: tuple(body.bind_each(*a)), in_axes=(*body_axes, *ones), axis_name=name)

    def body_masked(state):
        going = preds(*cond_consts, *state)
        new = steps(*body_consts, *state)
        return [
            where(reshape(going, going.shape + (1,) * (s.ndim - 1)), x, s)
            for x, s in zip(new, state)
        ]

    out = while_loop(lambda s: any_(preds(*cond_consts, *s)), body_masked, carry)
    return [BatchTracer(trace, o, 0) for o in out]


defcall(while_loop_p, jvp=_jvp_loop, grad=_grad_loop, batch=_batched_loop)
