"""Jaxpr-to-jaxpr clean-ups that ``jit`` runs once per trace.

Tracing records every operation the Python code performed, including work that
does not depend on the inputs, repeats, and no-ops. One forward pass over the
equations removes them:

* **constant folding**: an equation whose inputs are all constants or literals
  is evaluated now and becomes a constant (``W.T`` of a closed-over ``W``);
* **no-ops**: ``reshape``/``broadcast_to`` to the same shape (a reshape of a reshape
  reads the first one's input), the identity ``transpose``, ``convert_element_type``
  to the same dtype, a ``concatenate`` of one array;
* **negations**: ``a + (-b)`` is computed as ``a - b``;
* **identities**: ``x * 1``, ``x / 1``, ``x ** 1``, ``x - 0`` and ``-(-x)`` are ``x``, and
  ``x ** 0`` is a constant of ones, which folds further (differentiating ``x ** n``
  leaves many: ``n * x ** (n - 1)`` at ``n = 1`` is ``1 * x ** 0``); only where the
  result is bit for bit the same (real dtypes; not ``x + 0``, which turns ``-0.0``
  into ``0.0``);
* **common subexpressions**: the same primitive with the same parameters on the
  same inputs is computed once (``grad`` often recomputes forward values), ``a * b``
  and ``b * a`` too;

then a backward pass drops the equations no output needs (dead code). Every
primitive but the effectful ones (``fgrad.debug.print``), which are left alone, is
pure, so each rewrite keeps the results bit for bit (up to the sign of a NaN, which
IEEE leaves open: ``a + (-nan)`` and ``a - nan`` may differ in it).
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Literal, Var
from fgrad.primitives.elementwise import add_p, sub_p
from fgrad.primitives.structural import reshape_p


def optimize(closed: ClosedJaxpr) -> ClosedJaxpr:
    """The same computation with folded constants, no no-ops, no repeats, no dead code."""
    jaxpr = closed.jaxpr
    consts: dict[Var, object] = dict(zip(jaxpr.constvars, closed.consts))
    renamed: dict[Var, object] = {}  # output variable -> the atom that replaces it
    seen: dict[tuple, list[Var]] = {}
    negated: dict[Var, object] = {}  # the output of a neg -> its operand
    reshaped: dict[Var, object] = {}  # the output of a reshape -> its operand
    eqns = []

    def atom(v):
        return renamed.get(v, v) if type(v) is Var else v

    for eqn in jaxpr.eqns:
        ins = [atom(v) for v in eqn.invars]
        if eqn.prim is reshape_p and ins[0] in reshaped:  # a reshape of a reshape: one
            ins[0] = reshaped[ins[0]]
        if eqn.prim is add_p:
            eqn, ins = _add_of_negation(eqn, ins, negated)
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
        same = _identity_operand(eqn, ins, consts, negated)
        if same is not None:
            renamed[eqn.outvars[0]] = same
            continue
        if _is_power_of_zero(eqn, ins, consts):
            out = eqn.outvars[0].aval
            ones = Var(ShapedArray(out.shape, out.dtype))
            consts[ones] = backend.ones(out.shape, out.dtype)
            renamed[eqn.outvars[0]] = ones
            continue
        if eqn.prim.name == "neg":
            negated[eqn.outvars[0]] = ins[0]
        if eqn.prim is reshape_p:
            reshaped[eqn.outvars[0]] = ins[0]
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
        return np.dtype(params["new_dtype"]) == aval.dtype and not params.get("weak_type")
    if name == "concatenate":
        return len(ins) == 1
    return False


def _add_of_negation(eqn: Equation, ins: list, negated: dict) -> tuple[Equation, list]:
    """``a + (-b)`` and ``(-b) + a`` as ``a - b``: IEEE defines subtraction so, bit for bit
    (real dtypes), and the negation is then often dead."""
    out = eqn.outvars[0].aval
    if np.dtype(out.dtype).kind not in "iuf":
        return eqn, ins
    for k in (1, 0):
        b = negated.get(ins[k]) if type(ins[k]) is Var else None
        if b is not None:
            ins = [ins[1 - k], b]
            return Equation(sub_p, ins, eqn.outvars, {}, eqn.source), ins
    return eqn, ins


def _identity_operand(eqn: Equation, ins: list, consts: dict, negated: dict):
    """The operand an equation returns unchanged, bit for bit, or None: ``x * 1``,
    ``1 * x``, ``x / 1``, ``x ** 1``, ``x - 0`` (not ``x + 0``: ``-0.0 + 0.0`` is
    ``0.0``) and ``-(-x)``, for real ``x`` of the result's shape, dtype and weak type.

    Arrays only: on shape ``()`` NumPy returns a scalar where ``x`` may be a 0-d array."""
    out = eqn.outvars[0].aval
    if out.ndim == 0 or np.dtype(out.dtype).kind not in "biuf":
        return None
    name = eqn.prim.name
    if name == "neg":
        candidates = [negated.get(ins[0])] if type(ins[0]) is Var else []
    elif name == "mul":
        candidates = [a for a, b in (ins, ins[::-1]) if _is_all(b, 1, consts)]
    elif name in ("div", "pow"):
        candidates = [ins[0]] if _is_all(ins[1], 1, consts) else []
    elif name == "sub":
        candidates = [ins[0]] if _is_all(ins[1], 0, consts, positive_zero=True) else []
    else:
        return None
    for x in candidates:
        if type(x) is Var and x.aval == out:  # shape, dtype and weak type
            return x
    return None


def _is_power_of_zero(eqn: Equation, ins: list, consts: dict) -> bool:
    """``x ** 0`` of a real floating ``x``: ones, whatever ``x`` holds (NaN too, as IEEE and
    NumPy's ``power`` say), so a constant that folds further. Arrays only, as above."""
    out = eqn.outvars[0].aval
    return (
        eqn.prim.name == "pow"
        and out.ndim > 0
        and np.dtype(out.dtype).kind == "f"
        and not out.weak_type
        and np.ndim(_value(ins[1], consts)) == 0
        and _is_all(ins[1], 0, consts)
    )


def _value(v, consts: dict):
    """A literal's or constant's value; None for a value known only when the program runs."""
    if type(v) is Literal:
        return v.val
    return consts.get(v)


def _is_all(v, number: int, consts: dict, positive_zero: bool = False) -> bool:
    """Whether ``v`` is a literal or NumPy constant all of whose elements equal ``number``
    (with ``positive_zero``, zeros without the sign bit)."""
    value = _value(v, consts)
    if not isinstance(value, (bool, int, float, np.ndarray, np.generic)):
        return False
    value = np.asarray(value)
    if value.dtype.kind not in "biuf" or value.size > _LARGEST_CHECKED or not value.size:
        return False
    if positive_zero and np.signbit(value).any():
        return False
    return bool((value == number).all())


#: constants beyond this many elements are not scanned for ones and zeros
_LARGEST_CHECKED = 1 << 16

#: primitives whose two operands can be swapped without changing a bit of the result
#: (not ``max``/``min``: NumPy returns the first of two equal zeros, whatever their signs)
_COMMUTATIVE = frozenset(
    ["add", "mul", "eq", "ne", "and", "or", "bitwise_and", "bitwise_or", "bitwise_xor"]
)


def _cse_key(eqn: Equation, ins: list) -> tuple | None:
    """What makes two equations compute the same value, or None if a parameter cannot say.
    The operands of a commutative primitive are ordered, so ``a * b`` matches ``b * a``."""
    try:
        params = tuple(sorted((k, _frozen(p)) for k, p in eqn.params.items()))
        hash(params)
    except TypeError:
        return None
    atoms = tuple(
        ("lit", type(v).__name__, repr(v.val)) if type(v) is Literal else ("var", id(v))
        for v in ins
    )
    if eqn.prim.name in _COMMUTATIVE and len(atoms) == 2:
        atoms = tuple(sorted(atoms, key=repr))
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
