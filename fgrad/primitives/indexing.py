"""Indexing: ``getitem`` (a gather), its transpose ``index_add`` (a scatter-add), ``index_set``.

``index`` is a static parameter: a tuple of ints, slices, ``None``, ``Ellipsis``
and integer NumPy arrays, as normalised by ``fgrad.numpy`` (boolean masks are
turned into integer arrays there). Index arrays are data, not differentiable
inputs; the arrays being indexed and the values written are.

``index_add`` follows ``numpy.add.at``: repeated indices accumulate, which is
exactly what the transpose of a gather with repeated indices needs.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.forward_mode import defjvp, linear_jvp
from fgrad.core.primitive import Primitive, bind
from fgrad.core.reverse_mode import defvjp
from fgrad.primitives.reductions import unbroadcast


def _indexed_shape(x: ShapedArray, index: tuple) -> tuple[int, ...]:
    """Shape of ``x[index]``, found by indexing a zero-strided stand-in (no data is allocated)."""
    stand_in = np.broadcast_to(np.zeros((), x.dtype), x.shape)
    try:
        return stand_in[index].shape
    except IndexError as err:
        raise IndexError(f"getitem: {err} (indexing an array of shape {x.shape})") from None


def _getitem_abstract_eval(x: ShapedArray, *, index: tuple) -> ShapedArray:
    return ShapedArray(_indexed_shape(x, index), x.dtype)


getitem_p = Primitive("getitem", lambda x, index: x[index], _getitem_abstract_eval)


def getitem(x, index: tuple):
    """``x[index]`` for a normalised index tuple."""
    return bind(getitem_p, x, index=index)


def _has_arrays(index: tuple) -> bool:
    return any(isinstance(i, np.ndarray) for i in index)


def _scatter_abstract_eval(name: str):
    def abstract_eval(x: ShapedArray, v: ShapedArray, *, index: tuple) -> ShapedArray:
        target = _indexed_shape(x, index)
        try:
            fits = np.broadcast_shapes(v.shape, target) == target
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(
                f"{name}: values of shape {v.shape} cannot be written into x[index], whose "
                f"shape is {target} (x has shape {x.shape})."
            )
        return ShapedArray(x.shape, x.dtype)

    return abstract_eval


def _index_add_impl(x, v, index: tuple):
    out = x.copy()
    if _has_arrays(index):
        backend.scatter_add(out, index, v)  # repeated indices must accumulate
    else:
        out[index] += v
    return out


def _index_set_impl(x, v, index: tuple):
    out = x.copy()
    out[index] = v
    return out


index_add_p = Primitive("index_add", _index_add_impl, _scatter_abstract_eval("index_add"))
index_set_p = Primitive("index_set", _index_set_impl, _scatter_abstract_eval("index_set"))


def index_add(x, v, index: tuple):
    """A copy of ``x`` with ``v`` added at ``x[index]`` (repeated indices accumulate)."""
    return bind(index_add_p, x, v, index=index)


def index_set(x, v, index: tuple):
    """A copy of ``x`` with ``x[index]`` replaced by ``v``."""
    return bind(index_set_p, x, v, index=index)


def _zeros(shape, dtype, like):
    return backend.zeros(shape, dtype, like=like)


defjvp(getitem_p, linear_jvp(getitem_p))
defvjp(getitem_p, lambda g, ans, x, index: index_add(_zeros(x.shape, g.dtype, g), g, index))

defjvp(
    index_add_p,
    lambda t, ans, x, v, index: t,
    lambda t, ans, x, v, index: index_add(_zeros(ans.shape, t.dtype, t), t, index),
)
defvjp(
    index_add_p,
    lambda g, ans, x, v, index: g,
    lambda g, ans, x, v, index: unbroadcast(getitem(g, index), v.shape),
)

defjvp(
    index_set_p,
    lambda t, ans, x, v, index: index_set(t, 0, index),
    lambda t, ans, x, v, index: index_set(_zeros(ans.shape, t.dtype, t), t, index),
)


def _index_set_v_vjp(g, ans, x, v, index):
    g = getitem(g, index)
    if _has_arrays(index):
        # with repeated indices only the last write of each element lands in the output;
        # the values overwritten before it get no cotangent
        g = g * backend.asarray(_written_last(x.shape, g.shape, g.dtype, index), like=g)
    return unbroadcast(g, v.shape)


def _written_last(x_shape, target_shape, dtype, index) -> np.ndarray:
    """1.0 where an element of ``x[index]`` is the one whose write ``index_set`` keeps, else 0."""
    ids = np.arange(int(np.prod(target_shape, dtype=np.int64))).reshape(target_shape)
    kept = _index_set_impl(np.full(x_shape, -1), ids, index)[index]
    return (kept == ids).astype(dtype)


defvjp(
    index_set_p,
    lambda g, ans, x, v, index: index_set(g, 0, index),
    _index_set_v_vjp,
)
