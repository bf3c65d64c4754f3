"""``nested``: the 4th derivative of a scalar function by ``grad`` nested four times.

    g(x) = sin(x) exp(x/3) + x**3 / (1 + x**2),   evaluated at x = 0.7 (float64)

Each level of ``grad`` differentiates a function that is itself a traced derivative, so the
work grows with every level (the 4th-order trace has hundreds of ops on scalars): this
measures how cheaply a library traces *through its own* differentiation machinery.

The reference is the closed form (derived by hand, checked with sympy, which gives
``g''''(0.7) = -1.641496858148165232724...``; sympy is not needed at run time):

- ``sin(x) exp(a x) = Im exp((a + i) x)``, so its n-th derivative is
  ``Im[(a + i)**n exp((a + i) x)]``; with ``a = 1/3``, ``(a + i)**4 = 28/81 - (32/27) i``,
  giving ``(4/81) exp(x/3) (7 sin x - 24 cos x)``;
- ``x**3 / (1 + x**2) = x - x / (1 + x**2)`` and ``x / (1 + x**2) = Re 1/(x - i)``, whose
  4th derivative is ``Re 24/(x - i)**5 = 24 x (x**4 - 10 x**2 + 5) / (1 + x**2)**5``.
"""

from __future__ import annotations

import math
from typing import Any

import frameworks
import numpy as np
from harness import BASELINE_AUTOGRAD, Derivative, Problem, Target, Workload

X0 = 0.7
ORDER = 4


def g(xp: Any, x: Any) -> Any:
    """The scalar function (see module docstring); ``xp`` is the array namespace."""
    return xp.sin(x) * xp.exp(x / 3) + x**3 / (1 + x**2)


def hand_value_and_grad(x: float) -> tuple[float, float]:
    """``g`` and ``g' = exp(x/3) (cos x + sin(x)/3) + 1 - (1 - x**2) / (1 + x**2)**2``."""
    e, q = math.exp(x / 3), 1 + x * x
    value = math.sin(x) * e + x**3 / q
    return value, e * (math.cos(x) + math.sin(x) / 3) + 1 - (1 - x * x) / q**2


def fourth_derivative(x: float) -> float:
    """Closed form of ``g''''(x)`` (derivation in the module docstring)."""
    return (
        4 / 81 * math.exp(x / 3) * (7 * math.sin(x) - 24 * math.cos(x))
        - 24 * x * (x**4 - 10 * x**2 + 5) / (1 + x**2) ** 5
    )


def make_problem() -> Problem:
    """x = 0.7 as a float64 scalar; a step is ``grad(grad(grad(grad(g))))(x)``."""
    x = np.float64(X0)
    return Problem(
        loss=g,
        params=x,
        data=(),
        hand_value_and_grad=hand_value_and_grad,
        derivative=Derivative(
            "nested_grad", reference=lambda: np.float64(fourth_derivative(X0)), order=ORDER
        ),
    )


WORKLOAD = Workload(
    name="nested",
    summary=f"4th derivative of sin(x) exp(x/3) + x^3/(1+x^2) at x = {X0} (float64 scalar) "
    f"by grad nested {ORDER} times",
    make_problem=make_problem,
    factories=frameworks.FACTORIES,
    targets=(Target("fgrad nested grad <= autograd's", "fgrad", BASELINE_AUTOGRAD, 1.0),),
    time_label="time/call",
)
