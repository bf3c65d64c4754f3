"""``make_jaxpr``: trace a function abstractly into a :class:`~fgrad.core.jaxpr.ClosedJaxpr`.

Unlike ``grad`` and ``jvp``, this trace knows only shapes and dtypes, so the
jaxpr is valid for any input of the same types. Every primitive's abstract-eval
rule runs here, which is also where shape errors are caught before any
computation. Python scalars are recorded inline as literals (keeping NumPy 2's
weak promotion), other arrays the function closes over become constants.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import PYTHON_SCALARS, ShapedArray, get_aval
from fgrad.core.config import flags
from fgrad.core.errors import TransformError
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Literal, Var
from fgrad.core.primitive import Primitive
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.source_info import api_boundary, user_source
from fgrad.core.trace_stack import Trace, new_trace
from fgrad.core.tracer import Tracer
from fgrad.primitives.elementwise import convert_element_type_p
from fgrad.transforms.argnums import split_static


class JaxprTracer(Tracer):
    """An abstract value standing for a jaxpr variable."""

    __slots__ = ("jaxpr_var",)

    def __init__(self, trace: JaxprTrace, var: Var):
        self._trace = trace
        self.jaxpr_var = var

    @property
    def aval(self) -> ShapedArray:
        return self.jaxpr_var.aval


class JaxprTrace(Trace):
    """Records equations from abstract evaluation.

    ``sources=False`` leaves out the user's source line of each equation: for jaxprs
    fgrad builds for itself and never shows (``linearize``'s linear jaxpr, a custom
    rule's linear part, ``eval_shape``), where walking the stack would be the largest
    cost of tracing.
    """

    __slots__ = ("eqns", "invars", "constvars", "consts", "_const_ids", "device", "sources")
    name = "make_jaxpr"
    staging = True

    def __init__(self, sources: bool = True) -> None:
        super().__init__()
        self.sources = sources
        self.eqns: list[Equation] = []
        self.invars: list[Var] = []
        self.constvars: list[Var] = []
        self.consts: list = []
        self._const_ids: dict[int, tuple[Var, object]] = {}  # id -> (var, the object)
        #: the backend of the values traced (for arrays created inside the function)
        self.device = backend.default_backend()

    def new_input(self, aval: ShapedArray) -> JaxprTracer:
        var = Var(aval)
        self.invars.append(var)
        return JaxprTracer(self, var)

    def to_var(self, x):
        """The jaxpr atom for an argument: its variable, a literal, or a new constant."""
        if x.__class__ is JaxprTracer and x._trace is self:
            return x.jaxpr_var
        if type(x) in PYTHON_SCALARS:
            return Literal(x, get_aval(x))
        known = self._const_ids.get(id(x))
        if known is not None:
            return known[0]
        var = self.new_const(x)
        self._const_ids[id(x)] = (var, x)  # keeping x keeps id(x) from being reused
        return var

    def new_const(self, x) -> Var:
        """The variable of a value from outside the function (closed over, or a global)."""
        var = Var(ShapedArray(get_aval(x).shape, get_aval(x).dtype))
        self.constvars.append(var)
        self.consts.append(x)
        return var

    def closed(self, outs: list, in_tree=None, out_tree=None) -> ClosedJaxpr:
        """The jaxpr recorded so far, returning ``outs`` (tracers, constants or literals)."""
        jaxpr = Jaxpr(self.constvars, self.invars, self.eqns, [self.to_var(x) for x in outs])
        return ClosedJaxpr(jaxpr, self.consts, in_tree, out_tree)

    def process(self, prim: Primitive, args: tuple, params: dict):
        invars = [self.to_var(x) for x in args]
        aval = prim.abstract_eval(*[v.aval for v in invars], **params)
        source = user_source() if self.sources and flags.source_info else None
        if prim.multiple_results:
            outs = [Var(a.strong()) for a in aval]
            self.eqns.append(Equation(prim, invars, outs, params, source))
            return tuple(JaxprTracer(self, v) for v in outs)
        # results are arrays (strongly typed), as the impls return, but for the conversion
        # to a Python number that operators on traced Python numbers end with
        out = Var(aval if prim is convert_element_type_p else aval.strong())
        self.eqns.append(Equation(prim, invars, [out], params, source))
        return JaxprTracer(self, out)


class JitTrace(JaxprTrace):
    """The abstract trace of a function being compiled.

    Two things differ from ``make_jaxpr``. An array the function closes over (or a
    global it reads) is copied when it is met, as in JAX: the compiled program keeps
    the value it had at trace time, whatever the caller writes into it later. A
    tracer of an enclosing transform the function closes over (``x`` in
    ``grad(lambda x: jit(lambda y: x * y)(2.0))``), which ``make_jaxpr`` would make
    a constant, stands for an unknown value and sets :attr:`closes_over_tracers`:
    no program can be compiled from such a trace, and ``jit`` lets the enclosing
    transform run the function instead.
    """

    __slots__ = ("closes_over_tracers",)
    name = "jit"

    def __init__(self) -> None:
        super().__init__()
        self.closes_over_tracers = False

    def process(self, prim: Primitive, args: tuple, params: dict):
        out = super().process(prim, args, params)  # the abstract evaluation's errors first
        if prim.requires_lowering:
            raise NotImplementedError(
                f"MLIR translation rule for primitive '{prim.name}' not found: like JAX, "
                "fgrad compiles a primitive made with its name alone only once a lowering is "
                "registered with fgrad.interpreters.mlir.register_lowering(prim, rule) "
                "(fgrad never calls the rule: it runs the impl)"
            )
        return out

    def new_const(self, x) -> Var:
        if isinstance(x, Tracer):  # an enclosing transform's: its trace is below this one
            self.closes_over_tracers = True
            return Var(get_aval(x))
        copy = getattr(x, "copy", None)
        return super().new_const(x if copy is None or isinstance(x, np.generic) else copy())


def make_jaxpr(fun: Callable, static_argnums: int | Sequence[int] = ()) -> Callable:
    """Return a function that traces ``fun`` and returns its jaxpr.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``.
    static_argnums
        Positional arguments passed to ``fun`` as they are (not traced), e.g.
        Python ints that choose a shape.

    Returns
    -------
    Callable
        ``f(*args) -> ClosedJaxpr``. Printing it shows the typed equations;
        calling it evaluates them on new arguments of the same types.

    Examples
    --------
    >>> print(fgrad.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(1.0))
    { lambda ; a:f64[]. let
        b:f64[] = sin a
        c:f64[] = mul b 2.0
      in (c,) }
    """

    @api_boundary
    @functools.wraps(fun)
    def make_jaxpr_f(*args, **kwargs) -> ClosedJaxpr:
        _, dynamic, rebuild = split_static(args, static_argnums, "make_jaxpr")
        flat, in_tree = tree_flatten(dynamic)
        avals = [get_aval(x) for x in flat]  # a Python number stays weakly typed
        return stage(JaxprTrace(), lambda d: fun(*rebuild(d), **kwargs), flat, avals, in_tree)

    return make_jaxpr_f


def stage(
    trace: JaxprTrace, call: Callable, flat: list, avals: list[ShapedArray], in_tree
) -> ClosedJaxpr:
    """Record ``call`` applied to a tree (``in_tree``) of abstract inputs as a jaxpr.

    ``flat`` are the actual arguments, read only for their device (where arrays created
    inside ``call`` go); ``avals`` are the inputs' abstract values.
    """
    with backend.default_device_of(flat) as trace.device, new_trace(trace):
        out = call(tree_unflatten(in_tree, [trace.new_input(a) for a in avals]))
        out_flat, out_tree = tree_flatten(out)
        check_outputs(trace.name, out_flat)
        return trace.closed(out_flat, in_tree, out_tree)


def is_traceable(x) -> bool:
    """Can ``x`` be a jaxpr's input or output: an array, a number or a tracer?"""
    return isinstance(x, (Tracer, bool, int, float, complex)) or hasattr(x, "dtype")


def check_outputs(transform: str, out_flat: list) -> None:
    """A clear error for a result leaf a jaxpr cannot hold (a string, an object)."""
    for x in out_flat:
        if not is_traceable(x):
            raise TransformError(
                f"{transform}: the function returned a leaf of type {type(x).__name__} "
                f"({x!r:.60}), which is not an array or a number; a traced function can "
                "only return arrays (None is an empty subtree and fine). Return other "
                "values from outside the traced function."
            )



