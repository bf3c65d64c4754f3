"""Trace a function for the explanation tools: its jaxpr, the user's function calls each
equation was made in, and names for its inputs and constants.

:class:`CallTrace` is ``make_jaxpr``'s trace that also records, per equation, the chain
of the user's function calls it was made in (outermost first), so that a picture can
group the equations of one call of ``sigmoid`` or ``layer`` together. A call is one
frame of the user's code: frames are kept alive until the trace ends, so that two
calls never share an identity.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from fgrad.core.abstract import get_aval
from fgrad.core.jaxpr import ClosedJaxpr
from fgrad.core.key_paths import keystr, tree_flatten_with_path
from fgrad.core.pytree import tree_flatten
from fgrad.core.source_info import is_internal
from fgrad.transforms.make_jaxpr import JaxprTrace, stage


@dataclass(frozen=True)
class Call:
    """One call of a user's function during tracing."""

    #: the function's name
    function: str
    #: the file it is defined in and the line of its ``def``
    file: str
    line: int
    #: the enclosing call (its index in :attr:`Recording.calls`), None at the top
    parent: int | None


@dataclass
class Recording:
    """What :func:`record` traced."""

    closed: ClosedJaxpr
    #: per equation, the indices in :attr:`calls` of the calls it was made in, outermost
    #: first (the traced function's own call is left out)
    stacks: list[tuple[int, ...]]
    calls: list[Call]
    #: a name per input leaf (``x``, ``params['w']``) and per constant (its Python name
    #: where the function closes over it, else None)
    input_names: list[str]
    const_names: list[str | None]


class CallTrace(JaxprTrace):
    """``make_jaxpr``'s trace, recording the user's function calls per equation."""

    __slots__ = ("base", "frames", "call_of", "calls", "stacks")

    def __init__(self) -> None:
        super().__init__()
        self.base: FrameType | None = None  # the frame that calls the traced function
        self.frames: list[FrameType] = []  # kept alive so that ids are not reused
        self.call_of: dict[int, int] = {}  # id(frame) -> call index
        self.calls: list[Call] = []
        self.stacks: list[tuple[int, ...]] = []

    def process(self, prim, args, params):
        out = super().process(prim, args, params)
        user = []
        frame = sys._getframe(1)
        while frame is not None and frame is not self.base:
            if not is_internal(frame.f_code):
                user.append(frame)
            frame = frame.f_back
        # the outermost user frame is the traced function itself: the whole picture
        stack = tuple(self._call(f, parent) for f, parent in _with_parents(user[-2::-1]))
        self.stacks.extend([stack] * (len(self.eqns) - len(self.stacks)))
        return out

    def _call(self, frame: FrameType, parent: FrameType | None) -> int:
        known = self.call_of.get(id(frame))
        if known is not None:
            return known
        code = frame.f_code
        parent_call = None if parent is None else self.call_of[id(parent)]
        self.frames.append(frame)
        self.calls.append(Call(code.co_name, code.co_filename, code.co_firstlineno, parent_call))
        self.call_of[id(frame)] = len(self.calls) - 1
        return len(self.calls) - 1


def _with_parents(frames: list[FrameType]) -> list[tuple[FrameType, FrameType | None]]:
    return [(f, frames[k - 1] if k else None) for k, f in enumerate(frames)]


def record(fun: Callable, args: tuple) -> Recording:
    """Trace ``fun(*args)`` abstractly, with the user's calls per equation."""
    flat, in_tree = tree_flatten(args)
    avals = [get_aval(x).strong() for x in flat]
    trace = CallTrace()

    def call(tree):
        trace.base = sys._getframe()
        return fun(*tree)

    closed = stage(trace, call, flat, avals, in_tree)
    trace.frames.clear()
    return Recording(
        closed, trace.stacks, trace.calls, input_names(fun, args), const_names(fun, closed)
    )


def input_names(fun: Callable, args: tuple) -> list[str]:
    """A name per leaf of ``args``: the parameter's name and the path inside it."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):  # a builtin or C function
        params = []
    names = []
    for k, arg in enumerate(args):
        if k < len(params) and params[k].kind in (params[k].POSITIONAL_ONLY,
                                                  params[k].POSITIONAL_OR_KEYWORD):
            base = params[k].name
        elif params and params[-1].kind == params[-1].VAR_POSITIONAL:
            base = f"{params[-1].name}[{k - len(params) + 1}]"
        else:
            base = f"args[{k}]"
        names.extend(base + keystr(path) for path, _ in tree_flatten_with_path(arg)[0])
    return names


def const_names(fun: Callable, closed: ClosedJaxpr) -> list[str | None]:
    """The names ``fun`` knows its constants by: the variables it closes over, and globals."""
    known: dict[int, str] = {}
    code = getattr(fun, "__code__", None)
    for name in getattr(code, "co_names", ()):
        value = getattr(fun, "__globals__", {}).get(name)
        if value is not None:
            known[id(value)] = name
    cells = getattr(fun, "__closure__", None) or ()
    for name, cell in zip(getattr(code, "co_freevars", ()), cells):
        try:
            known[id(cell.cell_contents)] = name
        except ValueError:  # an empty cell
            continue
    return [known.get(id(c)) for c in closed.consts]
