"""One data-parallel training step on 1 and on N MPI ranks: time per step and the
Allreduce's share of it.

    python benchmarks/data_parallel.py                  # one process
    mpiexec -n 2 python benchmarks/data_parallel.py     # two ranks, each half the batch

The step is the one of ``examples/train_digits_dp.py`` (an MLP, softmax cross-entropy,
``lax.pmean`` of the gradient tree, SGD), compiled with ``fgrad.jit`` and run under
``fgrad.distributed.spmd``, on a global batch split evenly between the ranks. Printed
(rank 0): the median time of a step (the slowest rank's), of ``lax.pmean`` of a tree
shaped like the gradients alone (one ``Allreduce`` of the raveled tree plus fgrad's
rank-agreement check), and, under MPI, of a bare mpi4py ``Allreduce`` of the same bytes.
Each rank uses one BLAS thread (set before NumPy loads) unless ``OMP_NUM_THREADS`` says
otherwise, so that N ranks use N cores and the 1-rank row uses one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fgrad  # noqa: E402
from fgrad import distributed, lax, nn, optim  # noqa: E402
from fgrad.tree_util import tree_leaves, tree_map  # noqa: E402


def loss(params, x, y):
    return nn.softmax_cross_entropy(nn.mlp_apply(params, x, activation=nn.relu), y)


def make_step(opt):
    def step(params, opt_state, x, y):
        grads = lax.pmean(fgrad.grad(loss)(params, x, y), "data")
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state

    return distributed.spmd(fgrad.jit(step), axis_name="data")


def timed(run, repeats: int, warmup: int) -> float:
    """The median over ``repeats`` calls of the slowest rank's time, in seconds."""
    slowest = distributed.spmd(lambda t: lax.pmax(t, "data"), axis_name="data")
    samples = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        run()
        elapsed = np.float64(time.perf_counter() - start)
        if i >= warmup:
            samples.append(float(slowest(elapsed)))
    return float(np.median(samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512, help="global batch, split over ranks")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    ranks = distributed.process_count()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 64))
    y = rng.integers(0, 10, args.batch)
    params = distributed.replicate(nn.mlp_init(rng, [64, args.hidden, args.hidden, 10]))
    opt = optim.sgd(0.01)
    state = {"params": params, "opt": opt.init(params)}
    step = make_step(opt)
    xb, yb = distributed.shard((x, y))

    def one_step():
        state["params"], state["opt"] = step(state["params"], state["opt"], xb, yb)

    step_time = timed(one_step, args.steps, args.warmup)
    grads_like = tree_map(np.ones_like, params)
    mean = distributed.spmd(lambda g: lax.pmean(g, "data"), axis_name="data")
    reduce_time = timed(lambda: mean(grads_like), args.steps, args.warmup)
    n_values = sum(leaf.size for leaf in tree_leaves(params))
    bare = None
    if ranks > 1:
        from mpi4py import MPI

        buffer, out = np.ones(n_values), np.empty(n_values)
        bare = timed(lambda: MPI.COMM_WORLD.Allreduce(buffer, out), args.steps, args.warmup)
    if distributed.process_index() != 0:
        return
    print(
        f"MLP 64-{args.hidden}-{args.hidden}-10 ({n_values} parameters, "
        f"{8 * n_values / 1e6:.2f} MB of float64 gradients), global batch {args.batch}, "
        f"{ranks} rank(s) of {args.batch // ranks} examples"
    )
    print(f"  step (jit, median of {args.steps}, slowest rank): {1e3 * step_time:8.3f} ms")
    print(
        f"  lax.pmean of the gradient tree:               {1e3 * reduce_time:8.3f} ms "
        f"({100 * reduce_time / step_time:.1f}% of the step)"
    )
    if bare is not None:
        print(f"  bare mpi4py Allreduce of the same bytes:      {1e3 * bare:8.3f} ms")
    print(f"  throughput: {args.batch / step_time:,.0f} examples/s")


if __name__ == "__main__":
    main()
