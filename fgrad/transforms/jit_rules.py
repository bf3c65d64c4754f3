"""A jitted function under another transform: compiled there too.

``grad(jit(f))``, ``jvp(jit(f))`` and ``vmap(jit(f))`` reach a jitted function with
tracers. Running ``f`` itself under them would be correct but eager-speed, so
where the values under the transform are concrete, the transformed function is
compiled instead, once per signature:

* under ``jvp``: ``jit`` of ``jvp`` of ``f``, and the results become forward-mode
  tracers;
* under ``vmap``: ``jit`` of ``vmap`` of ``f`` (per batch size and batch axes);
* under ``grad``/``vjp``: ``vjp`` of ``f`` is traced abstractly together with its
  pullback applied to a symbolic cotangent, one jaxpr from (inputs, cotangents) to
  (outputs, input cotangents), then split by dependence on the cotangents. The
  **forward** jaxpr holds every equation that does not depend on them and returns
  ``f``'s outputs and the *residuals* (the forward values the backward equations
  read); the **backward** jaxpr holds the rest, from residuals and cotangents to
  input cotangents. A call runs the forward replay and puts its outputs on the
  tape as one joint entry (:func:`~fgrad.transforms.custom_derivatives.record_joint`)
  whose backward rule runs the backward replay on the residuals once, with the
  cotangents of the outputs that were used: nothing is recomputed. The others are
  symbolic zeros: the backward jaxpr is pruned to the used outputs (see
  :class:`_Backward`), once per set of them. A cotangent that is itself traced
  (``jacrev`` batches the backward pass) evaluates the backward jaxpr by binding,
  so that the transform sees it.

Custom rules inside ``f`` apply while these are traced, as under ``jit(grad(f))``.
Only the innermost transform is compiled this way: when the values under it are
tracers of an enclosing transform (``grad(grad(jit(f)))``), the jitted function
runs ``f``, as it does for ``make_jaxpr``. So does an ``f`` that closes over a
tracer of an enclosing transform (see :class:`~fgrad.transforms.make_jaxpr.JitTrace`):
tracing it finds the tracer, which a compiled program could not take.

Every one of these programs is run as ``jit`` runs its own
(:func:`fgrad.transforms.fusion.program`): with numba and ``fgrad_fuse`` on, the forward
and backward replays of ``grad`` move to fused kernels after the same number of calls.

Results are fresh arrays, as from ``jit`` itself: the forward replay copies an
output that could share memory with an argument (:mod:`fgrad.transforms.codegen`), and
leaves the residuals, which only the backward replay reads, as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.errors import ConcretizationError
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Var, eval_jaxpr
from fgrad.core.primitive import CallPrimitive
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.rules import defcall
from fgrad.core.trace_stack import new_trace
from fgrad.core.tracer import Tracer
from fgrad.transforms.argnums import replace_at
from fgrad.transforms.batching import BatchTrace, BatchTracer
from fgrad.transforms.codegen import Replay
from fgrad.transforms.compile import compile_replay, run_replay, signature
from fgrad.transforms.forward_mode import JVPTrace, JVPTracer, jvp
from fgrad.transforms.fusion import TieredProgram, program
from fgrad.transforms.jit_cache import ProgramCache, Signature
from fgrad.transforms.make_jaxpr import JitTrace, check_outputs
from fgrad.transforms.optimize import optimize
from fgrad.transforms.reverse_mode import GradTrace, record_joint, vjp
from fgrad.transforms.vmap import vmap


class CompiledVJP:
    """The forward and backward replays of one jitted function at one signature; the
    backward replay is built per set of outputs that receive cotangents."""

    __slots__ = (
        "forward", "backward_jaxpr", "consts", "n_out", "out_tree", "call", "traced",
        "_backward",
    )

    def __init__(self, call: Callable, vals: list, traced: list[int]):
        closed, n_out, self.out_tree = _trace_vjp(call, vals, traced)
        fwd, self.backward_jaxpr = _split(closed.jaxpr, len(vals), n_out)
        self.consts = closed.consts
        self.n_out = n_out
        self.call, self.traced = call, traced
        self.forward = program(optimize(ClosedJaxpr(fwd, self.consts)), "forward", n_out)
        self._backward: dict[tuple[int, ...], _Backward] = {}

    def __call__(self, trace: GradTrace, vals: list, links: list):
        """``f``'s outputs, recorded on ``trace``'s tape with the compiled backward pass."""
        results = self.forward(vals)
        outs, residuals = results[: self.n_out], results[self.n_out :]
        positions = [pos for pos, _ in links]

        def bwd(cts: dict) -> list:
            reached = tuple(sorted(cts))
            backward = self.backward(reached, vals)
            in_cts = backward(vals, residuals, [cts[k] for k in reached], outs[0])
            return replace_at([None] * len(vals), positions, in_cts)

        out = record_joint(trace, vals, links, outs, bwd)
        return tree_unflatten(self.out_tree, out)

    def backward(self, reached: tuple[int, ...], vals: list) -> _Backward:
        """The backward program for cotangents of the outputs ``reached`` (built once)."""
        backward = self._backward.get(reached)
        if backward is None:
            n_res = len(self.backward_jaxpr.invars) - self.n_out
            try:
                backward = _Backward.pruned(self.backward_jaxpr, self.consts, n_res, reached)
            except _ZeroEntersLoop:
                backward = _Backward.recomputed(self.call, vals, self.traced, reached)
            self._backward[reached] = backward
        return backward


class _ZeroEntersLoop(Exception):
    """A zero cotangent meets a nonzero one at a loop or ``cond`` of the backward jaxpr,
    whose body would multiply it: the subset's backward program is traced afresh."""


class _Backward:
    """The backward program for the outputs ``reached`` only: the others' cotangents are
    symbolic zeros. An input cotangent that is zero is ``None``.

    Built by :meth:`pruned` from the backward jaxpr of all outputs, reading the forward
    replay's residuals; or, where pruning cannot keep a zero out of a loop or ``cond``
    body, by :meth:`recomputed`, which traces the vjp of the reached outputs alone and
    recomputes the forward values it needs from the inputs.
    """

    __slots__ = ("jaxpr", "consts", "replay", "zeros", "zero_out", "reads_inputs")

    def __init__(self, jaxpr: Jaxpr, consts: list, zeros: list, zero_out: list,
                 reads_inputs: bool):
        self.jaxpr, self.consts, self.zeros = jaxpr, consts, zeros
        self.zero_out, self.reads_inputs = zero_out, reads_inputs
        self.replay = program(optimize(ClosedJaxpr(jaxpr, consts)), "backward")

    @classmethod
    def pruned(cls, jaxpr: Jaxpr, consts: list, n_res: int, reached: tuple[int, ...]):
        """The backward jaxpr is linear in the cotangents, so an equation all of whose
        cotangent-dependent inputs are zero gives zero and is dropped (no ``0 * inf``
        with a residual); where a zero meets a nonzero cotangent (a sum of
        contributions), the zero is passed in as an array."""
        residuals, cotangents = jaxpr.invars[:n_res], jaxpr.invars[n_res:]
        zero = {v for k, v in enumerate(cotangents) if k not in reached}
        linear = set(cotangents)  # the values that depend on cotangents
        materialised: dict[Var, Var] = {}  # a zero that meets a nonzero -> an input for it
        eqns = []
        for eqn in jaxpr.eqns:
            moving = [v for v in eqn.invars if type(v) is Var and v in zero]
            linear.update(eqn.outvars)
            if moving and all(v in zero for v in eqn.invars if type(v) is Var and v in linear):
                zero.update(eqn.outvars)
                continue
            if moving:
                if eqn.prim.multiple_results:
                    raise _ZeroEntersLoop
                ins = [materialised.setdefault(v, Var(v.aval)) if v in moving else v
                       for v in eqn.invars]
                eqn = Equation(eqn.prim, ins, eqn.outvars, eqn.params, eqn.source)
            eqns.append(eqn)
        zero_out = [type(v) is Var and v in zero for v in jaxpr.outvars]
        outvars = [v for v, z in zip(jaxpr.outvars, zero_out) if not z]
        invars = [*residuals, *[cotangents[k] for k in reached], *materialised.values()]
        pruned = Jaxpr(jaxpr.constvars, invars, eqns, outvars)
        return cls(pruned, consts, [v.aval for v in materialised], zero_out, False)

    @classmethod
    def recomputed(cls, call: Callable, vals: list, traced: list[int], reached: tuple):
        def reached_outputs(leaves: list) -> list:
            out = tree_flatten(call(leaves))[0]
            return [out[k] for k in reached]

        closed, n_out, _ = _trace_vjp(reached_outputs, vals, traced)
        j = closed.jaxpr
        in_cts = Jaxpr(j.constvars, j.invars, j.eqns, j.outvars[n_out:])
        return cls(in_cts, closed.consts, [], [False] * len(traced), True)

    def __call__(self, vals: list, residuals: list, cts: list, like) -> list:
        """The input cotangents (``None`` for zero ones) from the reached outputs'."""
        zeros = [backend.zeros(a.shape, a.dtype, like=like) for a in self.zeros]
        args = [*(vals if self.reads_inputs else residuals), *cts, *zeros]
        if any(isinstance(c, Tracer) for c in cts):  # a transform of the backward pass
            nonzero = eval_jaxpr(self.jaxpr, self.consts, *args)
        else:
            nonzero = self.replay(args)
        it = iter(nonzero)
        return [None if z else next(it) for z in self.zero_out]


def _run(*flat, call: Callable, cache: ProgramCache, key: Signature):
    return call(list(flat))


#: a jitted function called with tracers (``flat``, its argument leaves); ``call(leaves)``
#: runs the function, ``cache`` and ``key`` (its signature without the leaves) keep what
#: is compiled for each transform. Staged (``make_jaxpr``, an enclosing ``jit``), the
#: function runs on the staging tracers.
jit_call = CallPrimitive("jit", _run)


def _or_run(transformed: Callable) -> Callable:
    """``jit_call``'s rule under a transform: ``transformed`` compiles and runs that
    transform of the function, or returns None where it is not compiled (nested
    transforms, integer outputs under ``grad``); the function then runs itself."""

    def rule(trace, *flat, call: Callable, cache: ProgramCache, key: Signature):
        out = transformed(cache, key, call, trace, list(flat))
        return call(list(flat)) if out is None else out

    return rule


def _signature(key: Signature, vals: list, *transform) -> Signature:
    """``key`` completed with what a compiled transformed function is specialised to."""
    leaves_key, device = signature(vals)
    return key._replace(leaves=leaves_key, device=device.name, transform=transform)


def _compiled(call: Callable, args: list) -> Replay | TieredProgram:
    """The replay of ``call(*args)`` (a transformed function), or :class:`_ClosesOverTracers`."""
    flat, tree = tree_flatten(args)
    replay = compile_replay(lambda tree: call(*tree), flat, tree, "transformed")
    if replay is None:
        raise _ClosesOverTracers
    return replay


def _compiled_run(cache: ProgramCache, key: Signature, build: Callable, run: Callable):
    """``run(compiled)``, building and caching ``compiled`` on the first call; None (run
    ``f`` itself) where it cannot be compiled: integer outputs under ``grad``, or code
    that needs values (Python control flow on them, ``odeint``), which the transforms
    give it and ``jit`` cannot."""
    compiled = cache.get(key)
    if compiled is False:
        return None
    new = compiled is None
    try:
        if new:
            compiled = build()
        result = run(compiled)
    except _ClosesOverTracers:  # not kept: the next call may close over none
        return None
    except (_NotCompiled, ConcretizationError):
        if not new:  # it was compiled and ran before: this is the function's own error
            raise
        cache.add(key, False)
        return None
    if new:
        cache.add(key, compiled)
    return result


def _grad_call(cache: ProgramCache, key: Signature, call: Callable, trace: GradTrace, flat: list):
    vals, links = trace.unwrap(flat)
    if any(isinstance(v, Tracer) for v in vals):
        return None
    traced = [pos for pos, _ in links]

    def run(compiled: CompiledVJP):
        with backend.default_device_of(vals):
            return compiled(trace, vals, links)

    key = _signature(key, vals, "vjp", tuple(traced))
    return _compiled_run(cache, key, lambda: CompiledVJP(call, vals, traced), run)


def _jvp_call(cache: ProgramCache, key: Signature, call: Callable, trace: JVPTrace, flat: list):
    primals, tangents = trace.unzip(flat)
    if any(isinstance(v, Tracer) for v in primals + tangents):
        return None
    moving = tuple(k for k, x in enumerate(flat) if trace.owns(x))

    def primal_and_tangent(primals: list, tangents: list):
        def on_moving(*xs):
            return call(replace_at(primals, moving, xs))

        return jvp(on_moving, [primals[k] for k in moving], tangents)

    args = [primals, [tangents[k] for k in moving]]

    def run(compiled: Replay | TieredProgram):
        with backend.default_device_of(primals):
            out, t_out = run_replay(compiled, tree_flatten(args)[0])
        return tree_map(
            lambda o, t: JVPTracer(trace, o, t) if get_aval(o).dtype.kind in "fc" else o,
            out,
            t_out,
        )

    key = _signature(key, tree_flatten(args)[0], "jvp", moving)
    return _compiled_run(cache, key, lambda: _compiled(primal_and_tangent, args), run)


def _batch_call(
    cache: ProgramCache, key: Signature, call: Callable, trace: BatchTrace, flat: list
):

    vals, axes = trace.unbatch(flat)
    if any(isinstance(v, Tracer) for v in vals):
        return None

    def build():
        batched = vmap(
            lambda *leaves: call(list(leaves)), tuple(axes), 0, trace.axis_name, trace.size
        )
        return _compiled(batched, vals)

    def run(compiled: Replay | TieredProgram):
        with backend.default_device_of(vals):
            out = run_replay(compiled, vals)
        return tree_map(lambda o: BatchTracer(trace, o, 0), out)

    key = _signature(key, vals, "vmap", tuple(axes), trace.size, trace.axis_name)
    return _compiled_run(cache, key, build, run)


class _NotCompiled(Exception):
    """This signature runs the function itself under the tape (integer outputs)."""


class _ClosesOverTracers(_NotCompiled):
    """This call runs the function itself: it closes over a tracer of an enclosing
    transform, which a compiled backward program could not differentiate."""


def _trace_vjp(call: Callable, vals: list, traced: list[int]):
    """The jaxpr of ``(vals, cts) -> (outs, cotangents of vals[traced])``."""
    trace = JitTrace()
    with backend.default_device_of(vals) as trace.device, new_trace(trace):
        inputs = [trace.new_input(get_aval(v)) for v in vals]  # weak types kept, as in jit

        def on_traced(*xs):
            return call(replace_at(inputs, traced, xs))

        out, pullback = vjp(on_traced, *[inputs[pos] for pos in traced])
        out_flat, out_tree = tree_flatten(out)
        check_outputs("jit", out_flat)
        if any(get_aval(o).dtype.kind not in "fc" for o in out_flat):
            raise _NotCompiled
        cts = [trace.new_input(get_aval(o).strong()) for o in out_flat]
        in_cts = pullback(tree_unflatten(out_tree, cts))
        if trace.closes_over_tracers:
            raise _ClosesOverTracers
        return trace.closed([*out_flat, *in_cts]), len(out_flat), out_tree



def _split(jaxpr: Jaxpr, n_vals: int, n_out: int) -> tuple[Jaxpr, Jaxpr]:
    """The forward and backward jaxprs (see the module docstring)."""
    on_cotangents = set(jaxpr.invars[n_vals:])
    forward, backward = [], []
    for eqn in jaxpr.eqns:
        if any(type(v) is Var and v in on_cotangents for v in eqn.invars):
            backward.append(eqn)
            on_cotangents.update(eqn.outvars)
        else:
            forward.append(eqn)
    computed = set(jaxpr.invars[:n_vals]) | {v for e in forward for v in e.outvars}
    needed = [v for e in backward for v in e.invars] + list(jaxpr.outvars[n_out:])
    residuals = list(dict.fromkeys(v for v in needed if type(v) is Var and v in computed))
    outs, cotangents = jaxpr.invars[:n_vals], jaxpr.invars[n_vals:]
    fwd = Jaxpr(jaxpr.constvars, outs, forward, [*jaxpr.outvars[:n_out], *residuals])
    bwd = Jaxpr(jaxpr.constvars, [*residuals, *cotangents], backward, jaxpr.outvars[n_out:])
    return fwd, bwd


defcall(jit_call, jvp=_or_run(_jvp_call), grad=_or_run(_grad_call), batch=_or_run(_batch_call))
