"""The NaN/inf checker: ``jax_debug_nans`` and ``jax_debug_infs`` (``fgrad.debug_nans()``).

With a flag on, every primitive evaluated on concrete arrays (eagerly, under ``grad``,
``vmap``, and ``jit``, which then runs op by op) has its result checked, and the first
NaN (inf) is a ``FloatingPointError`` naming the primitive, its inputs (shape, dtype,
a summary of the values) and the user's line that applied it: the first frame outside
fgrad (:mod:`fgrad.core.source_info`). The backward pass checks each cotangent a vjp
rule returns and names the forward equation whose derivative made it, with the line
recorded for that equation while the flag was on (:func:`derivative_error`).
A NaN that reaches a primitive from outside (the data, or NumPy's own operators on
NumPy arrays, which fgrad never sees) is reported there with that said; ``jit``'s
op-by-op checked run has NumPy raise at its operators instead and names them
(:func:`numpy_error`). With the flags off nothing here runs: the callers test one
attribute of :data:`~fgrad.core.config.flags` first.
"""

from __future__ import annotations

import linecache
import os

import numpy as np

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.config import flags
from fgrad.core.source_info import SourceInfo, is_internal, user_source
from fgrad.core.tracer import Tracer

#: arrays up to this many elements are printed in full in the messages
_SHOWN_IN_FULL = 6


def nonfinite_kind(x) -> str | None:
    """``"NaN"`` or ``"inf"`` when ``x`` holds one the flags on look for, else None."""
    while isinstance(x, Tracer):  # a cotangent under an outer transform: its values
        x = x.value_below()
    if isinstance(x, ShapedArray) or x is None:  # a placeholder on the tape: no values
        return None
    dtype = getattr(x, "dtype", None) or np.result_type(x)
    if not np.issubdtype(dtype, np.inexact):
        return None
    if flags.debug_nans and np.isnan(x).any():
        return "NaN"
    if flags.debug_infs and np.isinf(x).any():
        return "inf"
    return None


def check_finite(prim, args, out) -> None:
    """With ``jax_debug_nans`` / ``jax_debug_infs`` on: an error if ``out`` holds a NaN
    (inf), naming ``prim``, ``args`` and the user's line."""
    for y in out if isinstance(out, (tuple, list)) else (out,):
        kind = nonfinite_kind(y)
        if kind is not None:
            inputs = "".join(
                f"\n  input {k}: {describe(x)}"
                f"{f' (has {kind})' if nonfinite_kind(x) == kind else ''}"
                for k, x in enumerate(args)
            )
            carried = [k for k, x in enumerate(args) if nonfinite_kind(x) == kind]
            raise FloatingPointError(
                f"`{prim.name}` produced {kind}{where(user_source())}"
                f"{inputs}\n  result: {describe(y)}\n{_carried_note(carried, kind)}"
                f"{_flag_note(kind)}"
            )


def derivative_error(
    prim, vals, ans, ct, c, source: SourceInfo | None, cause: Exception | None = None
) -> FloatingPointError:
    """The error for a NaN (inf) made in the backward pass by ``prim``'s vjp rule: the
    forward equation's inputs ``vals`` and result ``ans``, the incoming cotangent ``ct``,
    the cotangent ``c`` the rule returned (or ``cause``, the error a primitive inside the
    rule raised) and ``source``, the user's line of the forward equation."""
    if cause is not None:
        kind = "NaN" if "NaN" in str(cause).split("\n", 1)[0] else "inf"
    else:
        kind = nonfinite_kind(c)
    name = getattr(prim, "name", str(prim))
    at = _point(vals)
    inputs = "".join(
        f"\n  forward input {k}: {describe(x)}" for k, x in enumerate(vals) if x is not None
    )
    made = f"\n  the rule returned: {describe(c)}" if cause is None else ""
    inner = f"\n  inside the rule: {str(cause).splitlines()[0]}" if cause is not None else ""
    return FloatingPointError(
        f"the derivative of `{name}`{at} produced {kind} in the backward pass, "
        f"for the forward equation{where(source)}"
        f"{inputs}\n  forward result: {describe(ans)}\n  incoming cotangent: {describe(ct)}"
        f"{made}{inner}\n{_flag_note(kind)}"
    )


#: NumPy's names of the ufuncs behind Python's operators -> fgrad's primitives
_PRIMITIVE_OF_UFUNC = {
    "divide": "div",
    "true_divide": "div",
    "power": "pow",
    "float_power": "pow",
    "subtract": "sub",
    "multiply": "mul",
    "negative": "neg",
    "absolute": "abs",
}

_NUMPY_KIND = {"invalid value": "NaN", "divide by zero": "inf", "overflow": "inf"}


def numpy_error(err: FloatingPointError) -> FloatingPointError | None:
    """The checker's error for ``err``, raised by NumPy (under ``numpy.errstate``) where
    an operation on NumPy arrays made a NaN or inf: the operation as fgrad's primitive and
    the user's line it ran at (the innermost frame of the user's in the traceback); None
    for any other error."""
    text = str(err).split("\n", 1)[0]
    match = [k for k in _NUMPY_KIND if text.startswith(f"{k} encountered in ")]
    if not match:
        return None
    ufunc = text.rsplit(" ", 1)[-1]
    source = None
    tb = err.__traceback__
    while tb is not None:
        if not is_internal(tb.tb_frame.f_code):
            code = tb.tb_frame.f_code
            source = SourceInfo(code.co_filename, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    kind = _NUMPY_KIND[match[0]]
    return FloatingPointError(
        f"`{_PRIMITIVE_OF_UFUNC.get(ufunc, ufunc)}` produced {kind}{where(source)}\n"
        f"  (NumPy's {ufunc} on NumPy arrays, in the checked run of a jitted function: "
        f"NumPy said {text!r})\n{_flag_note(kind)}"
    )


def where(source: SourceInfo | None) -> str:
    """`` at file:line (function): `the line's code` `` for a message, or ``""``."""
    if source is None:
        return " (no line outside fgrad called it)"
    code = linecache.getline(source.file, source.line).strip()
    text = f" at {os.path.basename(source.file)}:{source.line} ({source.function})"
    return f"{text}: `{code}`" if code else text


def describe(x) -> str:
    """Shape, dtype and a summary of the values of ``x``: all of them when few, else
    min, max and how many are NaN or inf."""
    if x is None:
        return "not kept"
    batched = ""
    while isinstance(x, Tracer):  # a rule's value under an outer transform: the values
        batched = f" (the values under {x._trace.name}, all examples)"  # it carries
        below = x.value_below()
        x = x.aval if below is None else below
    if isinstance(x, ShapedArray):
        return f"{x.str_short()}{batched or ' (values not kept on the tape)'}"
    try:
        aval = get_aval(x)
    except TypeError:
        return repr(x)
    head = aval.str_short() + batched
    arr = np.asarray(x)
    if arr.ndim == 0:
        return f"{head} = {arr.item()!r}"
    if arr.size <= _SHOWN_IN_FULL:
        return f"{head} = {np.array2string(arr.ravel() if arr.ndim > 1 else arr, precision=4)}"
    if not np.issubdtype(arr.dtype, np.inexact):
        return f"{head} in [{arr.min()}, {arr.max()}]"
    nan, inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
    finite = arr[np.isfinite(arr)]
    if finite.size and not np.iscomplexobj(finite):
        span = f" in [{finite.min():.4g}, {finite.max():.4g}] where finite"
    else:
        span = ""
    return f"{head}{span}, {nan} NaN, {inf} inf"


def _point(vals) -> str:
    """`` at 0.0`` when the forward equation had one scalar input, else ``""``."""
    known = [x for x in vals if x is not None and not isinstance(x, (ShapedArray, Tracer))]
    if len(known) == 1 and np.size(known[0]) == 1:
        return f" at {np.asarray(known[0]).item()!r}"
    return ""


def _carried_note(carried: list[int], kind: str) -> str:
    """Where the input's NaN (inf) came from, when the primitive only passed it on."""
    if not carried:
        return ""
    return (
        f"(input {carried[0]} already held {kind}, so it was made before this line, by no "
        "fgrad operation while the checker was on: it came with the data, or from NumPy "
        "code the checker does not see, such as an operator between two NumPy arrays "
        "outside any transform; write that step with fgrad.numpy functions, or run it "
        "under numpy.errstate(invalid='raise'))\n"
    )


def _flag_note(kind: str) -> str:
    flag = f"jax_debug_{kind.lower()}s"
    return (
        f"(fgrad.config's {flag} is on: turn it off with fgrad.config.update({flag!r}, False))"
    )
