"""The stack of active traces, one per thread, and the ``Trace`` base class.

Every call of a transform (``grad``, ``jvp``, ``make_jaxpr``, ...) pushes a new
trace whose *level* is its depth in the stack. When a primitive is bound, the
trace with the highest level among its arguments' tracers handles it; tracers of
lower levels are constants to it. That ordering is what stops perturbation
confusion in nested derivatives: in
``grad(lambda x: x * grad(lambda y: x * y)(2.0))(3.0)`` the inner ``grad`` sees
``x`` as a constant, and the outer one differentiates the inner one's result.

When a trace ends its level is set to :data:`DEAD_LEVEL`, above every live
level, so a tracer that leaked out of its transform always wins the top-trace
selection in :func:`fgrad.core.primitive.bind`, which then reports the leak.
That costs nothing per argument on the hot path.
"""

from __future__ import annotations

import threading

DEAD_LEVEL = 1 << 62

_local = threading.local()


class Trace:
    """A transform's interpreter for primitives applied to its tracers.

    Subclasses implement :meth:`process`, which receives the primitive, the
    positional arguments (a mix of its own tracers, lower-level tracers and
    concrete values) and the static parameters.
    """

    __slots__ = ("level",)

    #: the transform's name as users know it, for messages
    name = "trace"

    def __init__(self) -> None:
        self.level = -1

    def process(self, prim, args: tuple, params: dict):
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        return self.level != DEAD_LEVEL


def _stack() -> list[Trace]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


class new_trace:  # noqa: N801 - used like a function: ``with new_trace(trace):``
    """Push ``trace`` for the duration of the block (its value), then retire it.

    A class rather than a generator-based context manager, because every transform
    call enters one.
    """

    __slots__ = ("trace",)

    def __init__(self, trace: Trace):
        self.trace = trace

    def __enter__(self):
        stack = _stack()
        self.trace.level = len(stack)
        stack.append(self.trace)
        return self.trace

    def __exit__(self, *exc) -> None:
        _stack().pop()
        self.trace.level = DEAD_LEVEL


def active_traces() -> list[Trace]:
    """The traces active in this thread, outermost first."""
    return list(_stack())
