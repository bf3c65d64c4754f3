"""The rule tables: what each transform does with each primitive, and their ``def*`` helpers.

The kernel knows no primitive and no transform; primitives register their rules
here, and the transforms (:mod:`fgrad.transforms`) read them:

* ``jvp_rules`` (forward mode), per argument (:func:`defjvp`) or for all
  arguments at once (:func:`defjvp_all`);
* ``vjp_rules`` (reverse mode, and transposition: a rule of an argument in which
  the primitive is linear is its transpose), per argument (:func:`defvjp`) or
  variadic (:func:`defvjp_all`), with what each rule reads, from which the tape
  plans which values to keep;
* ``batch_rules`` (``vmap``), :func:`defbatch`;
* the rules of the higher-order operations (``custom_jvp``/``custom_vjp`` calls,
  ``checkpoint``, a jitted function, ``cond``, ``scan``, ``while_loop``,
  ``pure_callback``) under each transform: ``jvp_call_rules``, ``grad_call_rules``,
  ``batch_call_rules``, ``rule(trace, *args, **params)``, filled by :func:`defcall`
  and read by :meth:`~fgrad.core.trace_stack.Trace.process_call`. They receive the
  trace because they put values on it (tracers, tape entries) themselves;
* ``axis_batch_rules`` (the collectives under a named ``vmap``), :func:`defbatch_named`;
* ``jet_rules`` (Taylor mode, :func:`fgrad.jet`), :func:`defjet`.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Sequence

from fgrad.core.primitive import Primitive, bind

#: per primitive, either a tuple with one rule per positional argument,
#: ``rule(t, ans, *args, **params) -> contribution of tangent t to the output
#: tangent`` (shaped like ``ans``), or one function for all arguments (see
#: :func:`defjvp_all`)
jvp_rules: dict[Primitive, tuple | Callable] = {}


def defjvp(prim: Primitive, *rules: Callable | None) -> None:
    """Register one jvp rule per positional argument of ``prim``.

    ``rule(t, ans, *args, **params)`` returns the part of the output tangent due
    to argument ``i`` having tangent ``t``; contributions of several arguments
    are added. Arguments that are constants in the current trace are skipped,
    which is how symbolic zeros are represented.
    """
    jvp_rules[prim] = tuple(rules)


def defjvp_all(prim: Primitive, rule: Callable) -> None:
    """Register a jvp rule that sees all tangents at once.

    ``rule(tangents, ans, *args, **params)`` where ``tangents`` has ``None`` for
    arguments without a tangent. Used by primitives with a variable number of
    arguments (``concatenate``), where per-argument rules would be quadratic.
    """
    jvp_rules[prim] = rule


def linear_jvp(prim: Primitive) -> Callable:
    """The jvp rule of an argument in which ``prim`` is linear: apply ``prim`` to the tangent."""

    def rule(t, ans, x, **params):
        return bind(prim, t, **params)

    return rule


#: per primitive, either a tuple with one rule per positional argument,
#: ``rule(ct, ans, *args, **params) -> cotangent of that argument`` (``None``
#: entries for arguments that have no derivative), or one function for all
#: arguments (see :func:`defvjp_all`)
vjp_rules: dict[Primitive, tuple | Callable] = {}


class _Reads:
    """What a primitive's vjp rules read (see :func:`defvjp`), and the tape plans made from it.

    ``per_position[i]`` is ``(positions whose values rule i reads, whether it reads
    the result)``, ``None`` for no rule; a variadic rule (``defvjp_all``) has one
    ``variadic`` entry for every position. A plan is ``(drops, keep_ans)``: the
    positions of the inputs the tape replaces by placeholders, and whether it
    keeps the result.
    """

    def __init__(self, per_position: list, variadic: tuple[frozenset, bool] | None = None):
        self.per_position = per_position
        self.variadic = variadic

    def read(self, i: int) -> tuple[frozenset, bool] | None:
        if self.variadic is not None:
            return self.variadic
        return self.per_position[i] if i < len(self.per_position) else None

    def plan(self, traced: Sequence[int], n_vals: int) -> tuple[tuple[int, ...], bool]:
        kept, keep_ans = set(), False
        for i in traced:
            read = self.read(i)
            if read is not None:
                kept |= read[0]
                keep_ans = keep_ans or read[1]
        # positions past the rules are index operands (a rule's ``*args``): kept
        n = n_vals if self.variadic is not None else min(len(self.per_position), n_vals)
        return tuple(i for i in range(n) if i not in kept), keep_ans


#: per primitive whose vjp rules declare what they read: that declaration. The tape
#: keeps every value of the other primitives.
vjp_reads: dict[Primitive, _Reads] = {}


#: per such primitive, the plan when one argument is traced, indexed by its position
#: (empty for a variadic rule, whose plans depend on the number of arguments)
single_plans: dict[Primitive, tuple] = {}


#: the other plans, made on first use: (primitive, number of values, *traced positions) -> plan
tape_plans: dict[tuple, tuple] = {}


def _set_reads(prim: Primitive, reads: _Reads | None) -> None:
    for key in [k for k in tape_plans if k[0] is prim]:
        del tape_plans[key]
    if reads is None:
        vjp_reads.pop(prim, None)
        single_plans.pop(prim, None)
        return
    vjp_reads[prim] = reads
    n = len(reads.per_position)
    single_plans[prim] = tuple(reads.plan((i,), n) for i in range(n))


def tape_plan(prim: Primitive, links: list, n_vals: int) -> tuple[tuple[int, ...], bool]:
    """The plan for ``prim`` with the traced arguments of ``links`` (several, or variadic)."""
    key = (prim, n_vals, *map(_first, links))
    plan = tape_plans.get(key)
    if plan is None:
        plan = tape_plans[key] = vjp_reads[prim].plan(key[2:], n_vals)
    return plan


_first = operator.itemgetter(0)


def defvjp(
    prim: Primitive, *rules: Callable | None, reads: Sequence[str | None] | None = None
) -> None:
    """Register one vjp rule per positional argument of ``prim``.

    Each rule is ``rule(ct, ans, *args, **params)`` and returns the cotangent of
    its argument, shaped like that argument. Rules are written with fgrad
    operations so they can be differentiated again.

    ``reads`` declares, per rule, the values it reads: a string of the rule's own
    parameter names separated by spaces (``"ans"`` for the result, ``""`` for
    nothing; ``None`` for a ``None`` rule). The tape then keeps only the values
    read by the rules of the arguments that are traced; the rules get
    :class:`~fgrad.core.abstract.ShapedArray` placeholders for the other inputs
    (their shape and dtype remain) and ``None`` for an unread result. Values a
    rule gathers with ``*args`` (index operands) are always kept. Without
    ``reads`` the tape keeps every value.

    Examples
    --------
    >>> defvjp(mul_p,
    ...        lambda g, ans, x, y: unbroadcast(g * y, x.shape),
    ...        lambda g, ans, x, y: unbroadcast(x * g, y.shape),
    ...        reads=("y", "x"))   # x * c keeps c, not x
    """
    declared = None
    if reads is not None:
        if len(reads) != len(rules):
            raise ValueError(
                f"defvjp({prim.name}): {len(rules)} rules but {len(reads)} `reads` entries; "
                "give one string per rule (None for a None rule)"
            )
        declared = _Reads(
            [
                None if rule is None else _resolve_reads(prim, rule, names)
                for rule, names in zip(rules, reads)
            ]
        )
    vjp_rules[prim] = tuple(rules)
    _set_reads(prim, declared)


def defvjp_all(prim: Primitive, rule: Callable, reads: str | None = None) -> None:
    """Register a vjp rule for primitives with a variable number of arguments.

    ``rule(ct, ans, args, wanted, **params)`` returns a list of cotangents, one
    for each argument position in ``wanted``. ``reads`` is ``"ans"`` or ``""``
    when the rule reads no argument's value (only shapes and dtypes), ``None``
    (keep every value) otherwise.
    """
    if reads is not None and reads.split() not in ([], ["ans"]):
        raise ValueError(f"defvjp_all({prim.name}): reads must be '', 'ans' or None, got {reads!r}")
    vjp_rules[prim] = rule
    _set_reads(prim, None if reads is None else _Reads([], variadic=(frozenset(), reads == "ans")))


def _resolve_reads(prim: Primitive, rule: Callable, names: str) -> tuple[frozenset, bool]:
    """``names`` (parameter names of ``rule``) as (argument positions, reads the result)."""
    params = list(inspect.signature(rule).parameters.values())
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(params) < 2 or any(p.kind not in kinds for p in params[:2]):
        raise ValueError(
            f"defvjp({prim.name}): a rule with `reads` must take (ct, ans, *args, **params)"
        )
    result, named = params[1].name, [p.name for p in params[2:] if p.kind in kinds]
    positions, ans = set(), False
    for name in names.split():
        if name == result:
            ans = True
        elif name in named:
            positions.add(named.index(name))
        else:
            raise ValueError(
                f"defvjp({prim.name}): `reads` names {name!r}, which is not a parameter of "
                f"its rule; choose among {[result, *named]}"
            )
    return frozenset(positions), ans


#: per primitive, ``rule(size, vals, dims, **params) -> (out, out_dim)``
batch_rules: dict[Primitive, Callable] = {}


def defbatch(prim: Primitive, rule: Callable) -> None:
    """Register the batch rule of ``prim`` (see the module docstring for its signature)."""
    batch_rules[prim] = rule


#: per collective primitive (``psum``, ``all_gather``, ...), its batch rule over a named
#: axis, ``rule(axis_name, size, vals, dims, **params) -> (out, out_dim)``: it needs the
#: name the ``vmap`` binds (``None`` for an unnamed one) to tell whether it reduces over
#: that axis or maps over it like any other primitive
axis_batch_rules: dict[Primitive, Callable] = {}


def defbatch_named(prim: Primitive, rule: Callable) -> None:
    """Register the batch rule of a collective ``prim`` (see :data:`axis_batch_rules`)."""
    axis_batch_rules[prim] = rule


#: per higher-order operation, its rule under forward mode (``jvp``)
jvp_call_rules: dict = {}
#: per higher-order operation, its rule under reverse mode: it runs the operation one
#: level down and records it on the tape (``grad``, ``vjp``)
grad_call_rules: dict = {}
#: per higher-order operation, its rule under ``vmap``
batch_call_rules: dict = {}


def defcall(
    op,
    *,
    jvp: Callable | None = None,
    grad: Callable | None = None,
    batch: Callable | None = None,
) -> None:
    """Register what the higher-order operation ``op`` does under each transform.

    Each rule is ``rule(trace, *args, **params)``, called by that transform's
    :meth:`~fgrad.core.trace_stack.Trace.process_call` with its trace; a transform
    without a rule stages ``op`` or runs its function (see there).
    """
    for table, rule in ((jvp_call_rules, jvp), (grad_call_rules, grad), (batch_call_rules, batch)):
        if rule is not None:
            table[op] = rule


#: per primitive, ``rule(primals, series, order, **params)``: ``series[i]`` is
#: ``[x_0, x_1, ..., x_order]``, the Taylor coefficients (``x_k`` is the k-th derivative
#: over ``k!``; ``x_0`` is ``primals[i]``) of argument ``i``, or ``None`` where the
#: argument is a constant. The rule returns the result's coefficients ``[y_0, ...,
#: y_order]``; a multi-output primitive's rule returns one such list per result, or the
#: plain value of a result that has none. A primitive without a rule is expanded by
#: ``fgrad.jet``'s fallback (nested ``jvp``).
jet_rules: dict[Primitive, Callable] = {}


def defjet(prim: Primitive, rule: Callable) -> None:
    """Register the Taylor-mode rule of ``prim`` (see ``jet_rules`` for its signature)."""
    jet_rules[prim] = rule
