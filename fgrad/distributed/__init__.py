"""``fgrad.distributed``: the same program on every MPI process (SPMD), with collectives
over the processes.

Run a script with ``mpiexec -n 4 python train.py`` (mpi4py and an MPI library:
``pip install "fgrad[mpi]"``). Inside, :func:`spmd` maps a named axis onto the ranks,
so that a step written with ``fgrad.lax.pmean(grads, "data")`` averages the
gradients of all ranks, and means the average over the examples under
``fgrad.vmap(step, axis_name="data")`` in one process. Without ``mpiexec`` (or
without mpi4py) the program is one process: :func:`process_count` is 1 and every
collective is the identity.

Under ``mpiexec``, importing this module initialises MPI and installs an exception
hook: a rank that raises prints its traceback and aborts every rank
(``MPI_Abort``), instead of leaving the others waiting in a collective forever.
See ``docs/distributed.md``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from fgrad.core import backend
from fgrad.core.errors import ShapeError
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.distributed.process_axes import LocalAxis, MPIAxis
from fgrad.primitives.collectives import ProcessAxis, set_process_axis

__all__ = [
    "broadcast_from",
    "initialize",
    "is_initialized",
    "process_count",
    "process_index",
    "replicate",
    "shard",
    "spmd",
]

#: the environment variables MPI launchers (MPICH's hydra, Open MPI, PMIx, Slurm's PMI)
#: set in the processes they start
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")

_axis: ProcessAxis | None = None


def _launched_by_mpi() -> bool:
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def initialize(comm: Any = None) -> None:
    """Start MPI (once; later calls do nothing) and make the ranks this run's processes.

    Parameters
    ----------
    comm
        An mpi4py communicator to use instead of ``MPI.COMM_WORLD`` (a sub-group of the
        ranks, a duplicate to keep fgrad's messages apart from yours).

    Notes
    -----
    Called by every function of this module, so scripts need not call it. Outside
    ``mpiexec`` and without ``comm``, MPI is not started and the run is one process.
    Under ``mpiexec`` with more than one rank, an uncaught exception on any rank aborts
    them all (``MPI_Abort``) after printing its traceback.
    """
    global _axis
    if _axis is not None and comm is None:
        return
    if comm is None and not _launched_by_mpi():
        _axis = LocalAxis()
        return
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(
            "fgrad.distributed: this process was started by an MPI launcher (mpiexec, srun), "
            'but mpi4py is not installed; install it with `pip install "fgrad[mpi]"` '
            "(mpi4py and MPICH), or `pip install mpi4py` against your cluster's MPI"
        ) from err
    _axis = MPIAxis(MPI.COMM_WORLD if comm is None else comm, MPI)
    if _axis.size > 1:
        sys.excepthook = functools.partial(_abort_on_exception, _axis, sys.excepthook)


def _abort_on_exception(axis: MPIAxis, previous: Callable, kind, value, traceback) -> None:
    previous(kind, value, traceback)
    sys.stderr.write(
        f"fgrad.distributed: rank {axis.index} of {axis.size} raised {kind.__name__}; "
        "aborting all ranks (MPI_Abort)\n"
    )
    sys.stderr.flush()
    axis.comm.Abort(1)


def is_initialized() -> bool:
    """Whether :func:`initialize` has run."""
    return _axis is not None


def _process_axis() -> ProcessAxis:
    initialize()
    return _axis


def process_index() -> int:
    """This process's rank, from 0 to ``process_count() - 1``."""
    return _process_axis().index


def process_count() -> int:
    """The number of processes (MPI ranks) running this program; 1 without MPI."""
    return _process_axis().size


def shard(tree, axis: int = 0):
    """This rank's part of a global batch: the leaves of ``tree`` split along ``axis`` into
    ``process_count()`` consecutive blocks, as ``numpy.array_split`` does.

    Parameters
    ----------
    tree
        A pytree of arrays, the same on every rank (the whole batch).
    axis
        The batch axis of every leaf.

    Returns
    -------
    The pytree of this rank's blocks. With a batch size ``B`` that the number of ranks
    ``n`` divides, every rank gets ``B / n`` examples; otherwise the first ``B % n`` ranks
    get one more (then ``lax.pmean`` of per-rank means is not the batch mean: weight by
    the local sizes, ``psum(n_local * mean) / psum(n_local)``).

    Examples
    --------
    >>> xb, yb = fgrad.distributed.shard((x_batch, y_batch))
    """
    proc = _process_axis()
    leaves, tree_def = tree_flatten(tree)
    out = []
    for leaf in leaves:
        ndim = len(np.shape(leaf))
        if not -ndim <= axis < ndim:
            raise ShapeError(
                f"shard: axis {axis} is out of range for a leaf of shape {np.shape(leaf)}"
            )
        start, stop = _block(np.shape(leaf)[axis], proc.size, proc.index)
        index = [slice(None)] * ndim
        index[axis % ndim] = slice(start, stop)
        out.append(leaf[tuple(index)])
    return tree_unflatten(tree_def, out)


def _block(size: int, count: int, index: int) -> tuple[int, int]:
    """Block ``index`` of ``count`` of ``range(size)``, as ``numpy.array_split`` cuts it."""
    base, extra = divmod(size, count)
    start = index * base + min(index, extra)
    return start, start + base + (index < extra)


def broadcast_from(root: int, tree):
    """Rank ``root``'s ``tree`` on every rank (one ``Bcast`` per dtype of its leaves).

    Parameters
    ----------
    root
        The rank whose values are sent.
    tree
        A pytree of arrays; on the other ranks, one of the same structure, shapes and
        dtypes (its values are replaced), e.g. parameters initialised with another seed.

    Returns
    -------
    The pytree of NumPy arrays holding ``root``'s values.
    """
    proc = _process_axis()
    if not 0 <= root < proc.size:
        raise ValueError(f"broadcast_from: root {root} is not a rank of {proc.size} processes")
    leaves, tree_def = tree_flatten(tree)
    leaves = [np.asarray(backend.device_get(x)) for x in leaves]
    if proc.size == 1:
        return tree_unflatten(tree_def, [x.copy() for x in leaves])
    described = [f"{np.result_type(x).name}{list(np.shape(x))}" for x in leaves]
    sent = proc.comm.bcast((str(tree_def), described), root=root)
    if sent != (str(tree_def), described):
        raise ShapeError(
            f"broadcast_from: rank {proc.index}'s tree ({described}, {tree_def}) differs "
            f"from rank {root}'s ({sent[1]}, {sent[0]}); every rank must pass a tree of the "
            "same structure, shapes and dtypes"
        )
    out = list(leaves)
    groups: dict = {}
    for k, x in enumerate(out):
        groups.setdefault(x.dtype, []).append(k)
    for ks in groups.values():
        buffer = np.concatenate([out[k].ravel() for k in ks])
        proc.comm.Bcast(buffer, root=root)
        start = 0
        for k in ks:
            out[k] = buffer[start : start + out[k].size].reshape(out[k].shape)
            start += out[k].size
    return tree_unflatten(tree_def, out)


def replicate(tree):
    """Rank 0's ``tree`` on every rank: ``broadcast_from(0, tree)``, for the parameters
    and optimiser state every rank starts from."""
    return broadcast_from(0, tree)


def spmd(fun: Callable, axis_name: Hashable = "data") -> Callable:
    """``fun`` to run on every rank, with the named axis ``axis_name`` mapped onto the ranks.

    Parameters
    ----------
    fun
        A function whose collectives (``fgrad.lax.psum``, ``pmean``, ``all_gather``, ...)
        over ``axis_name`` combine the values of all ranks.
    axis_name
        The name the collectives use.

    Returns
    -------
    Callable
        ``fun``, taking this rank's arguments and returning this rank's results. The same
        ``fun`` under ``fgrad.vmap(fun, axis_name=axis_name)`` in one process, on the
        ranks' arguments stacked, gives the ranks' results stacked.

    Notes
    -----
    The first call binds ``axis_name`` to the processes for the rest of the program, so
    ``jit(spmd(step))`` and ``spmd(jit(step))`` both run their collectives at every
    call. A ``vmap`` binding the same name inside takes precedence.

    Examples
    --------
    >>> def step(params, x, y):
    ...     grads = fgrad.grad(loss)(params, x, y)
    ...     grads = fgrad.lax.pmean(grads, "data")        # one Allreduce
    ...     return fgrad.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    >>> step = fgrad.distributed.spmd(fgrad.jit(step), axis_name="data")
    >>> params = step(params, *fgrad.distributed.shard((x, y)))
    """

    @functools.wraps(fun)
    def on_every_rank(*args, **kwargs):
        set_process_axis(axis_name, _process_axis())
        return fun(*args, **kwargs)

    return on_every_rank


if _launched_by_mpi():
    initialize()
