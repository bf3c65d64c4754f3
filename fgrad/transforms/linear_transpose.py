"""``linear_transpose``: the transpose of a linear function, as JAX's ``jax.linear_transpose``.

For a linear ``f``, the pullback of ``vjp`` at any point is the transpose, so the
transpose is that pullback, taken at zeros of the declared input types (a zero point
costs nothing to evaluate and keeps the primal values out of it). fgrad does not check
that ``f`` is linear: for a nonlinear ``f`` the result is the pullback at zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fgrad.core.abstract import get_aval
from fgrad.core.pytree import tree_map
from fgrad.core.source_info import api_boundary
from fgrad.transforms.reverse_mode import vjp


def linear_transpose(fun: Callable, *primals: Any) -> Callable:
    """The transpose of the linear function ``fun`` at inputs shaped as ``primals``.

    Parameters
    ----------
    fun
        A function linear in all its arguments (pytrees of arrays).
    *primals
        Pytrees of arrays or :class:`fgrad.ShapeDtypeStruct` giving the input types;
        only their shapes and dtypes are read.

    Returns
    -------
    Callable
        ``f_t(cotangent) -> tuple`` with one cotangent per argument of ``fun``, of the
        arguments' structure: ``vdot(f_t(u)[0], x) == vdot(u, fun(x))``.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> f_t = fgrad.linear_transpose(lambda x: A @ x, np.zeros(3))
    >>> f_t(np.ones(2))        # (A.T @ ones,)
    (array([3., 5., 7.]),)
    """

    def zeros(x):
        aval = get_aval(x)
        return np.zeros(aval.shape, aval.dtype)

    points = tree_map(zeros, primals)

    @api_boundary
    def transposed(cotangent):
        _, pullback = vjp(fun, *points)
        return tuple(pullback(cotangent))

    return transposed
