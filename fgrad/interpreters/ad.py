"""``jax.interpreters.ad``: derivative rules for primitives written the JAX way.

JAX differentiates a primitive with two rules: a jvp rule, ``rule(primals, tangents)
-> (primal_out, tangent_out)`` (:data:`primitive_jvps`, or one rule per argument with
:func:`defjvp`), and, for reverse mode, a transpose rule for the primitives that the
tangent computation applies linearly (:data:`primitive_transposes`,
``rule(ct, *args)`` where the linear arguments are :class:`UndefinedPrimal`).
Assigning to these tables registers fgrad rules built from them (``fgrad.core.rules``):

* forward mode calls the jvp rule, with :class:`Zero` for the arguments without a
  tangent;
* reverse mode, where fgrad's tape meets the primitive in the primal computation,
  takes the vjp of the jvp rule's tangent map (``fgrad.vjp`` of ``t -> tangent_out``);
  that map applies primitives linearly, and where the tape meets one of them (inside
  that vjp) the transpose rule gives its cotangents, with the tangent-dependent
  arguments undefined, as in JAX. A primitive without a jvp rule is taken as linear
  and transposed directly.

Rules may return lists, as JAX's newer rules do (``([primal_out], [tangent_out])``); a
transpose rule then receives a list of cotangents too. Only primitives with one result
take these rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fgrad import numpy as fnp
from fgrad.core import rules
from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.primitive import Primitive
from fgrad.transforms.reverse_mode import vjp

__all__ = [
    "UndefinedPrimal",
    "Zero",
    "defjvp",
    "defjvp2",
    "instantiate_zeros",
    "is_undefined_primal",
    "primitive_jvps",
    "primitive_transposes",
    "zeros_like_aval",
]


class Zero:
    """A tangent or cotangent known to be zero, with its shape and dtype
    (``jax.interpreters.ad.Zero``): what a jvp rule receives for an argument that has
    no tangent."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    @staticmethod
    def from_primal_value(x) -> Zero:
        """The zero tangent of ``x``."""
        return Zero(get_aval(x).strong())

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


class UndefinedPrimal:
    """An argument a transpose rule transposes in: its value is unknown, its aval is
    known (``jax.interpreters.ad.UndefinedPrimal``)."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined_primal(x) -> bool:
    """Whether a transpose rule's argument ``x`` is one it transposes in."""
    return isinstance(x, UndefinedPrimal)


def zeros_like_aval(aval: ShapedArray):
    """Zeros of ``aval``'s shape and dtype."""
    return fnp.zeros(aval.shape, aval.dtype)


def instantiate_zeros(t):
    """``t``, with a :class:`Zero` made an array of zeros."""
    return zeros_like_aval(t.aval) if isinstance(t, Zero) else t


class _Rules(dict):
    """A table of JAX-style rules by primitive: assigning one installs fgrad's rules."""

    def __init__(self, kind: str, install: Callable[[Primitive], None]):
        super().__init__()
        self.kind = kind
        self.install = install

    def __setitem__(self, prim: Primitive, rule: Callable) -> None:
        if not isinstance(prim, Primitive):
            raise TypeError(f"ad.{self.kind}: keys are Primitives, got {type(prim).__name__}")
        if prim.multiple_results:
            raise NotImplementedError(
                f"ad.{self.kind}[{prim.name}]: fgrad takes JAX-style rules for primitives "
                "with one result; give a multi-result function its derivative with "
                "fgrad.custom_jvp or fgrad.custom_vjp instead"
            )
        super().__setitem__(prim, rule)
        self.install(prim)


def _install(prim: Primitive) -> None:
    if prim in primitive_jvps:
        rules.defjvp_all(prim, _jvp_rule(prim))
    rules.defvjp_all(prim, _vjp_rule(prim))


#: ``rule(primals, tangents, **params) -> (primal_out, tangent_out)`` per primitive
primitive_jvps: dict = _Rules("primitive_jvps", _install)
#: ``rule(ct, *args, **params) -> cotangent per argument (None for the defined ones)``
primitive_transposes: dict = _Rules("primitive_transposes", _install)

#: the primitives whose rules return lists (JAX's newer convention): their transpose
#: rules receive the cotangent in a list too
_listed: set = set()

#: how deep the thread is in the vjp of a tangent map, where primitives are applied
#: linearly and are transposed
_state = threading.local()


def _single(prim: Primitive, out, what: str):
    if isinstance(out, (list, tuple)):
        if len(out) != 1:
            raise ValueError(f"the {what} of `{prim.name}` must give one result, got {len(out)}")
        _listed.add(prim)
        return out[0]
    return out


def _tangent_out(prim: Primitive, primals, tangents, params: dict):
    """The tangent the jvp rule of ``prim`` gives (``None`` entries of ``tangents``
    standing for zero tangents)."""
    tangents = tuple(
        Zero.from_primal_value(x) if t is None else t for x, t in zip(primals, tangents)
    )
    primal_out, tangent_out = primitive_jvps[prim](tuple(primals), tangents, **params)
    primal_out = _single(prim, primal_out, "jvp rule's primal output")
    tangent_out = _single(prim, tangent_out, "jvp rule's tangent output")
    if isinstance(tangent_out, Zero):
        return fnp.zeros_like(primal_out)
    return tangent_out


def _jvp_rule(prim: Primitive) -> Callable:
    def rule(tangents, ans, *primals, **params):
        return _tangent_out(prim, primals, tangents, params)

    return rule


def _transpose(prim: Primitive, ct, args, wanted, params: dict) -> list:
    rule = primitive_transposes.get(prim)
    if rule is None:
        raise NotImplementedError(
            f"Transpose rule (for reverse-mode differentiation) for '{prim.name}' not "
            f"implemented: set ad.primitive_transposes[{prim.name}_p] (its jvp rule "
            "applies it linearly)"
        )
    linear = [
        UndefinedPrimal(get_aval(x).strong()) if i in wanted else x for i, x in enumerate(args)
    ]
    cts = rule([ct] if prim in _listed else ct, *linear, **params)
    return [None if isinstance(cts[i], Zero) else cts[i] for i in wanted]


def _vjp_rule(prim: Primitive) -> Callable:
    def rule(ct, ans, args, wanted, **params):
        if getattr(_state, "depth", 0) or prim not in primitive_jvps:
            return _transpose(prim, ct, args, wanted, params)

        def tangent_map(*ts):
            tangents = [None] * len(args)
            for i, t in zip(wanted, ts):
                tangents[i] = t
            return _tangent_out(prim, args, tangents, params)

        _state.depth = getattr(_state, "depth", 0) + 1
        try:
            _, pullback = vjp(tangent_map, *[fnp.zeros_like(args[i]) for i in wanted])
            return list(pullback(ct))
        finally:
            _state.depth -= 1

    return rule


def defjvp(prim: Primitive, *jvp_rules: Callable | None) -> None:
    """One jvp rule per argument (``jax.interpreters.ad.defjvp``): ``rule(t, *primals,
    **params)`` is the output tangent due to that argument's tangent ``t``; ``None``
    for an argument without derivative."""
    _define_jvp(prim, jvp_rules, with_ans=False)


def defjvp2(prim: Primitive, *jvp_rules: Callable | None) -> None:
    """As :func:`defjvp`, the rules also reading the result: ``rule(t, ans, *primals,
    **params)``."""
    _define_jvp(prim, jvp_rules, with_ans=True)


def _define_jvp(prim: Primitive, jvp_rules, with_ans: bool) -> None:
    def rule(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        out = None
        for r, t in zip(jvp_rules, tangents):
            if r is None or isinstance(t, Zero):
                continue
            c = r(t, ans, *primals, **params) if with_ans else r(t, *primals, **params)
            out = c if out is None else out + c
        return ans, (Zero.from_primal_value(ans) if out is None else out)

    primitive_jvps[prim] = rule
