"""``jit``: trace a function once per input signature, optimise the jaxpr, replay it fast.

The first call with a new signature (the pytree structure of the arguments,
each leaf's shape, dtype and weak type, the values of the static arguments,
the device) traces the function abstractly, as ``make_jaxpr`` does, and runs
:func:`fgrad.core.optimize.optimize` on the jaxpr. The result is generated as a
Python function with one line per equation (:mod:`fgrad.core.codegen`), so a
replay calls each primitive's impl directly, with no tracing, no tape and no
dispatch, and drops each intermediate after its last use.

Called with tracers (``grad(jit(f))``, ``jvp(jit(f))``, ``vmap(jit(f))``), a
jitted function compiles that transform of ``f`` instead
(:mod:`fgrad.core.jit_rules`), or runs ``f`` under nested transforms. Tracing is
abstract, so Python control flow on values raises a ``ConcretizationError``: use
``fnp.where``, or mark the argument that decides it static.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.argnums import split_static
from fgrad.core.codegen import Replay
from fgrad.core.errors import TransformError
from fgrad.core.jit_rules import transformed_call
from fgrad.core.make_jaxpr import JaxprTrace, is_traceable, stage
from fgrad.core.numpy_random_guard import warn_on_numpy_draws
from fgrad.core.optimize import optimize
from fgrad.core.primitive import top_trace
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.tracer import Tracer


class JitTrace(JaxprTrace):
    """The abstract trace of a function being compiled (named for error messages)."""

    __slots__ = ()
    name = "jit"


def jit(
    fun: Callable,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
) -> Callable:
    """Compile ``fun``: trace it once per input signature, then replay the optimised trace.

    Parameters
    ----------
    fun
        A pure function of pytrees of arrays, written with ``fgrad.numpy``. Side
        effects (printing, appending to a list) happen once, while tracing.
    static_argnums
        Positional arguments passed to ``fun`` as they are, not traced: Python
        values that decide shapes or control flow. They must be hashable; each new
        value traces again.
    static_argnames
        The same, by parameter name. As in JAX, a parameter named here is static
        whether it is passed by keyword or by position, and so is a parameter
        named by ``static_argnums`` when it is passed by keyword.

    Returns
    -------
    Callable
        A function with the same signature and results as ``fun``.

    Examples
    --------
    >>> step = fgrad.jit(lambda p, x, y: fgrad.value_and_grad(loss)(p, x, y))
    >>> value, grads = step(params, x, y)      # traces and compiles
    >>> value, grads = step(params, x2, y2)    # same shapes: replays
    >>> fgrad.jit(forward, static_argnames="training")(params, x, training=True)
    """
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    named, names = _static_names(fun, nums, static_argnames)
    cache: dict[tuple, Replay] = {}

    @functools.wraps(fun)
    def jitted(*args, **kwargs):
        # a named parameter is static where it was passed: here only if by position
        static_nums = tuple(n for n in nums if n not in named) + tuple(
            i for i in named if i < len(args)
        )
        positions, dynamic, rebuild = split_static(args, static_nums, "jit")
        static_kwargs = {k: v for k, v in kwargs.items() if k in names}
        if static_kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k not in names}
        static_values = tuple(args[i] for i in positions) + tuple(sorted(static_kwargs.items()))
        flat, in_tree = tree_flatten((dynamic, kwargs))
        if any(isinstance(x, Tracer) for x in flat):  # under another transform
            if _hashable(static_values):

                def call(leaves):
                    dyn, kw = tree_unflatten(in_tree, leaves)
                    return fun(*rebuild(dyn), **kw, **static_kwargs)

                key = (in_tree, positions, static_values)
                out = transformed_call(cache, key, call, top_trace(flat), flat)
                if out is not None:
                    return out
            return fun(*rebuild(dynamic), **kwargs, **static_kwargs)
        leaves_key, device = signature(flat)
        key = (in_tree, leaves_key, positions, device.name)
        try:
            key += (static_values,)
            compiled = cache.get(key)
        except TypeError:
            raise TransformError(
                f"jit: static arguments must be hashable (they key the compilation cache); "
                f"got {', '.join(type(v).__name__ for v in static_values)}. Pass arrays as "
                "ordinary (traced) arguments, or a tuple instead of a list."
            ) from None
        if compiled is None:
            compiled = cache[key] = _compile(fun, rebuild, static_kwargs, flat, in_tree)
        with backend.on_device(device):  # where arrays made from Python scalars go
            outs = compiled(flat)
        return tree_unflatten(compiled.closed.out_tree, outs)

    return jitted


def _static_names(
    fun: Callable, nums: tuple[int, ...], static_argnames: str | Sequence[str]
) -> tuple[tuple[int, ...], frozenset[str]]:
    """The static parameters that have both a position and a name: their positions, and
    the names of all static parameters.

    ``fun``'s signature links the two ways of choosing: a name makes its parameter
    static when passed by position, a number when passed by keyword. A name that is
    not a parameter of ``fun`` (and ``fun`` takes no ``**kwargs``) is a typo: an error.
    """
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: names are keywords only
        return (), frozenset(names)
    positional = [
        p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        unknown = [n for n in names if n not in keyword and n not in positional]
        if unknown:
            raise TransformError(
                f"jit: static_argnames {unknown} are not parameters of "
                f"{getattr(fun, '__name__', fun)}, whose parameters are "
                f"{[p.name for p in params]}"
            )
    linked = {n for n in nums if 0 <= n < len(positional) and positional[n] in keyword}
    linked.update(positional.index(n) for n in names if n in positional and n in keyword)
    return tuple(sorted(linked)), frozenset(names) | {positional[n] for n in linked}


def _hashable(values: tuple) -> bool:
    try:
        hash(values)
    except TypeError:
        return False
    return True


def signature(flat: list) -> tuple[tuple, backend.Backend]:
    """What a compiled program is specialised to, per argument leaf (shape, dtype, weak
    type), and the device of the leaves; a leaf that is not an array or number is an error."""
    if all(type(x) is np.ndarray for x in flat):  # the common case, checked quickly
        return tuple((x.shape, x.dtype, False) for x in flat), backend.CPU
    for x in flat:
        if not is_traceable(x):
            raise TransformError(
                f"jit: an argument leaf of type {type(x).__name__} ({x!r:.60}) is not an "
                "array or a number, so it cannot be traced; make it static (static_argnums "
                "or static_argnames), or close over it"
            )
    device = backend.common_backend(flat, "the arguments of a jit-compiled function")
    avals = [get_aval(x) for x in flat]
    return tuple((a.shape, a.dtype, a.weak_type) for a in avals), device


def _compile(
    fun: Callable, rebuild: Callable, static_kwargs: dict, flat: list, in_tree
) -> Replay:
    """Trace ``fun`` on abstract values of ``flat`` (weak types kept) and optimise it."""

    def call(tree):
        dynamic, kwargs = tree
        return fun(*rebuild(dynamic), **kwargs, **static_kwargs)

    trace = JitTrace()
    with warn_on_numpy_draws(fun):
        closed = stage(trace, call, flat, [get_aval(x) for x in flat], in_tree)
    with backend.on_device(trace.device):  # constants folded now land with the inputs
        return Replay(optimize(closed), getattr(fun, "__name__", "replay"))
