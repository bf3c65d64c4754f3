"""``jit``: trace a function once per input signature, optimise the jaxpr, replay it fast.

The first call with a new signature (the pytree structure of the arguments,
each leaf's shape, dtype and weak type, the values and types of the static arguments,
the device) traces the function abstractly, as ``make_jaxpr`` does, and runs
:func:`fgrad.transforms.optimize.optimize` on the jaxpr. The result is generated as a
Python function with one line per equation (:mod:`fgrad.transforms.codegen`), so a
replay calls each primitive's impl directly, with no tracing, no tape and no
dispatch, and drops each intermediate after its last use.

Called with tracers (``grad(jit(f))``, ``jvp(jit(f))``, ``vmap(jit(f))``), a
jitted function compiles that transform of ``f`` instead
(:mod:`fgrad.transforms.jit_rules`), or runs ``f`` under nested transforms. So does a
function that closes over a tracer of an enclosing transform
(``grad(lambda x: jit(lambda y: x * y)(2.0))``): its trace
(:class:`~fgrad.transforms.make_jaxpr.JitTrace`) finds the tracer, and ``f`` then runs
under the enclosing transform, which differentiates or batches it with every
custom rule inside in force. Such a trace could never be reused (the tracers are
new on each call of the transform), so nothing is cached for it. Tracing is
abstract, so Python control flow on values raises a ``ConcretizationError``: use
``fnp.where``, or mark the argument that decides it static. The programs are kept
in a bounded cache per function (:mod:`fgrad.transforms.jit_cache`).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.config import flags
from fgrad.core.errors import TransformError
from fgrad.core.jaxpr import ClosedJaxpr
from fgrad.core.nan_check import numpy_error
from fgrad.core.primitive import bind_call
from fgrad.core.pytree import PyTreeDef, tree_flatten, tree_unflatten
from fgrad.core.source_info import api_boundary
from fgrad.core.tracer import Tracer
from fgrad.transforms.argnums import as_positions, split_static
from fgrad.transforms.compile import (
    call_key,
    compile_replay,
    fast_key,
    run_replay,
    signature,
    unflattener,
)
from fgrad.transforms.fusion import lowered_text
from fgrad.transforms.jit_cache import DEFAULT_CACHE_SIZE, ProgramCache, Signature, static_key
from fgrad.transforms.jit_rules import jit_call
from fgrad.transforms.make_jaxpr import make_jaxpr


def jit(
    fun: Callable | None = None,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    *,
    cache_size: int | None = DEFAULT_CACHE_SIZE,
) -> Callable:
    """Compile ``fun``: trace it once per input signature, then replay the optimised trace.

    Parameters
    ----------
    fun
        A pure function of pytrees of arrays, written with ``fgrad.numpy``. Side
        effects (printing, appending to a list) happen once, while tracing. Left out
        (``@fgrad.jit(static_argnums=1)``), ``jit`` returns a decorator that takes it.
    static_argnums
        Positional arguments passed to ``fun`` as they are, not traced: Python
        values that decide shapes or control flow. They must be hashable; each new
        value traces again.
    static_argnames
        The same, by parameter name. As in JAX, a parameter named here is static
        whether it is passed by keyword or by position, and so is a parameter
        named by ``static_argnums`` when it is passed by keyword. Values that compare
        equal but differ in type (``2`` and ``2.0``) are different signatures.
    cache_size
        How many compiled programs (one per signature) to keep; beyond it the least
        recently used one is dropped, and traced again if it is needed again. ``None``
        keeps all. Whatever the size, a function traced many times warns once
        (:class:`~fgrad.RetraceWarning`), naming the argument that changed.

    Returns
    -------
    Callable
        A function with the same signature and results as ``fun`` (without ``fun``: a
        decorator that makes one). Its results are
        fresh arrays: none shares memory with an argument, another result or a
        result of another call.

    Notes
    -----
    Arrays ``fun`` closes over, and globals it reads, are captured (copied) when it is
    traced, as in JAX: writing into them later changes nothing until a new signature
    traces again. Pass values that change as arguments. ``fun`` may close over
    tracers of an enclosing transform (``grad(lambda x: jit(lambda y: x * y)(2.0))``).

    Examples
    --------
    >>> step = fgrad.jit(lambda p, x, y: fgrad.value_and_grad(loss)(p, x, y))
    >>> value, grads = step(params, x, y)      # traces and compiles
    >>> value, grads = step(params, x2, y2)    # same shapes: replays
    >>> fgrad.jit(forward, static_argnames="training")(params, x, training=True)
    >>> @fgrad.jit(static_argnums=1)
    ... def power(x, n):
    ...     return x**n
    """
    if fun is None:
        return functools.partial(
            jit,
            static_argnums=static_argnums,
            static_argnames=static_argnames,
            cache_size=cache_size,
        )
    if cache_size is not None and (not isinstance(cache_size, int) or cache_size < 1):
        raise TransformError(
            f"jit: cache_size must be a positive int or None (no bound), got {cache_size!r}"
        )
    nums = as_positions(static_argnums, "static_argnums", "jit")
    named, names, positional = _static_names(fun, nums, static_argnames)
    cache = ProgramCache(getattr(fun, "__name__", repr(fun)), cache_size, positional)
    keyed_by_leaves = not nums and not names  # no static parameter: see the fast path below

    @api_boundary
    @functools.wraps(fun)
    def jitted(*args, **kwargs):
        if flags.debug_nans or flags.debug_infs:
            return _checked_run(fun, args, kwargs)
        if flags.disable_jit:
            return fun(*args, **kwargs)
        # The fast path: the same signature as the last call, whose argument leaves were all
        # NumPy arrays or scalars, without keywords. Where the default device is the CPU,
        # the structure and the leaves' call_key decide the whole Signature (no static
        # values; the device). Arguments that are all leaves are not even flattened.
        fast = cache.fast
        if fast is not None and not kwargs and backend.default_backend() is backend.CPU:
            key, compiled, unflatten, tree = fast
            if tree is None:
                if call_key(args) == key:
                    return unflatten(compiled(list(args)))
            else:
                flat, in_tree = tree_flatten((args, kwargs))
                if call_key(flat) == key and _same(in_tree, tree):
                    return unflatten(compiled(flat))
        # a named parameter is static where it was passed: here only if by position
        static_nums = tuple(n for n in nums if n not in named) + tuple(
            i for i in named if i < len(args)
        )
        positions, dynamic, rebuild = split_static(args, static_nums, "jit")
        static_kwargs = {k: v for k, v in kwargs.items() if k in names}
        if static_kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k not in names}
        static = (
            positions,
            tuple(static_key(args[i]) for i in positions),
            tuple((k, static_key(v)) for k, v in sorted(static_kwargs.items())),
        )
        flat, in_tree = tree_flatten((dynamic, kwargs))
        try:
            hash(in_tree)  # kept by the treedef: the cache's own lookup reuses it
        except TypeError as e:
            raise TransformError(
                f"jit: the arguments cannot key the compilation cache: {e}"
            ) from None
        if any(isinstance(x, Tracer) for x in flat):  # under another transform
            if _hashable(static):

                def call(leaves):
                    dyn, kw = tree_unflatten(in_tree, leaves)
                    return fun(*rebuild(dyn), **kw, **static_kwargs)

                key = Signature(in_tree, None, static, None)
                return bind_call(jit_call, *flat, call=call, cache=cache, key=key)
            return fun(*rebuild(dynamic), **kwargs, **static_kwargs)
        leaves_key, device = signature(flat)
        key = Signature(in_tree, leaves_key, static, device.name)
        try:
            compiled = cache.get(key)
        except TypeError:
            raise TransformError(
                f"jit: static arguments must be hashable (they key the compilation cache); "
                f"got {', '.join(type(args[i]).__name__ for i in positions)}"
                f"{''.join(f', {k}={type(v).__name__}' for k, v in static_kwargs.items())}. "
                "Pass arrays as ordinary (traced) arguments, or a tuple instead of a list."
            ) from None
        if compiled is None:

            def call(tree):
                dynamic, kwargs = tree
                return fun(*rebuild(dynamic), **kwargs, **static_kwargs)

            name = getattr(fun, "__name__", "replay")
            compiled = compile_replay(call, flat, in_tree, name, fun)
            if compiled is None:  # it closes over tracers: see the module docstring
                return fun(*rebuild(dynamic), **kwargs, **static_kwargs)
            cache.add(key, compiled)
            if flags.log_compiles:
                _log.warning(
                    "jit traced %s for %s (%d equations)",
                    getattr(fun, "__name__", fun),
                    ", ".join(get_aval(x).str_short() for x in flat),
                    len(compiled.closed.jaxpr.eqns),
                )
        if keyed_by_leaves and not kwargs and device is backend.CPU:
            if fast_key(args) is not None:
                cache.fast = (call_key(args), compiled, unflattener(compiled), None)
            elif fast_key(flat) is not None:
                cache.fast = (call_key(flat), compiled, unflattener(compiled), in_tree)
        with backend.on_device(device):  # where arrays made from Python scalars go
            return run_replay(compiled, flat)

    def lower(*args, **kwargs) -> Lowered:
        """What ``jitted`` compiles to on these arguments (JAX's ``jit(f).lower``):
        ``.as_text()`` is the generated replay and, where numba fuses, its kernels."""
        static = tuple(sorted({*nums, *(i for i in named if i < len(args))}))
        return Lowered(lowered_text(fun, *args, static_argnums=static, **kwargs))

    def trace(*args, **kwargs) -> Traced:
        """The program ``jitted`` traces for these arguments (JAX's ``jit(f).trace``):
        ``.jaxpr`` is its jaxpr, ``.lower()`` its generated replay."""
        static = tuple(sorted({*nums, *(i for i in named if i < len(args))}))
        closed = make_jaxpr(fun, static_argnums=static)(*args, **kwargs)
        return Traced(closed, functools.partial(lower, *args, **kwargs))

    jitted.lower = lower
    jitted.trace = trace
    jitted._cache_size = cache.__len__  # the number of programs kept, as in JAX
    return jitted


_log = logging.getLogger("fgrad")


def _checked_run(fun: Callable, args: tuple, kwargs: dict):
    """``fun`` run op by op for the NaN/inf checker, which then sees every primitive.

    Traced, the arrays would be fgrad's and ``a / b`` fgrad's ``div``; run on NumPy
    arrays, such an operator is NumPy's, so NumPy is made to raise where it makes the
    NaN (inf) the flags look for, at the user's line (fgrad's own primitives keep their
    checks: ``evaluate`` runs them with NumPy's errors off)."""
    nans = "raise" if flags.debug_nans else "ignore"
    infs = "raise" if flags.debug_infs else "ignore"
    try:
        with np.errstate(invalid=nans, divide=infs, over=infs):
            return fun(*args, **kwargs)
    except FloatingPointError as err:
        named = numpy_error(err)
        if named is None:
            raise
        raise named.with_traceback(err.__traceback__) from None


class Lowered:
    """A jitted function's program on given arguments, as text (``jit(f).lower(*args)``)."""

    def __init__(self, text: str):
        self._text = text

    def as_text(self) -> str:
        """The generated replay (one line per equation) and the source of its kernels."""
        return self._text


class Traced:
    """A jitted function traced on given arguments (``jit(f).trace(*args)``)."""

    def __init__(self, jaxpr: ClosedJaxpr, lower: Callable[[], Lowered]):
        #: the traced program, as ``make_jaxpr`` gives it
        self.jaxpr = jaxpr
        self._lower = lower

    def lower(self) -> Lowered:
        """The program as ``jit(f).lower(*args)`` gives it."""
        return self._lower()


def _static_names(
    fun: Callable, nums: tuple[int, ...], static_argnames: str | Sequence[str]
) -> tuple[tuple[int, ...], frozenset[str], list[str]]:
    """The static parameters that have both a position and a name: their positions; the
    names of all static parameters; the names of the positional parameters.

    ``fun``'s signature links the two ways of choosing: a name makes its parameter
    static when passed by position, a number when passed by keyword. A name that is
    not a parameter of ``fun`` (and ``fun`` takes no ``**kwargs``) is a typo: an error.
    """
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: names are keywords only
        return (), frozenset(names), []
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
    return tuple(sorted(linked)), frozenset(names) | {positional[n] for n in linked}, positional


def _same(a: PyTreeDef, b: PyTreeDef) -> bool:
    """Whether two argument structures are equal (False where their aux data cannot say:
    the cache's lookup then explains why)."""
    try:
        return a == b
    except TypeError:
        return False


def _hashable(values: tuple) -> bool:
    try:
        hash(values)
    except TypeError:
        return False
    return True


