"""A function traced once into a jaxpr, the form in which staged control flow (the
loop and branch primitives) carries its bodies."""

from __future__ import annotations

from fgrad.core.jaxpr import ClosedJaxpr, Jaxpr, eval_jaxpr
from fgrad.transforms.codegen import Replay
from fgrad.transforms.optimize import optimize


class TracedFunction:
    """A function traced into a jaxpr whose first ``n_consts`` arguments are the values
    it closed over; called, it runs its compiled replay (compiled on first use)."""

    __slots__ = ("jaxpr", "n_consts", "_replay")

    def __init__(self, closed: ClosedJaxpr):
        j = closed.jaxpr
        self.jaxpr = Jaxpr([], list(j.constvars) + list(j.invars), j.eqns, j.outvars)
        self.n_consts = len(j.constvars)
        self._replay: Replay | None = None

    def __call__(self, *args) -> list:
        if self._replay is None:
            self._replay = Replay(optimize(ClosedJaxpr(self.jaxpr, [])))
        return self._replay(list(args))

    def bind_each(self, *args) -> list:
        """Evaluate by binding each primitive, so that enclosing transforms see them."""
        return eval_jaxpr(self.jaxpr, [], *args)

    def __str__(self) -> str:
        return f"{{{len(self.jaxpr.eqns)} equations}}"
