"""``fgrad.scipy.integrate``: ``trapezoid``, and ``odeint``, SciPy's ODE solver with an
adjoint gradient.

The solution comes from ``scipy.integrate.odeint``. Its reverse-mode derivative
with respect to the initial state, the output times and the extra arguments is
computed by integrating the adjoint system backwards between output times
(Froehlich, Loos and Hasenauer, 2017, section 2.4.2), with the vector-Jacobian
products of ``func`` taken by :func:`fgrad.vjp`. This is a first derivative:
the adjoint runs SciPy on concrete values, so forward mode and second
derivatives of ``odeint`` are not available (they raise a clear error).
"""

from __future__ import annotations

import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad.core.source_info import public_api
from fgrad.core.tracer import Tracer
from fgrad.flatten_util import ravel_pytree
from fgrad.transforms.custom_derivatives import custom_vjp


def odeint(func, y0, t, args=(), **kwargs):
    """Integrate ``dy/dt = func(y, t, *args)`` from ``y0`` at the times ``t``.

    Returns an array of shape ``(len(t), len(y0))``, as ``scipy.integrate.odeint``;
    differentiable (reverse mode) in ``y0``, ``t`` and ``args``.
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    return _odeint(func, kwargs)(y0, t, args)


def _concrete(tree):
    def value(x):
        if isinstance(x, Tracer):
            raise NotImplementedError(
                "odeint's derivative is first order and reverse mode only (its adjoint runs "
                "SciPy on concrete values); use grad/vjp of a function that calls odeint once"
            )
        return np.asarray(x)

    return fgrad.tree_map(value, tree)


def _odeint(func, kwargs):
    import scipy.integrate  # optional dependency: loaded when odeint runs, not with fgrad

    def solve(y0, t, args):
        return scipy.integrate.odeint(func, np.asarray(y0), np.asarray(t), args=args, **kwargs)

    @custom_vjp
    def integrate(y0, t, args):
        return solve(_concrete(y0), _concrete(t), _concrete(args))

    def fwd(y0, t, args):
        y0, t, args = _concrete(y0), _concrete(t), _concrete(args)
        yt = solve(y0, t, args)
        return yt, (yt, t, args)

    def bwd(res, g):
        yt, t, args = res
        g = _concrete(g)
        flat_args, unravel = ravel_pytree(args)
        d = yt.shape[1]

        def dynamics(state, time, flat):
            y, adj = state[:d], state[d : 2 * d]
            dy, pullback = fgrad.vjp(lambda y, s, a: func(y, s, *unravel(a)), y, time, flat)
            vy, vt, va = pullback(-adj)
            return np.hstack((dy, vy, np.atleast_1d(vt), va))

        adj_y, adj_t0 = g[-1], 0.0
        adj_args = np.zeros(np.size(flat_args))
        time_grads = []
        for i in range(len(t) - 1, 0, -1):
            dt_i = float(np.dot(func(yt[i], t[i], *args), g[i]))
            time_grads.append(dt_i)
            adj_t0 -= dt_i
            state = np.hstack((yt[i], adj_y, adj_t0, adj_args))
            back = scipy.integrate.odeint(
                dynamics, state, np.array([t[i], t[i - 1]]), args=(flat_args,), **kwargs
            )[1]
            adj_y = back[d : 2 * d] + g[i - 1]
            adj_t0, adj_args = back[2 * d], back[2 * d + 1 :]
        time_grads.append(adj_t0)
        return adj_y, np.array(time_grads[::-1]), unravel(adj_args)

    integrate.defvjp(fwd, bwd)
    return integrate


def trapezoid(y, x=None, dx: float = 1.0, axis: int = -1):
    """The trapezoidal rule along ``axis`` (``scipy.integrate.trapezoid``).

    Parameters
    ----------
    y
        Values to integrate.
    x
        Sample points (default: spacing ``dx``).
    dx
        The spacing when ``x`` is None.
    axis
        The axis to integrate along.

    Returns
    -------
    array
    """
    return fnp.trapezoid(y, x, dx, axis)


__all__ = ["odeint", "trapezoid"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
