"""Structural primitives, the base the other families build on: ``broadcast_to``,
``reshape``, ``transpose`` and ``reduce_sum``.

All are linear and their rules use only each other: ``reduce_sum`` and ``broadcast_to``
are each other's transpose, and :func:`unbroadcast`, the one place where NumPy
broadcasting is undone in cotangents, is a ``reduce_sum``. ``squeeze`` and
``expand_dims`` are reshapes and live in ``fgrad.numpy`` only.

Also here: the conventions the reductions share (``axis`` a tuple of distinct
non-negative ints, see :mod:`fgrad.primitives.reductions`), and the helpers every
batch rule (``vmap``) uses to move a batch axis to the front and to line batched
operands up for broadcasting.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.rules import defbatch, defjvp, defvjp, linear_jvp

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
defvjp(broadcast_to_p, lambda g, ans, x, shape: unbroadcast(g, x.shape), reads=("",))

# -- reshape -----------------------------------------------------------------------


def _reshape_abstract_eval(x: ShapedArray, *, shape: tuple[int, ...]) -> ShapedArray:
    if int(np.prod(shape, dtype=np.int64)) != x.size or any(d < 0 for d in shape):
        raise ShapeError(
            f"reshape: cannot reshape an array of shape {x.shape} ({x.size} elements) "
            f"into shape {shape}."
        )
    return ShapedArray(shape, x.dtype)


def _reshape_impl(x, shape):
    # the method on NumPy arrays: np.reshape's keyword handling costs ten times the reshape
    return x.reshape(shape) if type(x) is np.ndarray else np.reshape(x, shape)


reshape_p = Primitive("reshape", _reshape_impl, _reshape_abstract_eval, returns_views=True)


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


def _transpose_impl(x, permutation):
    # the method on NumPy arrays, as for reshape
    return x.transpose(permutation) if type(x) is np.ndarray else np.transpose(x, permutation)


transpose_p = Primitive("transpose", _transpose_impl, _transpose_abstract_eval, returns_views=True)


def transpose(x, permutation: tuple[int, ...]):
    return bind(transpose_p, x, permutation=tuple(permutation))


defjvp(transpose_p, linear_jvp(transpose_p))
defvjp(
    transpose_p,
    lambda g, ans, x, permutation: transpose(g, tuple(np.argsort(permutation).tolist())),
    reads=("",),
)

# -- reduce_sum, and the conventions of every reduction ---------------------------------
#
# ``axis`` is always a tuple of distinct non-negative ints (``fgrad.numpy`` normalises
# ``None``, negative and single axes) and ``keepdims`` a bool, so rules never branch on
# the user's spelling.


def check_axes(name: str, x: ShapedArray, axis: tuple[int, ...]) -> None:
    """Raise a ``ShapeError`` naming ``name`` unless ``axis`` holds distinct axes of ``x``."""
    if any(not 0 <= a < x.ndim for a in axis) or len(set(axis)) != len(axis):
        raise ShapeError(
            f"{name}: axis {axis} is invalid for an array of shape {x.shape} "
            f"({x.ndim} dimensions); axes must be distinct and in range."
        )


def reduced_shape(x: ShapedArray, axis: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    """The shape of ``x`` reduced over ``axis`` (kept as ones when ``keepdims``)."""
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axis)


def reduction_abstract_eval(name: str, impl):
    """The abstract eval of a reduction named ``name`` whose dtype is that of ``impl``."""

    def abstract_eval(x: ShapedArray, *, axis: tuple[int, ...], keepdims: bool) -> ShapedArray:
        check_axes(name, x, axis)
        # zeros, not np.empty: a reused buffer may hold a signaling NaN, and summing it
        # raises NumPy's "invalid value" (a warning, or an error under np.seterr)
        dtype = np.asarray(impl(np.zeros((1,) * max(x.ndim, 1), x.dtype))).dtype
        return ShapedArray(reduced_shape(x, axis, keepdims), dtype)

    return abstract_eval


def reduction_impl(name: str, np_fn):
    """The impl of a reduction: the array's own method (``x.sum(...)``), which skips the
    Python wrapper ``np.sum`` adds (as long again on small arrays), and ``np_fn`` for
    Python scalars, which have no such method."""

    def impl(x, axis, keepdims):
        method = getattr(x, name, None)
        if method is None:
            return np_fn(x, axis=axis, keepdims=keepdims)
        return method(axis=axis, keepdims=keepdims)

    return impl


def expand_reduced(g, x_shape: tuple[int, ...], axis: tuple[int, ...], keepdims: bool):
    """Reshape a reduced cotangent so it broadcasts against the unreduced input."""
    if keepdims or not axis:
        return g
    return reshape(g, tuple(1 if i in axis else d for i, d in enumerate(x_shape)))


reduce_sum_p = Primitive(
    "reduce_sum", reduction_impl("sum", np.sum), reduction_abstract_eval("reduce_sum", np.sum)
)


def reduce_sum(x, axis: tuple[int, ...], keepdims: bool = False):
    return bind(reduce_sum_p, x, axis=axis, keepdims=keepdims)


defjvp(reduce_sum_p, linear_jvp(reduce_sum_p))
defvjp(
    reduce_sum_p,
    lambda g, ans, x, axis, keepdims: broadcast_to(
        expand_reduced(g, x.shape, axis, keepdims), x.shape
    ),
    reads=("",),
)


def unbroadcast(g, shape: tuple[int, ...]):
    """Sum ``g`` down to ``shape``: the transpose of NumPy broadcasting ``shape`` to ``g.shape``."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axis = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1
    )
    g = reduce_sum(g, axis, keepdims=False)
    return g if g.shape == shape else reshape(g, shape)


def broadcast_like(t, ans):
    """``t`` broadcast to the shape of ``ans``: the tangent of one operand of a broadcasting
    primitive, as a contribution to the output's tangent."""
    return t if t.shape == ans.shape else broadcast_to(t, ans.shape)


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


def reduction_batch(prim: Primitive):
    """The batch rule of a reduction: reduce the example axes in place, wherever the batch
    axis sits."""

    def rule(size, vals, dims, *, axis, keepdims):
        d = dims[0]
        out = bind(prim, vals[0], axis=past_batch(axis, d), keepdims=keepdims)
        return out, d if keepdims else d - sum(a < d for a in axis)

    return rule


def _transpose_batch(size, vals, dims, *, permutation):
    d = dims[0]
    perm = (d,) + past_batch(permutation, d)
    return transpose(vals[0], perm), 0


defbatch(broadcast_to_p, _broadcast_to_batch)
defbatch(reshape_p, _reshape_batch)
defbatch(transpose_p, _transpose_batch)
defbatch(reduce_sum_p, reduction_batch(reduce_sum_p))
