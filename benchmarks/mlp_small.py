"""``mlp_small``: one SGD training step of a tiny 2-32-32-1 tanh MLP (float64, batch 16).

At this size the arithmetic is negligible, so the step time is almost all per-op framework
overhead (tracing, tape, dispatch): the number that says how light fgrad's core is.
"""

from __future__ import annotations

import frameworks
import mlp
import numpy as np
from harness import BASELINE_AUTOGRAD, Problem, Target, Workload

SIZES = (2, 32, 32, 1)
BATCH = 16
LR = 0.1


def make_problem() -> Problem:
    """Loss = mean squared error; one step = loss + grads + SGD update of all params."""
    return mlp.make_problem(SIZES, BATCH, np.float64, "mse", LR)


WORKLOAD = Workload(
    name="mlp_small",
    summary=f"{'-'.join(map(str, SIZES))} tanh MLP, batch {BATCH}, float64, MSE; "
    "one step = loss + grads + SGD update",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    targets=(Target("fgrad step <= 0.5x autograd's", "fgrad", BASELINE_AUTOGRAD, 0.5),),
)
