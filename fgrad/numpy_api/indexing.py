"""Indexing with NumPy's rules, and functional updates ``x.at[idx].set(v)``.

:func:`normalize_index` turns what users write (ints, slices, ``None``,
``...``, lists, integer and boolean arrays) into the static index tuple the
indexing primitives take. Boolean masks become integer arrays via ``nonzero``,
which needs their values: a mask computed from traced data is fine under
``grad``/``jvp`` (values are concrete there) but not under ``make_jaxpr``.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.backend import device_get
from fgrad.core.errors import TransformError
from fgrad.core.tracer import Tracer
from fgrad.numpy_api.creation import as_array
from fgrad.primitives.indexing import getitem, index_add, index_set


def _concrete(i):
    """Index values on the host: they are static parameters (CuPy accepts host indices)."""
    if isinstance(i, Tracer):
        i = i.concrete_value()
    return device_get(i) if hasattr(i, "shape") else i


def normalize_index(index) -> tuple:
    """NumPy index expression -> tuple of ints, slices, None, Ellipsis and integer arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if i is None or i is Ellipsis:
            out.append(i)
        elif isinstance(i, slice):
            out.append(
                slice(
                    *(None if p is None else int(_concrete(p)) for p in (i.start, i.stop, i.step))
                )
            )
        elif isinstance(i, (bool, np.bool_)):
            out.append(np.asarray(i))
        elif isinstance(i, (int, np.integer)):
            out.append(int(i))
        elif isinstance(i, Tracer) and i.ndim == 0 and i.dtype.kind in "iu":
            out.append(int(i))
        else:
            arr = np.asarray(_concrete(i))
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
    return tuple(out)


def take_index(x, index):
    """``x[index]`` (what ``__getitem__`` on traced arrays calls)."""
    return getitem(as_array(x), normalize_index(index))


def nonzero(a):
    """Indices of the non-zero elements; needs concrete values (no derivative)."""
    return np.nonzero(np.asarray(_concrete(a)))


class IndexUpdateRef:
    """``x.at[index]``: the place in ``x`` that a functional update writes to.

    Each method returns a new array; ``x`` itself is never modified, so the
    update is differentiable with respect to both ``x`` and the values.
    """

    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = as_array(array)
        self.index = normalize_index(index)

    def get(self):
        """``x[index]``."""
        return getitem(self.array, self.index)

    def set(self, values):
        """A copy of ``x`` with ``x[index] = values``."""
        return index_set(self.array, _values(values), self.index)

    def add(self, values):
        """A copy of ``x`` with ``values`` added at ``index``; repeated indices accumulate."""
        return index_add(self.array, _values(values), self.index)


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

__all__ = [
    "at",
    "nonzero",
]
