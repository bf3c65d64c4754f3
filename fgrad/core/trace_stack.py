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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

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


T = TypeVar("T", bound=Trace)


@contextmanager
def new_trace(trace: T) -> Iterator[T]:
    """Push ``trace`` for the duration of the block, then retire it."""
    stack = _stack()
    trace.level = len(stack)
    stack.append(trace)
    try:
        yield trace
    finally:
        stack.pop()
        trace.level = DEAD_LEVEL


def current_depth() -> int:
    """Number of transforms active in this thread."""
    return len(_stack())
