"""Taylor mode: ``jet``, the propagation of truncated power series.

A :class:`JetTracer` carries the Taylor coefficients ``[x_0, x_1, ..., x_K]`` of a
value along a path ``x(t) = x_0 + x_1 t + ... + x_K t^K`` (``x_k`` is the k-th
derivative over ``k!``; the users' convention, derivatives, is converted at the
boundary, in :func:`jet`). Each primitive maps its arguments' coefficients to its
result's by its rule in ``jet_rules`` (:mod:`fgrad.transforms.jet_rules`): one pass
costs ``O(K^2)`` operations per primitive, where nested ``jvp``/``grad`` grow
exponentially in ``K``.

A primitive without a rule is expanded here by integration of its derivative: with
``y = f(x)``, ``dy/dt = J_f(x(t)) x'(t)`` is the ``jvp`` of ``f`` along ``x'``, whose
coefficients to order ``K - 1`` come from a ``jet`` one order lower; ``y_k`` is its
``(k-1)``-th coefficient over ``k``. The ``jvp`` rule's own primitives go through
their rules (or this fallback, one order lower again).

Coefficients are computed with fgrad operations at the level below the jet's, so an
enclosing ``grad``, ``jit`` or ``vmap`` sees and transforms them. A coefficient known to
be zero is carried as :data:`~fgrad.transforms.jet_zeros.ZERO` and costs nothing (see
:mod:`fgrad.transforms.jet_zeros`); a value whose coefficients are all known to be zero
leaves the jet as a constant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import ShapedArray, get_aval
from fgrad.core.errors import TransformError
from fgrad.core.primitive import Primitive, bind
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.rules import jet_rules
from fgrad.core.trace_stack import Trace, new_trace
from fgrad.core.tracer import Tracer
from fgrad.primitives.elementwise import convert_element_type
from fgrad.primitives.structural import broadcast_to
from fgrad.transforms import jet_rules as _registers_the_rules  # noqa: F401
from fgrad.transforms.argnums import replace_at
from fgrad.transforms.forward_mode import conform_to_primal, jvp
from fgrad.transforms.jet_zeros import ZERO, as_coefficient, materialized, scale


class JetTracer(Tracer):
    """A value with its Taylor coefficients ``series`` (``series[0]`` is the value, the
    others arrays or :data:`~fgrad.transforms.jet_zeros.ZERO`)."""

    __slots__ = ("series",)

    def __init__(self, trace: JetTrace, series: list):
        self._trace = trace
        self.series = series

    @property
    def aval(self) -> ShapedArray:
        return get_aval(self.series[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return self.series[0].shape

    @property
    def dtype(self):
        return self.series[0].dtype

    def value_below(self):
        return self.series[0]

    def concrete_value(self):
        v = self.series[0]
        return v.concrete_value() if isinstance(v, Tracer) else v

    def __repr__(self) -> str:
        return (
            f"Traced<{self.aval.str_short()}> under jet (order {len(self.series) - 1}), "
            f"primal={self.series[0]!r}"
        )

    __str__ = __repr__


class JetTrace(Trace):
    """Propagates Taylor coefficients to a fixed ``order`` through every primitive."""

    __slots__ = ("order",)
    name = "jet"

    def __init__(self, order: int):
        super().__init__()
        self.order = order

    def process(self, prim: Primitive, args: tuple, params: dict):
        primals, series = [], []
        for x in args:
            if isinstance(x, JetTracer) and x._trace is self:
                primals.append(x.series[0])
                series.append(x.series)
            else:
                primals.append(x)
                series.append(None)
        if not prim.differentiable:
            return bind(prim, *primals, **params)
        rule = jet_rules.get(prim)
        if rule is None:
            rule = fallback(prim)
        out = rule(primals, series, self.order, **params)
        if prim.multiple_results:
            return [self.wrap(s) if type(s) is list else s for s in out]
        return self.wrap(out)

    def wrap(self, series: list):
        """A tracer for ``series``, each coefficient given the value's shape and dtype (a
        rule may leave a coefficient that did not meet the moving argument unbroadcast);
        the plain value where every coefficient is known to be zero."""
        y0 = series[0]
        shape, dtype = get_aval(y0).shape, y0.dtype
        moving = False
        for k in range(1, len(series)):
            c = series[k]
            if c is ZERO:
                continue
            moving = True
            if getattr(c, "shape", None) != shape or c.dtype != dtype:
                series[k] = _fitted(c, shape, dtype, y0)
        return JetTracer(self, series) if moving else y0


def _fitted(c, shape: tuple, dtype, like):
    if not hasattr(c, "dtype"):  # a Python number: a coefficient that met no moving value
        target = _coefficient_dtype(np.result_type(c), dtype)
        return backend.full(shape, c, target, like=None if isinstance(like, Tracer) else like)
    target = _coefficient_dtype(np.dtype(c.dtype), dtype)
    if c.dtype != target:
        c = convert_element_type(c, target)
    if get_aval(c).shape != shape:
        c = broadcast_to(c, shape)
    return c


def _coefficient_dtype(have: np.dtype, value: np.dtype) -> np.dtype:
    """The dtype of a coefficient of a value of dtype ``value``: the value's, except that
    an integer value keeps floating-point coefficients (an integer path's Taylor
    coefficients ``x^(k) / k!`` are fractions; truncating them would be wrong)."""
    if np.dtype(value).kind in "iub" and have.kind in "fc":
        return have
    return value


def fallback(prim: Primitive) -> Callable:
    """The rule of a primitive without a Taylor rule: integration of its ``jvp`` (see the
    module docstring). A multi-output primitive is expanded through the function that
    carries its rules (``custom_rules``)."""
    if prim.multiple_results:
        if prim.custom_rules is None:
            raise NotImplementedError(
                f"jet: the multi-output primitive `{prim.name}` has no Taylor rule and no "
                "function carrying its derivative rules"
            )

        def apply(params):
            return lambda *a: prim.custom_rules(*a, **params)

    else:

        def apply(params):
            return lambda *a: bind(prim, *a, **params)

    def rule(primals: list, series: list, order: int, **params):
        f = apply(params)
        moving = [i for i, s in enumerate(series) if s is not None]
        if order == 1:
            ans, d = jvp(
                lambda *xs: f(*replace_at(primals, moving, xs)),
                [primals[i] for i in moving],
                [materialized(series[i][1], primals[i]) for i in moving],
            )
            return _assemble(prim, ans, lambda j: [d] if j is None else [d[j]], order)

        def tangent_map(*xs_and_vs):
            xs, vs = xs_and_vs[: len(moving)], xs_and_vs[len(moving) :]
            return jvp(lambda *m: f(*replace_at(primals, moving, m)), list(xs), list(vs))[1]

        lowered = [series[i][:order] for i in moving] + [
            [materialized(series[i][1], primals[i])]
            + [scale(series[i][j + 1], j + 1) for j in range(1, order)]
            for i in moving
        ]
        ans = f(*primals)
        d_flat = jet_flat(tangent_map, lowered, order - 1)
        return _assemble(prim, ans, lambda j: d_flat[0 if j is None else j], order)

    return rule


def _assemble(prim: Primitive, ans, derivative: Callable, order: int):
    """Each result's coefficients ``[y_0, d_0 / 1, d_1 / 2, ...]`` from the coefficients
    ``d`` of its derivative along the path (``derivative(j)`` for result ``j``)."""

    def one(y0, d: list) -> list:
        return [y0] + [scale(d[k - 1], 1.0 / k) for k in range(1, order + 1)]

    if prim.multiple_results:
        return [one(y, derivative(j)) for j, y in enumerate(ans)]
    return one(ans, derivative(None))


def jet_flat(fun: Callable, series: list[list], order: int) -> list[list]:
    """``fun`` (flat arguments, flat list or single value out) along the paths with
    coefficients ``series`` (one full list ``[x_0, ..., x_order]`` per argument; its
    terms after the first may be :data:`~fgrad.transforms.jet_zeros.ZERO`): the
    coefficients of each result, arrays of zeros where they are known to be zero."""
    trace = JetTrace(order)
    with new_trace(trace):
        out = fun(*[JetTracer(trace, list(s)) for s in series])
        flat = out if isinstance(out, (list, tuple)) else [out]
        return [_series_of(trace, y, order) for y in flat]


def _series_of(trace: JetTrace, y, order: int) -> list:
    if isinstance(y, JetTracer) and y._trace is trace:
        y0 = y.series[0]
        return [y0] + [materialized(c, y0) for c in y.series[1:]]
    zero = materialized(ZERO, y)
    return [y] + [zero] * order


def jet(fun: Callable, primals: tuple | list, series: tuple | list) -> tuple[Any, Any]:
    """Taylor-mode automatic differentiation (``jax.experimental.jet.jet``).

    Propagates the derivatives of the input path ``x(t)`` at ``t = 0`` through ``fun``
    and returns the derivatives of ``fun(x(t))``, all orders in one pass.

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``.
    primals
        Tuple (or list) of the positional arguments: the point ``x(0)``.
    series
        Tuple (or list) with one entry per primal: the list ``[x'(0), x''(0), ...,
        x^(K)(0)]`` of that argument's derivatives along the path, each term shaped like
        the primal (the same pytree, shapes and dtypes). Every list has the same length
        ``K``, the order.

    Returns
    -------
    primal_out, series_out
        ``fun(*primals)``, and for each of its leaves the list ``[y'(0), ..., y^(K)(0)]``
        of derivatives of ``y(t) = fun(x(t))``, in the output's pytree structure.

    Examples
    --------
    >>> y, (d1, d2, d3) = fgrad.jet(fnp.exp, (0.5,), ([1.0, 0.0, 0.0],))  # all exp(0.5)
    >>> # the 2nd derivative of f along v at x: series ([v, 0],) gives d2
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(series, (tuple, list)):
        raise TransformError(
            "jet takes the primals and the series as tuples, one entry per positional "
            f"argument, e.g. jet(f, (x,), ([v, 0.0],)); got {type(primals).__name__} and "
            f"{type(series).__name__}"
        )
    if len(series) != len(primals):
        raise TransformError(
            f"jet: {len(primals)} primals but {len(series)} series; give one list of "
            "derivative terms per positional argument"
        )
    orders = set()
    for i, s in enumerate(series):
        if not isinstance(s, (tuple, list)):
            raise TransformError(
                f"jet: series[{i}] must be a list of derivative terms [x', x'', ...], got "
                f"{type(s).__name__}"
            )
        orders.add(len(s))
    if len(orders) > 1:
        raise TransformError(
            f"jet: every argument's series must have the same length (the order), got "
            f"lengths {[len(s) for s in series]}"
        )
    order = orders.pop() if orders else 0
    p_flat, p_tree = tree_flatten(tuple(primals))
    p_flat = [x if isinstance(x, Tracer) or hasattr(x, "dtype") else np.asarray(x) for x in p_flat]
    columns = []  # per order, the flat terms of every argument
    for k in range(order):
        terms, tree = tree_flatten(tuple(s[k] for s in series))
        if tree != p_tree:
            raise TransformError(
                f"jet: the order-{k + 1} terms must have the structure of the primals, got "
                f"{tree} and {p_tree}"
            )
        checked = [as_coefficient(_check_term(p, t, k)) for p, t in zip(p_flat, terms)]
        columns.append([scale(t, 1.0 / math.factorial(k + 1)) for t in checked])
    in_series = [[p] + [col[i] for col in columns] for i, p in enumerate(p_flat)]
    out_tree = []

    def flat_fun(*xs):
        leaves, tree = tree_flatten(fun(*tree_unflatten(p_tree, list(xs))))
        out_tree.append(tree)
        return leaves

    with backend.default_device_of(p_flat):
        out_series = jet_flat(flat_fun, in_series, order)
    primals_out = [s[0] for s in out_series]
    scales = [float(math.factorial(k)) for k in range(order + 1)]
    series_out = [
        [s[k] * scales[k] if k > 1 else s[k] for k in range(1, order + 1)] for s in out_series
    ]
    return tree_unflatten(out_tree[0], primals_out), tree_unflatten(out_tree[0], series_out)


def _check_term(primal, term, k: int):
    return conform_to_primal(primal, term, "jet: each series term", f"an order-{k + 1} term")


def taylor_derivatives(fun: Callable, x, order: int) -> list:
    """All derivatives of a function of one array, up to ``order``, in one ``jet`` pass.

    Parameters
    ----------
    fun
        A function of one array ``x``. For a scalar ``x`` this gives ``fun``'s ordinary
        derivatives; for an array, the derivatives along the direction of all ones
        (elementwise derivatives where ``fun`` acts elementwise).
    x
        The point.
    order
        The highest order wanted, ``>= 0``.

    Returns
    -------
    list
        ``[fun(x), fun'(x), ..., fun^(order)(x)]``.

    Examples
    --------
    >>> fgrad.taylor_derivatives(fnp.sin, 0.0, 4)   # [0, 1, 0, -1, 0]
    """
    x = x if isinstance(x, Tracer) or hasattr(x, "dtype") else np.asarray(x)
    one = backend.ones(get_aval(x).shape, x.dtype, like=None if isinstance(x, Tracer) else x)
    return _along(fun, x, one, order)


def directional_derivative(fun: Callable, x, v, order: int):
    """The ``order``-th derivative of ``fun`` along ``v`` at ``x``: ``d^k/dt^k fun(x + t v)``
    at ``t = 0`` (for ``order = 2``, ``v^T H v`` of a scalar function), in one ``jet`` pass.

    Parameters
    ----------
    fun
        A function of one argument (a pytree of arrays), with any pytree result.
    x, v
        The point and the direction, of the same structure, shapes and dtypes.
    order
        ``k >= 1``.

    Returns
    -------
    The k-th derivative, with the structure of ``fun``'s result.

    Examples
    --------
    >>> fgrad.directional_derivative(lambda x: fnp.sum(x ** 4), x, v, 4)   # 24 sum(v^4)
    """
    if order < 1:
        raise TransformError(f"directional_derivative: order must be >= 1, got {order}")
    out_tree = []

    def flat_fun(x):
        leaves, tree = tree_flatten(fun(x))
        out_tree.append(tree)
        return leaves

    _, series_out = jet(flat_fun, (x,), ([v] + [_zeros_like(v)] * (order - 1),))
    return tree_unflatten(out_tree[0], [terms[-1] for terms in series_out])


def _along(fun: Callable, x, v, order: int) -> list:
    if order < 0:
        raise TransformError(f"taylor_derivatives: order must be >= 0, got {order}")
    zero = backend.zeros(get_aval(x).shape, x.dtype, like=None if isinstance(x, Tracer) else x)
    y, series_out = jet(fun, (x,), ([v] + [zero] * (order - 1) if order else [],))
    return [y, *series_out]


def _zeros_like(tree):
    leaves, tree_def = tree_flatten(tree)
    zeros = []
    for x in leaves:
        aval = get_aval(x)
        zeros.append(backend.zeros(aval.shape, aval.dtype))
    return tree_unflatten(tree_def, zeros)

