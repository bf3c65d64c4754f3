"""``linearize`` and the transpose of linear jaxprs.

``linearize(f, *primals)`` runs ``f`` once under ``jvp`` with *abstract*
tangents: primal values are computed eagerly, while every operation on tangents
is recorded by a ``make_jaxpr`` trace underneath. The recording is the linear
map ``tangent_in -> tangent_out`` at ``primals``, a jaxpr whose constants are
the primal quantities it needs. Replaying it costs only the linear part.

:func:`transpose_linear` turns such a linear jaxpr around (cotangent out ->
cotangent in) without transpose rules of its own: for a primitive that is
linear in an argument, the vjp rule for that argument *is* its transpose, and
never looks at that argument's value, only at its shape and dtype. So the
jaxpr's equations become a reverse-mode tape whose linear values are
:class:`~fgrad.core.abstract.ShapedArray` placeholders, and
:func:`~fgrad.transforms.reverse_mode.backward_pass` walks it. Custom derivative
rules use this to run a ``custom_jvp`` rule backwards and a ``custom_vjp``
rule forwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.jaxpr import ClosedJaxpr, Jaxpr, Literal, eval_jaxpr
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.source_info import api_boundary
from fgrad.core.trace_stack import new_trace
from fgrad.transforms.argnums import replace_at
from fgrad.transforms.forward_mode import JVPTrace, JVPTracer
from fgrad.transforms.make_jaxpr import JaxprTrace
from fgrad.transforms.reverse_mode import (
    GradTrace,
    GradTracer,
    backward_pass,
    pull_back_reached,
    record_joint,
)


def linearize_flat(fun: Callable, primals: Sequence) -> tuple[list, ClosedJaxpr]:
    """Evaluate ``fun(*primals)`` (flat lists in and out) and its linear map as a jaxpr."""
    jaxpr_trace = JaxprTrace(sources=False)
    with backend.default_device_of(primals) as jaxpr_trace.device, new_trace(jaxpr_trace):
        tangents = [jaxpr_trace.new_input(get_aval(p).strong()) for p in primals]
        jvp_trace = JVPTrace()
        with new_trace(jvp_trace):
            out = fun(*[JVPTracer(jvp_trace, p, t) for p, t in zip(primals, tangents)])
            primals_out, tangents_out = jvp_trace.unzip(out)
        outvars = [jaxpr_trace.to_var(t) for t in tangents_out]
    jaxpr = Jaxpr(jaxpr_trace.constvars, jaxpr_trace.invars, jaxpr_trace.eqns, outvars)
    return primals_out, ClosedJaxpr(jaxpr, jaxpr_trace.consts)





def linearize(fun: Callable, *primals):
    """Evaluate ``fun`` at ``primals`` and return its linearisation there.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``.
    *primals
        The point at which to linearise.

    Returns
    -------
    out, f_jvp
        ``out = fun(*primals)``, and ``f_jvp(*tangents)``, equal to
        ``jvp(fun, primals, tangents)[1]``. The forward pass runs once, here;
        each call of ``f_jvp`` replays only the linear part.
    """
    flat, in_tree = tree_flatten(primals)
    flat = [x if hasattr(x, "dtype") else np.asarray(x) for x in flat]
    out_tree_box = []

    def flat_fun(*args):
        out = fun(*tree_unflatten(in_tree, list(args)))
        out_flat, out_tree = tree_flatten(out)
        out_tree_box.append(out_tree)
        return out_flat

    primals_out, lin = linearize_flat(flat_fun, flat)
    out_tree = out_tree_box[0]
    in_avals = [get_aval(x).strong() for x in flat]

    @api_boundary
    def f_jvp(*tangents):
        t_flat, t_tree = tree_flatten(tangents)
        if t_tree != in_tree:
            raise TypeError(
                f"linearize: f_jvp takes tangents with the structure of the primals, "
                f"{in_tree}, got {t_tree}"
            )
        for t, aval in zip(t_flat, in_avals):
            if tuple(np.shape(t)) != aval.shape:
                raise TypeError(
                    f"linearize: tangent of shape {np.shape(t)} given for a primal "
                    f"{aval.str_short()}"
                )
        return tree_unflatten(out_tree, eval_jaxpr(lin.jaxpr, lin.consts, *t_flat))

    return tree_unflatten(out_tree, primals_out), f_jvp


def transpose_linear(lin: ClosedJaxpr, cts_out: Sequence) -> list:
    """Cotangents of a linear jaxpr's inputs, given cotangents of its outputs (``None``
    for a zero one: the equations only it reaches are skipped, not run on zeros).

    Returns one entry per input; ``None`` where no output depends on it.
    """
    jaxpr = lin.jaxpr
    consts = dict(zip(jaxpr.constvars, lin.consts))
    tape = GradTrace()  # holds the tape only: it is never entered, nothing binds on it
    index: dict = {v: tape.new_input(v.aval).idx for v in jaxpr.invars}
    for eqn in jaxpr.eqns:
        if eqn.prim.effectful and not eqn.outvars:  # a debug print of tangents: no result
            continue
        vals, links = [], []
        for pos, v in enumerate(eqn.invars):
            if type(v) is Literal:
                vals.append(v.val)
            elif v in consts:
                vals.append(consts[v])
            else:
                vals.append(v.aval)  # a linear value: only its shape and dtype exist
                links.append((pos, index[v]))
        if eqn.prim.multiple_results:  # a staged loop over tangents
            outs = _record_multi_output(tape, eqn, vals, links)
            index.update((v, o.idx) for v, o in zip(eqn.outvars, outs) if type(o) is GradTracer)
            continue
        (outvar,) = eqn.outvars
        out = index[outvar] = tape.new_input(outvar.aval).idx
        tape.tape.append((eqn.prim, eqn.params, vals, links, out, outvar.aval))
    cts: dict = {}
    for v, ct in zip(jaxpr.outvars, cts_out):
        if ct is None or type(v) is Literal or v in consts:  # None: a symbolic zero
            continue
        i = index[v]
        cts[i] = ct if i not in cts else cts[i] + ct
    cts = backward_pass(tape.tape, cts, tape.sources)
    return [cts.get(index[v]) for v in jaxpr.invars]


def _record_multi_output(tape: GradTrace, eqn, vals: list, links: list) -> list:
    """A multi-output equation of a linear jaxpr (a staged loop over tangents) as one
    joint tape entry. It is linear in its linear inputs, so its transpose is the vjp of
    its rules (``custom_rules``) at zero there, of the outputs that have cotangents."""

    linear = [pos for pos, _ in links]
    point = replace_at(vals, linear, [backend.zeros(vals[p].shape, vals[p].dtype) for p in linear])

    def bwd(cts: dict) -> list:
        with np.errstate(all="ignore"):  # values at the zero point are discarded
            return pull_back_reached(rules, point, linear, cts)

    def rules(args: list) -> list:
        return eqn.prim.custom_rules(*args, **eqn.params)

    return record_joint(tape, vals, links, [v.aval for v in eqn.outvars], bwd)
