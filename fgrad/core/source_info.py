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

import functools
import os
import sys
from collections.abc import Callable
from types import CodeType, FrameType, TracebackType
from typing import NamedTuple

from fgrad.core.config import flags
from fgrad.core.errors import FgradError

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


_HIDDEN_NOTE = (
    "fgrad's own frames are hidden from this traceback; "
    "fgrad.config.update('jax_traceback_filtering', 'off') shows them"
)


def filter_traceback(err: BaseException) -> BaseException:
    """``err`` with the frames of fgrad's own code taken out of its traceback (unless
    ``jax_traceback_filtering`` is ``"off"``), and a note naming the user's line it was
    raised at: the innermost frame left."""
    if not flags.traceback_filtering:
        return err
    kept = []
    tb = err.__traceback__
    while tb is not None:
        if not is_internal(tb.tb_frame.f_code):
            kept.append(tb)
        tb = tb.tb_next
    filtered = None
    for entry in reversed(kept):
        filtered = TracebackType(filtered, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    err.with_traceback(filtered)
    notes = getattr(err, "__notes__", ())
    if _HIDDEN_NOTE not in notes:
        if kept:
            code = kept[-1].tb_frame.f_code
            place = SourceInfo(code.co_filename, kept[-1].tb_lineno, code.co_name)
            err.add_note(f"raised at {place}")
        err.add_note(_HIDDEN_NOTE)
    return err


def api_boundary(fun: Callable) -> Callable:
    """``fun`` (a transformed function, called by the user) re-raising fgrad's errors with
    fgrad's frames hidden (:func:`filter_traceback`)."""

    @functools.wraps(fun)
    def boundary(*args, **kwargs):
        try:
            return fun(*args, **kwargs)
        except FgradError as err:
            raise filter_traceback(err) from err.__cause__

    return boundary
