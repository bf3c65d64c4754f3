"""``fgrad.scipy.optimize.minimize``: BFGS written in fgrad operations, as
``jax.scipy.optimize.minimize``.

The iteration and its backtracking line search are ``fgrad.lax.while_loop`` loops, so
``minimize`` runs eagerly, under ``jit`` (one compiled program for the whole
optimisation) and under ``vmap`` (a batch of starting points). Gradients come from
``fgrad.value_and_grad`` of the objective.

The line search backtracks from the full quasi-Newton step, halving it until the
Armijo condition holds (at most ``line_search_maxiter`` times); the inverse-Hessian
update is skipped on a step whose curvature ``s.y`` is not positive, which keeps the
approximation positive definite without JAX's strong-Wolfe zoom. Before the first
update the identity is scaled by ``s.y / y.y`` (Nocedal and Wright, eq. 6.20).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from fgrad import numpy as fnp
from fgrad.core.errors import ShapeError
from fgrad.core.source_info import public_api
from fgrad.lax.while_loop import while_loop
from fgrad.transforms.reverse_mode import value_and_grad

_RUNNING, _CONVERGED, _MAX_ITERATIONS, _LINE_SEARCH_FAILED = -1, 0, 1, 5


class OptimizeResults(NamedTuple):
    """What :func:`minimize` returns (JAX's fields).

    Attributes
    ----------
    x
        The final point.
    success
        Whether the gradient norm fell below the tolerance.
    status
        0: converged; 1: ``maxiter`` iterations done; 5: the line search found no
        decrease (at a point where the function cannot be decreased along the
        quasi-Newton direction, e.g. at the limit of floating-point precision).
    fun, jac
        The objective and its gradient at ``x``.
    hess_inv
        The BFGS approximation of the inverse Hessian at ``x``.
    nfev, njev
        Evaluations of the objective and of its gradient (they are evaluated together).
    nit
        Iterations done.
    """

    x: Any
    success: Any
    status: Any
    fun: Any
    jac: Any
    hess_inv: Any
    nfev: Any
    njev: Any
    nit: Any


def minimize(
    fun: Callable,
    x0: Any,
    args: tuple = (),
    *,
    method: str = "BFGS",
    tol: float | None = None,
    options: dict | None = None,
) -> OptimizeResults:
    """Minimise ``fun(x, *args)`` over a vector ``x`` from ``x0``, by BFGS.

    Parameters
    ----------
    fun
        A scalar function of a 1-D array (and ``args``), written with ``fgrad.numpy``.
    x0
        The starting point, a 1-D float array.
    args
        Further arguments of ``fun``, held fixed.
    method
        ``"BFGS"`` (the one method, as in JAX; the name is not case-sensitive).
    tol
        The gradient-norm tolerance (``options["gtol"]`` if not given, default 1e-5).
    options
        ``maxiter`` (default ``200 * x0.size``), ``gtol``, ``norm`` (the order of the
        gradient norm, default ``inf``), ``line_search_maxiter`` (default 30 halvings).

    Returns
    -------
    OptimizeResults
        ``x``, ``success``, ``status``, ``fun``, ``jac``, ``hess_inv``, ``nfev``,
        ``njev``, ``nit``.

    Examples
    --------
    >>> from fgrad.scipy.optimize import minimize
    >>> rosen = lambda x: fnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    >>> fgrad.jit(lambda x0: minimize(rosen, x0, method="BFGS").x)(np.array([-1.2, 1.0]))
    array([1., 1.])
    """
    if method.lower() != "bfgs":
        raise ValueError(
            f"minimize: method must be 'BFGS' (the one method fgrad has), got {method!r}"
        )
    options = dict(options or {})
    unknown = set(options) - {"maxiter", "gtol", "norm", "line_search_maxiter"}
    if unknown:
        raise ValueError(
            f"minimize: unknown options {sorted(unknown)}; BFGS takes maxiter, gtol, norm, "
            "line_search_maxiter"
        )
    x0 = fnp.asarray(x0)
    if x0.ndim != 1:
        raise ShapeError(
            f"minimize: x0 must be a 1-D array, got shape {x0.shape}; ravel it (and reshape "
            "inside fun), e.g. with fgrad.flatten_util.ravel_pytree"
        )
    if not np.issubdtype(x0.dtype, np.floating):
        x0 = x0.astype(np.float64)
    n = x0.shape[0]
    maxiter = int(options.get("maxiter", 200 * n))
    gtol = float(tol if tol is not None else options.get("gtol", 1e-5))
    order = options.get("norm", np.inf)
    max_halvings = int(options.get("line_search_maxiter", 30))
    value_grad = value_and_grad(lambda x: fun(x, *args))
    eye = fnp.eye(n, dtype=x0.dtype)

    def small(g):
        return fnp.linalg.norm(g, ord=order) <= gtol

    def line_search(x, f, g, p):
        """Halve the step ``p`` until it decreases ``f`` enough (Armijo, c1 = 1e-4)."""
        slope = fnp.dot(g, p)
        f1, g1 = value_grad(x + p)

        def too_long(s):
            i, alpha, f_new, _ = s
            return fnp.logical_and(~(f_new <= f + 1e-4 * alpha * slope), i < max_halvings)

        def halve(s):
            i, alpha, _, _ = s
            f_new, g_new = value_grad(x + 0.5 * alpha * p)
            return i + 1, 0.5 * alpha, f_new, g_new

        i, alpha, f_new, g_new = while_loop(
            too_long, halve, (np.int64(0), x0.dtype.type(1.0), f1, g1)
        )
        return alpha, f_new, g_new, i + 1, f_new <= f + 1e-4 * alpha * slope

    def running(state):
        return state[0] == _RUNNING

    def step(state):
        _, k, nfev, x, f, g, h = state
        p = -(h @ g)
        descent = fnp.dot(g, p) < 0
        p = fnp.where(descent, p, -g)  # a direction gone bad: restart from steepest descent
        h = fnp.where(descent, h, eye)
        alpha, f_new, g_new, evals, ok = line_search(x, f, g, p)
        s = alpha * p
        y = g_new - g
        sy = fnp.dot(s, y)
        yy = fnp.dot(y, y)  # zero where the step left the gradient unchanged: no scaling
        scale = fnp.where(fnp.logical_and(sy > 0, yy > 0), sy / fnp.where(yy > 0, yy, 1.0), 1.0)
        h = fnp.where(k == 0, eye * scale, h)
        rho = 1.0 / fnp.where(sy > 0, sy, 1.0)
        a = eye - rho * fnp.outer(s, y)
        updated = a @ h @ a.T + rho * fnp.outer(s, s)
        h = fnp.where(fnp.logical_and(ok, sy > 0), updated, h)
        x, f, g = fnp.where(ok, x + s, x), fnp.where(ok, f_new, f), fnp.where(ok, g_new, g)
        k = k + 1
        status = fnp.where(
            small(g),
            _CONVERGED,
            fnp.where(~ok, _LINE_SEARCH_FAILED, fnp.where(k >= maxiter, _MAX_ITERATIONS, _RUNNING)),
        )
        return status, k, nfev + evals, x, f, g, h

    f0, g0 = value_grad(x0)
    start = fnp.where(small(g0), _CONVERGED, _MAX_ITERATIONS if maxiter <= 0 else _RUNNING)
    status, k, nfev, x, f, g, h = while_loop(
        running, step, (fnp.asarray(start, np.int64), np.int64(0), np.int64(1), x0, f0, g0, eye)
    )
    return OptimizeResults(
        x=x,
        success=status == _CONVERGED,
        status=status,
        fun=f,
        jac=g,
        hess_inv=h,
        nfev=nfev,
        njev=nfev,
        nit=k,
    )


__all__ = ["OptimizeResults", "minimize"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
