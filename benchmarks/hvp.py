"""``hvp``: Hessian-vector product of the ``mlp_small`` loss w.r.t. all 1,185 parameters.

Same 2-32-32-1 tanh MLP, batch 16, float64 MSE loss and data as ``mlp_small``; a step is
``H @ v`` for a fixed random direction pytree ``v`` shaped like the parameters, computed
without forming ``H``, forward over reverse (``jvp`` of ``grad``) everywhere: ``fgrad.hvp``,
``autograd.make_jvp(grad(f))``, ``jax.jvp`` / ``torch.func.jvp`` of their ``grad``.

The reference is a 4th-order central difference of the hand-written NumPy gradient along
``v`` (``mlp.hand_mse``, itself finite-difference checked).  With step ``1e-4`` it agrees
with the frameworks to ~1e-12 of the largest entry (truncation ~ step**4 and rounding
~ 1e-16 / step balance there; step 1e-3 gives 1e-8), short of the default 1e-12 bound.  So it
is checked with a looser tolerance, and the frameworks are additionally checked against each
other at the default one (see ``harness.Derivative``), which the loose bound cannot replace.
"""

from __future__ import annotations

import dataclasses

import frameworks
import mlp
import mlp_small
import numpy as np
from harness import BASELINE_AUTOGRAD, Derivative, Problem, Target, Workload, central_difference

EPS = 1e-4
TOLERANCE = (1e-7, 1e-10)
"""(rtol, atol relative to max|ref|) against the finite-difference reference: measured error
~1e-12 of the largest entry, so 100x headroom, yet a 1e-8 error anywhere fails."""


def make_problem() -> Problem:
    """``mlp_small``'s problem with the SGD step replaced by ``H @ v`` (``v`` ~ N(0, 1))."""
    base = mlp_small.make_problem()
    rng = np.random.default_rng(1)
    v = [{k: rng.standard_normal(a.shape) for k, a in layer.items()} for layer in base.params]
    x, y = base.data

    def grad(params: mlp.Params) -> mlp.Params:
        return mlp.hand_mse(params, x, y)[1]

    def reference() -> mlp.Params:
        return central_difference(grad, base.params, v, EPS, order=4)

    deriv = Derivative("hvp", reference=reference, tangent=v, tolerance=TOLERANCE)
    return dataclasses.replace(base, lr=None, derivative=deriv)


N_PARAMS = sum((m + 1) * n for m, n in zip(mlp_small.SIZES[:-1], mlp_small.SIZES[1:]))

WORKLOAD = Workload(
    name="hvp",
    summary=f"Hessian-vector product of the {'-'.join(map(str, mlp_small.SIZES))} tanh MLP's "
    f"MSE loss (batch {mlp_small.BATCH}, float64) w.r.t. its {N_PARAMS:,} parameters",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    targets=(Target("fgrad HVP <= autograd's", "fgrad", BASELINE_AUTOGRAD, 1.0),),
    time_label="time/call",
)
