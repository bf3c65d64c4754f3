"""``mlp_large``: one SGD step of a 784-512-512-10 tanh MLP (float32, batch 256, softmax CE).

Here the matmuls dominate, so the step time measures how little fgrad adds on top of the
BLAS work a hand-written NumPy backward pass does, and whether it keeps float32 float32.
"""

from __future__ import annotations

import frameworks
import mlp
import numpy as np
from harness import BASELINE_NUMPY, Problem, Target, Workload

SIZES = (784, 512, 512, 10)
BATCH = 256
LR = 0.1


def make_problem() -> Problem:
    """Loss = mean softmax cross-entropy; all params and data float32 (grads checked to be)."""
    return mlp.make_problem(SIZES, BATCH, np.float32, "softmax_xent", LR)


WORKLOAD = Workload(
    name="mlp_large",
    summary=f"{'-'.join(map(str, SIZES))} tanh MLP, batch {BATCH}, float32, softmax "
    "cross-entropy; one step = loss + grads + SGD update",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    targets=(Target("fgrad step <= 1.3x hand-written NumPy", "fgrad", BASELINE_NUMPY, 1.3),),
)
