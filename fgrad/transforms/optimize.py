"""Jaxpr-to-jaxpr clean-ups that ``jit`` runs once per trace.

Tracing records every operation the Python code performed, including work that
does not depend on the inputs, repeats, and no-ops. One forward pass over the
equations removes them:

* **constant folding**: an equation whose inputs are all constants or literals
  is evaluated now and becomes a constant (``W.T`` of a closed-over ``W``);
* **no-ops**: ``reshape``/``broadcast_to`` to the same shape, the identity
  ``transpose``, ``convert_element_type`` to the same dtype;
* **common subexpressions**: the same primitive with the same parameters on the
  same inputs is computed once (``grad`` often recomputes forward values);

then a backward pass drops the equations no output needs (dead code). Every
primitive but the effectful ones (``fgrad.debug.print``), which are left alone, is
pure, so each rewrite keeps the results bit for bit.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Literal, Var


def optimize(closed: ClosedJaxpr) -> ClosedJaxpr:
    """The same computation with folded constants, no no-ops, no repeats, no dead code."""
    jaxpr = closed.jaxpr
    consts: dict[Var, object] = dict(zip(jaxpr.constvars, closed.consts))
    renamed: dict[Var, object] = {}  # output variable -> the atom that replaces it
    seen: dict[tuple, list[Var]] = {}
    eqns = []

    def atom(v):
        return renamed.get(v, v) if type(v) is Var else v

    for eqn in jaxpr.eqns:
        ins = [atom(v) for v in eqn.invars]
        if eqn.prim.effectful:  # run for its effect, each time: kept as it is
            eqns.append(Equation(eqn.prim, ins, eqn.outvars, eqn.params, eqn.source))
            continue
        if all(type(v) is Literal or v in consts for v in ins):
            values = [v.val if type(v) is Literal else consts[v] for v in ins]
            results = eqn.prim.impl(*values, **eqn.params)
            for v, result in zip(eqn.outvars, results if eqn.prim.multiple_results else [results]):
                folded = Var(ShapedArray(v.aval.shape, v.aval.dtype))
                consts[folded] = result
                renamed[v] = folded
            continue
        if _is_no_op(eqn, ins):
            renamed[eqn.outvars[0]] = ins[0]
            continue
        key = _cse_key(eqn, ins)
        if key is not None:
            if key in seen:
                renamed.update(zip(eqn.outvars, seen[key]))
                continue
            seen[key] = eqn.outvars
        eqns.append(Equation(eqn.prim, ins, eqn.outvars, eqn.params, eqn.source))
    outvars = [atom(v) for v in jaxpr.outvars]

    live = {v for v in outvars if type(v) is Var}
    kept = []
    for eqn in reversed(eqns):
        if eqn.prim.effectful or any(v in live for v in eqn.outvars):
            kept.append(eqn)
            live.update(v for v in eqn.invars if type(v) is Var)
    kept.reverse()
    constvars = [v for v in consts if v in live]
    optimized = Jaxpr(constvars, list(jaxpr.invars), kept, outvars)
    return ClosedJaxpr(optimized, [consts[v] for v in constvars], closed.in_tree, closed.out_tree)


def _is_no_op(eqn: Equation, ins: list) -> bool:
    """Does ``eqn`` return its (array) input unchanged? A weakly typed input is kept: the
    conversion makes it a strongly typed array, which later promotion depends on."""
    x = ins[0]
    if type(x) is not Var or x.aval.weak_type:
        return False
    name, params, aval = eqn.prim.name, eqn.params, x.aval
    if name in ("reshape", "broadcast_to"):
        return tuple(params["shape"]) == aval.shape
    if name == "transpose":
        return tuple(params["permutation"]) == tuple(range(aval.ndim))
    if name == "convert_element_type":
        return np.dtype(params["new_dtype"]) == aval.dtype
    return False


def _cse_key(eqn: Equation, ins: list) -> tuple | None:
    """What makes two equations compute the same value, or None if a parameter cannot say."""
    try:
        params = tuple(sorted((k, _frozen(p)) for k, p in eqn.params.items()))
        hash(params)
    except TypeError:
        return None
    atoms = tuple(
        ("lit", type(v).__name__, repr(v.val)) if type(v) is Literal else id(v) for v in ins
    )
    return (eqn.prim, atoms, params)


def _frozen(p):
    """A hashable stand-in for a parameter: arrays by content, slices by their fields."""
    if isinstance(p, np.ndarray):
        return ("array", p.dtype.str, p.shape, p.tobytes())
    if isinstance(p, slice):
        return ("slice", p.start, p.stop, p.step)
    if isinstance(p, (tuple, list)):
        return (type(p).__name__,) + tuple(_frozen(x) for x in p)
    return p
