"""Where in the user's code an operation was written: the first frame outside fgrad.

Tracing (``make_jaxpr``, ``jit``) records one :class:`SourceInfo` per equation, so a
jaxpr can be printed with the line each equation came from
(``jaxpr.pretty(source=True)``) and the explanation tools (``fgrad.explain``) can
name it. Eager mode records nothing. Finding the frame walks the Python stack from
the caller up; whether a code object belongs to fgrad is decided once per code
object and cached, so the walk costs a set lookup per fgrad frame (about 1.5 us per
equation, measured in ``benchmarks/tracing_overhead.py``).
``fgrad.config.update("fgrad_source_info", False)`` turns the recording off.

The same test of a code object hides fgrad's frames from the tracebacks of errors
leaving fgrad (``jax_traceback_filtering``): the functions the public packages export
(:func:`public_api`) and the functions the transforms return (:func:`api_boundary`)
re-raise them through :func:`filter_traceback`.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable
from inspect import CO_VARARGS, CO_VARKEYWORDS
from types import CodeType, FrameType, FunctionType, TracebackType
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


def filter_traceback(err: BaseException) -> None:
    """Take the frames of fgrad's own code out of ``err``'s traceback (unless
    ``jax_traceback_filtering`` is ``"off"``) and add a note naming the user's line it
    was raised at.

    Called by a boundary (:func:`api_boundary`, :func:`public_api`) in the ``except``
    clause that then re-raises ``err`` with a bare ``raise``: that adds no entry for the
    boundary's own frame, so the user's line is the last one shown. The line named is
    the innermost user frame left in the traceback (the user's function under a
    transform), else the user's frame that called into fgrad. An fgrad error's context
    (the NumPy error it explains) is not shown.
    """
    if not flags.traceback_filtering:
        return
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
    if isinstance(err, FgradError):
        err.__suppress_context__ = True
    notes = getattr(err, "__notes__", ())
    if _HIDDEN_NOTE in notes:  # an inner boundary has named the line
        return
    if kept:
        code = kept[-1].tb_frame.f_code
        place = SourceInfo(code.co_filename, kept[-1].tb_lineno, code.co_name)
    else:
        place = user_source()
    if place is not None:
        err.add_note(f"raised at {place}")
    err.add_note(_HIDDEN_NOTE)


def api_boundary(fun: Callable) -> Callable:
    """``fun`` (a transformed function, called by the user) re-raising errors with
    fgrad's frames hidden (:func:`filter_traceback`)."""

    @functools.wraps(fun)
    def boundary(*args, **kwargs):
        try:
            return fun(*args, **kwargs)
        except Exception as err:
            filter_traceback(err)
            raise

    return boundary


#: where the boundaries :func:`public_api` writes say they are (no file of that name)
_GENERATED = os.path.join(FGRAD_DIR, "core", "<api boundary>")


def public_api(namespace: dict, names: Iterable[str]) -> None:
    """Replace each function of fgrad's among ``names`` in ``namespace`` (a public
    module's globals) by a boundary that hides fgrad's frames from the errors leaving it
    (:func:`filter_traceback`).

    A package calls it once on what it exports, so that an eager call such as
    ``fnp.reshape(x, (4, 2))`` fails at the user's line as a transformed function does.
    Each boundary is generated with the function's own parameters (defaults shared, type
    hints and ``__wrapped__`` copied): forwarding ``*args, **kwargs`` would cost three
    times as much per call (about 0.2 us against 0.06 us), paid by every eager operation.
    Classes, NumPy's objects and functions already wrapped are left as they are; a
    function exported under several names or by several packages gets one boundary, so
    that aliases stay the same object (``fgrad.jacobian is fgrad.jacrev``).
    """
    for name in names:
        fun = namespace.get(name)
        if (
            type(fun) is FunctionType
            and fun.__module__.startswith("fgrad.")
            and fun.__code__ not in _inside
        ):
            if fun not in _boundaries:
                _boundaries[fun] = _boundary_for(fun)
            namespace[name] = _boundaries[fun]


#: the boundary made for each function (see :func:`public_api`)
_boundaries: dict[FunctionType, FunctionType] = {}


def _boundary_for(fun: FunctionType) -> FunctionType:
    code = fun.__code__
    names = code.co_varnames
    n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
    posonly = list(names[: code.co_posonlyargcount])
    pos = list(names[code.co_posonlyargcount : n_pos])
    kwonly = list(names[n_pos : n_pos + n_kw])
    rest = iter(names[n_pos + n_kw :])
    star = next(rest) if code.co_flags & CO_VARARGS else None
    starstar = next(rest) if code.co_flags & CO_VARKEYWORDS else None
    params = posonly + ["/"] * bool(posonly) + pos
    args = posonly + pos
    if star is not None or kwonly:
        params.append(f"*{star or ''}")
    if star is not None:
        args.append(f"*{star}")
    params += kwonly
    args += [f"{k}={k}" for k in kwonly]
    call = f"__fgrad_fun__({', '.join(args)})"
    if starstar is not None:  # passing an empty ** costs more than the test
        params.append(f"**{starstar}")
        call = f"__fgrad_fun__({', '.join([*args, '**' + starstar])}) if {starstar} else {call}"
    name = fun.__name__ if fun.__name__.isidentifier() else "boundary"
    source = (
        f"def {name}({', '.join(params)}):\n"
        "    try:\n"
        f"        return {call}\n"
        "    except Exception as __fgrad_err__:\n"
        "        __fgrad_filter__(__fgrad_err__)\n"
        "        raise\n"
    )
    scope = {"__fgrad_fun__": fun, "__fgrad_filter__": filter_traceback}
    exec(compile(source, _GENERATED, "exec"), scope)
    boundary = scope[name]
    boundary.__defaults__ = fun.__defaults__
    boundary.__kwdefaults__ = fun.__kwdefaults__
    functools.update_wrapper(boundary, fun)
    _inside.add(boundary.__code__)
    return boundary
