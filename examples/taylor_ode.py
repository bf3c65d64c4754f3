"""A Taylor-series ODE integrator built on ``fgrad.jet``, against SciPy's ``solve_ivp``.

For ``y' = f(y)`` the Taylor coefficients of the solution through ``y0`` follow from
those of ``f(y(t))``: ``y_{k+1} = [f(y(t))]_k / (k + 1)``, where the k-th coefficient of
``f(y(t))`` needs ``y``'s only up to order ``k``. So ``p`` jets of growing order give
the solution's series to order ``p``; a step of size ``h`` sums it (Horner). The step
size comes from the last two coefficients (the series' radius of convergence), so that
the next term would be below the tolerance. The whole coefficient computation is one
``fgrad.jit``-compiled function.

The problem is a Kepler orbit of eccentricity 0.6 (state ``(q, p)``, ``q'' = -q/|q|^3``):
after one period ``2 pi`` the exact solution is back where it started, and its energy is
conserved, which measures both integrators without a reference solution of our own.

    python examples/taylor_ode.py [--order 20] [--tol 1e-14]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

try:
    import fgrad
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fgrad
from fgrad import numpy as fnp

ECCENTRICITY = 0.6
PERIOD = 2 * math.pi


def kepler(y):
    """The vector field of the two-body problem (unit mass and gravitational constant)."""
    q, p = y[:2], y[2:]
    r3 = fnp.sum(q * q) ** 1.5
    return fnp.concatenate([p, -q / r3])


def initial_state() -> np.ndarray:
    """At perihelion: position ``1 - e`` on the x axis, speed ``sqrt((1 + e) / (1 - e))``."""
    e = ECCENTRICITY
    return np.array([1.0 - e, 0.0, 0.0, math.sqrt((1.0 + e) / (1.0 - e))])


def energy(y: np.ndarray) -> float:
    return 0.5 * float(y[2:] @ y[2:]) - 1.0 / float(np.linalg.norm(y[:2]))


def taylor_coefficients(f, order: int):
    """A function ``y0 -> [y_0, y_1, ..., y_order]`` (the solution's Taylor coefficients)."""

    def coefficients(y0):
        c = [y0, f(y0)]
        for k in range(1, order):
            terms = [c[j] * float(math.factorial(j)) for j in range(1, k + 1)]
            _, f_terms = fgrad.jet(f, (y0,), (terms,))
            c.append(f_terms[k - 1] * (1.0 / math.factorial(k) / (k + 1)))
        return fnp.stack(c)

    return coefficients


def integrate(f, y0: np.ndarray, t_end: float, order: int, tol: float) -> tuple[np.ndarray, int]:
    """``y(t_end)`` by Taylor steps of the given order; returns it and the number of steps."""
    coefficients = fgrad.jit(taylor_coefficients(f, order))
    t, y, steps = 0.0, np.asarray(y0, dtype=np.float64), 0
    while t < t_end:
        c = np.asarray(coefficients(y))
        # the step at which the last two terms fall below tol (|c_k| h^k ~ tol)
        h = min(
            (tol / max(np.max(np.abs(c[k])), 1e-300)) ** (1.0 / k) for k in (order - 1, order)
        )
        h = min(0.9 * h, t_end - t)
        y = c[-1]
        for k in range(order - 1, -1, -1):
            y = c[k] + h * y
        t += h
        steps += 1
    return y, steps


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", type=int, default=20)
    parser.add_argument("--tol", type=float, default=1e-14)
    args = parser.parse_args(argv)
    y0 = initial_state()
    start = time.perf_counter()
    y_taylor, steps = integrate(kepler, y0, PERIOD, args.order, args.tol)
    taylor_s = time.perf_counter() - start
    result = {
        "taylor_error": float(np.max(np.abs(y_taylor - y0))),
        "taylor_energy_drift": abs(energy(y_taylor) - energy(y0)),
        "steps": steps,
    }
    print(f"Taylor order {args.order}: {steps} steps, {taylor_s:.2f} s, "
          f"|y(T) - y(0)| = {result['taylor_error']:.2e}, "
          f"energy drift {result['taylor_energy_drift']:.2e}")
    try:
        from scipy.integrate import solve_ivp
    except ImportError:
        print("SciPy is not installed: no solve_ivp comparison")
        return result

    def rhs(t, y):
        q, p = y[:2], y[2:]
        return np.concatenate([p, -q / (q @ q) ** 1.5])

    start = time.perf_counter()
    sol = solve_ivp(rhs, (0.0, PERIOD), y0, method="DOP853", rtol=1e-13, atol=1e-13)
    scipy_s = time.perf_counter() - start
    y_scipy = sol.y[:, -1]
    result["scipy_error"] = float(np.max(np.abs(y_scipy - y0)))
    result["difference"] = float(np.max(np.abs(y_scipy - y_taylor)))
    print(f"solve_ivp DOP853 (rtol = atol = 1e-13): {sol.t.size - 1} steps, {scipy_s:.2f} s, "
          f"|y(T) - y(0)| = {result['scipy_error']:.2e}, "
          f"energy drift {abs(energy(y_scipy) - energy(y0)):.2e}")
    print(f"max |Taylor - solve_ivp| at T: {result['difference']:.2e}")
    return result


if __name__ == "__main__":
    main()
