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
from types import MappingProxyType

DEAD_LEVEL = 1 << 62

_local = threading.local()


class Trace:
    """A transform's interpreter for primitives applied to its tracers.

    Subclasses implement :meth:`process`, which receives the primitive, the
    positional arguments (a mix of its own tracers, lower-level tracers and
    concrete values) and the static parameters, and name in ``call_rules`` their
    rules for higher-order operations (:meth:`process_call`).
    """

    __slots__ = ("level",)

    #: the transform's name as users know it, for messages
    name = "trace"

    #: whether this trace's tracers have no values (``make_jaxpr``, ``jit``): only then
    #: can a value a function closes over lack a concrete value
    staging = False

    #: this transform's rules for higher-order operations (``custom_jvp`` calls,
    #: ``checkpoint``, a jitted function, ``cond``, ``scan``, ``while_loop``, ...), by
    #: operation: ``rule(trace, *args, **params)``. The tables are in
    #: :mod:`fgrad.core.rules`; the operations' own modules fill them.
    call_rules: MappingProxyType = MappingProxyType({})

    def __init__(self) -> None:
        self.level = -1

    def process(self, prim, args: tuple, params: dict):
        raise NotImplementedError

    def process_call(self, op, args: tuple, params: dict):
        """Apply the higher-order operation ``op`` (see
        :func:`~fgrad.core.primitive.bind_call`): by this transform's rule for it, else as
        any primitive (one the jaxpr keeps: ``cond``, ``scan``, ...), else by running the
        function it calls, so that this trace sees the operations inside."""
        rule = self.call_rules.get(op)
        if rule is not None:
            return rule(self, *args, **params)
        if op.staged:
            return self.process(op, args, params)
        return op.impl(*args, **params)

    def owns(self, x) -> bool:
        """Is ``x`` a tracer of this trace (rather than a value one level down)?"""
        return getattr(x, "_trace", None) is self

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


def innermost_staging() -> Trace | None:
    """The innermost active trace without values (``jit``, ``make_jaxpr``), or None."""
    for trace in reversed(_stack()):
        if trace.staging:
            return trace
    return None
