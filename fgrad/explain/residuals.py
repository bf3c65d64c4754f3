"""``fgrad.explain.saved_residuals``: the values reverse mode keeps for the backward pass.

``vjp`` runs the function once and keeps, on its tape, what the derivative rules will
read (see ``docs/architecture.md``): a ``sin`` keeps its input, an ``exp`` its result,
a ``checkpoint`` only its inputs (it recomputes the rest). This runs ``vjp`` on a tape
that also records the user's line of each entry and lists every array the tape holds
with its shape, dtype and size, the primitive whose entry keeps it, and that line.
Values the function was called with are listed too but not counted: the caller holds
them anyway.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.rules import tape_plan, vjp_reads
from fgrad.core.source_info import SourceInfo, user_source
from fgrad.core.tracer import Tracer
from fgrad.explain.dot import number
from fgrad.explain.recording import input_names
from fgrad.transforms.reverse_mode import GradTrace, custom_call, vjp_on


@dataclass(frozen=True)
class Residual:
    """One array a ``vjp`` keeps for its backward pass."""

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int
    #: the primitive whose tape entry keeps it, or ``custom rule (checkpoint)``, ...
    primitive: str
    #: which value of that entry: ``input 0``, ``result``, or ``closure`` for a custom rule
    role: str
    #: the user's line that made the entry
    source: SourceInfo | None
    #: the name of the function's argument this value is (``x``, ``params['w']``), if it is
    argument: str | None
    #: whether the entry's derivative rule reads it (False: the tape keeps every value
    #: until its first result larger than ``SMALL_VALUE_BYTES``, as dropping small ones
    #: costs more time than they cost memory)
    read: bool

    def __str__(self) -> str:
        aval = ShapedArray(self.shape, self.dtype).str_short()
        what = f"{self.role} of {self.primitive}" if self.role != "closure" else self.primitive
        if self.argument is not None:
            what += f", the argument {self.argument}"
        if not self.read:
            what += " (its rule does not read it: kept, as the tape keeps every value "
            what += "until its first result over 4 kB)"
        where = f" at {self.source}" if self.source is not None else ""
        return f"{aval:<14} {_size(self.nbytes):>10}  {what}{where}"


class Residuals:
    """The residuals of one ``vjp``: iterable, with :attr:`nbytes` and a printed table."""

    def __init__(self, name: str, residuals: list[Residual]):
        self.name = name
        self.residuals = residuals

    def __iter__(self) -> Iterator[Residual]:
        return iter(self.residuals)

    def __len__(self) -> int:
        return len(self.residuals)

    @property
    def nbytes(self) -> int:
        """The bytes kept for the backward pass, the function's arguments not counted."""
        return sum(r.nbytes for r in self.residuals if r.argument is None)

    def __str__(self) -> str:
        saved = sum(r.argument is None for r in self.residuals)
        head = (
            f"vjp of {self.name} keeps {saved} array{'s' * (saved != 1)} of "
            f"{_size(self.nbytes)} for the backward pass (arguments not counted):"
        )
        return "\n".join([head, *(f"  {r}" for r in self.residuals)])

    __repr__ = __str__


def saved_residuals(fun: Callable, *args) -> Residuals:
    """The arrays ``vjp(fun, *args)`` keeps until its backward pass, and where each comes from.

    Parameters
    ----------
    fun
        A function of pytrees of floating-point arrays, written with ``fgrad.numpy``.
    *args
        The arguments to run it on (every leaf is differentiated, as by ``vjp``).

    Returns
    -------
    Residuals
        One :class:`Residual` per array kept (each array once), in the order the
        function made them; ``print()`` shows a table, ``.nbytes`` the total.

    Examples
    --------
    >>> x = np.ones(1000)
    >>> print(fgrad.explain.saved_residuals(lambda x: fnp.sum(fnp.sin(fnp.sin(x))), x))
    >>> deep = fgrad.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> fgrad.explain.saved_residuals(lambda x: fnp.sum(deep(x)), x).nbytes   # 0
    """
    trace = _ResidualTrace()
    vjp_on(trace, fun, *args)
    names = input_names(fun, args)
    arguments = {id(v): names[k] for k, v in enumerate(trace.inputs)}
    found: list[Residual] = []
    seen: dict[int, int] = {}  # id of a value -> its place in found
    for entry, source in zip(trace.tape, trace.tape.sources):
        for value, primitive, role, read in _kept(entry):
            if id(value) in seen:
                # one value on several entries (a result, then the next operation's
                # input) is read if any of their rules reads it
                k = seen[id(value)]
                if read and not found[k].read:
                    found[k] = dataclasses.replace(found[k], read=True)
                continue
            seen[id(value)] = len(found)
            aval = get_aval(value)
            found.append(
                Residual(
                    tuple(aval.shape),
                    np.dtype(aval.dtype),
                    int(value.nbytes),
                    primitive,
                    role,
                    source,
                    arguments.get(id(value)),
                    read,
                )
            )
    return Residuals(getattr(fun, "__name__", "the function"), found)


class _SourceTape(list):
    """A tape that notes the user's line of each entry as it is appended."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[SourceInfo | None] = []

    def append(self, entry) -> None:
        self.sources.append(user_source())
        super().append(entry)


class _ResidualTrace(GradTrace):
    """The reverse-mode trace, its tape noting sources and its inputs kept."""

    __slots__ = ("inputs",)

    def __init__(self) -> None:
        super().__init__()
        self.tape = _SourceTape()
        self.inputs: list = []

    def new_input(self, val):
        self.inputs.append(val)
        return super().new_input(val)


def _is_array(v) -> bool:
    return hasattr(v, "nbytes") and not isinstance(v, (ShapedArray, Tracer))


def _kept(entry: tuple) -> Iterator[tuple]:
    """``(value, primitive, role, read)`` per array a tape entry holds."""
    prim, params, vals, links, _, ans = entry
    if prim is custom_call:
        owners: list[str] = []
        arrays = _reachable(params["bwd"], owners, depth=0)
        kind = next((m for m in owners if not m.endswith(_TAPE_MODULES)), None)
        kind = kind.rsplit(".", 1)[-1] if kind else "custom_jvp/custom_vjp"
        label = f"custom rule ({_RULE_OWNERS.get(kind, kind)})"
        for v in arrays:
            yield v, label, "closure", True
        return
    if prim in vjp_reads:
        drops, keep_ans = tape_plan(prim, links, len(vals))
    else:  # a rule that declares nothing keeps, and may read, everything
        drops, keep_ans = (), True
    for i, v in enumerate(vals):
        if _is_array(v):
            yield v, prim.name, f"input {i}", i not in drops
    if _is_array(ans):
        yield ans, prim.name, "result", keep_ans


#: the modules whose closures wrap every custom rule (joint entries, custom_call): not the
#: rule's owner
_TAPE_MODULES = ("custom_derivatives", "reverse_mode")

#: the module that made a custom rule -> what the user wrote
_RULE_OWNERS = {"jit_rules": "jit", "while_loop": "while_loop", "loops": "scan"}


def _reachable(obj, owners: list[str], depth: int) -> list:
    """The arrays a custom rule's closure holds (its cells, lists and partials, a few levels
    deep), and in ``owners`` the modules of the functions met on the way."""
    if depth > 6:
        return []
    if _is_array(obj):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [a for x in obj for a in _reachable(x, owners, depth + 1)]
    if isinstance(obj, dict):
        return [a for x in obj.values() for a in _reachable(x, owners, depth + 1)]
    if isinstance(obj, functools.partial):
        return _reachable([obj.func, *obj.args, *obj.keywords.values()], owners, depth + 1)
    cells = getattr(obj, "__closure__", None)
    if cells is None:
        return []
    owners.append(getattr(obj, "__module__", "") or "")
    found = []
    for cell in cells:
        try:
            found += _reachable(cell.cell_contents, owners, depth + 1)
        except ValueError:  # an empty cell
            continue
    return found


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{number(nbytes / scale, 3)} {unit}"
    return f"{nbytes} B"
