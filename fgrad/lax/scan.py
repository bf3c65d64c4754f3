"""The ``scan`` primitive: a loop with a trip count known while tracing, staged as one
equation whose body is traced once.

:func:`fgrad.lax.scan` and :func:`fgrad.lax.fori_loop` run as Python loops where
values are concrete (eager mode, ``grad``, ``jvp``, ``vmap``). Where the loop is
being staged (under ``jit``/``make_jaxpr``), unrolling would make the program, its
compile time and its memory grow with the trip count; they call :func:`scan_loop`
instead, with the body traced once into a :class:`TracedFunction` whose arguments
are ``(consts, carry, x)`` (the values it closed over, the carry, one slice of
``xs``) and whose results are ``(carry, y)``.

Like ``while_loop``, the loop is handled by the trace of its operands, and each rule
is a scan one level down, so the rules compose (``jit(grad(grad(f)))``,
``jit(vmap(grad(f)))``):

* ``jit``/``make_jaxpr`` record one ``scan`` equation; its impl replays the compiled
  body once per step, writing the ``y``s into preallocated stacked arrays.
* ``jvp``: a scan of the body's ``jvp``. Tangents ride along as extra carries (the
  carries whose tangent can be nonzero: traced floating-point ones, and any the body
  makes depend on them, found by a fixed point), extra ``xs`` and extra constants;
  everything else has a symbolic zero tangent.
* ``vmap``: a scan of the batched body. A carry is batched if its initial value is, or
  if the body makes it depend on a batched value (a fixed point, as in JAX).
* ``grad``/``vjp``: a forward scan that also stacks the carry entering each step, and
  one tape entry for all the results whose backward rule is a reverse scan over those
  stacked carries. Its body recomputes the step and applies that step's pullback,
  accumulating the cotangents of the constants in the carry. JAX instead stores each
  step's linearised residuals; keeping only the carries costs one more evaluation of
  the body per step in the backward pass, and stores ``trip count x carry size``
  instead of every intermediate of every step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Var
from fgrad.core.primitive import Primitive, bind_call
from fgrad.core.rules import defcall
from fgrad.core.trace_stack import new_trace
from fgrad.lax.traced_function import TracedFunction
from fgrad.primitives.structural import batch_to_front, move_axis
from fgrad.transforms.argnums import replace_at
from fgrad.transforms.batching import BatchTrace, BatchTracer
from fgrad.transforms.forward_mode import JVPTrace, JVPTracer
from fgrad.transforms.make_jaxpr import JaxprTrace, check_outputs
from fgrad.transforms.reverse_mode import GradTrace, record_joint, vjp


def _split(values: Sequence, n_consts: int, n_carry: int) -> tuple[list, list, list]:
    values = list(values)
    m = n_consts + n_carry
    return values[:n_consts], values[n_consts:m], values[m:]


def _steps(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def _scan_impl(
    *operands, body: TracedFunction, n_consts: int, n_carry: int, length: int, reverse: bool
) -> tuple:
    consts, carry, xs = _split(operands, n_consts, n_carry)
    like = next((x for x in operands if hasattr(x, "shape")), None)
    xp = backend.namespace(like)
    ys = [xp.empty((length,) + v.aval.shape, v.aval.dtype) for v in body.jaxpr.outvars[n_carry:]]
    for i in _steps(length, reverse):
        out = body(*consts, *carry, *[x[i] for x in xs])
        carry = out[:n_carry]
        for stacked, y in zip(ys, out[n_carry:]):
            stacked[i] = y
    # a carry may be a view of a slice of xs (or of a constant): results own their memory
    carry = [c.copy() if getattr(c, "base", None) is not None else c for c in carry]
    return (*carry, *ys)


def _scan_abstract_eval(
    *avals, body: TracedFunction, n_consts: int, n_carry: int, length: int, reverse: bool
) -> tuple:
    ys = [ShapedArray((length,) + v.aval.shape, v.aval.dtype) for v in body.jaxpr.outvars[n_carry:]]
    return (*avals[n_consts : n_consts + n_carry], *ys)


scan_p = Primitive("scan", _scan_impl, _scan_abstract_eval, multiple_results=True)


def _replay_with_rules(*operands, **params) -> tuple:
    """How ``eval_jaxpr`` replays a recorded scan: through :func:`scan_loop`, so that a
    transform around the replay applies the rules of this module."""
    return tuple(scan_loop(operands=list(operands), **params))


scan_p.custom_rules = _replay_with_rules


def trace_body(fun: Callable, avals: Sequence[ShapedArray], like: Sequence) -> tuple:
    """Trace ``fun`` (flat list in, flat list out) once on abstract arguments.

    Returns the :class:`TracedFunction`, whose first arguments are the values ``fun``
    closed over, and those values (the loop's constants), which may be tracers of
    enclosing transforms. ``like`` are values whose device new arrays go to.
    """
    trace = JaxprTrace()
    with backend.default_device_of(like) as trace.device, new_trace(trace):
        ins = [trace.new_input(a) for a in avals]
        outs = list(fun(*ins))
        check_outputs("scan", outs)
        closed = trace.closed(outs)
    return TracedFunction(closed), list(closed.consts)


def scan_loop(
    body: TracedFunction, operands: list, n_consts: int, n_carry: int, length: int, reverse: bool
) -> list:
    """Run the staged loop at the level of the highest trace among its operands
    (``consts``, initial ``carry``, ``xs``), by that transform's rule below; returns the
    final carry and the stacked ys."""
    return list(
        bind_call(
            scan_p,
            *operands,
            body=body,
            n_consts=n_consts,
            n_carry=n_carry,
            length=length,
            reverse=reverse,
        )
    )


def _is_float(x) -> bool:
    return get_aval(x).dtype.kind in "fc"


def _zeros_like(x):
    aval = get_aval(x)
    return backend.zeros(aval.shape, aval.dtype, like=x)


def _slice_aval(x) -> ShapedArray:
    aval = get_aval(x)
    return ShapedArray(aval.shape[1:], aval.dtype)


# -- jvp ---------------------------------------------------------------------------------


def _jvp_scan(
    trace: JVPTrace,
    *operands,
    body: TracedFunction,
    n_consts: int,
    n_carry: int,
    length: int,
    reverse: bool,
) -> list:
    own = [trace.owns(x) for x in operands]
    primals = [x.primal if o else x for x, o in zip(operands, own)]
    tangents = [x.tangent if o else None for x, o in zip(operands, own)]
    consts, carry, xs = _split(primals, n_consts, n_carry)
    const_t, carry_t, xs_t = _split(tangents, n_consts, n_carry)
    moving_consts = [k for k, c in enumerate(consts) if const_t[k] is not None and _is_float(c)]
    moving_xs = [k for k, x in enumerate(xs) if xs_t[k] is not None and _is_float(x)]
    moving_carry = {k for k, c in enumerate(carry) if carry_t[k] is not None and _is_float(c)}
    while True:  # carries whose tangent can be nonzero: a fixed point
        carry_idx = sorted(moving_carry)
        found: dict = {}
        step = functools.partial(
            _jvp_step, body, n_consts, n_carry, moving_consts, carry_idx, moving_xs, found
        )
        avals = [get_aval(c) for c in consts]
        avals += [get_aval(consts[k]).strong() for k in moving_consts]
        avals += [get_aval(c) for c in carry] + [get_aval(carry[k]).strong() for k in carry_idx]
        avals += [_slice_aval(x) for x in xs] + [_slice_aval(xs[k]) for k in moving_xs]
        traced, new_consts = trace_body(step, avals, operands)
        grown = moving_carry | {k for k in found["carry"] if _is_float(carry[k])}
        if grown == moving_carry:
            break
        moving_carry = grown
    init_t = [carry_t[k] if carry_t[k] is not None else _zeros_like(carry[k]) for k in carry_idx]
    new_operands = [
        *new_consts,
        *consts,
        *[const_t[k] for k in moving_consts],
        *carry,
        *init_t,
        *xs,
        *[xs_t[k] for k in moving_xs],
    ]
    n_new_consts = len(new_consts) + n_consts + len(moving_consts)
    n_t = len(carry_idx)
    out = scan_loop(traced, new_operands, n_new_consts, n_carry + n_t, length, reverse)
    carry_out, carry_t_out = list(out[:n_carry]), out[n_carry : n_carry + n_t]
    ys = out[n_carry + n_t :]
    n_ys = len(ys) - len(found["ys"])
    ys, ys_t = ys[:n_ys], ys[n_ys:]
    for k, t in zip(carry_idx, carry_t_out):
        carry_out[k] = JVPTracer(trace, carry_out[k], t)
    for k, t in zip(found["ys"], ys_t):
        ys[k] = JVPTracer(trace, ys[k], t)
    return carry_out + ys


def _jvp_step(body, n_consts, n_carry, moving_consts, carry_idx, moving_xs, found, *args):
    """One step of the jvp scan, on ``(consts, their tangents, carry, its tangents, x, its
    tangents)``; returns ``(carry, carry tangents, ys, nonzero y tangents)`` and notes in
    ``found`` which carry and y tangents are nonzero."""
    args = list(args)
    m = n_consts + len(moving_consts)
    consts, const_t = args[:n_consts], args[n_consts:m]
    carry, carry_t = args[m : m + n_carry], args[m + n_carry : m + n_carry + len(carry_idx)]
    rest = args[m + n_carry + len(carry_idx) :]
    n_xs = len(rest) - len(moving_xs)
    xs, xs_t = rest[:n_xs], rest[n_xs:]
    primals = [*consts, *carry, *xs]
    moving = moving_consts + [n_consts + k for k in carry_idx]
    moving += [n_consts + n_carry + k for k in moving_xs]
    trace = JVPTrace()
    with new_trace(trace):
        ins = list(primals)
        for k, t in zip(moving, [*const_t, *carry_t, *xs_t]):
            ins[k] = JVPTracer(trace, primals[k], t)
        out = body.bind_each(*ins)
        own = [trace.owns(o) for o in out]
        out_p = [o.primal if w else o for o, w in zip(out, own)]
        out_t = [o.tangent if w else None for o, w in zip(out, own)]
    found["carry"] = [k for k in range(n_carry) if out_t[k] is not None]
    found["ys"] = [k for k in range(len(out) - n_carry) if out_t[n_carry + k] is not None]
    carry_t = [out_t[k] if out_t[k] is not None else _zeros_like(out_p[k]) for k in carry_idx]
    ys_t = [out_t[n_carry + k] for k in found["ys"]]
    return [*out_p[:n_carry], *carry_t, *out_p[n_carry:], *ys_t]


def _traced(jaxpr: Jaxpr) -> TracedFunction:
    return TracedFunction(ClosedJaxpr(jaxpr, []))


# -- vmap --------------------------------------------------------------------------------


def _batched_scan(
    trace: BatchTrace,
    *operands,
    body: TracedFunction,
    n_consts: int,
    n_carry: int,
    length: int,
    reverse: bool,
) -> list:
    own = [trace.owns(x) for x in operands]
    size = trace.size
    consts, carry, xs = _split(operands, n_consts, n_carry)
    const_b, carry_b, xs_b = _split(own, n_consts, n_carry)
    consts = [move_axis(c.val, c.bdim, 0) if b else c for c, b in zip(consts, const_b)]
    xs = [move_axis(x.val, x.bdim, 1) if b else x for x, b in zip(xs, xs_b)]  # (length, batch)
    carry_vals = [move_axis(c.val, c.bdim, 0) if b else c for c, b in zip(carry, carry_b)]
    batched = {k for k, b in enumerate(carry_b) if b}
    while True:  # carries that vary over the batch: a fixed point
        found: dict = {}
        carry_in = [k in batched for k in range(n_carry)]
        step = functools.partial(
            _batched_step, body, trace, const_b + carry_in + xs_b, n_carry, batched, found
        )
        avals = [get_aval(c) for c in consts]
        avals += [
            _batch_first(c, size, b and not cb) for c, b, cb in zip(carry_vals, carry_in, carry_b)
        ]
        avals += [_slice_aval(x) for x in xs]
        traced, new_consts = trace_body(step, avals, operands)
        if set(found["carry"]) <= batched:
            break
        batched |= set(found["carry"])
    carry_vals = [
        batch_to_front(c, None, size) if k in batched and not carry_b[k] else c
        for k, c in enumerate(carry_vals)
    ]
    out = scan_loop(
        traced,
        [*new_consts, *consts, *carry_vals, *xs],
        len(new_consts) + n_consts,
        n_carry,
        length,
        reverse,
    )
    carry_out = [
        BatchTracer(trace, c, 0) if k in batched else c for k, c in enumerate(out[:n_carry])
    ]
    ys = [BatchTracer(trace, y, 1) if b else y for y, b in zip(out[n_carry:], found["ys"])]
    return carry_out + ys


def _batch_first(x, size: int, broadcast: bool) -> ShapedArray:
    """``x``'s aval, with a leading batch axis added where it is to be ``broadcast``."""
    aval = get_aval(x)
    return ShapedArray((size,) + aval.shape, aval.dtype) if broadcast else aval


def _batched_step(body, outer: BatchTrace, in_batched, n_carry, batched, found, *args):
    """One step of the batched scan on batch-first arguments, with ``outer``'s size and axis
    name; notes in ``found`` which carry results vary over the batch and which ys do."""
    size = outer.size
    trace = BatchTrace(size, outer.axis_name)
    with new_trace(trace):
        ins = [BatchTracer(trace, a, 0) if b else a for a, b in zip(args, in_batched)]
        out = body.bind_each(*ins)
        own = [trace.owns(o) for o in out]
        vals = [move_axis(o.val, o.bdim, 0) if w else o for o, w in zip(out, own)]
    found["carry"] = [k for k in range(n_carry) if own[k]]
    found["ys"] = own[n_carry:]
    carry = [
        batch_to_front(v, None, size) if k in batched and not own[k] else v
        for k, v in enumerate(vals[:n_carry])
    ]
    return [*carry, *vals[n_carry:]]


# -- grad --------------------------------------------------------------------------------


def _grad_scan(
    trace: GradTrace,
    *operands,
    body: TracedFunction,
    n_consts: int,
    n_carry: int,
    length: int,
    reverse: bool,
) -> list:
    vals, links = trace.unwrap(list(operands))
    consts, carry, xs = _split(vals, n_consts, n_carry)
    j = body.jaxpr
    carry_in = j.invars[n_consts : n_consts + n_carry]
    forward = _traced(Jaxpr([], j.invars, j.eqns, [*j.outvars, *carry_in]))
    out = scan_loop(forward, vals, n_consts, n_carry, length, reverse)
    n_out = len(j.outvars)
    results, stacked_carry = out[:n_out], out[n_out:]
    linked = {pos for pos, _ in links}
    float_carry = [k for k, c in enumerate(carry) if _is_float(c)]

    def bwd(cts: dict) -> list:
        in_cts = [None] * len(vals)
        # ys without a cotangent are left out of the reverse scan (symbolic zeros); the
        # carry's cotangent flows from step to step, so every float carry takes part.
        # Consts and xs that only unused ys read get no cotangent (not a zero one).
        float_ys = [k for k, y in enumerate(results[n_carry:]) if n_carry + k in cts]
        needed = _inputs_reaching(j, [*float_carry, *[n_carry + k for k in float_ys]])
        diff_consts = [
            k for k, c in enumerate(consts) if k in linked and k in needed and _is_float(c)
        ]
        diff_xs = [
            k
            for k, x in enumerate(xs)
            if n_consts + n_carry + k in linked & needed and _is_float(x)
        ]
        if not (float_carry or float_ys) or not (diff_consts or diff_xs or float_carry):
            return in_cts
        ct_carry = [_ct_or_zeros(cts, k, results) for k in float_carry]
        ct_ys = [cts[n_carry + k] for k in float_ys]
        acc = [_zeros_like(consts[k]) for k in diff_consts]
        avals = [get_aval(c) for c in consts] + [get_aval(c).strong() for c in ct_carry + acc]
        avals += [_slice_aval(s) for s in [*stacked_carry, *xs, *ct_ys]]
        step = functools.partial(
            _pullback_step,
            _without_effects(body),
            n_consts,
            n_carry,
            float_carry,
            float_ys,
            diff_consts,
            diff_xs,
        )
        rev_operands = [*consts, *ct_carry, *acc, *stacked_carry, *xs, *ct_ys]
        traced, captured = trace_body(step, avals, rev_operands)
        n_rev_carry = len(ct_carry) + len(acc)
        out = scan_loop(
            traced,
            [*captured, *rev_operands],
            len(captured) + n_consts,
            n_rev_carry,
            length,
            not reverse,
        )
        for k, c in zip(float_carry, out[: len(float_carry)]):
            in_cts[n_consts + k] = c
        for k, c in zip(diff_consts, out[len(float_carry) : n_rev_carry]):
            in_cts[k] = c
        for k, c in zip(diff_xs, out[n_rev_carry:]):
            in_cts[n_consts + n_carry + k] = c
        return in_cts

    return record_joint(trace, vals, links, results, bwd)


def _inputs_reaching(jaxpr: Jaxpr, outputs: list[int]) -> set[int]:
    """The positions of ``jaxpr``'s inputs that the ``outputs`` (positions) depend on."""
    live = {v for k in outputs if type(v := jaxpr.outvars[k]) is Var}
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.outvars):
            live.update(v for v in eqn.invars if type(v) is Var)
    return {k for k, v in enumerate(jaxpr.invars) if v in live}


def _without_effects(body: TracedFunction) -> TracedFunction:
    """``body`` as the backward pass recomputes it: without its effects (``debug.print``),
    which ran in the forward pass, in nested scans too."""
    eqns, changed = [], False
    for eqn in body.jaxpr.eqns:
        if eqn.prim.effectful and not eqn.outvars:  # collectives have results: they stay
            changed = True
            continue
        if eqn.prim is scan_p:
            inner = _without_effects(eqn.params["body"])
            if inner is not eqn.params["body"]:
                changed = True
                eqn = Equation(
                    eqn.prim, eqn.invars, eqn.outvars, {**eqn.params, "body": inner}, eqn.source
                )
        eqns.append(eqn)
    return _traced(Jaxpr([], body.jaxpr.invars, eqns, body.jaxpr.outvars)) if changed else body


def _ct_or_zeros(cts: dict, k: int, results: list):
    ct = cts.get(k)
    return _zeros_like(results[k]) if ct is None else ct


def _pullback_step(body, n_consts, n_carry, float_carry, float_ys, diff_consts, diff_xs, *args):
    """One step of the reverse scan: ``(consts, carry cotangents, accumulated const
    cotangents, the step's carry, x and y cotangents) -> (carry cotangents before the
    step, accumulated const cotangents, x cotangents)``."""
    n_fc, n_dc = len(float_carry), len(diff_consts)
    consts = list(args[:n_consts])
    ct_carry = list(args[n_consts : n_consts + n_fc])
    acc = list(args[n_consts + n_fc : n_consts + n_fc + n_dc])
    rest = list(args[n_consts + n_fc + n_dc :])
    carry, rest = rest[:n_carry], rest[n_carry:]
    n_xs = len(rest) - len(float_ys)
    xs, ct_ys = rest[:n_xs], rest[n_xs:]
    inputs = [*consts, *carry, *xs]
    moving = [*diff_consts, *[n_consts + k for k in float_carry]]
    moving += [n_consts + n_carry + k for k in diff_xs]

    def on_moving(*d):
        out = body.bind_each(*replace_at(inputs, moving, d))
        return [out[k] for k in float_carry] + [out[n_carry + k] for k in float_ys]

    _, pullback = vjp(on_moving, *[inputs[k] for k in moving])
    cts = pullback([*ct_carry, *ct_ys])
    ct_consts, ct_carry_before = cts[:n_dc], cts[n_dc : n_dc + n_fc]
    ct_xs = cts[n_dc + n_fc :]
    return [*ct_carry_before, *[a + c for a, c in zip(acc, ct_consts)], *ct_xs]


defcall(scan_p, jvp=_jvp_scan, grad=_grad_scan, batch=_batched_scan)
