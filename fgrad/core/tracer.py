"""The tracer: a stand-in for an array inside a transformed function.

A tracer belongs to one trace (see :mod:`fgrad.core.trace_stack`). Each
transform subclasses it to carry what it needs: reverse mode keeps the concrete
value and the tracer's index in the tape, forward mode a primal and a tangent,
``make_jaxpr`` only an abstract value.

The array interface users call on tracers (``+``, ``@``, ``x[i]``, ``.sum()``,
...) *is* the NumPy API, so it is defined next to it, in
:mod:`fgrad.numpy.array_methods`, and attached to this class when
``fgrad.numpy`` is imported. What lives here is what concerns tracing itself:
conversion to Python scalars, refusing conversion to NumPy, and immutability.
"""

from __future__ import annotations

from fgrad.core.abstract import PYTHON_SCALARS, ShapedArray
from fgrad.core.errors import (
    ConcretizationError,
    ImmutableArrayError,
    TracerArrayConversionError,
)


class Tracer:
    """Base class of every transform's tracer."""

    __slots__ = ("_trace",)

    # NumPy's binary operators defer to us (``ndarray + tracer`` calls
    # ``tracer.__radd__``) when our priority is higher and we refuse ``__array__``.
    __array_priority__ = 1000
    __hash__ = None  # type: ignore[assignment]  # like ndarray: ``==`` is elementwise

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self):
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        size = 1
        for d in self.shape:
            size *= d
        return size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d traced array)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    # -- concrete values -------------------------------------------------
    def value_below(self):
        """The value this tracer stands for one level down: an array or an outer tracer.

        ``None`` for abstract tracers, which stand for no value.
        """
        return None

    def is_weakly_typed(self) -> bool:
        """Does this tracer stand for a weakly typed value (a Python scalar given to ``jit``,
        or arithmetic on such only), which NumPy 2 promotes as a Python number?

        ``aval.weak_type`` answers the same, but some tracers build their aval on each
        call; this follows the value one level down instead (abstract tracers, which
        hold no value, ask their aval), so that asking costs next to nothing.
        """
        below = self.value_below()
        if below is None:
            return self.aval.weak_type
        if isinstance(below, Tracer):
            return below.is_weakly_typed()
        return type(below) in PYTHON_SCALARS

    def concrete_value(self):
        """The concrete array behind this tracer, or raise ConcretizationError."""
        raise ConcretizationError(
            f"The value of this traced {self.aval.str_short()} is not known while "
            f"tracing with {self._trace.name}: it only has a shape and a dtype. "
            "Python control flow (`if`, `while`), float(), int() and bool() need "
            "concrete values. Express the choice with fgrad.numpy.where, or compute "
            "the value outside the traced function and pass it in (under jit: mark the "
            "argument that decides it static, jit(f, static_argnums=...))."
        )

    def __bool__(self) -> bool:
        return bool(self.concrete_value())

    def __float__(self) -> float:
        return float(self.concrete_value())

    def __int__(self) -> int:
        return int(self.concrete_value())

    def __complex__(self) -> complex:
        return complex(self.concrete_value())

    def __index__(self) -> int:
        return self.concrete_value().__index__()

    def item(self):
        """The value of a size-1 traced array as a Python scalar."""
        return self.concrete_value().item()

    def tolist(self):
        return self.concrete_value().tolist()

    def block_until_ready(self) -> Tracer:
        """``self``: inside a transform there is nothing to wait for (as ``jax.Array``'s)."""
        return self

    # -- refusals --------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TracerArrayConversionError(
            f"A traced value ({self.aval.str_short()}, being transformed by "
            f"{self._trace.name}) was converted to a numpy.ndarray (numpy.asarray, "
            "numpy.array, or a function calling them), which needs concrete numbers and "
            "cannot record derivatives. NumPy functions called on the traced value itself "
            "(numpy.sin(x), numpy.sum(x)) work; for building arrays use fgrad.numpy: "
            "`import fgrad.numpy as fnp`, then e.g. `fnp.stack([a, b])`, `fnp.asarray(x)`. "
            "A NumPy array indexed by a traced value (`table[i]`) lands here too: write "
            "`fnp.take(table, i, axis=0)`. If you really need the numbers and no derivative, use "
            "fgrad.stop_gradient(x) and convert outside the transform."
        )

    def __setitem__(self, index, value):
        raise ImmutableArrayError(
            f"Traced arrays are immutable: `x[{_index_repr(index)}] = v` is not "
            f"supported inside {self._trace.name}. Use the functional update "
            f"`x = x.at[{_index_repr(index)}].set(v)` (or `.add(v)`), which returns "
            "a new array and is differentiable."
        )

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}> under {self._trace.name}"

    __str__ = __repr__


def concrete(x):
    """``x``'s concrete value (``x`` itself if it is not traced); a traced ``x`` without one
    (under ``jit``/``make_jaxpr``, or one example of a ``vmap`` batch) raises
    :class:`~fgrad.core.errors.ConcretizationError`, which says what to do instead."""
    return x.concrete_value() if isinstance(x, Tracer) else x


def known_value(x):
    """``x``'s concrete value, or ``None`` where it has none: under ``jit``/``make_jaxpr``,
    or as one example of a ``vmap`` batch. Plain values are returned as they are."""
    if not isinstance(x, Tracer):
        return x
    try:
        return x.concrete_value()
    except ConcretizationError:
        return None


def slice_str(s: slice) -> str:
    """A slice as it is written in an index: ``1:``, ``::2``, ``:``, ``1:5:2``."""
    text = ":".join("" if p is None else str(p) for p in (s.start, s.stop))
    return text if s.step is None else f"{text}:{s.step}"


def _index_repr(index) -> str:
    if not isinstance(index, tuple):
        index = (index,)
    parts = []
    for i in index:
        if isinstance(i, slice):
            parts.append(slice_str(i))
        elif i is Ellipsis:
            parts.append("...")
        elif i is None:
            parts.append("None")
        elif isinstance(i, int):
            parts.append(str(i))
        else:
            parts.append("idx")
    return ", ".join(parts)
