"""The jaxpr: a typed, SSA expression graph of primitive applications.

A :class:`Jaxpr` has input variables, constant variables (arrays the traced
function closed over), a topologically ordered list of :class:`Equation`
``out = prim[params](ins)`` and output variables. Every variable carries its
:class:`~fgrad.core.abstract.ShapedArray`. Python scalars appear inline as
:class:`Literal`. :func:`eval_jaxpr` interprets one by *binding* each primitive
again, so evaluating a jaxpr inside ``grad`` or ``jvp`` differentiates it.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence

import numpy as np

from fgrad.core.abstract import ShapedArray, dtype_short_name
from fgrad.core.primitive import Primitive, bind
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.source_info import SourceInfo
from fgrad.core.tracer import slice_str


class Var:
    """A jaxpr variable: a typed name, compared by identity."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({self.aval.str_short()})"


class Literal:
    """A Python scalar written inline in an equation."""

    __slots__ = ("val", "aval")

    def __init__(self, val, aval: ShapedArray):
        self.val = val
        self.aval = aval

    def __repr__(self) -> str:
        return repr(self.val)


class Equation:
    """``outvars = prim[params](*invars)``: one output variable, or one per result of a
    ``multiple_results`` primitive. ``source`` is the user's line that wrote it (a
    :class:`~fgrad.core.source_info.SourceInfo`), or None where it was not recorded."""

    __slots__ = ("prim", "invars", "outvars", "params", "source")

    def __init__(
        self,
        prim: Primitive,
        invars: list,
        outvars: list[Var],
        params: dict,
        source: SourceInfo | None = None,
    ):
        self.prim = prim
        self.invars = invars
        self.outvars = outvars
        self.params = params
        self.source = source


class Jaxpr:
    """A closed-over-nothing program: constants are explicit ``constvars``."""

    __slots__ = ("constvars", "invars", "eqns", "outvars")

    def __init__(
        self,
        constvars: list[Var],
        invars: list[Var],
        eqns: list[Equation],
        outvars: list,
    ):
        self.constvars = constvars
        self.invars = invars
        self.eqns = eqns
        self.outvars = outvars

    def __str__(self) -> str:
        return pretty_print(self)

    __repr__ = __str__

    def pretty(self, source: bool = False) -> str:
        """The printed jaxpr; ``source=True`` ends each equation with the user's line."""
        return pretty_print(self, source)

    def readers(self) -> dict[Var, set[int]]:
        """For each variable an equation reads, the indices of the equations reading it."""
        readers: dict[Var, set[int]] = {}
        for k, eqn in enumerate(self.eqns):
            for v in eqn.invars:
                if type(v) is Var:
                    readers.setdefault(v, set()).add(k)
        return readers


class ClosedJaxpr:
    """A jaxpr together with the values of its constants; what ``make_jaxpr`` returns.

    Attributes
    ----------
    jaxpr
        The program.
    consts
        One value per ``jaxpr.constvars`` entry.
    in_tree, out_tree
        Pytree structures of the traced function's arguments and result, so that
        :meth:`__call__` takes and returns the same pytrees as the function.
    """

    __slots__ = ("jaxpr", "consts", "in_tree", "out_tree")

    def __init__(self, jaxpr: Jaxpr, consts: list, in_tree=None, out_tree=None):
        self.jaxpr = jaxpr
        self.consts = consts
        self.in_tree = in_tree
        self.out_tree = out_tree

    @property
    def eqns(self) -> list[Equation]:
        return self.jaxpr.eqns

    def __call__(self, *args):
        """Evaluate the jaxpr on new arguments (same pytree structure as when traced)."""
        flat, in_tree = tree_flatten(args)
        if self.in_tree is not None and in_tree != self.in_tree:
            raise TypeError(
                f"this jaxpr was traced with arguments of structure {self.in_tree}, "
                f"but was called with {in_tree}"
            )
        outs = eval_jaxpr(self.jaxpr, self.consts, *flat)
        return outs if self.out_tree is None else tree_unflatten(self.out_tree, outs)

    def __str__(self) -> str:
        return pretty_print(self.jaxpr)

    __repr__ = __str__

    def pretty(self, source: bool = False) -> str:
        """The printed jaxpr; ``source=True`` ends each equation with the user's line
        (``# model.py:12 (loss)``), where tracing recorded it."""
        return pretty_print(self.jaxpr, source)


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence, *args) -> list:
    """Evaluate ``jaxpr`` by binding its primitives; returns the flat list of outputs.

    Because it binds, any active transform records or differentiates the
    evaluation, exactly as if the original Python function had run. A
    multi-output primitive is evaluated through its ``custom_rules`` function,
    which carries its derivative and batch rules (see :class:`Primitive`).
    """
    if len(args) != len(jaxpr.invars):
        raise TypeError(f"jaxpr takes {len(jaxpr.invars)} arguments, got {len(args)}")
    env: dict[Var, object] = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))

    def read(v):
        return v.val if type(v) is Literal else env[v]

    for eqn in jaxpr.eqns:
        prim = eqn.prim
        if prim.multiple_results:
            env.update(zip(eqn.outvars, prim.custom_rules(*map(read, eqn.invars), **eqn.params)))
        else:
            env[eqn.outvars[0]] = bind(prim, *map(read, eqn.invars), **eqn.params)
    return [read(v) for v in jaxpr.outvars]


# -- printing -------------------------------------------------------------


def _names() -> itertools.chain:
    letters = string.ascii_lowercase
    return itertools.chain(
        letters,
        ("".join(p) for n in itertools.count(2) for p in itertools.product(letters, repeat=n)),
    )


def pretty_print(jaxpr: Jaxpr, source: bool = False) -> str:
    """Render a jaxpr the way JAX users expect to read one (with ``source``, each
    equation's recorded source line as a comment)."""
    names: dict[Var, str] = {}
    fresh = _names()

    def name(v) -> str:
        if type(v) is Literal:
            return _literal_str(v.val)
        if v not in names:
            names[v] = next(fresh)
        return names[v]

    def typed(v: Var) -> str:
        return f"{name(v)}:{v.aval.str_short()}"

    consts = " ".join(typed(v) for v in jaxpr.constvars)
    ins = " ".join(typed(v) for v in jaxpr.invars)
    lines = [f"{{ lambda {consts}; {ins}. let"]
    for eqn in jaxpr.eqns:
        params = ""
        if eqn.params:
            params = "[" + " ".join(f"{k}={_param_str(p)}" for k, p in eqn.params.items()) + "]"
        args = " ".join(name(v) for v in eqn.invars)
        outs = " ".join(typed(v) for v in eqn.outvars)
        lhs = f"{outs} = " if outs else ""  # an equation run for its effect only
        line = f"    {lhs}{eqn.prim.name}{params} {args}"
        if source and eqn.source is not None:
            line = f"{line:<40}  # {eqn.source}"
        lines.append(line)
    outs = ", ".join(name(v) for v in jaxpr.outvars)
    lines.append(f"  in ({outs}{',' if len(jaxpr.outvars) == 1 else ''}) }}")
    return "\n".join(lines)


def _literal_str(val) -> str:
    if isinstance(val, bool):
        return str(val)
    if isinstance(val, float):
        return repr(val)
    return str(val)


def _param_str(p) -> str:
    if isinstance(p, np.dtype) or (isinstance(p, type) and issubclass(p, np.generic)):
        return np.dtype(p).name
    if isinstance(p, np.ndarray):
        if p.size <= 4:
            return np.array2string(p, separator=",")
        return f"<{dtype_short_name(p.dtype)}[{','.join(map(str, p.shape))}]>"
    if isinstance(p, slice):
        return slice_str(p)
    if p is Ellipsis:
        return "..."
    if isinstance(p, tuple):
        inner = ",".join(_param_str(x) for x in p)
        return f"({inner}{',' if len(p) == 1 else ''})"
    return str(p)
