"""``hessian``: the full 64x64 Hessian of ``rosenbrock(x) + logsumexp(x)`` (float64).

Every library builds the Hessian with its own ``hessian`` transform (fgrad and JAX: forward
over reverse; autograd: reverse over reverse; torch.func: forward over reverse, vmapped), so
this measures how each one composes transforms and pushes 64 basis vectors through them.

The function, for ``x`` of size ``n = 64``::

    f(x) = sum_{i<n-1} [100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2]  +  logsumexp(x)

with ``logsumexp(x) = m + log(sum(exp(x - m)))``, ``m = max(x)`` (stable; ``m``'s derivative
cancels exactly).  The reference is the closed form: Rosenbrock's Hessian is tridiagonal and
``logsumexp``'s is ``diag(p) - p p^T`` with ``p = softmax(x)``.
"""

from __future__ import annotations

from typing import Any

import frameworks
import numpy as np
from harness import BASELINE_AUTOGRAD, Derivative, Problem, Target, Workload

SIZE = 64


def loss(xp: Any, x: Any) -> Any:
    """Rosenbrock plus a numerically stable logsumexp; ``xp`` is the array namespace."""
    head, tail = x[:-1], x[1:]
    rosen = xp.sum(100 * (tail - head**2) ** 2 + (1 - head) ** 2)
    m = xp.max(x)
    return rosen + m + xp.log(xp.sum(xp.exp(x - m)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def hand_value_and_grad(x: np.ndarray) -> tuple[Any, np.ndarray]:
    """``f`` and its gradient: ``dR/dx[i] = -400 x[i] r[i] - 2 (1 - x[i])`` (``i < n-1``) and
    ``dR/dx[i+1] += 200 r[i]`` with ``r = x[1:] - x[:-1]**2``; ``d logsumexp = softmax``."""
    head, tail = x[:-1], x[1:]
    r = tail - head**2
    m = x.max()
    value = np.sum(100 * r**2 + (1 - head) ** 2) + m + np.log(np.sum(np.exp(x - m)))
    g = _softmax(x)
    g[:-1] += -400 * head * r - 2 * (1 - head)
    g[1:] += 200 * r
    return value, g


def hand_hessian(x: np.ndarray) -> np.ndarray:
    """Closed form: ``H[i,i] += 1200 x[i]**2 - 400 x[i+1] + 2`` and ``H[i+1,i+1] += 200``
    (``i < n-1``), ``H[i,i+1] = H[i+1,i] = -400 x[i]``; plus ``diag(p) - outer(p, p)``."""
    p = _softmax(x)
    h = np.diag(p) - np.outer(p, p)
    head, tail = x[:-1], x[1:]
    i = np.arange(len(x) - 1)
    h[i, i] += 1200 * head**2 - 400 * tail + 2
    h[i + 1, i + 1] += 200
    h[i, i + 1] += -400 * head
    h[i + 1, i] += -400 * head
    return h


def make_problem() -> Problem:
    """x uniform in [-1.5, 1.5) (fixed seed); a step is one full Hessian."""
    x = np.random.default_rng(0).uniform(-1.5, 1.5, SIZE)
    return Problem(
        loss=loss,
        params=x,
        data=(),
        hand_value_and_grad=hand_value_and_grad,
        derivative=Derivative("hessian", reference=lambda: hand_hessian(x)),
    )


WORKLOAD = Workload(
    name="hessian",
    summary=f"full Hessian of rosenbrock(x) + logsumexp(x), x a {SIZE}-element float64 vector "
    f"({SIZE}x{SIZE} result)",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    targets=(
        Target("fgrad Hessian <= autograd's", "fgrad", BASELINE_AUTOGRAD, 1.0),
        Target(
            "fgrad Hessian within 2x of torch.func.hessian", "fgrad", frameworks.TORCH_FUNC, 2.0
        ),
    ),
    time_label="time/call",
)
