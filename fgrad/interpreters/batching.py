"""``jax.interpreters.batching``: batch rules for primitives written the JAX way.

``primitive_batchers[prim] = rule``, ``rule(batched_args, batch_dims, **params) ->
(out, out_dim)`` (or ``([out], [out_dim])``, JAX's newer form), where a batch
dimension is an axis number or :data:`not_mapped`; assigning it registers an fgrad
batch rule (``fgrad.core.rules.defbatch``) that calls it. :func:`defvectorized` and
:func:`defbroadcasting` give the rules of element-wise primitives.
"""

from __future__ import annotations

from collections.abc import Callable

from fgrad import numpy as fnp
from fgrad.core import rules
from fgrad.core.primitive import Primitive

__all__ = ["bdim_at_front", "defbroadcasting", "defvectorized", "not_mapped", "primitive_batchers"]

#: the batch dimension of an argument that is not batched
not_mapped = None


def _unlisted(value):
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


class _Batchers(dict):
    """Batch rules by primitive; assigning one installs fgrad's batch rule."""

    def __setitem__(self, prim: Primitive, rule: Callable) -> None:
        if not isinstance(prim, Primitive):
            raise TypeError(f"primitive_batchers: keys are Primitives, got {type(prim).__name__}")
        super().__setitem__(prim, rule)

        def batch(size, vals, dims, **params):
            out, out_dim = rule(tuple(vals), tuple(dims), **params)
            if prim.multiple_results:
                return tuple(out), out_dim
            return _unlisted(out), _unlisted(out_dim)

        rules.defbatch(prim, batch)


#: ``rule(batched_args, batch_dims, **params) -> (out, out_dim)`` per primitive
primitive_batchers: dict = _Batchers()


def bdim_at_front(x, bdim: int | None, size: int):
    """``x`` with its batch axis first; an unbatched ``x`` repeated ``size`` times."""
    if bdim is None:
        return fnp.broadcast_to(x, (size, *fnp.shape(x)))
    return fnp.moveaxis(x, bdim, 0)


def defvectorized(prim: Primitive) -> None:
    """The batch rule of an element-wise primitive of one argument: apply it to the
    batch, which keeps its axis."""

    def rule(args, dims, **params):
        return prim.bind(*args, **params), dims[0]

    primitive_batchers[prim] = rule


def defbroadcasting(prim: Primitive) -> None:
    """The batch rule of an element-wise primitive of several arguments of one shape:
    the batch axes moved to the front, unbatched arguments repeated along it."""

    def rule(args, dims, **params):
        size = next(fnp.shape(x)[d] for x, d in zip(args, dims) if d is not None)
        moved = [bdim_at_front(x, d, size) for x, d in zip(args, dims)]
        return prim.bind(*moved, **params), 0

    primitive_batchers[prim] = rule
