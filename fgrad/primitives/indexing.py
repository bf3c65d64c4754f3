"""Indexing: ``getitem`` (a gather), its transpose ``index_add`` (a scatter-add), ``index_set``,
and ``concatenate``, whose transpose slices with ``getitem``.

``index`` is a static parameter: a tuple of ints, slices, ``None``, ``Ellipsis``
and integer NumPy arrays, as normalised by ``fgrad.numpy`` (boolean masks are
turned into integer arrays there). Index arrays whose values are not known while
tracing (under ``vmap``, or ``make_jaxpr``) are passed as extra operands instead,
after the data operands, with :data:`OPERAND` marking their places in ``index``.
Index arrays are data, not differentiable inputs; the arrays being indexed and
the values written are.

``index_add`` follows ``numpy.add.at``: repeated indices accumulate, which is
exactly what the transpose of a gather with repeated indices needs.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defjvp_all, defvjp, defvjp_all
from fgrad.core.tracer import Tracer
from fgrad.primitives.elementwise import convert_element_type, eq_p
from fgrad.primitives.structural import (
    batch_to_front,
    broadcast_to,
    lift_batched,
    move_axis,
    transpose,
    unbroadcast,
)


class _Operand:
    """The place of an index array passed as an operand (see the module docstring)."""

    def __repr__(self) -> str:
        return "<arg>"


OPERAND = _Operand()


def _fill(index: tuple, operands) -> tuple:
    """``index`` with its :data:`OPERAND` places filled by ``operands``, in order."""
    if not operands:
        return index
    it = iter(operands)
    return tuple(next(it) if i is OPERAND else i for i in index)


def _indexed_shape(x: ShapedArray, index: tuple, name: str = "getitem") -> tuple[int, ...]:
    """Shape of ``x[index]``, found by indexing a zero-strided stand-in (no data is allocated)."""
    stand_in = np.broadcast_to(np.zeros((), x.dtype), x.shape)
    try:
        return stand_in[index].shape
    except IndexError as err:
        raise IndexError(f"{name}: {err} (indexing an array of shape {x.shape})") from None


def _stand_ins(name: str, operands: tuple) -> tuple:
    """Zero-strided integer arrays shaped like the index operands, for shape inference."""
    for a in operands:
        if a.dtype.kind not in "iu":
            raise IndexError(
                f"{name}: index arrays must be integers, got {a.str_short()}; convert them "
                "with .astype(int), or compare them to get a boolean mask"
            )
    return tuple(_stand_in(a.shape) for a in operands)


def _stand_in(shape: tuple) -> np.ndarray:
    """A zero-strided integer array of ``shape``: an index with the right shape, no data."""
    return np.broadcast_to(np.zeros((), np.intp), shape)


def _getitem_abstract_eval(x: ShapedArray, *operands: ShapedArray, index: tuple) -> ShapedArray:
    return ShapedArray(_indexed_shape(x, _fill(index, _stand_ins("getitem", operands))), x.dtype)


getitem_p = Primitive(
    "getitem",
    lambda x, *ops, index: x[_fill(index, ops)],
    _getitem_abstract_eval,
    returns_views=True,
)


def getitem(x, index: tuple, operands: tuple = ()):
    """``x[index]`` for a normalised index tuple (``operands`` fill its OPERAND places)."""
    return bind(getitem_p, x, *operands, index=index)


def _has_arrays(index: tuple) -> bool:
    return any(isinstance(i, np.ndarray) or i is OPERAND for i in index)


def _scatter_abstract_eval(name: str):
    def abstract_eval(x: ShapedArray, v: ShapedArray, *operands, index: tuple) -> ShapedArray:
        target = _indexed_shape(x, _fill(index, _stand_ins(name, operands)), name)
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


def _index_add_impl(x, v, *operands, index: tuple):
    out = x.copy()
    if _has_arrays(index):  # read before filling: operands are the backend's arrays
        backend.scatter_add(out, _fill(index, operands), v)  # repeated indices accumulate
    else:
        out[index] += v
    return out


def _index_set_impl(x, v, *operands, index: tuple):
    out = x.copy()
    out[_fill(index, operands)] = v
    return out


index_add_p = Primitive("index_add", _index_add_impl, _scatter_abstract_eval("index_add"))
index_set_p = Primitive("index_set", _index_set_impl, _scatter_abstract_eval("index_set"))


def index_add(x, v, index: tuple, operands: tuple = ()):
    """A copy of ``x`` with ``v`` added at ``x[index]`` (repeated indices accumulate)."""
    return bind(index_add_p, x, v, *operands, index=index)


def index_set(x, v, index: tuple, operands: tuple = ()):
    """A copy of ``x`` with ``x[index]`` replaced by ``v``."""
    return bind(index_set_p, x, v, *operands, index=index)


def _zeros(shape, dtype, like):
    return backend.zeros(shape, dtype, like=like)


# Rules: the index operands (integers) have no tangents and no cotangents, and every rule
# passes them on unchanged.

defjvp(getitem_p, lambda t, ans, x, *ops, index: getitem(t, index, ops))
defvjp(
    getitem_p,
    lambda g, ans, x, *ops, index: index_add(_zeros(x.shape, g.dtype, g), g, index, ops),
    reads=("",),
)

defjvp(
    index_add_p,
    lambda t, ans, x, v, *ops, index: t,
    lambda t, ans, x, v, *ops, index: index_add(_zeros(ans.shape, t.dtype, t), t, index, ops),
)
defvjp(
    index_add_p,
    lambda g, ans, x, v, *ops, index: g,
    lambda g, ans, x, v, *ops, index: unbroadcast(getitem(g, index, ops), v.shape),
    reads=("", ""),
)

defjvp(
    index_set_p,
    lambda t, ans, x, v, *ops, index: index_set(t, 0, index, ops),
    lambda t, ans, x, v, *ops, index: index_set(_zeros(ans.shape, t.dtype, t), t, index, ops),
)


def _index_set_v_vjp(g, ans, x, v, *ops, index):
    g = getitem(g, index, ops)
    if _has_arrays(index):
        # with repeated indices only the last write of each element lands in the output;
        # the values overwritten before it get no cotangent
        g = g * _written_last(x.shape, g, index, ops)
    return unbroadcast(g, v.shape)


def _written_last(x_shape, target, index: tuple, ops: tuple):
    """1 where an element of ``x[index]`` is the one whose write ``index_set`` keeps, else 0
    (in ``target``'s dtype): write every element's id, read back which ids survived."""
    size = int(np.prod(target.shape, dtype=np.int64))
    ids = backend.asarray(np.arange(size).reshape(target.shape), like=target)
    board = backend.asarray(np.full(x_shape, -1), like=target)
    kept = getitem(index_set(board, ids, index, ops), index, ops)
    return convert_element_type(bind(eq_p, kept, ids), target.dtype)


defvjp(
    index_set_p,
    lambda g, ans, x, v, *ops, index: index_set(g, 0, index, ops),
    _index_set_v_vjp,
    reads=("", ""),
)


# -- batch rules (vmap) -------------------------------------------------------------------
#
# The batch axis goes first and the index gains a leading ``:``. NumPy then keeps the batch
# axis first, except when the index has advanced (array) entries that are not adjacent:
# their broadcast shape moves to the front of the result, and the batch axis follows it.
#
# When index operands vary over the batch, the leading entry is instead ``arange(size)``
# as one more advanced index, broadcast against the others: example ``b`` then reads row
# ``b`` with its own indices. The advanced axes land right after the batch axis, and a
# transpose moves them to where NumPy puts them for one example.


def _advanced(index: tuple) -> tuple[list[int], int, bool]:
    """For an index without OPERAND places: the positions of its advanced entries (arrays,
    and ints beside them), the rank of their broadcast shape, and whether they are adjacent."""
    positions = [k for k, i in enumerate(index) if isinstance(i, (np.ndarray, int))]
    rank = len(np.broadcast_shapes(*[np.shape(index[k]) for k in positions]))
    return positions, rank, positions[-1] - positions[0] == len(positions) - 1


def advanced_front(index: tuple) -> int:
    """How many leading result axes NumPy gives separated advanced indices (0 if adjacent)."""
    if not _has_arrays(index):
        return 0
    _, rank, adjacent = _advanced(index)
    return 0 if adjacent else rank


def _example_index(index: tuple, ops: list, dims: list) -> tuple:
    """``index`` for one example, with stand-ins for its operands: enough for its layout."""
    shapes = [
        tuple(o.shape) if d is None else o.shape[:d] + o.shape[d + 1 :] for o, d in zip(ops, dims)
    ]
    return _fill(index, [_stand_in(s) for s in shapes])


def _expand_ellipsis(index: tuple, ndim: int) -> tuple:
    k = next((k for k, i in enumerate(index) if i is Ellipsis), None)
    if k is None:
        return index
    used = sum(i is not None and i is not Ellipsis for i in index)
    return index[:k] + (slice(None),) * (ndim - used) + index[k + 1 :]


def _per_example_index(size, index, ops, dims, x):
    """The batch-wide index when operands are batched: ``(index, ops, n_adv, before)``.

    ``x`` is the indexed array with its batch axis first. ``n_adv`` is the rank of the
    advanced axes, ``before`` how many result axes precede them for one example (where
    the batch-wide result has them right after the batch)."""
    index = _expand_ellipsis(index, x.ndim - 1)
    positions, n_adv, adjacent = _advanced(_example_index(index, ops, dims))
    batch_ids = backend.asarray(np.arange(size).reshape((size,) + (1,) * n_adv), like=x)
    new_ops = [batch_ids] + [
        o if d is None else lift_batched(move_axis(o, d, 0), n_adv) for o, d in zip(ops, dims)
    ]
    return (OPERAND,) + index, tuple(new_ops), n_adv, positions[0] if adjacent else 0


def _advanced_first(n_adv: int, before: int, ndim: int) -> tuple[int, ...]:
    """The permutation from the batch-wide layout (batch, advanced, rest) to the example's
    (batch, rest[:before], advanced, rest[before:])."""
    rest = list(range(1 + n_adv, ndim))
    return (0,) + tuple(rest[:before]) + tuple(range(1, 1 + n_adv)) + tuple(rest[before:])


def _check_example_index(name: str, x, dx, index: tuple, ops: list, dims: list) -> tuple:
    """Check ``index`` against one example of ``x`` (batch axis ``dx`` removed), so that an
    index out of range is reported with the shapes the user wrote, not the batched ones.

    Index operands are checked by value where their values are known (eager ``vmap``).
    Returns the shape of one example's ``x[index]``."""
    shape = tuple(x.shape) if dx is None else x.shape[:dx] + x.shape[dx + 1 :]
    target = _indexed_shape(ShapedArray(shape, x.dtype), _example_index(index, ops, dims), name)
    full = _expand_ellipsis(index, len(shape))
    axes = np.cumsum([i is not None for i in full]) - 1  # the axis each entry indexes
    ops_at = [k for k, i in enumerate(full) if i is OPERAND]
    for k, op in zip(ops_at, ops):
        if isinstance(op, Tracer) or not op.size:
            continue
        values = backend.device_get(op)
        n = shape[axes[k]]
        bad = values[(values < -n) | (values >= n)]
        if bad.size:
            raise IndexError(
                f"{name}: index {bad.flat[0]} is out of bounds for axis {axes[k]} with size "
                f"{n} (indexing an array of shape {shape})"
            )
    return target


def _getitem_batch(size, vals, dims, *, index):
    (x, *ops), (dx, *op_dims) = vals, dims
    _check_example_index("getitem", x, dx, index, ops, op_dims)
    if all(d is None for d in op_dims):
        x = move_axis(x, dx, 0)
        front = advanced_front(_example_index(index, ops, op_dims))
        return getitem(x, (slice(None),) + index, tuple(ops)), front
    x = batch_to_front(x, dx, size)
    index, ops, n_adv, before = _per_example_index(size, index, ops, op_dims, x)
    out = getitem(x, index, ops)
    return (transpose(out, _advanced_first(n_adv, before, out.ndim)) if before else out), 0


def _scatter_batch(prim: Primitive):
    def rule(size, vals, dims, *, index):
        (x, v, *ops), (dx, dv, *op_dims) = vals, dims
        target = _check_example_index(prim.name, x, dx, index, ops, op_dims)
        x = batch_to_front(x, dx, size)
        example_index = _example_index(index, ops, op_dims)
        if all(d is None for d in op_dims):
            front = advanced_front(example_index)
            if dv is not None:
                v = lift_batched(move_axis(v, dv, 0), len(target))
            if front:
                v = move_axis(broadcast_to(v, (size,) + target), 0, front)
            return bind(prim, x, v, *ops, index=(slice(None),) + index), 0
        index, ops, n_adv, before = _per_example_index(size, index, ops, op_dims, x)
        v = v if dv is None else lift_batched(move_axis(v, dv, 0), len(target))
        v = broadcast_to(v, (size,) + target)
        if before:
            perm = _advanced_first(n_adv, before, v.ndim)
            v = transpose(v, tuple(np.argsort(perm).tolist()))
        return bind(prim, x, v, *ops, index=index), 0

    return rule


defbatch(getitem_p, _getitem_batch)
defbatch(index_add_p, _scatter_batch(index_add_p))
defbatch(index_set_p, _scatter_batch(index_set_p))


# -- concatenate ----------------------------------------------------------------------
# Joins arrays along an existing axis; its vjp slices the cotangent apart with getitem.


def _concatenate_abstract_eval(*xs: ShapedArray, axis: int) -> ShapedArray:
    first = xs[0]
    ok = all(
        x.ndim == first.ndim
        and all(a == b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis)
        for x in xs
    )
    if not ok or not 0 <= axis < first.ndim:
        shapes = ", ".join(x.str_short() for x in xs)
        raise ShapeError(
            f"concatenate: arrays of shapes {shapes} cannot be joined along axis {axis}; "
            "all dimensions except the joined one must be equal."
        )
    size = sum(x.shape[axis] for x in xs)
    dtype = np.result_type(*[x.dtype for x in xs])
    return ShapedArray(first.shape[:axis] + (size,) + first.shape[axis + 1 :], dtype)


concatenate_p = Primitive(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), _concatenate_abstract_eval
)


def concatenate(xs, axis: int):
    """Join a sequence of arrays along existing axis ``axis`` (non-negative)."""
    return bind(concatenate_p, *xs, axis=axis)


def _concatenate_jvp(tangents, ans, *xs, axis):
    return concatenate(
        [
            backend.zeros(x.shape, ans.dtype, like=ans) if t is None else t
            for t, x in zip(tangents, xs)
        ],
        axis,
    )


def _concatenate_vjp(g, ans, xs, wanted, axis):
    ends = np.cumsum([x.shape[axis] for x in xs]).tolist()
    starts = [0] + ends[:-1]
    lead = (slice(None),) * axis
    return [getitem(g, lead + (slice(starts[i], ends[i]),)) for i in wanted]


defjvp_all(concatenate_p, _concatenate_jvp)
defvjp_all(concatenate_p, _concatenate_vjp, reads="")


def _concatenate_batch(size, vals, dims, *, axis):
    return concatenate([batch_to_front(x, d, size) for x, d in zip(vals, dims)], axis + 1), 0


defbatch(concatenate_p, _concatenate_batch)
