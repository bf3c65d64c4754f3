"""Turn a jaxpr into a Python function: the replay that ``jit`` runs.

Interpreting a jaxpr costs, per equation, a lookup per operand, a list of
arguments and the unpacking of the parameters, about as much again as a NumPy
call on a small array. The generated function has one line per equation::

    def replay(a0, a1):
        v0 = dot_general(a0, c0, dimension_numbers=q0)
        del a0
        v1 = tanh(v0)
        ...
        return [v1, v2]

Operands are local variables; impls, constants, literals and parameter values are
names in the function's own global namespace; a ``dot_general`` that is one
``np.matmul`` is written as the impl's call of it (``v2 = np_matmul(v0, a1.T)``, see
``dot_general.matmul_form``), which skips the impl's own call; a multi-output equation
unpacks its tuple in place (``v3, _, v4 = linalg_svd(v2)``); ``del`` drops each value after
its last use, which keeps peak memory near eager mode's. ``Replay.source`` keeps
the text for reading.

Results are fresh arrays the caller owns. Which ones could share memory with an
argument, a constant or another result is decided here, from the jaxpr: a value
made by a primitive that may return its input or a view of it
(``Primitive.returns_views``: ``reshape``, ``transpose``, ``getitem``, ...)
shares the memory of that input, so following those equations back gives each
result the arrays it may live in. A result that may live in an argument or a
constant, or in the same array as an earlier result, is copied
(``copy(a0)``); one that is a view of an intermediate only the replay holds is
copied only if it is read-only (``broadcast_to``); every other result is
returned as it is, at no cost. An exception is traced back, by line number, to its
equation, whose inputs are still in the failing frame, so ``jit`` can explain it
the way eager mode does.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

import numpy as np

from fgrad.core.abstract import PYTHON_SCALARS
from fgrad.core.jaxpr import ClosedJaxpr, Equation, Jaxpr, Literal, Var
from fgrad.core.primitive import evaluate
from fgrad.primitives.dot_general import dot_general_p, matmul_form


class Replay:
    """The generated function of one optimised jaxpr (see the module docstring).

    Attributes
    ----------
    closed
        The jaxpr it was generated from (its ``out_tree`` shapes the results).
    source
        The Python text of the function.
    """

    __slots__ = ("closed", "source", "_fn", "_globals", "_equations")

    def __init__(self, closed: ClosedJaxpr, name: str = "replay", n_fresh: int | None = None):
        """Generate the replay of ``closed``; ``name`` (the traced function's) labels
        tracebacks. The first ``n_fresh`` results (all by default) are fresh arrays; the
        rest (the residuals ``grad`` keeps for its backward program) may share memory."""
        self.closed = closed
        jaxpr = closed.jaxpr
        self._globals: dict[str, object] = {"__builtins__": {}}
        self._equations: dict[int, tuple[Equation, list[str]]] = {}  # line -> eqn, operands
        names: dict[Var, str] = {}
        for k, (v, value) in enumerate(zip(jaxpr.constvars, closed.consts)):
            names[v] = self._global(f"c{k}", value)
        for k, v in enumerate(jaxpr.invars):
            names[v] = f"a{k}"

        def atom(v) -> str:
            if type(v) is Literal:
                return self._global(f"k{len(self._globals)}", v.val)
            return names[v]

        frees, used = _frees(jaxpr)
        n_values = 0
        lines = [f"def replay({', '.join(names[v] for v in jaxpr.invars)}):"]
        for k, eqn in enumerate(jaxpr.eqns):
            operands = [atom(v) for v in eqn.invars]
            call = self._matmul(eqn, operands) if eqn.prim is dot_general_p else None
            if call is None:
                fn = self._global(_identifier(eqn.prim.name), eqn.prim.impl)
                params = [
                    f"{key}={self._global(f'q{k}_{key}', p)}" for key, p in eqn.params.items()
                ]
                call = f"{fn}({', '.join(operands + params)})"
            targets = []
            for v in eqn.outvars:
                if v in used:
                    names[v] = f"v{n_values}"
                    n_values += 1
                    targets.append(names[v])
                else:
                    targets.append("_")
            lhs = ", ".join(targets)
            if eqn.prim.multiple_results and len(targets) == 1:
                lhs += ","
            lines.append(f"    {lhs} = {call}" if targets else f"    {call}")
            self._equations[len(lines)] = (eqn, operands)
            dead = [names[v] for v in frees[k]] + (["_"] if "_" in targets else [])
            if dead:
                lines.append(f"    del {', '.join(dead)}")
        guards = _guards(jaxpr, len(jaxpr.outvars) if n_fresh is None else n_fresh)
        returned = []
        for v, guard in zip(jaxpr.outvars, guards):
            if guard is not None:
                returned.append(f"{self._global(guard.__name__, guard)}({names[v]})")
            else:
                returned.append(atom(v))
        lines.append(f"    return [{', '.join(returned)}]")
        self.source = "\n".join(lines) + "\n"
        exec(compile(self.source, f"<fgrad.jit {name}>", "exec"), self._globals)  # noqa: S102
        # taken out of its own namespace: no reference cycle, so a program dropped from
        # the cache is freed at once
        self._fn: Callable = self._globals.pop("replay")

    def _matmul(self, eqn: Equation, operands: list[str]) -> str | None:
        """The ``np.matmul`` call of a ``dot_general`` that is one, else None."""
        x, y = eqn.invars
        form = matmul_form(x.aval.ndim, y.aval.ndim, eqn.params["dimension_numbers"])
        if form is None:
            return None
        a, b = (name + ".T" if t else name for name, t in zip(operands, form))
        return f"{self._global('np_matmul', np.matmul)}({a}, {b})"

    def _global(self, name: str, value) -> str:
        """Bind ``value`` to ``name`` in the function's namespace (an impl is bound once)."""
        if self._globals.get(name, value) is not value:
            raise AssertionError(f"codegen: two values for the global {name}")
        self._globals[name] = value
        return name

    def __call__(self, flat: list) -> list:
        """Run the function on the flat inputs; failures are explained as eager mode does."""
        try:
            return self._fn(*flat)
        except Exception as e:
            tb = e.__traceback__
            while tb is not None and tb.tb_frame.f_code is not self._fn.__code__:
                tb = tb.tb_next
            if tb is None or tb.tb_lineno not in self._equations:
                raise
            eqn, operands = self._equations[tb.tb_lineno]
            scope = {**self._globals, **tb.tb_frame.f_locals}
            evaluate(eqn.prim, [scope[n] for n in operands], eqn.params)
            raise


def copy(x):
    """A fresh copy of an array result (a Python scalar is immutable: itself)."""
    return x if type(x) in PYTHON_SCALARS else x.copy()


def writeable(x):
    """``x``, or a copy where it is a read-only view (``broadcast_to``)."""
    return x if getattr(getattr(x, "flags", None), "writeable", True) else x.copy()


def _guards(jaxpr: Jaxpr, n_fresh: int) -> list[Callable | None]:
    """Per result: ``copy``, ``writeable`` or None (returned as it is); see the module
    docstring. Only the first ``n_fresh`` results are guarded."""
    outside = set(jaxpr.invars) | set(jaxpr.constvars)
    roots: dict[Var, frozenset[Var]] = {v: frozenset([v]) for v in outside}
    for eqn in jaxpr.eqns:
        if eqn.prim.returns_views:
            shared = frozenset().union(*(roots[v] for v in eqn.invars if type(v) is Var))
            roots.update((v, shared) for v in eqn.outvars)
        else:
            roots.update((v, frozenset([v])) for v in eqn.outvars)
    guards: list[Callable | None] = []
    handed_out: set[Var] = set()
    for k, v in enumerate(jaxpr.outvars):
        if k >= n_fresh or type(v) is Literal:
            guards.append(None)
            continue
        where = roots[v]
        if where & outside or where & handed_out:
            guards.append(copy)
        else:
            guards.append(None if where == {v} else writeable)
            handed_out |= where
    return guards


def _frees(jaxpr: Jaxpr) -> tuple[list[list[Var]], set[Var]]:
    """For each equation, the variables last used there (to ``del`` after it), and every
    variable read at all. Outputs and constants are never freed."""
    last_use: dict[Var, int] = {}
    for k, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if type(v) is Var:
                last_use[v] = k
    kept = {v for v in jaxpr.outvars if type(v) is Var} | set(jaxpr.constvars)
    frees: list[list[Var]] = [[] for _ in jaxpr.eqns]
    for v, k in last_use.items():
        if v not in kept:
            frees[k].append(v)
    return frees, last_use.keys() | kept


def _identifier(name: str) -> str:
    """A primitive's name as a Python identifier (``and`` -> ``and_``)."""
    return name + "_" if keyword.iskeyword(name) else name
