"""The programs ``jit`` keeps for one function: keyed by signature, bounded, explained.

Every new :class:`Signature` (argument structure, each leaf's shape, dtype and weak
type, the static values with their types, the device, the transform a compiled
program serves) traces and compiles the function again. :class:`ProgramCache`
keeps the most recently used programs, up to a size, and drops the least recently
used one beyond it, so a function called with ever new shapes holds a bounded
amount of memory. It also counts the traces: when one function has been traced
:data:`RETRACE_WARNING_AFTER` times it warns, once, naming what changed between
the last two signatures, the argument leaf (``params['w']``: ``f64[32,4]`` to
``f64[33,4]``) or the static value (``2 (int)`` to ``2.0 (float)``). With
``fgrad.config.update("jax_explain_cache_misses", True)`` every trace after the first
is explained so, against the closest signature the cache has a program for, on the
logger ``fgrad``.
"""

from __future__ import annotations

import collections
import logging
import threading
import warnings
from typing import Any, NamedTuple

from fgrad.core.abstract import dtype_short_name
from fgrad.core.config import flags
from fgrad.core.errors import RetraceWarning
from fgrad.core.pytree import PyTreeDef, tree_flatten, tree_unflatten
from fgrad.core.source_info import user_source

#: how many programs one jitted function keeps unless ``jit(..., cache_size=)`` says
DEFAULT_CACHE_SIZE = 64

#: the number of traces of one function that triggers the :class:`RetraceWarning`
RETRACE_WARNING_AFTER = 10

_log = logging.getLogger("fgrad")


class Signature(NamedTuple):
    """What one compiled program is specialised to (the cache key)."""

    #: the structure of ``(dynamic positional arguments, dynamic keyword arguments)``
    in_tree: PyTreeDef
    #: ``(shape, dtype, weak_type)`` per argument leaf
    leaves: tuple | None
    #: the static positions, their values and the static keywords' ``(name, value)``
    #: pairs, each value as :func:`static_key` gives it
    static: tuple
    #: the device's name
    device: str | None
    #: ``()`` for a plain call, else the transform a compiled program serves and its
    #: parameters (``("vjp", traced positions)``, ``("vmap", axes, size, axis_name)``, ...)
    transform: tuple = ()


def static_key(value: Any) -> Any:
    """``value`` with its type, inside containers too, as the cache compares it.

    ``2 == 2.0`` and ``1 == True``, yet a function may return an int for one and a
    float for the other, so static values that differ in type never share a program.
    Floats compare by their bits (``0.0`` and ``-0.0`` differ, a NaN matches itself).
    """
    if isinstance(value, tuple):
        return (type(value), tuple(static_key(v) for v in value))
    if isinstance(value, frozenset):
        return (type(value), frozenset(static_key(v) for v in value))
    if isinstance(value, float):
        return (type(value), float.hex(value))
    if isinstance(value, complex):
        return (type(value), float.hex(value.real), float.hex(value.imag))
    return (type(value), value)


class ProgramCache:
    """The compiled programs of one jitted function, least recently used dropped first.

    Parameters
    ----------
    name
        The function's name, for the warning.
    size
        The number of programs kept; ``None`` keeps every one.
    param_names
        The function's positional parameter names, to name arguments in the warning.
    """

    __slots__ = (
        "name", "size", "param_names", "traces", "fast", "_programs", "_last", "_dropped",
        "_lock",
    )

    def __init__(self, name: str, size: int | None, param_names: list[str]):
        self.name = name
        self.size = size
        self.param_names = param_names
        #: how many times the function has been traced (evicted programs traced again count)
        self.traces = 0
        #: what ``jit``'s fast path checks a call against: set by ``jit`` after a lookup,
        #: cleared by every :meth:`get` and :meth:`add`, so the program it holds is always
        #: the most recently used one (a hit need not reorder the cache)
        self.fast: tuple | None = None
        self._programs: collections.OrderedDict = collections.OrderedDict()
        self._last: Signature | None = None
        #: the signatures whose programs were dropped lately, to say so when one returns
        self._dropped: collections.deque = collections.deque(maxlen=size or 1)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._programs)

    def get(self, key: Signature):
        """The program for ``key`` (now the most recently used), or None."""
        with self._lock:
            self.fast = None
            program = self._programs.get(key)
            if program is not None:
                self._programs.move_to_end(key)
            return program

    def add(self, key: Signature, program) -> None:
        """Keep ``program``, just traced for ``key``; drop the least recently used beyond
        the size; warn once when the function has been traced too often."""
        with self._lock:
            self.fast = None
            if flags.explain_cache_misses and self._programs:
                _log.warning(self._miss_message(key))
            self._programs[key] = program
            self._programs.move_to_end(key)
            if self.size is not None:
                while len(self._programs) > self.size:
                    self._dropped.append(self._programs.popitem(last=False)[0])
            self.traces += 1
            last, self._last = self._last, key
            warn = self.traces == RETRACE_WARNING_AFTER
        if warn:
            warnings.warn(self._retrace_message(last, key), RetraceWarning, stacklevel=3)

    def _miss_message(self, key: Signature) -> str:
        """Why ``key`` traced again: how it differs from the closest signature kept."""
        where = user_source()
        at = f", called at {where}" if where is not None else ""
        head = f"jit: tracing `{self.name}` again (trace {self.traces + 1}{at}): "
        if key in self._dropped:
            return head + (
                f"a signature seen before, whose program was dropped: the cache keeps the "
                f"{self.size} most recently used (jit(..., cache_size=N))"
            )
        nearest = min(self._programs, key=lambda old: _distance(old, key))
        kept = len(self._programs)
        return head + (
            f"{explain(nearest, key, self)}; compared with the closest of the {kept} "
            f"signature{'s' * (kept != 1)} it has programs for"
        )

    def _retrace_message(self, old: Signature | None, new: Signature) -> str:
        kept = "every program" if self.size is None else f"the {self.size} most recent programs"
        return (
            f"jit: `{self.name}` has been traced and compiled {self.traces} times, once per "
            f"new input signature. The last trace was caused by {explain(old, new, self)}. "
            "Tracing and compiling costs more than a call. If shapes vary on purpose (batch "
            "sizes, sequence lengths), pad them to a few sizes; a Python number that varies "
            "should be a traced argument, not a static one. The cache "
            f"keeps {kept} (jit(..., cache_size=N)). This warning is shown once per function."
        )

    def argument_name(self, in_tree: PyTreeDef, static: tuple, leaf: int) -> str:
        """The argument and the path inside it of leaf number ``leaf``: ``params['w']``."""
        positions = static[0]
        dynamic, kwargs = tree_unflatten(in_tree, list(range(in_tree.num_leaves)))
        tops = [(self._positional_name(i, positions), a) for i, a in enumerate(dynamic)]
        for prefix, tree in tops + [(str(k), v) for k, v in kwargs.items()]:
            path = _path_to(tree, leaf)
            if path is not None:
                return prefix + path
        return f"leaf {leaf}"

    def _positional_name(self, dynamic_index: int, static_positions: tuple) -> str:
        """The name of the ``dynamic_index``-th non-static positional argument."""
        positions = range(dynamic_index + len(static_positions) + 1)
        return self.param_name([p for p in positions if p not in static_positions][dynamic_index])

    def param_name(self, position: int) -> str:
        """The name of the positional parameter at ``position``."""
        if position < len(self.param_names):
            return self.param_names[position]
        return f"args[{position}]"


def explain(old: Signature | None, new: Signature, cache: ProgramCache) -> str:
    """What differs between two signatures, in words (the first few differences)."""
    if old is None:
        return "the first call"
    if old.transform[:1] != new.transform[:1]:
        return f"a call under {_transform_name(new)} (the previous one was {_transform_name(old)})"
    if old.in_tree != new.in_tree:
        return f"a new argument structure: {old.in_tree} became {new.in_tree}"
    changes = []
    if old.transform != new.transform:  # batch size and axes, positions differentiated
        changes.append(
            f"under {_transform_name(new)}, {_TRANSFORM_PARAMETERS[new.transform[0]]}: "
            f"{old.transform[1:]} became {new.transform[1:]}"
        )
    if old.leaves is not None and new.leaves is not None:
        for k, (a, b) in enumerate(zip(old.leaves, new.leaves)):
            if a != b:
                name = cache.argument_name(new.in_tree, new.static, k)
                changes.append(f"argument `{name}`: {_aval(a)} became {_aval(b)}")
    if old.static != new.static:
        changes.extend(_static_changes(old.static, new.static, cache))
    if old.device != new.device:
        changes.append(f"the device: {old.device} became {new.device}")
    if not changes:
        return "a signature seen before whose program had been dropped (the cache was full)"
    more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
    return "; ".join(changes[:3]) + more


def _distance(old: Signature, new: Signature) -> int:
    """How many parts of two signatures differ (another transform or argument structure
    counts as more than any number of leaves)."""
    if old.transform[:1] != new.transform[:1]:
        return 1 << 30
    if old.in_tree != new.in_tree:
        return 1 << 20
    leaves = 0
    if old.leaves is not None and new.leaves is not None:
        leaves = sum(a != b for a, b in zip(old.leaves, new.leaves))
    return leaves + (old.static != new.static) + (old.device != new.device) + (
        old.transform != new.transform
    )


def _static_changes(old: tuple, new: tuple, cache: ProgramCache) -> list[str]:
    if old[0] != new[0] or [k for k, _ in old[2]] != [k for k, _ in new[2]]:
        return ["a different choice of static arguments"]
    names = [cache.param_name(p) for p in new[0]] + [k for k, _ in new[2]]
    olds = list(old[1]) + [v for _, v in old[2]]
    news = list(new[1]) + [v for _, v in new[2]]
    return [
        f"static argument `{name}`: {_typed(a)} became {_typed(b)}"
        for name, a, b in zip(names, olds, news)
        if a != b
    ]


def _typed(key: tuple) -> str:
    """A :func:`static_key` in words: ``2.0 (float)``."""
    return f"{_value(key)!r:.60} ({key[0].__name__})"


def _value(key: tuple) -> Any:
    """The value a :func:`static_key` was made of (a tuple subclass as a plain tuple)."""
    tp = key[0]
    if issubclass(tp, tuple):
        return tuple(_value(k) for k in key[1])
    if issubclass(tp, frozenset):
        return frozenset(_value(k) for k in key[1])
    if issubclass(tp, float):
        return float.fromhex(key[1])
    if issubclass(tp, complex):
        return complex(float.fromhex(key[1]), float.fromhex(key[2]))
    return key[1]


def _aval(leaf: tuple) -> str:
    shape, dtype, weak = leaf
    weak_mark = " (weakly typed, a Python scalar)" if weak else ""
    return f"{dtype_short_name(dtype)}[{','.join(map(str, shape))}]{weak_mark}"


_TRANSFORM_PARAMETERS = {
    "vjp": "the positions of the differentiated leaves",
    "jvp": "the positions of the leaves with tangents",
    "vmap": "(batch axes, batch size, axis name)",
}


def _transform_name(sig: Signature) -> str:
    return {"vjp": "grad/vjp", "jvp": "jvp", "vmap": "vmap"}.get(
        sig.transform[0] if sig.transform else "", "no transform"
    )


def _path_to(tree: Any, leaf: int) -> str | None:
    """The indexing path (``['w'][0]``) from ``tree`` to the placeholder ``leaf``."""
    if type(tree) is int:
        return "" if tree == leaf else None
    if isinstance(tree, dict):
        items = [(f"[{k!r}]", v) for k, v in tree.items()]
    elif hasattr(tree, "_fields"):
        items = [(f".{f}", getattr(tree, f)) for f in tree._fields]
    elif isinstance(tree, (list, tuple)):
        items = [(f"[{i}]", v) for i, v in enumerate(tree)]
    else:  # a registered container: its children, in flattening order
        children, _ = tree_flatten(tree, is_leaf=lambda x: x is not tree)
        items = [(f"<{i}>", v) for i, v in enumerate(children)]
    for step, child in items:
        path = _path_to(child, leaf)
        if path is not None:
            return step + path
    return None
