"""``op_chain``: gradient of a 300-op elementwise chain on a 16-element float64 vector.

The arrays are tiny, so the time is almost pure per-op overhead of the autodiff machinery
(recording, closures, dispatch, the backward walk); dividing by 300 gives the cost per op.

The exact op sequence: starting from ``y = x``, the cycle below runs ``N_CYCLES = 50`` times
(6 ops per cycle, 300 ops), then ``sum(y)`` reduces to the scalar being differentiated::

    y = sin(y)      # |y| <= 1
    y = y * x       # the input again: x in [-1, 1], so |y| <= 1
    y = y + C       # C = 0.3
    y = tanh(y)     # (-1, 1): tanh right before exp keeps exp bounded ...
    y = exp(y)      # ... in (1/e, e), so nothing can overflow however long the chain is
    y = y * K       # K = 0.6 (< 1): y in (0.22, 1.64), fed to the next sin

The derivative through one cycle is at most K * e * |x| < 1.64 in size and typically well
below 1, so contributions from early cycles fade while the last cycles' direct ``y * x``
terms keep the gradient finite and clearly non-zero.
"""

from __future__ import annotations

from typing import Any

import frameworks
import numpy as np
from harness import BASELINE_AUTOGRAD, Problem, Target, Workload

N_CYCLES = 50
OPS_PER_CYCLE = 6
N_OPS = N_CYCLES * OPS_PER_CYCLE  # 300; the final sum is not counted
SIZE = 16
C = 0.3
K = 0.6


def chain(xp: Any, x: Any) -> Any:
    """The 300-op chain (see module docstring), summed; ``xp`` is the array namespace."""
    y = x
    for _ in range(N_CYCLES):
        y = xp.sin(y)
        y = y * x
        y = y + C
        y = xp.tanh(y)
        y = xp.exp(y)
        y = y * K
    return xp.sum(y)


def hand_value_and_grad(x: np.ndarray) -> tuple[Any, np.ndarray]:
    """Hand-written forward (saving what the backward needs) and reverse sweep of :func:`chain`.

    Per cycle, in reverse: ``* K`` -> ``K``; ``exp`` -> its output ``e``; ``tanh`` -> ``1 - t**2``;
    ``+ C`` -> 1; ``y * x`` -> ``x`` for ``y`` plus ``y`` into ``dL/dx``; ``sin`` -> ``cos``.
    """
    saved = []
    y = x
    for _ in range(N_CYCLES):
        sin_in = y
        y = np.sin(y)
        mul_in = y
        y = np.tanh(y * x + C)
        tanh_out = y
        y = np.exp(y)
        saved.append((sin_in, mul_in, tanh_out, y))
        y = y * K
    value = np.sum(y)
    g = np.ones_like(x)
    gx = np.zeros_like(x)
    for sin_in, mul_in, tanh_out, exp_out in reversed(saved):
        g = g * K * exp_out * (1 - tanh_out * tanh_out)
        gx += g * mul_in
        g = g * x * np.cos(sin_in)
    return value, gx + g  # the chain starts at y = x


def make_problem() -> Problem:
    """x uniform in [-1, 1) (fixed seed); the step is one gradient evaluation (no update)."""
    x = np.random.default_rng(0).uniform(-1.0, 1.0, SIZE)
    return Problem(loss=chain, params=x, data=(), hand_value_and_grad=hand_value_and_grad)


WORKLOAD = Workload(
    name="op_chain",
    summary=f"grad of sum(chain of {N_OPS} elementwise ops) on a {SIZE}-element float64 "
    f"vector (sin, *x, +{C}, tanh, exp, *{K}, repeated {N_CYCLES}x)",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    unit=("op", N_OPS),
    targets=(Target("fgrad cost per op <= 0.5x autograd's", "fgrad", BASELINE_AUTOGRAD, 0.5),),
    time_label="time/call",
)
