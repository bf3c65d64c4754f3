"""``per_example``: the gradient of every example's loss separately (e.g. for DP-SGD clipping).

``mlp_small``'s 2-32-32-1 tanh MLP and MSE loss, batch 64, float64; a step returns the 64
per-example gradients stacked (each parameter leaf gets a leading axis of 64).  fgrad, JAX
and torch.func use ``vmap(grad(loss of one row), in_axes=(None, 0, 0))``; autograd has no
``vmap``, so its row loops over the examples, as its users do.  The reference is the
hand-written backward pass keeping one outer product per row instead of their sum.
"""

from __future__ import annotations

import dataclasses

import frameworks
import mlp
import mlp_small
import numpy as np
from harness import BASELINE_AUTOGRAD, BASELINE_NUMPY, Derivative, Problem, Target, Workload

BATCH = 64


def make_problem() -> Problem:
    """``mlp_small``'s network and data generator with a batch of 64 and no SGD step."""
    base = mlp.make_problem(mlp_small.SIZES, BATCH, np.float64, "mse", lr=0.0)
    x, y = base.data
    deriv = Derivative("per_example", reference=lambda: mlp.hand_mse_per_example(base.params, x, y))
    return dataclasses.replace(base, lr=None, derivative=deriv)


WORKLOAD = Workload(
    name="per_example",
    summary=f"per-example gradients of the {'-'.join(map(str, mlp_small.SIZES))} tanh MLP's "
    f"MSE loss, batch {BATCH}, float64 (vmap of grad; autograd loops over rows)",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    targets=(
        Target(
            "fgrad per-example gradients <= 0.1x autograd's loop", "fgrad", BASELINE_AUTOGRAD, 0.1
        ),
        Target("fgrad within 10x of hand-written NumPy", "fgrad", BASELINE_NUMPY, 10.0),
    ),
    time_label="time/call",
)
