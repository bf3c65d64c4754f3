"""The values on a traced jaxpr: each variable's value forward, and backward the
cotangent flowing along each edge (from a use of a variable back to it).

The backward pass here is the tape's (``fgrad.transforms.reverse_mode.backward_pass``)
made to keep what the tape's discards: every contribution to a cotangent, per edge,
before the contributions of a variable used twice are summed. It reads the same vjp
rules, so the gradients it shows are the ones ``grad`` computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fgrad.core.abstract import is_floating
from fgrad.core.jaxpr import Jaxpr, Literal, Var
from fgrad.core.rules import vjp_rules
from fgrad.transforms.reverse_mode import vjp


def forward_values(jaxpr: Jaxpr, consts: Sequence, args: Sequence) -> dict[Var, object]:
    """The value of every variable of ``jaxpr`` run on ``args`` (each primitive's impl)."""
    env: dict[Var, object] = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        ins = [v.val if type(v) is Literal else env[v] for v in eqn.invars]
        out = eqn.prim.impl(*ins, **eqn.params)
        env.update(zip(eqn.outvars, out if eqn.prim.multiple_results else [out]))
    return env


def edge_cotangents(
    jaxpr: Jaxpr, env: dict[Var, object], seeds: dict[Var, object]
) -> tuple[dict[Var, object], dict[tuple[int, int], object]]:
    """Run the backward pass from the cotangents ``seeds`` of some variables.

    Returns
    -------
    totals
        The cotangent of every variable reached (the sum over its uses).
    edges
        ``(equation index, argument position) -> cotangent`` that the equation's rule
        sent back to that argument.

    Notes
    -----
    Equations of several results (loops, factorisations) are pulled back by ``vjp`` of
    the function that carries their rules (``custom_rules``); those without a vjp rule
    (comparisons, ``stop_gradient``) pass nothing back.
    """
    totals = dict(seeds)
    edges: dict[tuple[int, int], object] = {}
    for k in range(len(jaxpr.eqns) - 1, -1, -1):
        eqn = jaxpr.eqns[k]
        vals = [v.val if type(v) is Literal else env[v] for v in eqn.invars]
        wanted = [
            i for i, v in enumerate(eqn.invars) if type(v) is Var and is_floating(v.aval.dtype)
        ]
        if eqn.prim.multiple_results:
            found = _through_custom_rules(eqn, vals, wanted, totals)
        else:
            found = _through_vjp_rules(eqn, vals, wanted, env, totals)
        for i, c in found:
            if c is None:
                continue
            edges[(k, i)] = c
            v = eqn.invars[i]
            totals[v] = c if v not in totals else totals[v] + c
    return totals, edges


def _through_vjp_rules(eqn, vals: list, wanted: list[int], env: dict, totals: dict) -> list:
    """``(position, cotangent)`` for a single-result equation, by its primitive's rules."""
    rules = vjp_rules.get(eqn.prim)
    ct = totals.get(eqn.outvars[0])
    if rules is None or ct is None:
        return []
    ans = env[eqn.outvars[0]]
    if type(rules) is tuple:
        return [
            (i, rules[i](ct, ans, *vals, **eqn.params))
            for i in wanted
            if i < len(rules) and rules[i] is not None
        ]
    return list(zip(wanted, rules(ct, ans, vals, wanted, **eqn.params)))


def _through_custom_rules(eqn, vals: list, wanted: list[int], totals: dict) -> list:
    """``(position, cotangent)`` for a multi-result equation: ``vjp`` of its rules'
    function, with zero cotangents for the results nothing used."""
    cts = [totals.get(v) for v in eqn.outvars]
    rules = eqn.prim.custom_rules
    if rules is None or not wanted or all(c is None for c in cts):
        return []

    def on_wanted(*xs):
        args = list(vals)
        for i, x in zip(wanted, xs):
            args[i] = x
        return list(rules(*args, **eqn.params))

    outs, pullback = vjp(on_wanted, *[vals[i] for i in wanted])
    filled = [np.zeros_like(o) if c is None else c for c, o in zip(cts, outs)]
    return list(zip(wanted, pullback(filled)))
