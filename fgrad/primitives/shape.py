"""Shape primitives: ``broadcast_to``, ``reshape``, ``transpose``, ``concatenate``.

All are linear, so each jvp applies the primitive to the tangent and each vjp
is the inverse movement of the cotangent. ``squeeze`` and ``expand_dims`` are
reshapes and live in ``fgrad.numpy`` only.

Also here: the helpers every batch rule (``vmap``) uses to move a batch axis
to the front and to line batched operands up for broadcasting.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defjvp_all, defvjp, defvjp_all, linear_jvp

# reductions imports this module; importing the module object (not names) lets
# the two refer to each other, which unbroadcast and broadcast_to need.
from fgrad.primitives import reductions

# -- broadcast_to ----------------------------------------------------------------


def _broadcast_to_abstract_eval(x: ShapedArray, *, shape: tuple[int, ...]) -> ShapedArray:
    lead = len(shape) - x.ndim
    if lead < 0 or any(d not in (1, s) for d, s in zip(x.shape, shape[lead:])):
        raise ShapeError(
            f"broadcast_to: cannot broadcast an array of shape {x.shape} to shape {shape}; "
            "each dimension must be 1 or equal to the target, aligned from the right."
        )
    return ShapedArray(shape, x.dtype)


broadcast_to_p = Primitive(
    "broadcast_to",
    lambda x, shape: np.broadcast_to(x, shape),
    _broadcast_to_abstract_eval,
    returns_views=True,
)


def broadcast_to(x, shape: tuple[int, ...]):
    return bind(broadcast_to_p, x, shape=tuple(shape))


defjvp(broadcast_to_p, linear_jvp(broadcast_to_p))
defvjp(
    broadcast_to_p, lambda g, ans, x, shape: reductions.unbroadcast(g, x.shape), reads=("",)
)

# -- reshape -----------------------------------------------------------------------


def _reshape_abstract_eval(x: ShapedArray, *, shape: tuple[int, ...]) -> ShapedArray:
    if int(np.prod(shape, dtype=np.int64)) != x.size or any(d < 0 for d in shape):
        raise ShapeError(
            f"reshape: cannot reshape an array of shape {x.shape} ({x.size} elements) "
            f"into shape {shape}."
        )
    return ShapedArray(shape, x.dtype)


reshape_p = Primitive(
    "reshape", lambda x, shape: np.reshape(x, shape), _reshape_abstract_eval, returns_views=True
)


def reshape(x, shape: tuple[int, ...]):
    """Reshape to ``shape``: a tuple of non-negative ints (no -1; ``fgrad.numpy`` resolves it)."""
    return bind(reshape_p, x, shape=tuple(shape))


defjvp(reshape_p, linear_jvp(reshape_p))
defvjp(reshape_p, lambda g, ans, x, shape: reshape(g, x.shape), reads=("",))

# -- transpose ----------------------------------------------------------------------


def _transpose_abstract_eval(x: ShapedArray, *, permutation: tuple[int, ...]) -> ShapedArray:
    if sorted(permutation) != list(range(x.ndim)):
        raise ShapeError(
            f"transpose: axes {permutation} are not a permutation of the {x.ndim} axes of "
            f"an array of shape {x.shape}."
        )
    return ShapedArray(tuple(x.shape[i] for i in permutation), x.dtype)


transpose_p = Primitive(
    "transpose",
    lambda x, permutation: np.transpose(x, permutation),
    _transpose_abstract_eval,
    returns_views=True,
)


def transpose(x, permutation: tuple[int, ...]):
    return bind(transpose_p, x, permutation=tuple(permutation))


defjvp(transpose_p, linear_jvp(transpose_p))
defvjp(
    transpose_p,
    lambda g, ans, x, permutation: transpose(g, tuple(np.argsort(permutation).tolist())),
    reads=("",),
)

# -- concatenate ----------------------------------------------------------------------


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
    from fgrad.primitives.indexing import getitem

    ends = np.cumsum([x.shape[axis] for x in xs]).tolist()
    starts = [0] + ends[:-1]
    lead = (slice(None),) * axis
    return [getitem(g, lead + (slice(starts[i], ends[i]),)) for i in wanted]


defjvp_all(concatenate_p, _concatenate_jvp)
defvjp_all(concatenate_p, _concatenate_vjp, reads="")


# -- batch axes (vmap) ----------------------------------------------------------------


def move_axis(x, src: int, dst: int):
    """``x`` with axis ``src`` moved to position ``dst`` (a no-op when they agree)."""
    if src == dst:
        return x
    perm = [i for i in range(x.ndim) if i != src]
    perm.insert(dst, src)
    return transpose(x, tuple(perm))


def past_batch(axes: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """An example's axes as axes of the batch, whose batch axis sits at ``dim``."""
    return tuple(a if a < dim else a + 1 for a in axes)


def batch_to_front(x, dim: int | None, size: int):
    """``x`` with its batch axis first; an unbatched ``x`` is broadcast along a new one."""
    if dim is None:
        shape = tuple(getattr(x, "shape", ()))
        return broadcast_to(x, (size,) + shape)
    return move_axis(x, dim, 0)


def lift_batched(x, ndim: int):
    """A batch-first ``x`` with ones inserted after the batch axis up to ``1 + ndim`` axes,
    so that its example axes line up, right-aligned, with those of an ``ndim``-d example."""
    extra = ndim - (x.ndim - 1)
    if extra == 0:
        return x
    return reshape(x, (x.shape[0],) + (1,) * extra + tuple(x.shape[1:]))


def _broadcast_to_batch(size, vals, dims, *, shape):
    x = lift_batched(batch_to_front(vals[0], dims[0], size), len(shape))
    return broadcast_to(x, (size,) + tuple(shape)), 0


def _reshape_batch(size, vals, dims, *, shape):
    return reshape(move_axis(vals[0], dims[0], 0), (size,) + tuple(shape)), 0


def _transpose_batch(size, vals, dims, *, permutation):
    d = dims[0]
    perm = (d,) + past_batch(permutation, d)
    return transpose(vals[0], perm), 0


def _concatenate_batch(size, vals, dims, *, axis):
    return concatenate([batch_to_front(x, d, size) for x, d in zip(vals, dims)], axis + 1), 0


defbatch(broadcast_to_p, _broadcast_to_batch)
defbatch(reshape_p, _reshape_batch)
defbatch(transpose_p, _transpose_batch)
defbatch(concatenate_p, _concatenate_batch)
