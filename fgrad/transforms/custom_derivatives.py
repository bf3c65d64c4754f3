"""``custom_jvp`` and ``custom_vjp``: functions that bring their own derivative rules.

Each transform treats a call differently, dispatched on the type of the top trace
among the arguments:

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
from fgrad.core.primitive import top_trace
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.core.trace_stack import new_trace
from fgrad.core.tracer import Tracer
from fgrad.transforms.argnums import as_positions
from fgrad.transforms.batching import BatchTrace, BatchTracer
from fgrad.transforms.forward_mode import JVPTrace, JVPTracer, unzip
from fgrad.transforms.linearize import transpose_linear
from fgrad.transforms.make_jaxpr import JaxprTrace
from fgrad.transforms.reverse_mode import GradTrace, _real_if_input_real, record_custom
from fgrad.transforms.vmap import broadcast_prefix, vmap


def _zeros_like(x):
    aval = get_aval(x)
    return backend.zeros(aval.shape, aval.dtype, like=x)


def unwrap_own(trace, flat: list) -> tuple[list, list]:
    """Values of ``flat`` one level down, and ``links`` for the tape (see GradTrace.process)."""
    vals, links = [], []
    for i, x in enumerate(flat):
        if isinstance(x, Tracer) and x._trace is trace:
            links.append((i, x.idx))
            x = x.val
        vals.append(x)
    return vals, links


class Cotangents:
    """The cotangents that reached some outputs of one joint tape entry, by output
    position; the tape sums two of them (one per use of an output) with ``+``."""

    __slots__ = ("by_output",)

    def __init__(self, by_output: dict):
        self.by_output = by_output

    def __add__(self, other: Cotangents) -> Cotangents:
        merged = dict(self.by_output)
        for k, ct in other.by_output.items():
            merged[k] = ct if k not in merged else merged[k] + ct
        return Cotangents(merged)


def record_joint(trace: GradTrace, vals: list, links: list, outs: list, bwd: Callable) -> list:
    """Put the floating-point ``outs`` of one call on ``trace``'s tape with ONE backward
    rule for all of them, ``bwd({output position: cotangent}) -> cotangent per value``
    (``None`` for zero).

    ``bwd`` runs once per backward pass and sees the cotangents of exactly the outputs
    the pass reached; the others are symbolic zeros, never materialised, so an infinite
    derivative towards an unused output cannot meet a zero (``0 * inf``), and a call with
    k used outputs is pulled back once, not k times. A hidden entry collects the outputs'
    cotangents (each output's entry passes its own on as :class:`Cotangents`; being
    recorded first, the hidden entry is reached last); a lone floating-point output
    needs none and is recorded directly. Outputs that are not floating point have no
    derivative and stay plain values, as for non-differentiable primitives. ``links``
    pairs positions in ``vals`` with tape indices, as in
    :meth:`~fgrad.transforms.reverse_mode.GradTrace.process`.
    """
    floats = [k for k, o in enumerate(outs) if get_aval(o).dtype.kind in "fc"]
    if len(floats) <= 1:  # the common case needs no hidden entry
        outs = list(outs)
        for k in floats:
            outs[k] = record_custom(trace, vals, links, outs[k], lambda ct, k=k: bwd({k: ct}))
        return outs

    def joint_bwd(ct: Cotangents) -> list:
        cts = bwd(ct.by_output)
        return [c if c is None else _real_if_input_real(c, v) for c, v in zip(cts, vals)]

    joint = record_custom(trace, vals, links, None, joint_bwd)
    return [
        record_custom(trace, [None], [(0, joint.idx)], o, functools.partial(_to_joint, k))
        if k in floats
        else o
        for k, o in enumerate(outs)
    ]


def _to_joint(k: int, ct) -> list:
    return [Cotangents({k: ct})]


def trace_linear(fun: Callable, avals: list[ShapedArray]) -> ClosedJaxpr:
    """Record ``fun`` (flat list in, flat list out), linear in its arguments, as a jaxpr."""
    trace = JaxprTrace()
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




def unbatch(trace: BatchTrace, flat: list) -> tuple[list, list]:
    """Values of ``flat`` one level down with batch axes first, and those axes (0 or None)."""
    from fgrad.primitives.shape import move_axis

    vals, axes = [], []
    for x in flat:
        if isinstance(x, BatchTracer) and x._trace is trace:
            vals.append(move_axis(x.val, x.bdim, 0))
            axes.append(0)
        else:
            vals.append(x)
            axes.append(None)
    return vals, axes


def rebatch(trace: BatchTrace, out):
    """Outputs computed for the whole batch (batch axis first) as batch tracers."""
    out_flat, out_tree = tree_flatten(out)
    return tree_unflatten(out_tree, [BatchTracer(trace, o, 0) for o in out_flat])


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
            if any(isinstance(x, Tracer) and x._trace is trace for x in tree_flatten(arg)[0]):
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
    vals, axes = unbatch(trace, flat)
    if to_front is not None:
        vals = [to_front(v, a) for v, a in zip(vals, axes)]
    return tree_unflatten(tree, vals), tree_unflatten(tree, axes)


def _call_by_trace(custom: custom_jvp | custom_vjp, args: tuple, kind: str):
    """Call a ``custom_jvp`` or ``custom_vjp`` function: by its rule under the innermost
    JVP, grad or batch trace of its arguments, else plainly."""
    split = _NondiffSplit(custom.nondiff_argnums, args, custom.fun, kind)
    flat, in_tree = tree_flatten(split.diff)
    trace = top_trace(split.leaves(flat))
    if isinstance(trace, (JVPTrace, GradTrace)):
        split.refuse_traced(trace, custom.fun, kind)
        call = custom._jvp_call if isinstance(trace, JVPTrace) else custom._vjp_call
        return call(trace, split, flat, in_tree)
    if isinstance(trace, BatchTrace):
        return custom._batch_call(trace, split, flat, in_tree)
    return custom.fun(*args)


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

    def __call__(self, *args):
        if self.jvp is None:
            raise TransformError(
                f"custom_jvp function {self.fun.__name__} has no rule yet: define one with "
                f"@{self.fun.__name__}.defjvp"
            )
        return _call_by_trace(self, args, "custom_jvp")

    def _rule(self, nondiff: tuple, primals: tuple, tangents: tuple):
        return self.jvp(*nondiff, primals, tangents)

    def _batch_call(self, trace: BatchTrace, split: _NondiffSplit, flat: list, in_tree):
        vals, axes = unbatch(trace, flat)
        if self.vectorized:
            from fgrad.primitives.shape import batch_to_front

            def to_front(v, a):  # Python scalars (flags, orders) stay as they are
                return batch_to_front(v, a, trace.size) if hasattr(v, "shape") else v

            vals = [to_front(v, a) for v, a in zip(vals, axes)]
            nondiff, _ = _batched_nondiff(trace, split, to_front)
            return rebatch(trace, self(*split.merge(nondiff, tree_unflatten(in_tree, vals))))
        nondiff, nd_axes = _batched_nondiff(trace, split)
        in_axes = tree_unflatten(in_tree, axes)
        size = trace.size
        batched = custom_jvp(
            vmap(self.fun, split.merge(nd_axes, in_axes), 0, size, trace.axis_name),
            nondiff_argnums=self.nondiff_argnums,
        )
        batched.defjvp(vmap(self.jvp, (*nd_axes, in_axes, in_axes), 0, size, trace.axis_name))
        return rebatch(trace, batched(*split.merge(nondiff, tree_unflatten(in_tree, vals))))

    def _jvp_call(self, trace: JVPTrace, split: _NondiffSplit, flat: list, in_tree):
        primals, tangents = unzip(trace, flat)
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
        vals, links = unwrap_own(trace, flat)
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

    def __call__(self, *args):
        if self.fwd is None:
            raise TransformError(
                f"custom_vjp function {self.fun.__name__} has no rule yet: call "
                f"{self.fun.__name__}.defvjp(fwd, bwd)"
            )
        return _call_by_trace(self, args, "custom_vjp")

    def _batch_call(self, trace: BatchTrace, split: _NondiffSplit, flat: list, in_tree):
        """A custom_vjp function of the whole batch: ``fwd`` and ``bwd`` mapped, and the
        cotangents of arguments shared by the batch summed over it."""
        from fgrad.primitives.reductions import reduce_sum

        vals, axes = unbatch(trace, flat)
        nondiff, nd_axes = _batched_nondiff(trace, split)
        in_axes = tree_unflatten(in_tree, axes)
        size = trace.size

        def batched_bwd(*args):  # (*nondiff, residuals, cotangent)
            cts = vmap(self.bwd, (*nd_axes, 0, 0), 0, size, trace.axis_name)(*args)
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
        batched = custom_vjp(vmap(self.fun, all_axes, 0, size, name), self.nondiff_argnums)
        batched.defvjp(vmap(self.fwd, all_axes, 0, size, name), batched_bwd)
        return rebatch(trace, batched(*split.merge(nondiff, tree_unflatten(in_tree, vals))))

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
        vals, links = unwrap_own(trace, flat)
        out, res = self.fwd(*split.merge(split.nondiff, tree_unflatten(in_tree, vals)))
        out_flat, out_tree = tree_flatten(out)

        def bwd(cts: dict) -> list:  # zeros for the unreached outputs, as JAX's bwd gets
            cts_out = [cts[k] if k in cts else _zeros_like(o) for k, o in enumerate(out_flat)]
            return self._flat_bwd(split.nondiff, res, out_tree, cts_out, in_tree, vals)

        return tree_unflatten(out_tree, record_joint(trace, vals, links, out_flat, bwd))

    def _jvp_call(self, trace: JVPTrace, split: _NondiffSplit, flat: list, in_tree):
        primals, tangents = unzip(trace, flat)
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
