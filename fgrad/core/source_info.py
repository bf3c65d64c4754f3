"""Where in the user's code an operation was written: the first frame outside fgrad.

Tracing (``make_jaxpr``, ``jit``) records one :class:`SourceInfo` per equation, so a
jaxpr can be printed with the line each equation came from
(``jaxpr.pretty(source=True)``) and the explanation tools (``fgrad.explain``) can
name it. Eager mode records nothing. Finding the frame walks the Python stack from
the caller up; whether a code object belongs to fgrad is decided once per code
object and cached, so the walk costs a set lookup per fgrad frame (about 1.5 us per
equation, measured in ``benchmarks/tracing_overhead.py``).
``fgrad.config.update("fgrad_source_info", False)`` turns the recording off.
"""

from __future__ import annotations

import os
import sys
from types import CodeType, FrameType
from typing import NamedTuple

#: the directory of the fgrad package: code whose file is under it is fgrad's own
FGRAD_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

#: code objects known to be fgrad's, and known not to be (sets: the walk's only cost
#: per frame is a membership test)
_inside: set[CodeType] = set()
_outside: set[CodeType] = set()


class SourceInfo(NamedTuple):
    """A place in the user's code: file, line and the function it is in."""

    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line} ({self.function})"


def is_internal(code: CodeType) -> bool:
    """Whether ``code`` is fgrad's own (its file lies in the fgrad package)."""
    if code in _inside:
        return True
    if code in _outside:
        return False
    inside = os.path.abspath(code.co_filename).startswith(FGRAD_DIR)
    (_inside if inside else _outside).add(code)
    return inside


def user_frame(start: FrameType) -> FrameType | None:
    """The innermost frame, from ``start`` outwards, whose code is not fgrad's."""
    frame = start
    while frame is not None:
        code = frame.f_code
        if code in _inside:
            frame = frame.f_back
        elif code in _outside or not is_internal(code):
            return frame
    return None


def user_source() -> SourceInfo | None:
    """The user's file, line and function that led to the current call, or None."""
    frame = user_frame(sys._getframe(1))
    if frame is None:
        return None
    code = frame.f_code
    return SourceInfo(code.co_filename, frame.f_lineno, code.co_name)
