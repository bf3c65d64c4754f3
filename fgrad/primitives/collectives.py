"""Collectives over named axes: ``psum``, ``pmax``, ``pmin``, ``all_gather``,
``psum_scatter``, ``ppermute`` and ``axis_index`` as primitives.

A collective combines the values that one program computes at every index of a
*named axis*. Two things bind a name:

* ``vmap(f, axis_name=name)``: the batching trace whose ``axis_name`` is ``name``;
  the collective's batch rule (:data:`fgrad.core.rules.axis_batch_rules`) then works
  on the whole batch at once (``psum`` is a sum over the batch axis);
* a *process axis* (:func:`set_process_axis`, used by ``fgrad.distributed.spmd``):
  the ranks of an MPI communicator; the impl then calls the communicator.

Semantics are JAX's under ``vmap``: every index of the axis is one program, and
derivatives are those of the whole mapped function, so ``vmap(grad(f))`` equals the
gradient of the sum over the axis of ``f``'s results. The transposes follow from
that: ``psum``'s is ``psum`` (each index's result depends on every index's input),
``all_gather``'s is ``psum_scatter`` and back, ``ppermute``'s is the inverse
permutation. The primitives are effectful: ``jit`` never folds, merges or drops them.

Every primitive here carries the static parameter ``axes``, a tuple of axis names.
Rules bind through :func:`bind_collective`, which hands a collective to the trace
binding its axis even when the operands are constant along that axis (a ``psum`` of
an unbatched value is the value times the axis size).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray
from fgrad.core.errors import ShapeError, UnboundAxisNameError
from fgrad.core.primitive import Primitive, bind, top_trace
from fgrad.core.rules import defbatch_named, defjvp, defvjp
from fgrad.core.trace_stack import Trace, active_traces
from fgrad.primitives.elementwise import convert_element_type, div, eq_p, mul, select
from fgrad.primitives.indexing import getitem
from fgrad.primitives.reductions import reduce_max, reduce_min, reduce_sum
from fgrad.primitives.structural import batch_to_front, move_axis, reshape

# -- where names are bound ---------------------------------------------------------------


class ProcessAxis(Protocol):
    """A named axis whose indices are processes (``fgrad.distributed``'s MPI ranks).

    Each method takes this process's array and returns this process's result.
    """

    size: int
    index: int

    def allreduce(self, x, op: str):
        """``op`` (``"sum"``, ``"max"``, ``"min"``) of ``x`` over the processes."""

    def allgather(self, x):
        """The processes' ``x`` stacked along a new leading axis, in index order."""

    def reduce_scatter(self, x):
        """The sum over the processes of ``x[index]`` (``x`` has ``size`` rows)."""

    def permute(self, x, perm: tuple[tuple[int, int], ...]):
        """``x`` of the process ``src`` for each ``(src, index)`` in ``perm``, else zeros."""


_process_axes: dict[Hashable, ProcessAxis] = {}


def set_process_axis(name: Hashable, axis: ProcessAxis | None) -> None:
    """From now on, collectives over ``name`` run across the processes of ``axis`` (unless
    a ``vmap`` binds ``name``); ``None`` unbinds it."""
    if axis is None:
        _process_axes.pop(name, None)
    else:
        _process_axes[name] = axis


def named_trace(axes: tuple) -> Trace | None:
    """The innermost active ``vmap`` trace binding one of ``axes``, or ``None``."""
    for trace in reversed(active_traces()):
        if getattr(trace, "axis_name", None) in axes:
            return trace
    return None


def _unbound(prim: str, name) -> UnboundAxisNameError:
    bound = [t.axis_name for t in active_traces() if getattr(t, "axis_name", None) is not None]
    bound += list(_process_axes)
    return UnboundAxisNameError(
        f"{prim}: unbound axis name {name!r}. A collective reduces over a named axis "
        f"that an enclosing fgrad.vmap(..., axis_name={name!r}) or "
        f"fgrad.distributed.spmd(..., axis_name={name!r}) binds; the names bound here "
        f"are {bound or 'none'}."
    )


def _process_axis(prim: str, name) -> ProcessAxis:
    axis = _process_axes.get(name)
    if axis is None:
        raise _unbound(prim, name)
    return axis


def axis_size(axes: tuple) -> int:
    """The number of indices of the named axes ``axes`` together (their product)."""
    size = 1
    for name in axes:
        trace = named_trace((name,))
        size *= trace.size if trace is not None else _process_axis("axis_size", name).size
    return size


def bind_collective(prim: Primitive, *args, **params):
    """``bind``, except that the trace binding one of ``params["axes"]`` processes the
    collective when it is above the operands' traces (operands constant along it)."""
    trace = named_trace(params["axes"])
    if trace is not None:
        top = top_trace(args)
        if top is None or top.level < trace.level:
            return trace.process(prim, args, params)
    return bind(prim, *args, **params)


def _collective(name: str, on_processes, abstract_eval, differentiable: bool = True):
    """A collective primitive whose impl runs ``on_processes(axis, *args, **params)``
    over the process axes of ``axes``, one after another.

    The impl meets a ``vmap`` binding the name only when a jaxpr is replayed by plain
    ``bind`` with operands constant along it: it lets that trace process it then.
    """

    def impl(*args, axes, **params):
        trace = named_trace(axes)
        if trace is not None:
            return trace.process(prim, args, {"axes": axes, **params})
        args = [backend.asarray(x) for x in args]
        for axis_name in axes:  # axis_index has one name and no operand
            args = [on_processes(_process_axis(name, axis_name), *args, **params)]
        return args[0]

    prim = Primitive(name, impl, abstract_eval, differentiable=differentiable, effectful=True)
    return prim


def _same_aval(x: ShapedArray, **params) -> ShapedArray:
    return x


# -- psum, pmax, pmin ---------------------------------------------------------------------

psum_p = _collective("psum", lambda axis, x: axis.allreduce(x, "sum"), _same_aval)
pmax_p = _collective("pmax", lambda axis, x: axis.allreduce(x, "max"), _same_aval)
pmin_p = _collective("pmin", lambda axis, x: axis.allreduce(x, "min"), _same_aval)


def psum(x, axes: tuple):
    """The sum of ``x`` over the named axes ``axes``."""
    return bind_collective(psum_p, x, axes=axes)


def pmax(x, axes: tuple):
    """The maximum of ``x`` over the named axes ``axes``."""
    return bind_collective(pmax_p, x, axes=axes)


def pmin(x, axes: tuple):
    """The minimum of ``x`` over the named axes ``axes``."""
    return bind_collective(pmin_p, x, axes=axes)


def _reduction_batch(prim: Primitive, reduce, constant):
    """Reduce over the batch axis when this ``vmap`` binds one of the names (``constant``
    for a value that does not vary along it); otherwise map as any primitive."""

    def rule(axis_name, size, vals, dims, *, axes):
        (x,), (d,) = vals, dims
        if axis_name not in axes:
            return bind_collective(prim, x, axes=axes), d
        out = constant(x, size) if d is None else reduce(x, (d,))
        rest = tuple(a for a in axes if a != axis_name)
        return (bind_collective(prim, out, axes=rest) if rest else out), None

    return rule


defbatch_named(psum_p, _reduction_batch(psum_p, reduce_sum, lambda x, n: mul(x, n)))
defbatch_named(pmax_p, _reduction_batch(pmax_p, reduce_max, lambda x, n: x))
defbatch_named(pmin_p, _reduction_batch(pmin_p, reduce_min, lambda x, n: x))

defjvp(psum_p, lambda t, ans, x, axes: psum(t, axes))
defvjp(psum_p, lambda ct, ans, x, axes: psum(ct, axes), reads=("",))


def _extremum_share(ans, x, axes):
    """Where ``x`` attains the extremum ``ans``, one over the number of indices that do
    (ties share the derivative equally, as ``fnp.max`` does), else zero."""
    hit = convert_element_type(bind(eq_p, x, ans), ans.dtype)
    return div(hit, psum(hit, axes))


def _extremum_rules(prim: Primitive) -> None:
    defjvp(prim, lambda t, ans, x, axes: psum(mul(t, _extremum_share(ans, x, axes)), axes))
    defvjp(
        prim,
        lambda ct, ans, x, axes: mul(psum(ct, axes), _extremum_share(ans, x, axes)),
        reads=("ans x",),
    )


_extremum_rules(pmax_p)
_extremum_rules(pmin_p)


# -- all_gather and psum_scatter ----------------------------------------------------------


def _gathered_shape(shape: tuple, n: int, axis: int, tiled: bool) -> tuple:
    if tiled:
        return shape[:axis] + (n * shape[axis],) + shape[axis + 1 :]
    return shape[:axis] + (n,) + shape[axis:]


def _all_gather_abstract_eval(x: ShapedArray, *, axes, axis: int, tiled: bool) -> ShapedArray:
    shape = _gathered_shape(x.shape, axis_size(axes), axis, tiled)
    return ShapedArray(shape, x.dtype, weak_type=x.weak_type)


def _all_gather_on_processes(proc: ProcessAxis, x, *, axis: int, tiled: bool):
    return _stacked_to_gathered(proc.allgather(x), axis, tiled)


def _stacked_to_gathered(stacked, axis: int, tiled: bool):
    """The gathered array from the values stacked along a new leading axis (NumPy arrays
    on processes, the batch under ``vmap``)."""
    n, shape = stacked.shape[0], tuple(stacked.shape[1:])
    out = move_axis(stacked, 0, axis)
    return reshape(out, _gathered_shape(shape, n, axis, True)) if tiled else out


all_gather_p = _collective("all_gather", _all_gather_on_processes, _all_gather_abstract_eval)


def all_gather(x, axes: tuple, axis: int = 0, tiled: bool = False):
    """Every index's ``x`` along axis ``axis`` (a new one unless ``tiled``)."""
    return bind_collective(all_gather_p, x, axes=axes, axis=axis, tiled=tiled)


def _all_gather_batch(axis_name, size, vals, dims, *, axes, axis, tiled):
    (x,), (d,) = vals, dims
    if axis_name not in axes:
        return all_gather(move_axis(x, d, 0), axes, axis + 1, tiled), 0
    return _stacked_to_gathered(batch_to_front(x, d, size), axis, tiled), None


defbatch_named(all_gather_p, _all_gather_batch)


def _scatter_shape(name: str, shape: tuple, n: int, dim: int, tiled: bool) -> tuple:
    if not 0 <= dim < len(shape):
        raise ShapeError(
            f"{name}: scatter_dimension {dim} is out of range for an operand of shape {shape}"
        )
    if tiled:
        if shape[dim] % n:
            raise ShapeError(
                f"{name}: with tiled=True, the size {shape[dim]} of scatter_dimension {dim} "
                f"(operand shape {shape}) must be a multiple of the axis size {n}"
            )
        return shape[:dim] + (shape[dim] // n,) + shape[dim + 1 :]
    if shape[dim] != n:
        raise ShapeError(
            f"{name}: the size {shape[dim]} of scatter_dimension {dim} (operand shape "
            f"{shape}) must equal the axis size {n}; pass tiled=True to scatter blocks"
        )
    return shape[:dim] + shape[dim + 1 :]


def _psum_scatter_abstract_eval(x: ShapedArray, *, axes, scatter_dimension, tiled):
    shape = _scatter_shape("psum_scatter", x.shape, axis_size(axes), scatter_dimension, tiled)
    return ShapedArray(shape, x.dtype, weak_type=x.weak_type)


def _blocks_first(x, n: int, dim: int, tiled: bool):
    """``x`` with its scatter dimension split into ``n`` blocks along a new leading axis."""
    if tiled:
        shape = tuple(x.shape)
        x = reshape(x, shape[:dim] + (n, shape[dim] // n) + shape[dim + 1 :])
    return move_axis(x, dim, 0)


def _psum_scatter_on_processes(proc: ProcessAxis, x, *, scatter_dimension, tiled):
    _scatter_shape("psum_scatter", tuple(x.shape), proc.size, scatter_dimension, tiled)
    return proc.reduce_scatter(_blocks_first(x, proc.size, scatter_dimension, tiled))


psum_scatter_p = _collective(
    "psum_scatter", _psum_scatter_on_processes, _psum_scatter_abstract_eval
)


def psum_scatter(x, axes: tuple, scatter_dimension: int = 0, tiled: bool = False):
    """The sum of ``x`` over the axis, of which each index keeps its block."""
    return bind_collective(
        psum_scatter_p, x, axes=axes, scatter_dimension=scatter_dimension, tiled=tiled
    )


def _psum_scatter_batch(axis_name, size, vals, dims, *, axes, scatter_dimension, tiled):
    (x,), (d,) = vals, dims
    if axis_name not in axes:
        return psum_scatter(move_axis(x, d, 0), axes, scatter_dimension + 1, tiled), 0
    total = mul(x, size) if d is None else reduce_sum(x, (d,))
    _scatter_shape("psum_scatter", tuple(total.shape), size, scatter_dimension, tiled)
    return _blocks_first(total, size, scatter_dimension, tiled), 0


defbatch_named(psum_scatter_p, _psum_scatter_batch)

defjvp(all_gather_p, lambda t, ans, x, axes, axis, tiled: all_gather(t, axes, axis, tiled))
defjvp(
    psum_scatter_p,
    lambda t, ans, x, axes, scatter_dimension, tiled: psum_scatter(
        t, axes, scatter_dimension, tiled
    ),
)
defvjp(
    all_gather_p,
    lambda ct, ans, x, axes, axis, tiled: psum_scatter(ct, axes, axis, tiled),
    reads=("",),
)
defvjp(
    psum_scatter_p,
    lambda ct, ans, x, axes, scatter_dimension, tiled: all_gather(
        ct, axes, scatter_dimension, tiled
    ),
    reads=("",),
)


# -- ppermute -----------------------------------------------------------------------------


def _check_perm(perm: tuple, n: int, axes: tuple) -> None:
    srcs, dsts = [s for s, _ in perm], [d for _, d in perm]
    if any(not 0 <= i < n for i in srcs + dsts):
        raise ValueError(
            f"ppermute: perm {list(perm)} names an index outside the axis {axes[0]!r} of "
            f"size {n}; indices run from 0 to {n - 1}"
        )
    if len(set(srcs)) != len(srcs) or len(set(dsts)) != len(dsts):
        raise ValueError(
            f"ppermute: perm {list(perm)} sends from or to one index twice; each index may "
            "appear at most once as a source and once as a destination"
        )


def _ppermute_on_processes(proc: ProcessAxis, x, *, perm):
    _check_perm(perm, proc.size, ("processes",))
    return proc.permute(x, perm)


ppermute_p = _collective("ppermute", _ppermute_on_processes, _same_aval)


def ppermute(x, axes: tuple, perm: tuple):
    """``x`` of index ``src`` at index ``dst`` for each ``(src, dst)`` of ``perm``;
    zeros at the indices no pair sends to."""
    return bind_collective(ppermute_p, x, axes=axes, perm=perm)


def _ppermute_batch(axis_name, size, vals, dims, *, axes, perm):
    (x,), (d,) = vals, dims
    if axis_name not in axes:
        return ppermute(x, axes, perm), d
    _check_perm(perm, size, axes)
    x = batch_to_front(x, d, size)
    source = dict((dst, src) for src, dst in perm)
    out = getitem(x, (np.array([source.get(j, j) for j in range(size)]),))
    if len(source) < size:
        shape = tuple(out.shape)
        sent = np.array([j in source for j in range(size)])
        sent = np.broadcast_to(sent.reshape((size,) + (1,) * (len(shape) - 1)), shape)
        out = select(sent, out, np.zeros((), x.dtype))
    return out, 0


defbatch_named(ppermute_p, _ppermute_batch)


def _inverse(perm: tuple) -> tuple:
    return tuple((dst, src) for src, dst in perm)


defjvp(ppermute_p, lambda t, ans, x, axes, perm: ppermute(t, axes, perm))
defvjp(ppermute_p, lambda ct, ans, x, axes, perm: ppermute(ct, axes, _inverse(perm)), reads=("",))


# -- axis_index ---------------------------------------------------------------------------


axis_index_p = _collective(
    "axis_index",
    lambda proc: np.int32(proc.index),
    lambda *, axes: ShapedArray((), np.dtype(np.int32)),
    differentiable=False,
)


def axis_index(axes: tuple):
    """This index along the named axis ``axes[0]``, an int32 scalar."""
    return bind_collective(axis_index_p, axes=axes)


def _axis_index_batch(axis_name, size, vals, dims, *, axes):
    return np.arange(size, dtype=np.int32), 0


defbatch_named(axis_index_p, _axis_index_batch)
