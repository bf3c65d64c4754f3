"""Replaying a linear jaxpr on a whole batch of tangents at once.

``jacfwd`` needs the linearised function applied to every basis vector. One
replay per vector costs one Python-level pass over the jaxpr each; replaying
once with the tangents stacked along a new leading axis costs one pass in all,
with NumPy doing the batch. That is the gap between a looped and a vectorised
Hessian.

Only the primitives that occur in linear jaxprs (those that are linear in their
tangent arguments) have a batching rule here, keyed by primitive name. This is
a deliberately small precursor of ``vmap``: when ``vmap`` lands, these rules
move next to their primitives as the "batch" rule the design card asks for. An
equation without a rule raises :class:`Unbatchable`, and callers fall back to
one replay per tangent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fgrad.core.jaxpr import ClosedJaxpr, Literal
from fgrad.core.primitive import bind


class Unbatchable(Exception):
    """A linear jaxpr holds an equation this module cannot batch."""


def _lift(x, batched: bool, ndim: int, size: int):
    """A batched operand with its batch axis first and its own axes right-aligned to ``ndim``."""
    if not batched:
        return x
    extra = ndim - (x.ndim - 1)
    if extra == 0:
        return x
    from fgrad.primitives.shape import reshape

    return reshape(x, (size,) + (1,) * extra + tuple(x.shape[1:]))


def _batch_all(x, batched: bool, size: int):
    """``x`` with a leading batch axis, broadcasting it when it has none."""
    if batched:
        return x
    from fgrad.primitives.shape import broadcast_to

    return broadcast_to(x, (size,) + tuple(x.shape))


def _move_to_front(x, axis: int):
    if axis == 0:
        return x
    from fgrad.primitives.shape import transpose

    perm = (axis,) + tuple(i for i in range(x.ndim) if i != axis)
    return transpose(x, perm)


def _elementwise(prim, vals, flags, out_aval, size, **params):
    return bind(prim, *[_lift(v, f, out_aval.ndim, size) for v, f in zip(vals, flags)], **params)


def _reduce_sum(prim, vals, flags, out_aval, size, *, axis, keepdims):
    return bind(prim, vals[0], axis=tuple(a + 1 for a in axis), keepdims=keepdims)


def _broadcast_to(prim, vals, flags, out_aval, size, *, shape):
    return bind(prim, _lift(vals[0], True, len(shape), size), shape=(size,) + tuple(shape))


def _reshape(prim, vals, flags, out_aval, size, *, shape):
    return bind(prim, vals[0], shape=(size,) + tuple(shape))


def _transpose(prim, vals, flags, out_aval, size, *, permutation):
    return bind(prim, vals[0], permutation=(0,) + tuple(p + 1 for p in permutation))


def _concatenate(prim, vals, flags, out_aval, size, *, axis):
    return bind(prim, *[_batch_all(v, f, size) for v, f in zip(vals, flags)], axis=axis + 1)


def _dot_general(prim, vals, flags, out_aval, size, *, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    x, y = vals
    nb = len(xb)
    if flags[0] and flags[1]:
        raise Unbatchable("dot_general of two tangents is not linear")
    if flags[0]:  # the batch axis becomes x's first free axis
        dims = ((tuple(c + 1 for c in xc), yc), (tuple(b + 1 for b in xb), yb))
        return _move_to_front(bind(prim, x, y, dimension_numbers=dims), nb)
    dims = ((xc, tuple(c + 1 for c in yc)), (xb, tuple(b + 1 for b in yb)))
    n_x_free = x.ndim - len(xc) - nb
    return _move_to_front(bind(prim, x, y, dimension_numbers=dims), nb + n_x_free)


def _checked(out, out_aval, size):
    if tuple(out.shape) != (size,) + out_aval.shape:
        # e.g. separated advanced indices, which NumPy moves to the front
        raise Unbatchable("the batch axis did not stay in front")
    return out


def _getitem(prim, vals, flags, out_aval, size, *, index):
    return _checked(bind(prim, vals[0], index=(slice(None),) + index), out_aval, size)


def _scatter(prim, vals, flags, out_aval, size, *, index):
    x, v = vals
    x = _batch_all(x, flags[0], size)
    if flags[1]:
        from fgrad.primitives.indexing import _indexed_shape

        target_ndim = len(_indexed_shape(out_aval, index))
        v = _lift(v, True, target_ndim, size)
    return _checked(bind(prim, x, v, index=(slice(None),) + index), out_aval, size)


_RULES: dict[str, Callable] = {
    **{name: _elementwise for name in ("add", "sub", "mul", "div", "neg", "select")},
    "convert_element_type": _elementwise,
    "reduce_sum": _reduce_sum,
    "broadcast_to": _broadcast_to,
    "reshape": _reshape,
    "transpose": _transpose,
    "concatenate": _concatenate,
    "dot_general": _dot_general,
    "getitem": _getitem,
    "index_add": _scatter,
    "index_set": _scatter,
}


def eval_linear_batched(lin: ClosedJaxpr, inputs: Sequence, batched: Sequence[bool], size: int):
    """Evaluate a linear jaxpr; inputs flagged ``batched`` carry a leading axis of ``size``.

    Returns the outputs, each with a leading batch axis of ``size``.
    """
    jaxpr = lin.jaxpr
    env: dict = {v: (c, False) for v, c in zip(jaxpr.constvars, lin.consts)}
    env.update((v, (x, b)) for v, x, b in zip(jaxpr.invars, inputs, batched))

    def read(v):
        return (v.val, False) if type(v) is Literal else env[v]

    for eqn in jaxpr.eqns:
        vals, flags = zip(*map(read, eqn.invars))
        if not any(flags):
            out = bind(eqn.prim, *vals, **eqn.params)
        else:
            rule = _RULES.get(eqn.prim.name)
            if rule is None:
                raise Unbatchable(f"no batching rule for {eqn.prim.name}")
            out = rule(eqn.prim, list(vals), list(flags), eqn.outvar.aval, size, **eqn.params)
        env[eqn.outvar] = (out, any(flags))
    return [_batch_all(*read(v), size) for v in jaxpr.outvars]
