"""``fgrad.lax.psum``, ``pmean``, ``pmax``, ``pmin``, ``all_gather``, ``psum_scatter``,
``ppermute``, ``axis_index``, ``axis_size``: JAX's collectives over named axes.

A name is bound by ``fgrad.vmap(f, axis_name=name)`` (one process: the indices are the
examples of the batch) or by ``fgrad.distributed.spmd(f, axis_name=name)`` (the indices
are MPI ranks), so one function means the same in both. The operands are pytrees; the
elementwise reductions (``psum``, ``pmean``, ``pmax``, ``pmin``) ravel the leaves of each
dtype into one buffer, so a tree of gradients costs one collective (one ``Allreduce``
across processes), not one per leaf. See ``docs/distributed.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

from fgrad.core.primitive import Primitive, stage_constant_effect
from fgrad.core.pytree import tree_flatten, tree_map, tree_unflatten
from fgrad.primitives import collectives as _c
from fgrad.primitives.elementwise import div
from fgrad.primitives.indexing import concatenate, getitem
from fgrad.primitives.structural import reshape

AxisName = Hashable


def _names(axis_name, what: str, allow_several: bool = True) -> tuple:
    names = tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)
    if None in names:
        raise ValueError(
            f"{what}: axis_name is None; name the axis, as vmap(..., axis_name='i') or "
            "fgrad.distributed.spmd(..., axis_name='data') does, and pass that name"
        )
    if not names or (len(names) > 1 and not allow_several):
        raise ValueError(
            f"{what}: axis_name must name one axis here, got {axis_name!r}; apply it once per axis"
        )
    return names


def _no_groups(what: str, axis_index_groups) -> None:
    if axis_index_groups is not None:
        raise NotImplementedError(
            f"{what}: axis_index_groups is not supported; vmap or spmd over the groups "
            "instead, or reduce the whole axis and select the groups' results"
        )


def _bind(prim: Primitive, *args, **params):
    """Bind a collective. One over the processes whose operands are all constants is still
    recorded by an enclosing staging trace (``jit``), so that the compiled function runs it
    at every call, on every rank, instead of once while tracing."""
    if _c.named_trace(params["axes"]) is None:
        staged = stage_constant_effect(prim, args, params)
        if staged is not None:
            return staged
    return _c.bind_collective(prim, *args, **params)


def _psum(x, axes: tuple):
    return _bind(_c.psum_p, x, axes=axes)


def _pmax(x, axes: tuple):
    return _bind(_c.pmax_p, x, axes=axes)


def _pmin(x, axes: tuple):
    return _bind(_c.pmin_p, x, axes=axes)


def _raveled(op: Callable, x, axes: tuple):
    """``op`` applied to the leaves of ``x``, those of one dtype raveled into one buffer."""
    leaves, tree = tree_flatten(x)
    out = list(leaves)
    groups: dict = {}
    for k, leaf in enumerate(leaves):
        if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
            groups.setdefault(leaf.dtype, []).append(k)
        else:  # a Python number
            out[k] = op(leaf, axes)
    for ks in groups.values():
        if len(ks) == 1:
            out[ks[0]] = op(leaves[ks[0]], axes)
            continue
        sizes = [math.prod(leaves[k].shape) for k in ks]
        total = op(concatenate([reshape(leaves[k], (n,)) for k, n in zip(ks, sizes)], 0), axes)
        start = 0
        for k, n in zip(ks, sizes):
            out[k] = reshape(getitem(total, (slice(start, start + n),)), tuple(leaves[k].shape))
            start += n
    return tree_unflatten(tree, out)


def psum(x, axis_name: AxisName | Sequence[AxisName], *, axis_index_groups=None):
    """The sum of ``x`` over the named axis (or axes) ``axis_name``.

    Parameters
    ----------
    x
        A pytree of arrays (or numbers: ``psum(1, name)`` is the axis size).
    axis_name
        A name bound by an enclosing ``vmap(..., axis_name=...)`` or
        ``fgrad.distributed.spmd``; a tuple reduces over several axes.

    Returns
    -------
    The sum, the same at every index of the axis, in the structure of ``x``.

    Notes
    -----
    Derivatives are those of the whole mapped function, as in JAX's ``vmap``: the
    transpose of ``psum`` is ``psum``, so ``vmap(grad(f), axis_name=n)`` is the gradient
    of the sum over the axis of ``f``'s results.

    Examples
    --------
    >>> fgrad.vmap(lambda x: x / fgrad.lax.psum(x, "i"), axis_name="i")(fnp.arange(1.0, 4.0))
    array([0.16666667, 0.33333333, 0.5       ])
    """
    _no_groups("psum", axis_index_groups)
    return _raveled(_psum, x, _names(axis_name, "psum"))


def pmean(x, axis_name: AxisName | Sequence[AxisName], *, axis_index_groups=None):
    """The mean of ``x`` over the named axis (or axes) ``axis_name``: :func:`psum` divided
    by the axis size. The data-parallel step averages its gradients with it.

    Examples
    --------
    >>> grads = fgrad.grad(local_loss)(params, x_shard, y_shard)
    >>> grads = fgrad.lax.pmean(grads, "data")   # one Allreduce for the whole tree
    """
    _no_groups("pmean", axis_index_groups)
    names = _names(axis_name, "pmean")
    size = _c.axis_size(names)
    return tree_map(lambda s: div(s, size), _raveled(_psum, x, names))


def pmax(x, axis_name: AxisName | Sequence[AxisName], *, axis_index_groups=None):
    """The maximum of ``x`` over the named axis (or axes); ties share the derivative."""
    _no_groups("pmax", axis_index_groups)
    return _raveled(_pmax, x, _names(axis_name, "pmax"))


def pmin(x, axis_name: AxisName | Sequence[AxisName], *, axis_index_groups=None):
    """The minimum of ``x`` over the named axis (or axes); ties share the derivative."""
    _no_groups("pmin", axis_index_groups)
    return _raveled(_pmin, x, _names(axis_name, "pmin"))


def all_gather(
    x, axis_name: AxisName, *, axis_index_groups=None, axis: int = 0, tiled: bool = False
):
    """Every index's ``x`` along the named axis, gathered into a new axis ``axis``.

    Parameters
    ----------
    x
        A pytree of arrays.
    axis_name
        One named axis.
    axis
        Where the gathered axis goes in the result (negative counts from the end).
    tiled
        Concatenate along the existing axis ``axis`` instead of stacking.

    Examples
    --------
    >>> fgrad.vmap(lambda x: fgrad.lax.all_gather(x, "i"), axis_name="i")(fnp.arange(3.0))
    array([[0., 1., 2.],
           [0., 1., 2.],
           [0., 1., 2.]])
    """
    _no_groups("all_gather", axis_index_groups)
    axes = _names(axis_name, "all_gather", allow_several=False)

    def gather(leaf):
        ndim = len(leaf.shape)
        ax = _axis_in_range("all_gather", axis, ndim if tiled else ndim + 1, leaf)
        return _bind(_c.all_gather_p, leaf, axes=axes, axis=ax, tiled=tiled)

    return tree_map(gather, x)


def psum_scatter(
    x,
    axis_name: AxisName,
    *,
    scatter_dimension: int = 0,
    axis_index_groups=None,
    tiled: bool = False,
):
    """The sum of ``x`` over the named axis, of which index ``i`` keeps block ``i`` along
    ``scatter_dimension`` (whose size must be the axis size, or a multiple with
    ``tiled=True``). It is the transpose of :func:`all_gather`.
    """
    _no_groups("psum_scatter", axis_index_groups)
    axes = _names(axis_name, "psum_scatter", allow_several=False)

    def scatter(leaf):
        dim = _axis_in_range("psum_scatter", scatter_dimension, len(leaf.shape), leaf)
        return _bind(_c.psum_scatter_p, leaf, axes=axes, scatter_dimension=dim, tiled=tiled)

    return tree_map(scatter, x)


def ppermute(x, axis_name: AxisName, perm: Sequence[tuple[int, int]]):
    """Send ``x`` from index ``src`` to index ``dst`` for each pair of ``perm``; an index
    no pair sends to gets zeros.

    Examples
    --------
    >>> shift = [(i, (i + 1) % n) for i in range(n)]   # a ring
    >>> fgrad.vmap(lambda x: fgrad.lax.ppermute(x, "i", shift), axis_name="i")(xs)
    """
    axes = _names(axis_name, "ppermute", allow_several=False)
    pairs = tuple((int(s), int(d)) for s, d in perm)
    return tree_map(lambda leaf: _bind(_c.ppermute_p, leaf, axes=axes, perm=pairs), x)


def axis_index(axis_name: AxisName):
    """This program's index along the named axis (an int32 scalar): the example's
    position under ``vmap``, the MPI rank under ``fgrad.distributed.spmd``."""
    return _bind(_c.axis_index_p, axes=_names(axis_name, "axis_index", allow_several=False))


def axis_size(axis_name: AxisName | Sequence[AxisName]) -> int:
    """The number of indices of the named axis (the product, for a tuple of names)."""
    return _c.axis_size(_names(axis_name, "axis_size"))


def _axis_in_range(what: str, axis: int, ndim: int, leaf) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{what}: axis {axis} is out of range for an operand of shape "
            f"{tuple(leaf.shape)} (the result's axis must be in [{-ndim}, {ndim}))"
        )
    return axis % ndim
