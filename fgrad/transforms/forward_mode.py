"""Forward mode: ``jvp``, the Jacobian-vector product.

A :class:`JVPTracer` carries a primal value and a tangent of the same shape.
Applying a primitive computes the primal result by binding it on the primal
values (so outer transforms see it) and the tangent result from the primitive's
jvp rules, which are written with fgrad operations and are therefore
differentiable again.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import PYTHON_SCALARS, ShapedArray, get_aval
from fgrad.core.errors import TransformError
from fgrad.core.primitive import Primitive, bind, evaluate
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.rules import jvp_call_rules, jvp_rules
from fgrad.core.trace_stack import Trace, new_trace
from fgrad.core.tracer import Tracer


class JVPTracer(Tracer):
    """A primal value together with its tangent."""

    __slots__ = ("primal", "tangent")

    def __init__(self, trace: JVPTrace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent

    @property
    def aval(self) -> ShapedArray:
        return get_aval(self.primal)

    @property
    def shape(self) -> tuple[int, ...]:
        try:
            return self.primal.shape
        except AttributeError:  # a Python number (weakly typed)
            return ()

    @property
    def dtype(self):
        try:
            return self.primal.dtype
        except AttributeError:
            return get_aval(self.primal).dtype

    def value_below(self):
        return self.primal

    def concrete_value(self):
        v = self.primal
        return v.concrete_value() if isinstance(v, Tracer) else v

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}> under jvp, primal={self.primal!r}"

    __str__ = __repr__


class JVPTrace(Trace):
    """Propagates tangents alongside primal values."""

    __slots__ = ()
    name = "jvp"
    call_rules = jvp_call_rules

    def process(self, prim: Primitive, args: tuple, params: dict):
        primals = list(args)
        tangents = []
        nested = False  # does any primal belong to an enclosing transform?
        weak = False  # is a traced primal a Python number (see below)?
        for i, x in enumerate(args):
            if isinstance(x, Tracer):
                if x._trace is self:
                    tangents.append((i, x.tangent))
                    x = primals[i] = x.primal
                    weak = weak or x.__class__ in PYTHON_SCALARS
                nested = nested or isinstance(x, Tracer)
        ans = bind(prim, *primals, **params) if nested else evaluate(prim, primals, params)
        if not prim.differentiable:
            return ans
        if weak:  # the impl saw the Python number (NEP 50); the rules see a 0-d array
            for i, _ in tangents:
                if primals[i].__class__ in PYTHON_SCALARS:
                    primals[i] = backend.asarray(primals[i])
        rules = jvp_rules.get(prim)
        if rules is None:
            raise NotImplementedError(f"primitive `{prim.name}` has no forward-mode (jvp) rule")
        if type(rules) is tuple:
            t_out = None
            for i, t in tangents:
                if i >= len(rules):  # trailing operands without rules: index arrays
                    continue
                c = rules[i](t, ans, *primals, **params)
                t_out = c if t_out is None else t_out + c
        else:
            all_t: list = [None] * len(args)
            for i, t in tangents:
                all_t[i] = t
            t_out = rules(all_t, ans, *primals, **params)
        try:
            dtype = ans.dtype
        except AttributeError:  # a Python number
            dtype = get_aval(ans).dtype
        if t_out.dtype != dtype:  # a float32 tangent meeting a float64 constant
            t_out = t_out.astype(dtype)
        return JVPTracer(self, ans, t_out)

    def unzip(self, values) -> tuple[list, list]:
        """Primals and tangents of ``values``; values not of this trace get zero tangents."""
        primals, tangents = [], []
        for x in values:
            if x.__class__ is JVPTracer and x._trace is self:
                primals.append(x.primal)
                tangents.append(x.tangent)
            else:
                aval = get_aval(x)
                primals.append(x)
                tangents.append(backend.zeros(aval.shape, aval.dtype, like=x))
        return primals, tangents


def jvp(fun: Callable, primals: tuple | list, tangents: tuple | list):
    """Evaluate ``fun`` and its directional derivative (Jacobian-vector product).

    Parameters
    ----------
    fun
        A function of pytrees of arrays, written with ``fgrad.numpy``.
    primals
        Tuple (or list) of the positional arguments: the point of evaluation.
    tangents
        Tuple (or list) with the same structure, shapes and dtypes as
        ``primals``: the direction.

    Returns
    -------
    primal_out, tangent_out
        ``fun(*primals)`` and ``J(primals) @ tangents``, both with the
        structure of ``fun``'s output.

    Examples
    --------
    >>> fgrad.jvp(fnp.sin, (0.5,), (1.0,))    # (sin(0.5), cos(0.5))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TransformError(
            "jvp takes the primals and the tangents as tuples of positional arguments, "
            f"e.g. jvp(f, (x,), (v,)); got {type(primals).__name__} and "
            f"{type(tangents).__name__}"
        )
    p_flat, p_tree = tree_flatten(tuple(primals))
    t_flat, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise TransformError(
            f"jvp: primals and tangents must have the same structure, got {p_tree} and {t_tree}"
        )
    p_flat = [
        x if isinstance(x, Tracer) or hasattr(x, "dtype") or type(x) in PYTHON_SCALARS
        else np.asarray(x)
        for x in p_flat
    ]  # Python numbers stay weakly typed (NEP 50), as untransformed
    t_flat = [_check_tangent(p, t) for p, t in zip(p_flat, t_flat)]
    trace = JVPTrace()
    with backend.default_device_of(p_flat), new_trace(trace):
        inputs = [JVPTracer(trace, p, t) for p, t in zip(p_flat, t_flat)]
        out = fun(*tree_unflatten(p_tree, inputs))
        out_flat, out_tree = tree_flatten(out)
        primals_out, tangents_out = trace.unzip(out_flat)
    return tree_unflatten(out_tree, primals_out), tree_unflatten(out_tree, tangents_out)


def _check_tangent(primal, tangent):
    return conform_to_primal(primal, tangent, "jvp: each tangent", "a tangent")


def conform_to_primal(primal, value, rule: str, name: str):
    """``value`` (a tangent, a Taylor term) as an array of ``primal``'s shape and dtype, or
    a :class:`~fgrad.core.errors.TransformError` stating ``rule`` and calling it ``name``."""
    aval = get_aval(primal)
    if not isinstance(value, Tracer) and not hasattr(value, "dtype"):
        value = backend.asarray(value, dtype=aval.dtype, like=primal)
    if tuple(value.shape) != aval.shape:
        raise TransformError(
            f"{rule} must have the shape of its primal; primal {aval.str_short()} got "
            f"{name} of shape {tuple(value.shape)}"
        )
    if np.dtype(value.dtype) != aval.dtype:
        raise TransformError(
            f"{rule} must have the dtype of its primal; primal {aval.str_short()} got "
            f"{name} of dtype {np.dtype(value.dtype).name}. Convert it with "
            f".astype({aval.dtype.name})."
        )
    return value
