"""``pure_callback`` and ``io_callback``: call plain NumPy/SciPy code from inside ``jit``
and ``vmap``.

The callback becomes one ``pure_callback`` equation whose output shapes and dtypes are
declared by the caller (the code inside is never traced, so they cannot be inferred).
Eagerly and in a replay of a jitted program the primitive calls the function with
NumPy arrays and checks what comes back against the declaration.

Like fgrad's other multi-output primitives, the function that binds it meets every
transform first: under ``vmap`` it makes a new callback per ``vmap_method`` (a loop
over the batch, or one call on the whole batch) and binds that one level down; under
``grad``/``jvp`` it raises, since nothing is known about the callback's derivative.
``io_callback`` binds a twin primitive marked effectful, which ``jit``'s optimiser keeps
where it stands even when its results are unused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import DtypeError, ShapeError, TransformError
from fgrad.core.primitive import Primitive, bind_call, stage_constant_effect
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.rules import defcall
from fgrad.transforms.batching import BatchTrace, BatchTracer

VMAP_METHODS = ("sequential", "sequential_unrolled", "expand_dims", "broadcast_all")


def _conform(outs: Sequence, avals: Sequence[ShapedArray], name: str) -> tuple:
    """The callback's results as arrays of the declared shapes and dtypes, or an error."""
    result = []
    for k, (o, aval) in enumerate(zip(outs, avals)):
        a = np.asarray(o)
        if a.shape != aval.shape:
            raise ShapeError(
                f"pure_callback: {name} returned an array of shape {a.shape} for result "
                f"{k}, declared with shape {aval.shape} in result_shape_dtypes"
            )
        if a.dtype != aval.dtype and not np.can_cast(a.dtype, aval.dtype, "same_kind"):
            raise DtypeError(
                f"pure_callback: {name} returned dtype {a.dtype} for result {k}, which does "
                f"not cast to the declared {aval.dtype} (same kind); return that dtype"
            )
        result.append(a.astype(aval.dtype, copy=False))
    return tuple(result)


def _impl(*leaves, fn: Callable, avals: tuple[ShapedArray, ...], vmap_method: str | None):
    return _conform(fn(*leaves), avals, getattr(fn, "__name__", "the callback"))


def _abstract_eval(*in_avals, fn: Callable, avals: tuple, vmap_method: str | None) -> tuple:
    return avals


pure_callback_p = Primitive("pure_callback", _impl, _abstract_eval, multiple_results=True)
#: the same call run for its effect: never dropped, merged or folded by jit's optimiser
io_callback_p = Primitive(
    "io_callback", _impl, _abstract_eval, multiple_results=True, effectful=True
)


def _ndim(x) -> int:
    return x.ndim if hasattr(x, "ndim") else np.ndim(x)


def _batched(
    fn: Callable, size: int, vals: list, dims: list, avals: tuple, method: str
) -> tuple[Callable, tuple]:
    """A flat callback on whole batches (batch axis first in its results) doing what
    ``fn`` does per example, and its results' avals."""
    name = getattr(fn, "__name__", "the callback")

    if method.startswith("sequential"):

        def looped(*leaves):
            leaves = [x if d is None else np.moveaxis(x, d, 0) for x, d in zip(leaves, dims)]
            per = [
                _conform(fn(*[x if d is None else x[i] for x, d in zip(leaves, dims)]), avals, name)
                for i in range(size)
            ]
            return [np.stack([p[k] for p in per]) for k in range(len(avals))]

        looped.__name__ = name
        new_fn = looped
    else:
        # an enclosing vmap of the same method may have put batch axes in front of these
        # (E of them): the batch axis goes right after them, so that the host sees all
        # the batch axes first, in order, and can broadcast across them
        cores = [_ndim(x) - (d is not None) for x, d in zip(vals, dims)]

        def whole(*leaves):
            args = []
            for x, d, core in zip(leaves, dims, cores):
                x = np.asarray(x)
                e = x.ndim - core - (d is not None)
                if d is not None:
                    x = np.moveaxis(x, e + d, e)
                else:
                    x = np.expand_dims(x, e)
                    if method == "broadcast_all":
                        x = np.broadcast_to(x, (*x.shape[:e], size, *x.shape[e + 1 :]))
                args.append(x)
            return fn(*args)

        whole.__name__ = name
        new_fn = whole
    return new_fn, tuple(ShapedArray((size, *a.shape), a.dtype) for a in avals)


def _with_rules(prim: Primitive) -> Callable:
    """Register ``prim``'s transform rules; return the function that binds it, meeting
    the transforms first (see the module docstring)."""

    def bind(*leaves, fn: Callable, avals: tuple, vmap_method: str | None) -> list:
        params = {"fn": fn, "avals": avals, "vmap_method": vmap_method}
        if prim.effectful:  # with constant arguments, jit still stages it: run on each call
            staged = stage_constant_effect(prim, leaves, params)
            if staged is not None:
                return list(staged)
        return list(bind_call(prim, *leaves, **params))

    def refuse_derivative(trace, *leaves, fn: Callable, avals: tuple, vmap_method: str | None):
        raise TransformError(
            f"{prim.name}: {trace.name} cannot differentiate the callback "
            f"{getattr(fn, '__name__', '')!r}, whose code fgrad does not see. Wrap the "
            f"function that calls {prim.name} in fgrad.custom_jvp or fgrad.custom_vjp "
            "and give its derivative (which may itself use pure_callback), or use "
            "fgrad.stop_gradient on its inputs if no derivative should flow"
        )

    def batch_rule(trace: BatchTrace, *leaves, fn: Callable, avals: tuple,
                   vmap_method: str | None) -> list:
        """A new callback for the whole batch (per ``vmap_method``), bound one level down."""
        vals, dims = [], []
        for x in leaves:
            mine = trace.owns(x)
            vals.append(x.val if mine else x)
            dims.append(x.bdim if mine else None)
        method = vmap_method or "sequential"
        new_fn, new_avals = _batched(fn, trace.size, vals, dims, avals, method)
        outs = bind(*vals, fn=new_fn, avals=new_avals, vmap_method=vmap_method)
        return [BatchTracer(trace, o, 0) for o in outs]

    defcall(prim, jvp=refuse_derivative, grad=refuse_derivative, batch=batch_rule)
    prim.custom_rules = bind
    return bind


_bind = _with_rules(pure_callback_p)
_bind_io = _with_rules(io_callback_p)


def pure_callback(
    callback: Callable,
    result_shape_dtypes: Any,
    *args: Any,
    vmap_method: str | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``callback(*args, **kwargs)`` on NumPy arrays, from inside any transform.

    Parameters
    ----------
    callback
        A pure function of pytrees of NumPy arrays (NumPy, SciPy, any Python code)
        returning a pytree of arrays.
    result_shape_dtypes
        A pytree of the result's structure whose leaves have ``shape`` and ``dtype``
        (:class:`fgrad.ShapeDtypeStruct`, or arrays): what the callback returns, and
        all a traced caller knows of it.
    *args, **kwargs
        Pytrees of arrays and numbers passed to ``callback``.
    vmap_method
        How ``vmap`` maps the callback: ``"sequential"`` (the default, as in JAX
        today; also ``"sequential_unrolled"``) calls it once per example;
        ``"expand_dims"`` calls it once with the batch axis first in the mapped
        arguments and a new axis of size 1 in the others; ``"broadcast_all"``, the
        same with the others broadcast to the batch size. In the last two the callback
        must return results with the batch axis first.

    Returns
    -------
    pytree
        The callback's results, as arrays of the declared shapes and dtypes (a result
        of the same dtype kind is cast; another shape is an error).

    Raises
    ------
    TransformError
        Under ``grad``, ``jvp`` and the other derivatives: fgrad cannot see into the
        callback. Give a rule with ``custom_jvp``/``custom_vjp``.

    Examples
    --------
    >>> import scipy.special
    >>> def log_ndtr(x):
    ...     spec = fgrad.ShapeDtypeStruct(x.shape, x.dtype)
    ...     return fgrad.pure_callback(scipy.special.log_ndtr, spec, x, vmap_method="expand_dims")
    >>> fgrad.jit(log_ndtr)(np.linspace(-3, 3, 5))
    """
    if vmap_method is not None and vmap_method not in VMAP_METHODS:
        raise ValueError(
            f"pure_callback: vmap_method must be one of {VMAP_METHODS} (or None for "
            f"'sequential'), got {vmap_method!r}"
        )
    return _call(_bind, "pure_callback", callback, result_shape_dtypes, args, kwargs, vmap_method)


def io_callback(
    callback: Callable,
    result_shape_dtypes: Any,
    *args: Any,
    sharding: Any = None,
    ordered: bool = False,
    **kwargs: Any,
) -> Any:
    """Call ``callback(*args, **kwargs)`` for its side effect (printing, logging, a NumPy
    generator), from inside any transform: JAX's ``jax.experimental.io_callback``.

    As :func:`pure_callback`, but ``jit`` never drops, merges or folds the call: it
    runs each time the compiled function runs, in program order, even when its result
    is unused. Under ``vmap`` it runs once per example (JAX's ``ordered=False``
    behaviour; fgrad runs in order either way).

    Parameters
    ----------
    callback
        A function of pytrees of NumPy arrays returning a pytree of arrays, or ``None``.
    result_shape_dtypes
        A pytree whose leaves have ``shape`` and ``dtype`` (:class:`fgrad.ShapeDtypeStruct`),
        or ``None`` for a callback that returns nothing.
    *args, **kwargs
        Pytrees of arrays and numbers passed to ``callback``.
    sharding, ordered
        Accepted for JAX compatibility: fgrad computes on one device, in program order.

    Returns
    -------
    pytree
        The callback's results, as arrays of the declared shapes and dtypes.

    Raises
    ------
    TransformError
        Under ``grad``, ``jvp`` and the other derivatives of its arguments.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spec = fgrad.ShapeDtypeStruct((3,), "float64")
    >>> draw = fgrad.jit(lambda: io_callback(lambda: rng.uniform(size=3), spec))
    >>> draw(), draw()     # two different draws: the callback runs on each call
    """
    del sharding, ordered
    return _call(_bind_io, "io_callback", callback, result_shape_dtypes, args, kwargs, "sequential")


def _call(bind: Callable, name: str, callback: Callable, result_shape_dtypes: Any,
          args: tuple, kwargs: dict, vmap_method: str | None) -> Any:
    """Bind a callback primitive on the flattened arguments; unflatten its results."""
    spec_leaves, out_tree = tree_flatten(result_shape_dtypes)
    avals = tuple(ShapedArray(np.shape(s), s.dtype) for s in spec_leaves)
    leaves, in_tree = tree_flatten((args, kwargs))

    def flat(*xs):
        a, kw = tree_unflatten(in_tree, list(xs))
        out_leaves, tree = tree_flatten(callback(*a, **kw))
        if tree != out_tree:
            raise TypeError(
                f"{name}: {getattr(callback, '__name__', 'the callback')} returned a "
                f"result of structure {tree}, declared as {out_tree} in result_shape_dtypes"
            )
        return out_leaves

    flat.__name__ = flat.__qualname__ = getattr(callback, "__name__", "callback")
    outs = bind(*leaves, fn=flat, avals=avals, vmap_method=vmap_method)
    return tree_unflatten(out_tree, outs)
