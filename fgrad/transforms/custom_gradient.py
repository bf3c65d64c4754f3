"""``custom_gradient``: a function that returns its value and its own gradient rule.

TensorFlow's style of custom derivative, as ``jax.custom_gradient``: the decorated
function returns ``(value, vjp)``, where ``vjp(g)`` gives one cotangent per positional
argument. It is a :class:`~fgrad.transforms.custom_derivatives.custom_vjp` whose
forward pass keeps the returned rule (with whatever it closes over) as its residual,
so ``grad``, ``vjp``, ``jit``, ``vmap`` and forward mode treat it as any ``custom_vjp``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fgrad.transforms.custom_derivatives import custom_vjp


def custom_gradient(fun: Callable) -> Callable:
    """Make ``fun``, which returns ``(value, vjp)``, a function differentiated by ``vjp``.

    Parameters
    ----------
    fun
        ``fun(*args) -> (value, vjp)``; ``vjp(g)`` returns a tuple with one cotangent
        per positional argument (a single cotangent is accepted when there is one
        argument). Keyword arguments are passed through and not differentiated.

    Returns
    -------
    Callable
        ``f(*args, **kwargs) -> value``, whose reverse-mode derivative is ``vjp``.

    Examples
    --------
    >>> @custom_gradient
    ... def f(x):
    ...     return x ** 2, lambda g: (g * x,)
    >>> float(fgrad.grad(f)(3.0))
    3.0
    """

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        if kwargs:
            return _positional(functools.partial(fun, **kwargs), len(args))(*args)
        return _positional(fun, len(args))(*args)

    return wrapped


def _positional(fun: Callable, n_args: int) -> custom_vjp:
    def primal(*args):
        return fun(*args)[0]

    def forward(*args):
        value, rule = fun(*args)
        return value, rule

    def backward(rule, g):
        cts = rule(g)
        if not isinstance(cts, (tuple, list)):
            if n_args != 1:
                raise TypeError(
                    f"custom_gradient: the vjp function must return a tuple of {n_args} "
                    f"cotangents, one per positional argument, got a {type(cts).__name__}"
                )
            cts = (cts,)
        if len(cts) != n_args:
            raise TypeError(
                f"custom_gradient: the vjp function returned {len(cts)} cotangents for "
                f"{n_args} positional arguments; return one per argument"
            )
        return tuple(cts)

    f = custom_vjp(primal)
    f.defvjp(forward, backward)
    return f


__all__ = ["custom_gradient"]
