"""Primitives and ``bind``, the single entry point through which all computation flows.

A :class:`Primitive` is a named operation with an ``impl`` rule (how to compute it
on concrete arrays) and an ``abstract_eval`` rule (its output shape and dtype).
The rule tables keyed by primitive (``jvp_rules``, ``vjp_rules``, ``batch_rules``) are in
:mod:`fgrad.core.rules`; the transforms read them.

``bind`` finds the highest-level trace among the arguments' tracers and lets it
process the primitive; with no tracer among the arguments it calls ``impl``
directly. That direct path is the hot path of everything, eager NumPy use and the
backward pass of a top-level ``grad`` alike, so it does one ``isinstance`` per
argument and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.backend import common_backend
from fgrad.core.config import flags
from fgrad.core.errors import EscapedTracerError
from fgrad.core.nan_check import check_finite
from fgrad.core.trace_stack import DEAD_LEVEL, innermost_staging
from fgrad.core.tracer import Tracer


class Primitive:
    """A named operation with its impl and abstract-eval rules.

    Parameters
    ----------
    name
        How the primitive prints in jaxprs and error messages.
    impl
        ``impl(*arrays, **params) -> array`` on concrete (NumPy/CuPy) arrays. May be
        left out and given later with :meth:`def_impl`, as JAX's ``Primitive(name)``.
    abstract_eval
        ``abstract_eval(*avals, **params) -> ShapedArray``; raises
        :class:`~fgrad.core.errors.ShapeError` on inputs it cannot combine. May be
        left out and given later with :meth:`def_abstract_eval`.
    differentiable
        ``False`` for operations whose derivative is zero everywhere it exists
        (comparisons, ``sign``, ``stop_gradient``, ...). Differentiation traces
        then evaluate them on the underlying values without recording anything.
    multiple_results
        ``True`` for operations that return several arrays (the LAPACK
        factorisations): ``impl`` returns a tuple and ``abstract_eval`` a tuple of
        avals, and the jaxpr equation has one output variable per array.
    effectful
        ``True`` for operations run for a side effect (``fgrad.debug.print``):
        ``jit`` never folds, merges or drops them.
    returns_views
        ``True`` when ``impl`` may return one of its inputs or a view of one
        (``reshape``, ``transpose``, basic ``getitem``, a loop that runs zero
        times). ``jit`` then copies such a result before handing it out if it
        could share memory with an argument, a constant or another result.
        Defaults to ``multiple_results``: the multi-output primitives run loops
        and factorisations, whose results are not worth telling apart.

    A primitive made with its name alone is JAX's kind (``jax.extend.core.Primitive``,
    see ``docs/custom_primitives.md``): its rules come with ``def_impl``,
    ``def_abstract_eval`` and ``fgrad.interpreters``, and, as in JAX, ``jit`` refuses
    it until a lowering is registered (:attr:`requires_lowering`, cleared by
    ``fgrad.interpreters.mlir.register_lowering``; fgrad never calls the lowering
    and runs the impl).

    Notes
    -----
    A multi-output primitive has no rules of its own. Its derivatives and batching
    come from the function that binds it (a ``custom_jvp`` function for the LAPACK
    factorisations, :func:`fgrad.lax.while_loop` for loops), set as
    ``custom_rules`` (``custom_rules(*args, **params)`` computes the same results):
    that function meets every transform before the primitive does, so only
    ``make_jaxpr``/``jit`` ever record the primitive, and
    :func:`~fgrad.core.jaxpr.eval_jaxpr` replays a recorded one by calling
    ``custom_rules``, so that a replay under ``grad`` or ``vmap`` is differentiated
    and batched by the same rules.
    """

    __slots__ = (
        "name",
        "impl",
        "abstract_eval",
        "differentiable",
        "multiple_results",
        "effectful",
        "returns_views",
        "custom_rules",
        "requires_lowering",
    )

    def __init__(
        self,
        name: str,
        impl: Callable | None = None,
        abstract_eval: Callable[..., ShapedArray] | None = None,
        differentiable: bool = True,
        multiple_results: bool = False,
        effectful: bool = False,
        returns_views: bool | None = None,
    ):
        self.name = name
        self.requires_lowering = impl is None
        self.impl = impl or _unimplemented(f"Evaluation rule for '{name}'", "def_impl")
        self.abstract_eval = abstract_eval or _unimplemented(
            f"Abstract evaluation for '{name}'", "def_abstract_eval"
        )
        self.differentiable = differentiable
        self.multiple_results = multiple_results
        self.effectful = effectful
        self.returns_views = multiple_results if returns_views is None else returns_views
        self.custom_rules: Callable | None = None
        if not self.requires_lowering:  # fgrad's own, not one made with JAX's API
            registry[name] = self

    #: a staging trace records it as an equation (see ``Trace.process_call``)
    staged = True

    def __repr__(self) -> str:
        return self.name

    def def_impl(self, impl: Callable) -> Callable:
        """Set the impl (JAX's API); a one-element list it returns is taken as its
        result, as JAX's newer rules return lists."""
        self.impl = _listed_results(self, impl)
        return impl

    def def_abstract_eval(self, abstract_eval: Callable) -> Callable:
        """Set the abstract evaluation (JAX's API): ``ShapedArray`` results from avals."""
        self.abstract_eval = _listed_results(self, abstract_eval)
        return abstract_eval

    def bind(self, *args, **params):
        """Apply the primitive: :func:`bind` as a method, as JAX's ``Primitive.bind``."""
        return bind(self, *args, **params)

    bind1 = bind  # JAX's name for the bind of a primitive with one result


def _unimplemented(what: str, setter: str) -> Callable:
    def missing(*args, **params):
        raise NotImplementedError(f"{what} not implemented: give it with .{setter}(rule)")

    return missing


def _listed_results(prim: Primitive, rule: Callable) -> Callable:
    """``rule`` with its results as fgrad's: a tuple for several, the value for one
    (JAX's rules may return a list either way)."""

    def call(*args, **params):
        out = rule(*args, **params)
        if type(out) is list or (type(out) is tuple and not prim.multiple_results):
            if prim.multiple_results:
                return tuple(out)
            if len(out) != 1:
                raise ValueError(
                    f"primitive `{prim.name}` has one result, but its rule returned {len(out)} "
                    "values; set multiple_results = True on it for several"
                )
            return out[0]
        return out

    return call


class CallPrimitive:
    """A higher-order operation that calls a function carried by its parameters.

    ``custom_jvp`` and ``custom_vjp`` calls, ``checkpoint`` and a jitted function under
    another transform are applied with :func:`bind_call`: each transform has a rule for
    them (``*_call_rules`` in :mod:`fgrad.core.rules`), and without one (no trace,
    ``make_jaxpr``) ``impl(*args, **params)`` runs the function itself, so a staged
    jaxpr holds the primitives inside. Not in :data:`registry`: it has no abstract
    evaluation and is never an equation.
    """

    __slots__ = ("name", "impl")

    staged = False

    def __init__(self, name: str, impl: Callable):
        self.name = name
        self.impl = impl

    def __repr__(self) -> str:
        return self.name


#: every primitive of fgrad's by name (not those made with JAX's API, by a name alone);
#: the rule-check harness iterates over it
registry: dict[str, Primitive] = {}


def bind(prim: Primitive, *args, **params):
    """Apply ``prim`` to ``args``: evaluate it, or let the top trace record it."""
    trace = None
    level = -1
    for x in args:
        if isinstance(x, Tracer):
            t = x._trace
            if t.level > level:
                trace = t
                level = t.level
    if trace is None:
        return evaluate(prim, args, params)
    if level == DEAD_LEVEL:
        raise _escaped_error(prim, trace)
    return trace.process(prim, args, params)


def bind_call(op: Primitive | CallPrimitive, *args, **params):
    """Apply a higher-order operation: a :class:`CallPrimitive`, or a primitive whose
    parameters hold functions (``cond``, ``scan``, ``while_loop``).

    The top trace among ``args`` applies it with its rule for ``op``
    (:meth:`~fgrad.core.trace_stack.Trace.process_call`); with no tracer among them,
    ``op`` runs. ``args`` are the values a trace may own (flat leaves); what is not a
    value (functions, tree structures) goes in ``params``.
    """
    trace = top_trace(args)
    if trace is not None:
        return trace.process_call(op, args, params)
    if op.staged:
        return evaluate(op, args, params)
    return op.impl(*args, **params)


def stage_constant_effect(prim: Primitive, args, params: dict):
    """Record the effectful ``prim`` on the innermost staging trace (``jit``,
    ``make_jaxpr``) when ``args`` hold no tracer, so that every run of the compiled
    program performs it, rather than the one trace; returns what that trace returns, or
    None where nothing is staging or a tracer is among ``args`` (then bind it)."""
    if any(isinstance(x, Tracer) for x in args):
        return None
    staging = innermost_staging()
    return None if staging is None else staging.process(prim, tuple(args), params)


def top_trace(args):
    """The highest-level trace among ``args``' tracers, or ``None`` (see :func:`bind`)."""
    trace = None
    for x in args:
        if isinstance(x, Tracer) and (trace is None or x._trace.level > trace.level):
            trace = x._trace
    if trace is not None and trace.level == DEAD_LEVEL:
        raise _escaped_error(None, trace)
    return trace


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def evaluate(prim: Primitive, args, params: dict):
    """Run ``prim``'s impl on concrete arguments, explaining failures in fgrad's terms."""
    if flags.debug_nans or flags.debug_infs:
        return _evaluate_checked(prim, args, params)
    try:
        return prim.impl(*args, **params)
    except Exception as err:
        explain_failure(prim, args, params, err)
        raise


def _evaluate_checked(prim: Primitive, args, params: dict):
    """``evaluate`` with the NaN/inf checker on: the result checked, and NumPy's own
    floating-point errors (which ``jit``'s checked run raises for the user's NumPy
    operators) kept out of the impl, whose NaN the checker reports in fgrad's terms."""
    with np.errstate(all="ignore"):
        try:
            out = prim.impl(*args, **params)
        except Exception as err:
            explain_failure(prim, args, params, err)
            raise
    check_finite(prim, args, out)
    return out


def explain_failure(prim: Primitive, args, params: dict, err: Exception) -> None:
    """After ``prim``'s impl raised ``err`` on ``args``: raise a clearer error if they show
    why.

    Returns when they do not (the impl's own error is then the one to raise), and for
    a missing rule (``NotImplementedError``), which says so itself.
    """
    if isinstance(err, NotImplementedError):
        return
    if isinstance(err, OverflowError):
        big = [x for x in args if type(x) is int and not _INT64_MIN <= x <= _INT64_MAX]
        if big:
            raise OverflowError(
                f"`{prim.name}`: the Python int {big[0]} does not fit in int64, the dtype "
                "NumPy gives Python ints that meet integers (NumPy raises the same error: "
                f"{err}). fgrad has no arbitrary-precision integers: pass it as a float "
                f"({float(big[0])!r}) or keep such arithmetic in plain Python."
            ) from err
        return
    check_abstract(prim, args, params)
    common_backend(args, f"the arguments of `{prim.name}`")


def check_abstract(prim: Primitive, args: tuple, params: dict) -> ShapedArray:
    """Run ``prim``'s abstract eval on ``args``: raises a clear error when they do not fit.

    ``bind`` calls it only after ``impl`` failed, so that NumPy's terse message is
    replaced by one naming the primitive, the shapes and the dtypes.
    """
    return prim.abstract_eval(*[get_aval(x) for x in args], **params)


def _escaped_error(prim: Primitive | None, trace) -> EscapedTracerError:
    user = f"`{prim.name}`" if prim is not None else "a custom-derivative function"
    return EscapedTracerError(
        f"A tracer created by {trace.name} was used by {user} after that "
        f"{trace.name} call had returned. Tracers are only valid inside the "
        "function being transformed; this one escaped, typically through a global "
        "variable, a list or attribute the function appended to, or a closure that "
        "was called later. Return the value from the function instead (use "
        "`has_aux=True` to return extra values alongside a gradient)."
    )
