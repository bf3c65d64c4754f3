"""``custom_jvp`` and ``custom_vjp``: functions that bring their own derivative rules.

A call binds the higher-order operation ``custom_call``, and the top trace among
the arguments applies its rule for it (``Trace.process_call``):

* ``jvp`` of a ``custom_jvp`` function calls the user's rule directly.
* ``grad``/``vjp`` of a ``custom_jvp`` function records the rule's linear part as
  a jaxpr (see :mod:`fgrad.transforms.linearize`) and, in the backward pass, runs it
  transposed. The rule is written with fgrad operations, so it can be
  differentiated again.
* ``grad``/``vjp`` of a ``custom_vjp`` function calls ``fwd`` now and ``bwd`` in
  the backward pass.
* ``jvp`` of a ``custom_vjp`` function records ``bwd`` (linear in the cotangent)
  as a jaxpr and runs it transposed, so forward mode respects the custom rule
  too (JAX refuses this case).
* ``vmap`` of either runs a new custom function whose function and rules are
  the originals under ``vmap``, so the rules still apply when an enclosing
  transform differentiates the batched call. A ``custom_jvp`` function declared
  ``vectorized`` (it treats leading axes as a stack, like LAPACK wrappers) is
  called once on the whole batch instead.
* ``make_jaxpr`` and plain calls run the undecorated function.

Arguments named by ``nondiff_argnums`` are set aside before dispatch: they are
handed to the rule as they are (first, before ``primals``/``residuals``), get no
tangent and no cotangent, and may be any Python value (a function, a flag). Under
``vmap`` a batched one is mapped along with the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.errors import TransformError
from fgrad.core.jaxpr import ClosedJaxpr
from fgrad.core.primitive import CallPrimitive, bind_call
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.rules import defcall
from fgrad.core.source_info import api_boundary
from fgrad.core.trace_stack import new_trace
from fgrad.primitives.structural import batch_to_front, reduce_sum
from fgrad.transforms.argnums import as_positions
from fgrad.transforms.batching import BatchTrace
from fgrad.transforms.forward_mode import JVPTrace, JVPTracer
from fgrad.transforms.linearize import transpose_linear
from fgrad.transforms.make_jaxpr import JaxprTrace
from fgrad.transforms.reverse_mode import GradTrace, record_joint
from fgrad.transforms.vmap import broadcast_prefix, vmap


def _zeros_like(x):
    aval = get_aval(x)
    return backend.zeros(aval.shape, aval.dtype, like=x)


def trace_linear(fun: Callable, avals: list[ShapedArray]) -> ClosedJaxpr:
    """Record ``fun`` (flat list in, flat list out), linear in its arguments, as a jaxpr."""
    trace = JaxprTrace(sources=False)
    with new_trace(trace):
        ins = [trace.new_input(a) for a in avals]
        return trace.closed(fun(ins))


def _jvp_tracer(trace: JVPTrace, primal, tangent) -> JVPTracer:
    """A JVP tracer whose tangent has its primal's dtype, as JVPTrace.process ensures."""
    dtype = get_aval(primal).dtype
    if tangent.dtype != dtype:
        tangent = tangent.astype(dtype)
    return JVPTracer(trace, primal, tangent)


def _add(a, b):
    return a + b


def check_nondiff_argnums(nondiff_argnums: int | Sequence[int], name: str) -> tuple[int, ...]:
    """``nondiff_argnums`` as a sorted tuple of distinct non-negative ints, or a clear error."""
    nums = as_positions(nondiff_argnums, "nondiff_argnums", name)
    if any(n < 0 for n in nums) or len(set(nums)) != len(nums):
        raise TransformError(
            f"{name}: nondiff_argnums must be distinct non-negative positions (of arguments "
            f"passed to the rule undifferentiated), got {nondiff_argnums!r}"
        )
    return tuple(sorted(nums))


class _NondiffSplit:
    """A call's arguments split by ``nondiff_argnums``: ``nondiff`` (handed to the rule as
    they are) and ``diff`` (the ones with tangents), and the way back to one tuple."""

    __slots__ = ("positions", "nondiff", "diff")

    def __init__(self, positions: tuple[int, ...], args: tuple, fun: Callable, kind: str):
        if positions and positions[-1] >= len(args):
            raise TransformError(
                f"{kind} function {fun.__name__} has nondiff_argnums={positions} but was "
                f"called with {len(args)} positional argument(s)"
            )
        self.positions = positions
        if positions:
            self.nondiff = tuple(args[i] for i in positions)
            self.diff = tuple(a for i, a in enumerate(args) if i not in positions)
        else:
            self.nondiff, self.diff = (), args

    def leaves(self, diff_leaves: list) -> list:
        """``diff_leaves`` and the leaves of the nondiff arguments: where tracers may be."""
        return diff_leaves + tree_flatten(self.nondiff)[0] if self.nondiff else diff_leaves

    def merge(self, nondiff: tuple, diff: tuple) -> tuple:
        """All arguments in call order, from the two groups."""
        nd, d = iter(nondiff), iter(diff)
        n = len(nondiff) + len(diff)
        return tuple(next(nd) if i in self.positions else next(d) for i in range(n))

    def refuse_traced(self, trace, fun: Callable, kind: str) -> None:
        """Refuse a nondiff argument that carries a value ``trace`` differentiates: the rule
        would take no derivative with respect to it, silently."""
        for pos, arg in zip(self.positions, self.nondiff):
            if any(trace.owns(x) for x in tree_flatten(arg)[0]):
                raise TransformError(
                    f"{kind} function {fun.__name__}: argument {pos} is in nondiff_argnums "
                    f"but depends on a value that {trace.name} differentiates. Pass it as an "
                    "ordinary argument (its rule then handles its derivative), or wrap it in "
                    "fgrad.stop_gradient if its derivative is meant to be zero."
                )


def _batched_nondiff(trace: BatchTrace, split: _NondiffSplit, to_front=None) -> tuple:
    """The nondiff arguments one level down (batch axes first, each leaf passed through
    ``to_front(leaf, axis)`` if given) and their axes, per argument."""
    flat, tree = tree_flatten(split.nondiff)
    vals, axes = trace.unbatch(flat)
    if to_front is not None:
        vals = [to_front(v, a) for v, a in zip(vals, axes)]
    return tree_unflatten(tree, vals), tree_unflatten(tree, axes)


def _call(custom: custom_jvp | custom_vjp, args: tuple, kind: str):
    """Call a ``custom_jvp`` or ``custom_vjp`` function: by its rule under the top trace of
    its arguments (the ``custom_call`` rules below), else plainly."""
    split = _NondiffSplit(custom.nondiff_argnums, args, custom.fun, kind)
    flat, in_tree = tree_flatten(split.diff)
    return bind_call(
        custom_call, *split.leaves(flat), custom=custom, split=split, in_tree=in_tree,
        n_diff=len(flat),
    )


def _run_plainly(*leaves, custom, split: _NondiffSplit, in_tree, n_diff: int):
    return custom.fun(*split.merge(split.nondiff, tree_unflatten(in_tree, leaves[:n_diff])))


#: a call of a ``custom_jvp`` or ``custom_vjp`` function; its positional arguments are
#: the leaves of the differentiated arguments, then those of the nondiff ones (where a
#: tracer may hide too); staged (``make_jaxpr``) and untraced, the function runs itself
custom_call = CallPrimitive("custom_call", _run_plainly)


def _jvp_rule(trace: JVPTrace, *leaves, custom, split: _NondiffSplit, in_tree, n_diff: int):
    split.refuse_traced(trace, custom.fun, type(custom).__name__)
    return custom._jvp_call(trace, split, list(leaves[:n_diff]), in_tree)


def _grad_rule(trace: GradTrace, *leaves, custom, split: _NondiffSplit, in_tree, n_diff: int):
    split.refuse_traced(trace, custom.fun, type(custom).__name__)
    return custom._vjp_call(trace, split, list(leaves[:n_diff]), in_tree)


def _batch_rule(trace: BatchTrace, *leaves, custom, split: _NondiffSplit, in_tree, n_diff: int):
    return custom._batch_call(trace, split, list(leaves[:n_diff]), in_tree)


defcall(custom_call, jvp=_jvp_rule, grad=_grad_rule, batch=_batch_rule)


class custom_jvp:  # noqa: N801 - named like a function, as in JAX
    """Decorate a function to give it a custom forward-mode derivative rule.

    Examples
    --------
    >>> @fgrad.custom_jvp
    ... def log1pexp(x):
    ...     return fnp.log1p(fnp.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * fgrad.nn.sigmoid(x)

    The rule receives the tuple of positional arguments and the tuple of their
    tangents, and returns ``(output, output_tangent)``. Reverse mode uses it
    too, by transposing its linear part, so one rule serves both modes.
    :meth:`defjvps` instead takes one rule per argument.

    ``nondiff_argnums`` names positional arguments that are not differentiated
    (a function, a tolerance, a flag): the rule receives them first, as they
    are, and ``primals``/``tangents`` hold only the other arguments:
    ``rule(*nondiff_args, primals, tangents)``.

    ``vectorized=True`` (as a keyword: ``functools.partial(custom_jvp,
    vectorized=True)``) promises that the function and its rule treat extra leading
    axes of every argument as a stack of independent problems; ``vmap`` then calls
    them once on the batch instead of mapping them. The factorisations in
    ``fgrad.numpy.linalg`` use it: their values come from LAPACK on concrete arrays.
    """

    def __init__(
        self,
        fun: Callable,
        nondiff_argnums: int | Sequence[int] = (),
        *,
        vectorized: bool = False,
    ):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.jvp: Callable | None = None
        self.nondiff_argnums = check_nondiff_argnums(nondiff_argnums, "custom_jvp")
        self.vectorized = vectorized

    def defjvp(self, jvp: Callable) -> Callable:
        """Register ``jvp(*nondiff_args, primals, tangents) -> (out, tangent_out)``; returns
        it (a decorator)."""
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps: Callable | None) -> None:
        """Register one tangent rule per positional argument.

        Parameters
        ----------
        *jvps
            ``jvps[i](t_i, ans, *primals)`` is the output tangent that argument ``i``'s
            tangent ``t_i`` contributes (a pytree like the output); ``None`` for an
            argument whose contribution is zero. The output tangent is their sum.

        Raises
        ------
        TransformError
            With ``nondiff_argnums`` (use :meth:`defjvp`), or when called with a
            number of arguments other than ``len(jvps)``.
        """
        name = self.fun.__name__
        if self.nondiff_argnums:
            raise TransformError(
                f"custom_jvp function {name}: defjvps cannot be combined with "
                "nondiff_argnums; write one rule with defjvp instead"
            )

        def jvp(primals: tuple, tangents: tuple):
            if len(jvps) != len(primals):
                raise TransformError(
                    f"custom_jvp function {name} was called with {len(primals)} positional "
                    f"argument(s) but defjvps gave {len(jvps)} rule(s), one per argument"
                )
            ans = self.fun(*primals)
            terms = [rule(t, ans, *primals) for rule, t in zip(jvps, tangents) if rule is not None]
            if not terms:
                return ans, tree_map(_zeros_like, ans)
            return ans, functools.reduce(lambda a, b: tree_map(_add, a, b), terms)

        self.jvp = jvp

    @api_boundary
    def __call__(self, *args):
        if self.jvp is None:
            raise TransformError(
                f"custom_jvp function {self.fun.__name__} has no rule yet: define one with "
                f"@{self.fun.__name__}.defjvp"
            )
        return _call(self, args, "custom_jvp")

    def _rule(self, nondiff: tuple, primals: tuple, tangents: tuple):
        return self.jvp(*nondiff, primals, tangents)

    def _batch_call(self, trace: BatchTrace, split: _NondiffSplit, flat: list, in_tree):
        vals, axes = trace.unbatch(flat)
        if self.vectorized:
            def to_front(v, a):  # Python scalars (flags, orders) stay as they are
                return batch_to_front(v, a, trace.size) if hasattr(v, "shape") else v

            vals = [to_front(v, a) for v, a in zip(vals, axes)]
            nondiff, _ = _batched_nondiff(trace, split, to_front)
            return trace.rebatch(self(*split.merge(nondiff, tree_unflatten(in_tree, vals))))
        nondiff, nd_axes = _batched_nondiff(trace, split)
        in_axes = tree_unflatten(in_tree, axes)
        size = trace.size
        batched = custom_jvp(
            vmap(self.fun, split.merge(nd_axes, in_axes), 0, trace.axis_name, size),
            nondiff_argnums=self.nondiff_argnums,
        )
        batched.defjvp(vmap(self.jvp, (*nd_axes, in_axes, in_axes), 0, trace.axis_name, size))
        return trace.rebatch(batched(*split.merge(nondiff, tree_unflatten(in_tree, vals))))

    def _jvp_call(self, trace: JVPTrace, split: _NondiffSplit, flat: list, in_tree):
        primals, tangents = trace.unzip(flat)
        out, t_out = self._rule(
            split.nondiff, tree_unflatten(in_tree, primals), tree_unflatten(in_tree, tangents)
        )
        out_flat, out_tree = tree_flatten(out)
        t_flat, t_tree = tree_flatten(t_out)
        if t_tree != out_tree:
            raise TransformError(
                f"custom_jvp rule of {self.fun.__name__} returned a tangent of structure "
                f"{t_tree} for an output of structure {out_tree}"
            )
        return tree_unflatten(
            out_tree, [_jvp_tracer(trace, o, t) for o, t in zip(out_flat, t_flat)]
        )

    def _vjp_call(self, trace: GradTrace, split: _NondiffSplit, flat: list, in_tree):
        vals, links = trace.unwrap(flat)
        box = []

        def tangent_map(tangents):
            out, t_out = self._rule(
                split.nondiff, tree_unflatten(in_tree, vals), tree_unflatten(in_tree, tangents)
            )
            box.append(out)
            return tree_flatten(t_out)[0]

        lin = trace_linear(tangent_map, [get_aval(v).strong() for v in vals])
        out_flat, out_tree = tree_flatten(box[0])

        def bwd(cts: dict) -> list:  # the unreached outputs' cotangents are symbolic zeros
            return transpose_linear(lin, [cts.get(k) for k in range(len(out_flat))])

        return tree_unflatten(out_tree, record_joint(trace, vals, links, out_flat, bwd))


class custom_vjp:  # noqa: N801 - named like a function, as in JAX
    """Decorate a function to give it a custom reverse-mode derivative rule.

    Examples
    --------
    >>> @fgrad.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> def fwd(x):
    ...     return x, None                       # output, residuals for bwd
    >>> def bwd(residuals, g):
    ...     return (fnp.clip(g, -1.0, 1.0),)     # one cotangent per positional argument
    >>> clip_gradient.defvjp(fwd, bwd)

    ``fwd(*args) -> (out, residuals)`` runs in the forward pass;
    ``bwd(residuals, ct) -> tuple of cotangents`` (one per positional argument,
    ``None`` for zero) in the backward pass. Forward mode (``jvp``) transposes
    ``bwd``, so both modes follow the custom rule.

    ``nondiff_argnums`` names positional arguments that are not differentiated:
    ``fwd`` still receives every argument, ``bwd`` receives the nondiff ones first,
    ``bwd(*nondiff_args, residuals, ct)``, and returns cotangents for the others only.
    """

    def __init__(self, fun: Callable, nondiff_argnums: int | Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        self.nondiff_argnums = check_nondiff_argnums(nondiff_argnums, "custom_vjp")

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Register the forward function and the backward rule."""
        self.fwd, self.bwd = fwd, bwd

    @api_boundary
    def __call__(self, *args):
        if self.fwd is None:
            raise TransformError(
                f"custom_vjp function {self.fun.__name__} has no rule yet: call "
                f"{self.fun.__name__}.defvjp(fwd, bwd)"
            )
        return _call(self, args, "custom_vjp")

    def _batch_call(self, trace: BatchTrace, split: _NondiffSplit, flat: list, in_tree):
        """A custom_vjp function of the whole batch: ``fwd`` and ``bwd`` mapped, and the
        cotangents of arguments shared by the batch summed over it."""
        vals, axes = trace.unbatch(flat)
        nondiff, nd_axes = _batched_nondiff(trace, split)
        in_axes = tree_unflatten(in_tree, axes)
        size = trace.size

        def batched_bwd(*args):  # (*nondiff, residuals, cotangent)
            cts = vmap(self.bwd, (*nd_axes, 0, 0), 0, trace.axis_name, size)(*args)
            if not isinstance(cts, (tuple, list)):
                return cts  # _flat_bwd of the batched function explains the mistake
            summed = []
            for ct, ax in zip(cts, in_axes):
                leaves, tree = tree_flatten(ct)
                leaf_axes = broadcast_prefix(ax, ct, "in_axes")
                leaves = [c if a == 0 else reduce_sum(c, (0,)) for c, a in zip(leaves, leaf_axes)]
                summed.append(tree_unflatten(tree, leaves))
            return tuple(summed)

        all_axes = split.merge(nd_axes, in_axes)
        name = trace.axis_name
        batched = custom_vjp(vmap(self.fun, all_axes, 0, name, size), self.nondiff_argnums)
        batched.defvjp(vmap(self.fwd, all_axes, 0, name, size), batched_bwd)
        return trace.rebatch(batched(*split.merge(nondiff, tree_unflatten(in_tree, vals))))

    def _flat_bwd(self, nondiff: tuple, res, out_tree, cts_out: list, in_tree, like: list):
        cts = self.bwd(*nondiff, res, tree_unflatten(out_tree, cts_out))
        which = "positional argument not in nondiff_argnums" if nondiff else "positional argument"
        if not isinstance(cts, (tuple, list)):
            raise TransformError(
                f"custom_vjp bwd of {self.fun.__name__} must return a tuple with one "
                f"cotangent per {which}, got {type(cts).__name__}"
            )
        args_like = tree_unflatten(in_tree, like)
        if len(cts) != len(args_like):
            raise TransformError(
                f"custom_vjp bwd of {self.fun.__name__} returned {len(cts)} cotangents, but "
                f"there is one per {which}: {len(args_like)}"
            )
        flat = []
        for ct, arg in zip(cts, args_like):
            arg_leaves = tree_flatten(arg)[0]
            if ct is None:
                flat.extend(_zeros_like(a) for a in arg_leaves)
                continue
            ct_leaves, ct_tree = tree_flatten(ct)
            if ct_tree != tree_flatten(arg)[1]:
                raise TransformError(
                    f"custom_vjp bwd of {self.fun.__name__}: a cotangent has structure "
                    f"{ct_tree} but its argument has structure {tree_flatten(arg)[1]}"
                )
            flat.extend(ct_leaves)
        return flat

    def _vjp_call(self, trace: GradTrace, split: _NondiffSplit, flat: list, in_tree):
        vals, links = trace.unwrap(flat)
        out, res = self.fwd(*split.merge(split.nondiff, tree_unflatten(in_tree, vals)))
        out_flat, out_tree = tree_flatten(out)

        def bwd(cts: dict) -> list:  # zeros for the unreached outputs, as JAX's bwd gets
            cts_out = [cts[k] if k in cts else _zeros_like(o) for k, o in enumerate(out_flat)]
            return self._flat_bwd(split.nondiff, res, out_tree, cts_out, in_tree, vals)

        return tree_unflatten(out_tree, record_joint(trace, vals, links, out_flat, bwd))

    def _jvp_call(self, trace: JVPTrace, split: _NondiffSplit, flat: list, in_tree):
        primals, tangents = trace.unzip(flat)
        out, res = self.fwd(*split.merge(split.nondiff, tree_unflatten(in_tree, primals)))
        out_flat, out_tree = tree_flatten(out)
        try:
            lin = trace_linear(
                lambda cts: self._flat_bwd(split.nondiff, res, out_tree, cts, in_tree, primals),
                [get_aval(o).strong() for o in out_flat],
            )
            t_out = transpose_linear(lin, tangents)
        except TransformError:
            raise
        except Exception as err:
            raise TransformError(
                f"jvp of the custom_vjp function {self.fun.__name__} runs its bwd rule "
                "transposed, which needs bwd to be linear in the cotangent and free of "
                "Python control flow on it; this one is not. Use reverse mode (grad, vjp) "
                f"for this function, or give it a custom_jvp rule instead. ({err})"
            ) from err
        t_out = [t if t is not None else _zeros_like(o) for t, o in zip(t_out, out_flat)]
        return tree_unflatten(out_tree, [_jvp_tracer(trace, o, t) for o, t in zip(out_flat, t_out)])
