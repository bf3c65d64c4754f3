"""Equations that fusion computes better as the elementwise equations they are made of.

A primitive that is one NumPy call in the replay but several elementwise operations
inside is rewritten, before :func:`fgrad.transforms.fusion.fuse` partitions a program, into
those operations, so that they join the clusters around them instead of staying a call
between two kernels. The rewrite computes NumPy's numbers bit for bit, and applies only
where each new equation is one a kernel computes (``numba_lowering.kind``); elsewhere the
equation stays as it was.

``tie_weights`` (the weights a max or min reduction's derivative gives its inputs, ties
sharing) becomes its definition, the impl's NumPy path::

    hits = eq(x, ans)                       # bool
    count = reduce_sum(hits, axis, keepdims)  # NumPy's default integer: an exact count
    out = div(convert(hits), convert(count))
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Var
from fgrad.primitives.elementwise import convert_element_type_p, div_p, eq_p
from fgrad.primitives.structural import reduce_sum_p
from fgrad.transforms.numba_lowering import kind


def expand(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` with each equation of a rewritten primitive (see the module docstring)
    replaced by its elementwise equations; ``closed`` itself where there is none."""
    jaxpr = closed.jaxpr
    if not any(e.prim.name in _REWRITES for e in jaxpr.eqns):
        return closed
    eqns: list[Equation] = []
    for eqn in jaxpr.eqns:
        rewrite = _REWRITES.get(eqn.prim.name)
        parts = None if rewrite is None else rewrite(eqn)
        if parts is not None and all(kind(e) is not None for e in parts):
            eqns.extend(parts)
        else:
            eqns.append(eqn)
    expanded = Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)
    return ClosedJaxpr(expanded, closed.consts, closed.in_tree, closed.out_tree)


def _tie_weights(eqn: Equation) -> list[Equation] | None:
    x, ans = eqn.invars
    if type(x) is not Var or type(ans) is not Var:
        return None
    (out,) = eqn.outvars
    axis, dtype = eqn.params["axis"], np.dtype(eqn.params["dtype"])
    hits = Var(ShapedArray(x.aval.shape, np.bool_))
    count = Var(ShapedArray(ans.aval.shape, np.int_))
    weight = Var(ShapedArray(x.aval.shape, dtype))
    total = Var(ShapedArray(ans.aval.shape, dtype))
    return [
        Equation(eq_p, [x, ans], [hits], {}, eqn.source),
        Equation(reduce_sum_p, [hits], [count], {"axis": axis, "keepdims": True}, eqn.source),
        Equation(convert_element_type_p, [hits], [weight], {"new_dtype": dtype}, eqn.source),
        Equation(convert_element_type_p, [count], [total], {"new_dtype": dtype}, eqn.source),
        Equation(div_p, [weight, total], [out], {}, eqn.source),
    ]


_REWRITES = {"tie_weights": _tie_weights}
