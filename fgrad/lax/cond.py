"""``cond`` and ``switch``: JAX's structured branching.

``cond(pred, true_fun, false_fun, *ops)`` is ``switch(int(pred), [false_fun,
true_fun], *ops)``; everything below is about ``switch`` on an integer index.

With a known index (eager mode, ``grad``, ``jvp``) the chosen branch runs in
Python. With an index whose value is unknown (under ``jit``/``make_jaxpr``, or one
example of a ``vmap`` batch), every branch is traced once into a jaxpr; values the
branches close over become operands, so every branch is a function of the same
operand list. The call binds ``cond_p`` with ``bind_call`` and is handled by what is
tracing it (the rules registered with ``defcall`` at the end of this module), each
rule written as a call one level down, so that they compose in any order:

* ``jit``/``make_jaxpr`` record one ``cond`` primitive; its impl runs the chosen
  branch's compiled replay only (no work, warnings or prints from the others).
* ``jvp``: a ``cond`` over the branches' ``jvp``.
* ``grad``/``vjp``: one joint tape entry whose backward rule is a ``cond``, on the
  same index, over the branches' pullbacks of the outputs that received cotangents
  (each recomputes its branch's forward pass, as :func:`fgrad.checkpoint` does; the
  other outputs are left out, not given zero cotangents). The cotangent never meets
  an untaken branch nor an unused output's derivative, and a second derivative
  differentiates that ``cond`` by the same rule.
* ``vmap`` with an index shared by the batch: a ``cond`` over the branches' ``vmap``.
* ``vmap`` with a batched index: every branch runs on the whole batch and each
  example's result is selected with ``where``. Branch ``k`` receives its operands
  as ``where(index == k, x, stop_gradient(x))``: equal values, but a derivative
  reaching ``x`` from branch ``k`` is *selected* away where ``k`` is not taken,
  never multiplied by zero, so a branch whose derivative is infinite where it is
  not taken (``sqrt`` at negative numbers) cannot turn the result into NaN. NumPy's
  floating-point warnings are silenced while the branches run on examples that
  may not take them. Over concrete values this runs at once; where something below
  records (``jit``, ``grad``), the selection is traced into a one-branch ``cond``
  marked ``quiet``, so that the replay and the backward pass stay silent too.

The rules call a branch's Python function where it closes over no traced value
(custom derivative rules inside it then apply), and its jaxpr otherwise.
A recorded ``cond`` replayed by ``eval_jaxpr`` goes through these rules again
(the primitive's ``custom_rules``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.errors import ShapeError
from fgrad.core.jaxpr import ClosedJaxpr, Jaxpr, Literal, Var
from fgrad.core.primitive import Primitive, bind_call, top_trace
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.rules import defcall
from fgrad.core.tracer import Tracer, known_value
from fgrad.lax.checks import check_same_types
from fgrad.lax.traced_function import TracedFunction
from fgrad.numpy.ufuncs import clip, where
from fgrad.primitives.elementwise import convert_element_type, stop_gradient
from fgrad.transforms.argnums import replace_at
from fgrad.transforms.batching import BatchTrace, BatchTracer
from fgrad.transforms.forward_mode import JVPTrace, JVPTracer, jvp
from fgrad.transforms.make_jaxpr import JaxprTrace, stage
from fgrad.transforms.reverse_mode import GradTrace, record_joint, vjp
from fgrad.transforms.vmap import vmap


def _cond_impl(index, *operands, branches: tuple[_Branch, ...], quiet: bool) -> tuple:
    with _floating_point_errors(quiet):
        return tuple(branches[int(index)](*operands))


def _cond_abstract_eval(index, *avals, branches: tuple[_Branch, ...], quiet: bool):
    return tuple(a.strong() for a in branches[0].out_avals)


cond_p = Primitive("cond", _cond_impl, _cond_abstract_eval, multiple_results=True)
cond_p.custom_rules = lambda index, *operands, branches, quiet: tuple(
    _cond(index, branches, operands, quiet)
)


def _floating_point_errors(quiet: bool):
    """NumPy's floating-point warnings silenced where a branch computes values that are
    discarded (the examples of a batch that do not take it); left as they are otherwise."""
    return np.errstate(all="ignore") if quiet else contextlib.nullcontext()


class _BranchTrace(JaxprTrace):
    """The abstract trace of a branch whose index is not known (named for messages)."""

    __slots__ = ()
    name = "the branches of lax.cond/switch"


def cond(pred, true_fun: Callable, false_fun: Callable, *operands) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)`` (``jax.lax.cond``).

    Parameters
    ----------
    pred
        A scalar: a Python bool, or an array or tracer of shape ``()`` (a number
        counts as true where it is not zero).
    true_fun, false_fun
        Functions of ``operands`` returning pytrees of the same structure, shapes
        and dtypes.
    *operands
        Their arguments.

    Returns
    -------
    The chosen branch's result. Where ``pred``'s value is unknown (``jit``,
    ``vmap``) it is :func:`switch` on ``int(pred)`` over ``[false_fun, true_fun]``.

    Examples
    --------
    >>> fgrad.lax.cond(x > 0, fnp.sqrt, lambda x: -x, x)   # grad at x=-1 is -1, under jit too
    """
    shape = get_aval(pred).shape
    if shape != ():
        raise ShapeError(
            f"cond: the predicate must be a scalar, got shape {shape}; for an elementwise "
            "choice use fgrad.numpy.where"
        )
    known = known_value(pred)
    if known is not None:
        return (true_fun if bool(known) else false_fun)(*operands)
    if get_aval(pred).dtype != np.bool_:
        pred = pred != 0
    index = convert_element_type(pred, np.int32)
    names = ["false_fun's result", "true_fun's result"]
    return _staged("cond", index, [false_fun, true_fun], operands, names, reference=1)


def switch(index, branches: Sequence[Callable], *operands) -> Any:
    """``branches[index](*operands)``, the index clamped into range (``jax.lax.switch``).

    Parameters
    ----------
    index
        A scalar integer (Python int, array or tracer).
    branches
        Functions of ``operands`` returning pytrees of the same structure, shapes
        and dtypes.
    *operands
        Their arguments.

    Returns
    -------
    The chosen branch's result. Under ``jit`` only the chosen branch runs; for a
    ``vmap`` batch of indices every branch runs and each example's result is
    selected (see the module docstring).
    """
    branches = list(branches)
    if not branches:
        raise ValueError("switch: branches must name at least one function")
    aval = get_aval(index)
    if aval.shape != () or aval.dtype.kind not in "biu":
        raise TypeError(f"switch: the index must be a scalar integer, got {aval.str_short()}")
    value = known_value(index)
    if value is not None:
        return branches[int(np.clip(value, 0, len(branches) - 1))](*operands)
    index = clip(index, 0, len(branches) - 1)
    names = [f"branch {k}'s result" for k in range(len(branches))]
    return _staged("switch", index, branches, operands, names, reference=0)


def _staged(what: str, index, funs: list[Callable], operands: tuple, names, reference: int):
    """The branches traced once, type-checked, and run at the level of the top trace."""
    flat, in_tree = tree_flatten(operands)
    branches, consts, closed = _trace_all(funs, flat, in_tree=in_tree)
    promoted = _weak_types_promoted(funs, closed)
    if promoted is not None:
        branches, consts, closed = _trace_all(promoted, flat, in_tree=in_tree)
    want = _aval_tree(closed[reference])
    for k, c in enumerate(closed):
        if k != reference:
            check_same_types(what, _aval_tree(c), want, names[k], names[reference])
    outs = _cond(index, branches, [*consts, *flat])
    return tree_unflatten(closed[0].out_tree, outs)


def _weak_types_promoted(funs: list[Callable], closed: list[ClosedJaxpr]) -> list | None:
    """The branches with each Python scalar result (``lambda x: 0.0``) converted to the
    dtype the other branches agree on there, as JAX does; None where nothing needs
    converting (or the structures differ: the type check explains)."""
    if any(c.out_tree != closed[0].out_tree for c in closed):
        return None
    targets, convert = [], False
    for outvars in zip(*[c.jaxpr.outvars for c in closed]):
        typed = {v.aval.dtype for v in outvars if type(v) is not Literal}
        target = typed.pop() if len(typed) == 1 else None
        convert = convert or any(
            type(v) is Literal and v.aval.dtype != target for v in outvars if target
        )
        targets.append(target)
    if not convert:
        return None

    def promoted(f: Callable) -> Callable:
        def branch(*ops):
            leaves, tree = tree_flatten(f(*ops))
            return tree_unflatten(
                tree,
                [x if t is None else convert_element_type(x, t) for x, t in zip(leaves, targets)],
            )

        return branch

    return [promoted(f) for f in funs]


def _aval_tree(closed: ClosedJaxpr):
    """A branch's result as a pytree of abstract values, for :func:`check_same_types`."""
    return tree_unflatten(closed.out_tree, [_AvalLeaf(v.aval) for v in closed.jaxpr.outvars])


class _AvalLeaf:
    """A pytree leaf standing for an abstract value (``get_aval`` reads ``.aval``)."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval


class _Branch:
    """One branch as a function of all the operands of its ``cond`` (the constants the
    branches close over, then the arguments).

    ``traced`` is its jaxpr, which the primitive's impl replays. ``python`` is the
    Python function itself, kept where the branch closes over no traced value: the
    transform rules call it, so that custom derivative rules (``custom_jvp``,
    ``custom_vjp``, ``checkpoint``) inside the branch apply; a jaxpr has traced
    through them to their primitives.
    """

    __slots__ = ("traced", "python")

    def __init__(self, traced: TracedFunction, python: Callable | None):
        self.traced = traced
        self.python = python

    def __call__(self, *operands) -> list:
        return self.traced(*operands)

    def call(self, *operands) -> list:
        """The branch applied by binding, so that enclosing transforms see it."""
        if self.python is None:
            return self.traced.bind_each(*operands)
        return self.python(*operands)

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.traced.jaxpr.outvars]

    def __str__(self) -> str:
        return str(self.traced)


def _trace_all(funs: list[Callable], args: list, avals: list | None = None, in_tree=None):
    """Each of ``funs`` traced at ``args``' types (``in_tree`` gives the arguments' pytree;
    by default ``funs`` take the flat list): the branches over the constants they close
    over and ``args``, those constants, and the traced jaxprs."""
    avals = [get_aval(a) for a in args] if avals is None else avals
    in_tree = tree_flatten(list(args))[1] if in_tree is None else in_tree
    closed = [stage(_BranchTrace(), lambda a, f=f: f(*a), args, avals, in_tree) for f in funs]
    consts: list = []
    position: dict[int, int] = {}
    for c in closed:
        for value in c.consts:
            if id(value) not in position:
                position[id(value)] = len(consts)
                consts.append(value)
    n_consts = len(consts)
    keep_python = not any(isinstance(value, Tracer) for value in consts)
    branches = []
    for f, c in zip(funs, closed):
        j = c.jaxpr
        slots: list = [Var(get_aval(value).strong()) for value in consts]
        for var, value in zip(j.constvars, c.consts):
            slots[position[id(value)]] = var
        traced = TracedFunction(
            ClosedJaxpr(Jaxpr([], slots + list(j.invars), j.eqns, j.outvars), [])
        )

        def python(*operands, f=f):
            out = f(*tree_unflatten(in_tree, list(operands[n_consts:])))
            return tree_flatten(out)[0]

        branches.append(_Branch(traced, python if keep_python else None))
    return branches, consts, closed


def switch_flat(index, funs: Sequence[Callable], operands: Sequence, quiet: bool) -> list:
    """``funs[index](*operands)`` for functions of a flat list of operands returning flat
    lists of the same types, as the rules of another transform build it from a recorded
    ``cond``: the index is taken as it is (already in range), and ``quiet`` (see
    :func:`_cond`) is kept, so that a quiet ``cond`` stays quiet under that transform."""
    branches, consts, _ = _trace_all(list(funs), list(operands))
    return _cond(index, branches, [*consts, *operands], quiet)


def _is_float(aval: ShapedArray) -> bool:
    return aval.dtype.kind in "fc"


def _cond(index, branches: Sequence[_Branch], operands: Sequence, quiet=False) -> list:
    """``branches[index](*operands)`` at the level of the highest trace among them.

    ``quiet`` (the one-branch call behind a batched index) also goes through the rules
    where its index is known, so that ``jit`` records it as a ``cond`` and its replay
    runs with NumPy's floating-point warnings silenced.
    """
    trace = top_trace([index, *operands])
    value = known_value(index)
    if value is not None and not (quiet and trace is not None):
        with _floating_point_errors(quiet):
            return list(branches[int(value)].call(*operands))
    return list(bind_call(cond_p, index, *operands, branches=tuple(branches), quiet=quiet))


def _jvp_cond(trace: JVPTrace, index, *operands, branches: tuple, quiet: bool) -> list:
    """A ``cond`` over the branches' ``jvp``: primal and tangent outputs together."""
    primals, tangents = trace.unzip(operands)
    if trace.owns(index):
        index = index.primal
    moving = [k for k, x in enumerate(operands) if trace.owns(x) and _is_float(get_aval(x))]
    out_avals = branches[0].out_avals
    floats = [j for j, a in enumerate(out_avals) if _is_float(a)]
    n = len(operands)

    def jvp_of(branch: _Branch) -> Callable:
        def branch_jvp(*args):
            ops, ts = list(args[:n]), list(args[n:])
            out, t_out = jvp(
                lambda *xs: branch.call(*replace_at(ops, moving, xs)),
                [ops[k] for k in moving],
                ts,
            )
            return list(out) + [t_out[j] for j in floats]

        return branch_jvp

    args = [*primals, *[tangents[k] for k in moving]]
    jvp_branches, consts, _ = _trace_all([jvp_of(b) for b in branches], args)
    res = _cond(index, jvp_branches, [*consts, *args], quiet)
    outs = res[: len(out_avals)]
    for j, t in zip(floats, res[len(out_avals) :]):
        outs[j] = JVPTracer(trace, outs[j], t)
    return outs


def _batch_cond(trace: BatchTrace, index, *operands, branches: tuple, quiet: bool) -> list:
    """With an index shared by the batch, a ``cond`` over the branches' ``vmap``; with a
    batched one, one quiet call of every branch on the whole batch, each example's
    result selected by its index."""
    batched_index = trace.owns(index)
    if batched_index:
        vals, axes = trace.unbatch([index, *operands])
        if not any(isinstance(x, Tracer) for x in vals):  # nothing below records: run here
            with _floating_point_errors(True):
                return _select_per_example(index, branches, operands)

        def select(idx, *ops):
            return _select_per_example(idx, branches, ops)

        mapped = [vmap(select, tuple(axes), 0, trace.axis_name, trace.size)]
        index, quiet = 0, True
    else:
        vals, axes = trace.unbatch(operands)
        mapped = [vmap(b.call, tuple(axes), 0, trace.axis_name, trace.size) for b in branches]
    mapped_branches, consts, _ = _trace_all(mapped, vals)
    outs = _cond(index, mapped_branches, [*consts, *vals], quiet)
    return [BatchTracer(trace, o, 0) for o in outs]


def _select_per_example(index, branches, operands) -> list:
    """Every branch on one example, its float operands guarded (see the module
    docstring), and the result of branch ``index`` selected."""
    results = []
    for k, branch in enumerate(branches):
        taken = index == k
        guarded = [
            where(taken, x, stop_gradient(x))
            if isinstance(x, Tracer) and _is_float(get_aval(x))
            else x
            for x in operands
        ]
        results.append(branch.call(*guarded))
    chosen = results[-1]
    for k in reversed(range(len(branches) - 1)):
        taken = index == k
        chosen = [where(taken, a, b) for a, b in zip(results[k], chosen)]
    return list(chosen)


def _grad_cond(trace: GradTrace, index, *operands, branches: tuple, quiet: bool) -> list:
    """The ``cond`` one level down, recorded on the tape with a ``cond`` over the
    branches' pullbacks as its backward rule."""
    vals, links = trace.unwrap(list(operands))
    if trace.owns(index):
        index = index.val
    outs = _cond(index, branches, vals, quiet)
    wanted = [pos for pos, _ in links if _is_float(get_aval(vals[pos]))]
    if not wanted:
        return outs
    out_avals = branches[0].out_avals
    n = len(vals)
    pullbacks: dict[tuple[int, ...], tuple] = {}  # per set of reached outputs, traced once

    def pullback_of(branch: _Branch, reached: tuple[int, ...]) -> Callable:
        """The pullback of the reached outputs alone: the others have no cotangent."""

        def branch_pullback(*args):
            ops, cts = list(args[:n]), list(args[n:])

            def on_wanted(*xs):
                out = branch.call(*replace_at(ops, wanted, xs))
                return [out[j] for j in reached]

            return list(vjp(on_wanted, *[ops[p] for p in wanted])[1](cts))

        return branch_pullback

    def bwd(by_output: dict) -> list:
        reached = tuple(sorted(by_output))
        cts = [_as_dtype(by_output[j], out_avals[j]) for j in reached]
        if reached not in pullbacks:
            avals = [get_aval(v) for v in vals] + [out_avals[j].strong() for j in reached]
            pullbacks[reached] = _trace_all(
                [pullback_of(b, reached) for b in branches], [*vals, *cts], avals
            )
        traced, consts, _ = pullbacks[reached]
        in_cts = _cond(index, traced, [*consts, *vals, *cts], quiet)
        return replace_at([None] * n, wanted, in_cts)

    links = [(pos, idx) for pos, idx in links if pos in wanted]
    return record_joint(trace, vals, links, outs, bwd)


def _as_dtype(ct, aval: ShapedArray):
    return ct if ct.dtype == aval.dtype else ct.astype(aval.dtype)


defcall(cond_p, jvp=_jvp_cond, grad=_grad_cond, batch=_batch_cond)
