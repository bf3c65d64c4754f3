"""Indexing with NumPy's rules, and functional updates ``x.at[idx].set(v)``.

:func:`normalize_index` turns what users write (ints, slices, ``None``,
``...``, lists, integer and boolean arrays) into the static index tuple the
indexing primitives take. Boolean masks become integer arrays via ``nonzero``,
which needs their values: a mask computed from traced data is fine under
``grad``/``jvp`` (values are concrete there) but not under ``vmap`` or
``make_jaxpr``. Integer index arrays whose values are unknown there become
operands of the primitives instead (see ``fgrad/primitives/indexing.py``).
"""

from __future__ import annotations

import numpy as np

from fgrad.core.errors import TransformError
from fgrad.core.tracer import Tracer, known_value
from fgrad.numpy.conversion import as_array, check_no_out, host_index, normalize_axes
from fgrad.numpy.manipulation import broadcast_to, ravel, reshape
from fgrad.numpy.ufuncs import clip, maximum, minimum, remainder
from fgrad.primitives.indexing import OPERAND, getitem, index_add, index_set
from fgrad.primitives.reductions import argsort as argsort_primitive


def _unknown_integers(i) -> bool:
    """Is ``i`` a traced integer array whose values are not known now (vmap, make_jaxpr)?

    Such an index is passed to the indexing primitives as an operand, not a parameter."""
    return isinstance(i, Tracer) and i.dtype.kind in "iu" and known_value(i) is None


def normalize_index(index) -> tuple[tuple, tuple]:
    """NumPy index expression -> (index tuple, operands).

    The tuple holds ints, slices, None, Ellipsis and integer arrays; integer arrays
    whose values are not known while tracing are :data:`OPERAND` places, filled by
    ``operands`` in order.
    """
    if not isinstance(index, tuple):
        index = (index,)
    out, operands = [], []
    for i in index:
        if i is None or i is Ellipsis:
            out.append(i)
        elif isinstance(i, slice):
            out.append(
                slice(
                    *(None if p is None else int(host_index(p)) for p in (i.start, i.stop, i.step))
                )
            )
        elif isinstance(i, (bool, np.bool_)):
            out.append(np.asarray(i))
        elif isinstance(i, (int, np.integer)):
            out.append(int(i))
        elif _unknown_integers(i):
            out.append(OPERAND)
            operands.append(i)
        elif isinstance(i, Tracer) and i.ndim == 0 and i.dtype.kind in "iu":
            out.append(int(i))
        else:
            arr = np.asarray(host_index(i))
            if arr.dtype == np.bool_ and arr.ndim > 0:
                out.extend(arr.nonzero())
            elif arr.dtype.kind in "iu" or (arr.size == 0 and arr.dtype.kind == "f"):
                out.append(arr.astype(np.intp))
            elif arr.dtype == np.bool_:
                out.append(arr)
            else:
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), None and integer or "
                    f"boolean arrays are valid indices; got an index of dtype {arr.dtype}"
                )
    return tuple(out), tuple(operands)


def take_index(x, index):
    """``x[index]`` (what ``__getitem__`` on traced arrays calls)."""
    return getitem(as_array(x), *normalize_index(index))


class IndexUpdateRef:
    """``x.at[index]``: the place in ``x`` that a functional update writes to.

    Each method returns a new array; ``x`` itself is never modified, so the
    update is differentiable with respect to both ``x`` and the values.
    """

    __slots__ = ("array", "index", "operands")

    def __init__(self, array, index):
        self.array = as_array(array)
        self.index, self.operands = normalize_index(index)

    def get(self):
        """``x[index]``."""
        return getitem(self.array, self.index, self.operands)

    def set(self, values):
        """A copy of ``x`` with ``x[index] = values``."""
        return index_set(self.array, _values(values), self.index, self.operands)

    def add(self, values):
        """A copy of ``x`` with ``values`` added at ``index``; repeated indices accumulate."""
        return index_add(self.array, _values(values), self.index, self.operands)

    def _combine(self, op, values, name: str):
        """``x[index] = op(x[index], values)``, as NumPy's ``ufunc.at``: an element selected
        several times is updated once per occurrence, in order."""
        values = _values(values)
        if self.operands:
            raise TransformError(
                f"x.at[idx].{name}(v) needs the index values to apply NumPy's rule for "
                "repeated indices, and here they are only known per example (vmap) or at "
                f"run time (make_jaxpr). Use .set or .add, or compute the {name} as "
                "x.at[idx].set(op(x[idx], v)) when idx has no repeats."
            )
        if not any(isinstance(i, np.ndarray) for i in self.index):
            cur = getitem(self.array, self.index)  # ints and slices never repeat an element
            return index_set(self.array, op(cur, values), self.index)
        shape = self.array.shape
        positions = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)[self.index]
        positions = positions.ravel()
        values = ravel(broadcast_to(as_array(values), _selection_shape(shape, self.index)))
        rank = _occurrence_rank(positions)
        out = ravel(self.array)
        for k in range(int(rank.max(initial=-1)) + 1):  # each round touches distinct elements
            chosen = np.flatnonzero(rank == k)
            where = (positions[chosen],)
            out = index_set(out, op(getitem(out, where), getitem(values, (chosen,))), where)
        return reshape(out, shape)

    def multiply(self, values):
        """A copy of ``x`` with ``x[index] *= values`` (``numpy.multiply.at``: repeated
        indices multiply once per occurrence)."""
        return self._combine(lambda c, v: c * v, values, "multiply")

    def divide(self, values):
        """A copy of ``x`` with ``x[index] /= values`` (``numpy.divide.at``)."""
        return self._combine(lambda c, v: c / v, values, "divide")

    def power(self, values):
        """A copy of ``x`` with ``x[index] **= values`` (``numpy.power.at``)."""
        return self._combine(lambda c, v: c**v, values, "power")

    def min(self, values):  # noqa: A003 - JAX's name
        """A copy of ``x`` with ``x[index] = minimum(x[index], values)`` (``numpy.minimum.at``)."""
        return self._combine(minimum, values, "min")

    def max(self, values):  # noqa: A003 - JAX's name
        """A copy of ``x`` with ``x[index] = maximum(x[index], values)`` (``numpy.maximum.at``)."""
        return self._combine(maximum, values, "max")


def _selection_shape(shape, index) -> tuple[int, ...]:
    return np.empty(shape, dtype=bool)[index].shape


def _occurrence_rank(positions: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries hold the same position (0 for the first)."""
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, ordered.size]))
    rank = np.empty_like(positions)
    rank[order] = np.arange(ordered.size) - group_start
    return rank


def _values(v):
    return as_array(v) if isinstance(v, (list, tuple)) else v


class IndexUpdateHelper:
    """The object behind ``x.at``: index it to choose where to update."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index) -> IndexUpdateRef:
        return IndexUpdateRef(self.array, index)

    def __repr__(self) -> str:
        return "_IndexUpdateHelper(x) -- use x.at[index].set(v) / .add(v) / .get()"


def at(x) -> IndexUpdateHelper:
    """Functional updates of any array: ``fnp.at(x)[idx].set(v)``.

    Traced arrays also offer this as ``x.at[idx]``; plain NumPy arrays cannot
    grow that attribute, so use this function when ``x`` may be one (e.g. an
    array created with ``fnp.zeros`` inside a transformed function).
    """
    if isinstance(x, (list, tuple)):
        raise TransformError("at() takes an array, not a list")
    return IndexUpdateHelper(x)


def take(a, indices, axis=None, out=None, mode=None):
    """Elements of ``a`` at ``indices`` along ``axis`` (the flattened array when None)."""
    check_no_out(out, "take")
    a = as_array(a)
    idx = _index_array(indices)
    if mode == "wrap" or mode == "clip":
        n = a.size if axis is None else a.shape[normalize_axes(axis, a.ndim, "take")[0]]
        idx = remainder(idx, n) if mode == "wrap" else clip(idx, 0, n - 1)
    if axis is None:
        return take_index(ravel(a), (idx,))
    axis = normalize_axes(axis, a.ndim, "take")[0]
    return take_index(a, (slice(None),) * axis + (idx,))


def _index_array(indices):
    """Index values as a host array, or the tracer itself when they are known only per
    example (vmap) or at run time (make_jaxpr)."""
    return indices if _unknown_integers(indices) else np.asarray(host_index(indices))


def take_along_axis(arr, indices, axis=-1):
    """``numpy.take_along_axis``: pick by an index array shaped like ``arr`` (e.g. argsort)."""
    arr = as_array(arr)
    idx = _index_array(indices)
    if idx.dtype.kind not in "iu":
        raise IndexError("take_along_axis: indices must be integers")
    if axis is None:
        arr, axis = ravel(arr), 0
    if idx.ndim != arr.ndim:
        raise ValueError("take_along_axis: indices and arr must have the same number of dimensions")
    axis = normalize_axes(axis, arr.ndim, "take_along_axis")[0]
    index = []
    for d in range(arr.ndim):
        if d == axis:
            index.append(idx)
        else:
            shape = [1] * arr.ndim
            shape[d] = arr.shape[d]
            index.append(np.arange(arr.shape[d]).reshape(shape))
    return take_index(arr, tuple(index))


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """Indices that sort ``a`` along ``axis`` (an integer array, no derivative)."""
    if order is not None:
        raise NotImplementedError("argsort: 'order' (structured arrays) is not supported")
    a = as_array(a)
    if axis is None or a.ndim == 0:
        a, axis = ravel(a), 0
    axis = normalize_axes(axis, a.ndim, "argsort")[0]
    return argsort_primitive(a, axis, "stable" if stable else kind)


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``a`` sorted along ``axis``; the derivative follows each entry to its sorted place."""
    a = as_array(a)
    if axis is None:
        a, axis = ravel(a), -1
    return take_along_axis(a, argsort(a, axis, kind, order, stable=stable), axis)


__all__ = [
    "argsort",
    "at",
    "sort",
    "take",
    "take_along_axis",
]
