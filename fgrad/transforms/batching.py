"""The batching trace behind ``vmap``: tracers that carry a whole batch of values.

A :class:`BatchTracer` stands for one example of a batch. It holds the batched
array ``val`` and ``bdim``, the axis of ``val`` that runs over the batch; the
shape users see (``aval``) is ``val``'s shape without that axis. When a primitive
meets batch tracers, its *batch rule* computes the whole batch at once with one
call of the primitive (or a few), never with a Python loop over examples.

Batch rules live next to their primitives and are registered with
:func:`defbatch`::

    rule(size, vals, dims, **params) -> (out, out_dim)

``vals`` are the arguments one level down (arrays or tracers of enclosing
transforms), ``dims`` their batch axes (``None`` for arguments that do not vary
over the batch), ``size`` the batch size. ``out_dim`` is the batch axis of
``out``. Rules bind primitives on ``vals``, so enclosing transforms record them:
``grad(vmap(f))`` and ``vmap(grad(f))`` both work without special code.
"""

from __future__ import annotations

from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.errors import ConcretizationError, ShapeError
from fgrad.core.primitive import Primitive
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.rules import axis_batch_rules, batch_call_rules, batch_rules
from fgrad.core.trace_stack import Trace
from fgrad.core.tracer import Tracer
from fgrad.primitives.structural import move_axis


class BatchTracer(Tracer):
    """One example of a batch: ``val`` holds all examples along axis ``bdim``."""

    __slots__ = ("val", "bdim")

    def __init__(self, trace: BatchTrace, val, bdim: int):
        self._trace = trace
        self.val = val
        self.bdim = bdim

    @property
    def aval(self) -> ShapedArray:
        return ShapedArray(self.shape, self.val.dtype, weak_type=get_aval(self.val).weak_type)

    @property
    def shape(self) -> tuple[int, ...]:
        shape = tuple(self.val.shape)
        return shape[: self.bdim] + shape[self.bdim + 1 :]

    @property
    def ndim(self) -> int:
        return self.val.ndim - 1

    @property
    def dtype(self):
        return self.val.dtype

    def value_below(self):
        # Only the device is read through this (backend.backend_of); the batch shares it.
        return self.val

    def concrete_value(self):
        raise ConcretizationError(
            f"This traced {self.aval.str_short()} is one example of a batch being mapped by "
            "vmap, so it has no single value: Python control flow (`if`, `while`), "
            "float(), int(), bool() and functions whose result shape depends on the values "
            "(unique, nonzero, boolean masks) cannot look at it. Express the choice "
            "with fgrad.numpy.where, or pass the value as an unbatched argument (in_axes=None)."
        )


class BatchTrace(Trace):
    """Applies primitives to whole batches through their batch rules.

    ``axis_name`` is the name ``vmap(..., axis_name=...)`` gives the batch axis (``None``
    when unnamed): the collectives (``fgrad.lax.psum``, ...) naming it reduce over it.
    """

    __slots__ = ("size", "axis_name")
    name = "vmap"
    call_rules = batch_call_rules

    def __init__(self, size: int, axis_name=None):
        super().__init__()
        self.size = size
        self.axis_name = axis_name

    def process(self, prim: Primitive, args: tuple, params: dict):
        vals, dims = [], []
        for x in args:
            if isinstance(x, Tracer) and x._trace is self:
                vals.append(x.val)
                dims.append(x.bdim)
            else:
                vals.append(x)
                dims.append(None)
        rule = batch_rules.get(prim)
        try:
            if rule is not None:
                out, out_dim = rule(self.size, vals, dims, **params)
            elif prim in axis_batch_rules:
                named = axis_batch_rules[prim]
                out, out_dim = named(self.axis_name, self.size, vals, dims, **params)
            else:
                raise NotImplementedError(
                    f"vmap: primitive `{prim.name}` has no batch rule yet; map the function "
                    "with a Python loop over the examples instead"
                )
        except ShapeError as err:
            raise self.per_example_error(prim, vals, dims, params, err) from None
        return out if out_dim is None else BatchTracer(self, out, out_dim)

    def per_example_error(self, prim: Primitive, vals, dims, params: dict, err: ShapeError):
        """``err``, raised with the batched shapes, restated with one example's shapes
        (those the user's function sees), when they show the mismatch too."""
        avals = []
        for v, d in zip(vals, dims):
            aval = get_aval(v)
            if d is not None:
                aval = ShapedArray(aval.shape[:d] + aval.shape[d + 1 :], aval.dtype)
            avals.append(aval)
        try:
            prim.abstract_eval(*avals, **params)
        except ShapeError as one:
            return ShapeError(
                f"inside vmap (over {self.size} examples), with the shapes of one example "
                f"as the mapped function sees them: {one}"
            )
        except Exception:  # noqa: BLE001 - the batched error is then the one to report
            return err
        return err

    def unbatch(self, flat: list) -> tuple[list, list]:
        """The values of ``flat`` one level down, batch axes first, and those axes (0, or
        None for values not of this trace)."""
        vals, axes = [], []
        for x in flat:
            if x.__class__ is BatchTracer and x._trace is self:
                vals.append(move_axis(x.val, x.bdim, 0))
                axes.append(0)
            else:
                vals.append(x)
                axes.append(None)
        return vals, axes

    def rebatch(self, out):
        """Outputs computed for the whole batch (batch axis first) as this trace's tracers."""
        out_flat, out_tree = tree_flatten(out)
        return tree_unflatten(out_tree, [BatchTracer(self, o, 0) for o in out_flat])
