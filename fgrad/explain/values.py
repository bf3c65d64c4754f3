"""The values on a traced jaxpr: each variable's value forward, and backward the
cotangent flowing along each edge (from a use of a variable back to it).

The backward pass here is the tape's (``fgrad.transforms.reverse_mode.backward_pass``)
made to keep what the tape's discards: every contribution to a cotangent, per edge,
before the contributions of a variable used twice are summed. It reads the same vjp
rules, so the gradients it shows are the ones ``grad`` computes.
"""

from __future__ import annotations

from collections.abc import Sequence

from fgrad.core.abstract import is_floating
from fgrad.core.jaxpr import Jaxpr, Literal, Var
from fgrad.core.rules import vjp_rules


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
    Equations of several results (loops, factorisations) and those without a vjp rule
    (comparisons, ``stop_gradient``) pass nothing back.
    """
    totals = dict(seeds)
    edges: dict[tuple[int, int], object] = {}
    for k in range(len(jaxpr.eqns) - 1, -1, -1):
        eqn = jaxpr.eqns[k]
        rules = vjp_rules.get(eqn.prim)
        if eqn.prim.multiple_results or rules is None:
            continue
        ct = totals.get(eqn.outvars[0])
        if ct is None:
            continue
        vals = [v.val if type(v) is Literal else env[v] for v in eqn.invars]
        ans = env[eqn.outvars[0]]
        wanted = [
            i for i, v in enumerate(eqn.invars) if type(v) is Var and is_floating(v.aval.dtype)
        ]
        if type(rules) is tuple:
            found = [
                (i, rules[i](ct, ans, *vals, **eqn.params))
                for i in wanted
                if i < len(rules) and rules[i] is not None
            ]
        else:
            found = list(zip(wanted, rules(ct, ans, vals, wanted, **eqn.params)))
        for i, c in found:
            if c is None:
                continue
            edges[(k, i)] = c
            v = eqn.invars[i]
            totals[v] = c if v not in totals else totals[v] + c
    return totals, edges
