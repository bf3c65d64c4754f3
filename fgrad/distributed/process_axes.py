"""The process axes ``fgrad.distributed.spmd`` binds: the ranks of an MPI communicator, or
the one process of a run without MPI.

Each implements :class:`fgrad.primitives.collectives.ProcessAxis` on NumPy arrays. The
MPI one checks, before every collective, that all ranks call the same collective on
operands of the same shape and dtype (one small ``Allreduce`` of a signature): MPI
itself would read past a shorter buffer or wait forever, where fgrad says which ranks
disagree and how.
"""

from __future__ import annotations

import zlib

import numpy as np

from fgrad.core.errors import ShapeError


class LocalAxis:
    """The process axis of a run in one process: every collective is the identity."""

    size = 1
    index = 0

    def allreduce(self, x, op: str):
        return np.array(x, copy=True)

    def allgather(self, x):
        return np.asarray(x)[None]

    def reduce_scatter(self, x):
        return np.array(x[0], copy=True)

    def permute(self, x, perm):
        return np.array(x, copy=True) if (0, 0) in perm else np.zeros_like(x)


class MPIAxis:
    """The ranks of the mpi4py communicator ``comm`` as a process axis."""

    def __init__(self, comm, mpi):
        self.comm = comm
        self.size = comm.Get_size()
        self.index = comm.Get_rank()
        self._ops = {"sum": mpi.SUM, "max": mpi.MAX, "min": mpi.MIN}
        self._max = mpi.MAX

    def allreduce(self, x, op: str):
        x = self._agree(f"p{op}" if op != "sum" else "psum", x)
        out = np.empty_like(x)
        self.comm.Allreduce(x, out, op=self._ops[op])
        return out

    def allgather(self, x):
        x = self._agree("all_gather", x)
        out = np.empty((self.size,) + x.shape, x.dtype)
        self.comm.Allgather(x, out)
        return out

    def reduce_scatter(self, x):
        x = self._agree("psum_scatter", x)
        out = np.empty(x.shape[1:], x.dtype)
        self.comm.Reduce_scatter_block(x, out, op=self._ops["sum"])
        return out

    def permute(self, x, perm):
        x = self._agree("ppermute", x)
        out = np.zeros_like(x)
        requests = [self.comm.Isend(x, dest=dst) for src, dst in perm if src == self.index]
        for src, dst in perm:
            if dst == self.index:
                self.comm.Recv(out, source=src)
        for request in requests:
            request.Wait()
        return out

    def _agree(self, what: str, x) -> np.ndarray:
        """``x`` as a contiguous array, after checking that every rank calls ``what`` on an
        operand of the same shape and dtype; a clear error on every rank otherwise."""
        x = np.asarray(x)
        if not x.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
            x = x.copy(order="C")
        sig = np.array(
            [
                zlib.crc32(what.encode()),
                x.ndim,
                x.size,
                zlib.crc32(repr(x.shape).encode()),
                zlib.crc32(x.dtype.str.encode()),
            ],
            np.int64,
        )
        both = np.concatenate([sig, -sig])
        extremes = np.empty_like(both)
        self.comm.Allreduce(both, extremes, op=self._max)
        if np.array_equal(extremes[: len(sig)], -extremes[len(sig) :]):
            return x
        calls = self.comm.allgather(f"{what} of {x.dtype.name}{list(x.shape)}")
        listed = "; ".join(f"rank {r}: {c}" for r, c in enumerate(calls))
        raise ShapeError(
            f"fgrad.distributed: the ranks disagree on a collective ({listed}). Every rank "
            "must run the same collectives in the same order on operands of the same shape "
            "and dtype: give each rank a batch of the same shape (fgrad.distributed.shard "
            "of a batch whose size the number of ranks divides), and the same parameters."
        )
