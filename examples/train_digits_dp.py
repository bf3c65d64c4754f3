"""Data-parallel training of the digits MLP across MPI processes, checked against one process.

Every rank runs this same script (SPMD). Each training batch is split between the
ranks (``fgrad.distributed.shard``); each rank computes the gradient of the objective
on its half, and ``fgrad.lax.pmean(grads, "data")`` averages the ranks' gradients
with one ``Allreduce`` of the raveled gradient tree, so every rank applies the same
update to the same parameters. The step is the one of ``examples/train_digits.py``
plus that one line.

    mpiexec -n 2 python examples/train_digits_dp.py [--steps 200]
    python examples/train_digits_dp.py                # one process: the same code
    mpiexec -n 2 python examples/train_digits_dp.py --zero1   # sharded optimiser state

With ``--zero1`` the optimiser state is sharded (ZeRO stage 1): the parameters travel
as one flat vector, ``lax.psum_scatter`` gives each rank its block of the summed
gradient (half the traffic of an ``Allreduce``), each rank updates its block with its
block of the Adam state, and ``lax.all_gather`` reassembles the parameters.

At the end, rank 0 reruns the training in one process with the *same step function*
under ``fgrad.vmap(step, axis_name="data")`` on the full batches (one index on the
named axis: ``pmean`` is the identity, the gradient is the full batch's mean) and
prints the largest difference between the two runs' parameters; in float64 it is
below 1e-12. The data-parallel gradient, (mean over half 1 + mean over half 2) / 2,
differs from the full batch's mean only by rounding.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    import fgrad
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fgrad
from fgrad import data, distributed, lax, nn, optim
from fgrad import numpy as fnp
from fgrad.flatten_util import ravel_pytree
from fgrad.tree_util import tree_leaves

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import load_data, objective, standardiser  # noqa: E402


def make_step(opt: optim.GradientTransformation, weight_decay: float):
    """The training step of one rank: its shard's gradient, averaged over the ranks."""

    def step(params, opt_state, x, y):
        loss, grads = fgrad.value_and_grad(objective)(params, x, y, weight_decay)
        loss, grads = lax.pmean((loss, grads), "data")  # one Allreduce per step
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    return fgrad.jit(step)


def make_zero1_step(opt: optim.GradientTransformation, weight_decay: float, unravel, size: int):
    """The step on flat parameters (``size`` values, zero-padded to a multiple of the number
    of ranks) whose optimiser state is this rank's block only."""

    def step(flat, opt_state, x, y):
        ranks = lax.axis_size("data")
        block = flat.shape[0] // ranks
        loss, grads = fgrad.value_and_grad(objective)(unravel(flat[:size]), x, y, weight_decay)
        padding = fnp.zeros(flat.shape[0] - size)
        summed = lax.psum_scatter(
            fnp.concatenate([ravel_pytree(grads)[0], padding]), "data", tiled=True
        )
        mine = lax.dynamic_slice(flat, (lax.axis_index("data") * block,), (block,))
        updates, opt_state = opt.update(summed / ranks, opt_state, mine)
        flat = lax.all_gather(optim.apply_updates(mine, updates), "data", tiled=True)
        return flat, opt_state, lax.pmean(loss, "data")

    return fgrad.jit(step)


def train(step, params, opt_state, batches, run_step) -> tuple:
    losses = []
    for xb, yb in batches:
        params, opt_state, loss = run_step(step, params, opt_state, xb, yb)
        losses.append(float(loss))
    return params, losses


def on_ranks(step, params, opt_state, xb, yb):
    """One step across the processes: this rank's shard of the batch."""
    return distributed.spmd(step, axis_name="data")(params, opt_state, *distributed.shard((xb, yb)))


def in_one_process(step, params, opt_state, xb, yb):
    """The same step in one process, mapped over one index of the axis (the full batch)."""
    mapped = fgrad.vmap(step, in_axes=(None, None, 0, 0), axis_name="data")
    return fgrad.tree_util.tree_map(lambda r: r[0], mapped(params, opt_state, xb[None], yb[None]))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zero1", action="store_true", help="shard the optimiser state")
    args = parser.parse_args(argv)
    rank, ranks = distributed.process_index(), distributed.process_count()
    if args.batch_size % ranks:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of {ranks} ranks")

    raw_train, _, y_train, _ = load_data(args.seed)
    x_train = standardiser(raw_train)(raw_train)
    rng = np.random.default_rng(args.seed)
    # every rank starts from rank 0's parameters and draws the same batches
    params = distributed.replicate(nn.mlp_init(rng, [x_train.shape[1], args.hidden, 10]))
    batches = []
    while len(batches) < args.steps:
        epoch = data.minibatches((x_train, y_train), args.batch_size, rng=rng, drop_last=True)
        batches += list(epoch)[: args.steps - len(batches)]
    opt = optim.adam(args.lr)
    if args.zero1:
        flat, unravel = ravel_pytree(params)
        size = flat.shape[0]
        flat = np.concatenate([flat, np.zeros(-size % ranks)])
        step = make_zero1_step(opt, args.weight_decay, unravel, size)

        def state_for(ranks_on_axis: int):
            return opt.init(np.zeros(flat.shape[0] // ranks_on_axis))

        def as_params(result):
            return unravel(result[:size])

        start_params = flat
    else:
        step = make_step(opt, args.weight_decay)

        def state_for(ranks_on_axis: int):
            return opt.init(params)

        def as_params(result):
            return result

        start_params = params

    start = time.perf_counter()
    final, losses = train(step, start_params, state_for(ranks), batches, on_ranks)
    elapsed = time.perf_counter() - start
    final = as_params(final)
    spread = distributed.spmd(_spread, axis_name="data")(final)
    if rank != 0:
        return 0.0
    print(
        f"digits MLP 64-{args.hidden}-10, {args.steps} steps of batch {args.batch_size} "
        f"split over {ranks} process(es) ({args.batch_size // ranks} examples each"
        f"{', optimiser state sharded' if args.zero1 else ''}): "
        f"{1e3 * elapsed / args.steps:.2f} ms per step, final objective {losses[-1]:.4f}"
    )
    print(f"largest difference between the ranks' parameters: {spread:.1e}")
    reference, ref_losses = train(step, start_params, state_for(1), batches, in_one_process)
    reference = as_params(reference)
    diff = max(
        float(np.max(np.abs(a - b))) for a, b in zip(tree_leaves(final), tree_leaves(reference))
    )
    same = diff <= 1e-12
    print(
        f"single-process run on the full batches: final objective {ref_losses[-1]:.4f}; "
        f"largest parameter difference {diff:.1e} "
        f"({'equal to 1e-12' if same else 'NOT equal to 1e-12'})"
    )
    if not same:
        raise SystemExit(1)
    return diff


def _spread(params) -> float:
    """The largest difference between two ranks' copies of ``params`` (0 when in sync)."""
    hi, lo = lax.pmax(params, "data"), lax.pmin(params, "data")
    return max(float(np.max(a - b)) for a, b in zip(tree_leaves(hi), tree_leaves(lo)))


if __name__ == "__main__":
    main()
