"""``custom_jvp`` and ``custom_vjp``: functions that bring their own derivative rules.

Each transform treats a call differently, dispatched on the type of the top trace
among the arguments:

* ``jvp`` of a ``custom_jvp`` function calls the user's rule directly.
* ``grad``/``vjp`` of a ``custom_jvp`` function records the rule's linear part as
  a jaxpr (see :mod:`fgrad.core.linearize`) and, in the backward pass, runs it
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
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.batching import BatchTrace, BatchTracer
from fgrad.core.errors import TransformError
from fgrad.core.forward_mode import JVPTrace, JVPTracer, unzip
from fgrad.core.jaxpr import ClosedJaxpr
from fgrad.core.linearize import transpose_linear
from fgrad.core.make_jaxpr import JaxprTrace
from fgrad.core.primitive import top_trace
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.reverse_mode import GradTrace, record_custom
from fgrad.core.trace_stack import new_trace
from fgrad.core.tracer import Tracer
from fgrad.core.vmap import broadcast_prefix, vmap


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


def record_outputs(trace: GradTrace, vals, links, out, flat_bwd: Callable):
    """Put each leaf of ``out`` on the tape; ``flat_bwd(k, ct)`` gives input cotangents."""
    out_flat, out_tree = tree_flatten(out)
    tracers = [
        record_custom(trace, vals, links, o, functools.partial(flat_bwd, k))
        for k, o in enumerate(out_flat)
    ]
    return tree_unflatten(out_tree, tracers), out_flat, out_tree


def one_hot_cotangent(out_flat: list, k: int, ct) -> list:
    """Cotangents for all outputs: ``ct`` for output ``k``, zeros elsewhere."""
    return [ct if j == k else _zeros_like(o) for j, o in enumerate(out_flat)]


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


def _aval(x) -> ShapedArray:
    a = get_aval(x)
    return ShapedArray(a.shape, a.dtype)


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

    ``vectorized=True`` (as a keyword: ``functools.partial(custom_jvp,
    vectorized=True)``) promises that the function and its rule treat extra leading
    axes of every argument as a stack of independent problems; ``vmap`` then calls
    them once on the batch instead of mapping them. The factorisations in
    ``fgrad.numpy.linalg`` use it: their values come from LAPACK on concrete arrays.
    """

    def __init__(self, fun: Callable, *, vectorized: bool = False):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.jvp: Callable | None = None
        self.vectorized = vectorized

    def defjvp(self, jvp: Callable) -> Callable:
        """Register ``jvp(primals, tangents) -> (out, tangent_out)``; returns it (decorator)."""
        self.jvp = jvp
        return jvp

    def __call__(self, *args):
        if self.jvp is None:
            raise TransformError(
                f"custom_jvp function {self.fun.__name__} has no rule yet: define one with "
                f"@{self.fun.__name__}.defjvp"
            )
        flat, in_tree = tree_flatten(args)
        trace = top_trace(flat)
        if isinstance(trace, JVPTrace):
            return self._jvp_call(trace, flat, in_tree)
        if isinstance(trace, GradTrace):
            return self._vjp_call(trace, flat, in_tree)
        if isinstance(trace, BatchTrace):
            return self._batch_call(trace, flat, in_tree)
        return self.fun(*args)

    def _batch_call(self, trace: BatchTrace, flat: list, in_tree):
        vals, axes = unbatch(trace, flat)
        if self.vectorized:
            from fgrad.primitives.shape import batch_to_front

            vals = [  # Python scalars (flags, orders) stay as they are
                batch_to_front(v, a, trace.size) if hasattr(v, "shape") else v
                for v, a in zip(vals, axes)
            ]
            return rebatch(trace, self(*tree_unflatten(in_tree, vals)))
        in_axes = tree_unflatten(in_tree, axes)
        rule, size = self.jvp, trace.size
        batched = custom_jvp(vmap(self.fun, in_axes, 0, size))
        batched.defjvp(lambda p, t: vmap(rule, (in_axes, in_axes), 0, size)(p, t))
        return rebatch(trace, batched(*tree_unflatten(in_tree, vals)))

    def _jvp_call(self, trace: JVPTrace, flat: list, in_tree):
        primals, tangents = unzip(trace, flat)
        out, t_out = self.jvp(tree_unflatten(in_tree, primals), tree_unflatten(in_tree, tangents))
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

    def _vjp_call(self, trace: GradTrace, flat: list, in_tree):
        vals, links = unwrap_own(trace, flat)
        box = []

        def tangent_map(tangents):
            out, t_out = self.jvp(tree_unflatten(in_tree, vals), tree_unflatten(in_tree, tangents))
            box.append(out)
            return tree_flatten(t_out)[0]

        lin = trace_linear(tangent_map, [_aval(v) for v in vals])
        out_flat_box = []

        def flat_bwd(k, ct):
            cts = transpose_linear(lin, one_hot_cotangent(out_flat_box[0], k, ct))
            return [c if c is not None else _zeros_like(v) for c, v in zip(cts, vals)]

        out, out_flat, _ = record_outputs(trace, vals, links, box[0], flat_bwd)
        out_flat_box.append(out_flat)
        return out


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
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Register the forward function and the backward rule."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if self.fwd is None:
            raise TransformError(
                f"custom_vjp function {self.fun.__name__} has no rule yet: call "
                f"{self.fun.__name__}.defvjp(fwd, bwd)"
            )
        flat, in_tree = tree_flatten(args)
        trace = top_trace(flat)
        if isinstance(trace, GradTrace):
            return self._vjp_call(trace, flat, in_tree)
        if isinstance(trace, JVPTrace):
            return self._jvp_call(trace, flat, in_tree)
        if isinstance(trace, BatchTrace):
            return self._batch_call(trace, flat, in_tree)
        return self.fun(*args)

    def _batch_call(self, trace: BatchTrace, flat: list, in_tree):
        """A custom_vjp function of the whole batch: ``fwd`` and ``bwd`` mapped, and the
        cotangents of arguments shared by the batch summed over it."""
        from fgrad.primitives.reductions import reduce_sum

        vals, axes = unbatch(trace, flat)
        in_axes = tree_unflatten(in_tree, axes)
        fwd, bwd, size = self.fwd, self.bwd, trace.size

        def batched_bwd(res, g):
            cts = vmap(bwd, (0, 0), 0, size)(res, g)
            if not isinstance(cts, (tuple, list)):
                return cts  # _flat_bwd of the batched function explains the mistake
            summed = []
            for ct, ax in zip(cts, in_axes):
                leaves, tree = tree_flatten(ct)
                leaf_axes = broadcast_prefix(ax, ct, "in_axes")
                leaves = [c if a == 0 else reduce_sum(c, (0,)) for c, a in zip(leaves, leaf_axes)]
                summed.append(tree_unflatten(tree, leaves))
            return tuple(summed)

        batched = custom_vjp(vmap(self.fun, in_axes, 0, size))
        batched.defvjp(vmap(fwd, in_axes, 0, size), batched_bwd)
        return rebatch(trace, batched(*tree_unflatten(in_tree, vals)))

    def _flat_bwd(self, res, out_tree, cts_out: list, in_tree, nflat: int, like: list) -> list:
        cts = self.bwd(res, tree_unflatten(out_tree, cts_out))
        if not isinstance(cts, (tuple, list)):
            raise TransformError(
                f"custom_vjp bwd of {self.fun.__name__} must return a tuple with one "
                f"cotangent per positional argument, got {type(cts).__name__}"
            )
        args_like = tree_unflatten(in_tree, like)
        if len(cts) != len(args_like):
            raise TransformError(
                f"custom_vjp bwd of {self.fun.__name__} returned {len(cts)} cotangents for "
                f"{len(args_like)} positional arguments"
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
        assert len(flat) == nflat
        return flat

    def _vjp_call(self, trace: GradTrace, flat: list, in_tree):
        vals, links = unwrap_own(trace, flat)
        out, res = self.fwd(*tree_unflatten(in_tree, vals))
        out_flat_box = []

        def flat_bwd(k, ct):
            out_flat, out_tree = out_flat_box[0]
            cts_out = one_hot_cotangent(out_flat, k, ct)
            return self._flat_bwd(res, out_tree, cts_out, in_tree, len(vals), vals)

        tracers, out_flat, out_tree = record_outputs(trace, vals, links, out, flat_bwd)
        out_flat_box.append((out_flat, out_tree))
        return tracers

    def _jvp_call(self, trace: JVPTrace, flat: list, in_tree):
        primals, tangents = unzip(trace, flat)
        out, res = self.fwd(*tree_unflatten(in_tree, primals))
        out_flat, out_tree = tree_flatten(out)
        try:
            lin = trace_linear(
                lambda cts: self._flat_bwd(res, out_tree, cts, in_tree, len(primals), primals),
                [_aval(o) for o in out_flat],
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
