"""``fgrad.debug.print`` and ``fgrad.debug.callback``: see values from inside transformed
functions, when they are known.

A Python ``print`` inside ``jit`` runs once, while tracing, and shows a tracer.
``fgrad.debug.print("loss {}", loss)`` is instead an equation of its own, bound
like any primitive:

* eagerly and under ``grad``/``jvp`` it prints the values at once (never the
  derivatives' tracers: it has no derivative);
* under ``jit`` it stays in the compiled program, which never folds, merges or
  drops it, so every call prints that call's values (constants included);
* under ``vmap`` it prints the whole batch of each argument, batch axis first.

Arguments are pytrees of arrays and numbers, formatted with ``str.format``.

``fgrad.debug.callback(fn, *args)`` is the same mechanism with any function in place
of the formatting: ``fn`` gets the concrete arrays, eagerly and at every call of a
jitted function; under ``vmap`` it is called once per example, as in JAX. Its return
value is ignored (to compute with a host function, use ``fgrad.pure_callback``).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable

from fgrad.core import missing_names
from fgrad.core.primitive import Primitive, bind, stage_constant_effect
from fgrad.core.pytree import PyTreeDef, tree_flatten, tree_unflatten
from fgrad.core.rules import defbatch
from fgrad.primitives.structural import batch_to_front


def _print_impl(*leaves, fmt: str, tree: PyTreeDef) -> tuple:
    args, kwargs = tree_unflatten(tree, list(leaves))
    builtins.print(fmt.format(*args, **kwargs))
    return ()


def _no_results(*avals, **params) -> tuple:
    """The abstract eval of both effectful primitives here: they return nothing."""
    return ()


def _effect_primitive(name: str, impl: Callable, batch: Callable) -> Primitive:
    """An effectful primitive with no results, its batch rule, and replay by ``bind``: a
    recorded call replayed by ``eval_jaxpr`` under a transform runs through bind again."""
    prim = Primitive(
        name, impl, _no_results, differentiable=False, multiple_results=True, effectful=True
    )
    defbatch(prim, batch)
    prim.custom_rules = lambda *leaves, **params: bind(prim, *leaves, **params)
    return prim


def _print_batch(size: int, vals: list, dims: list, fmt: str, tree: PyTreeDef):
    leaves = [v if d is None else batch_to_front(v, d, size) for v, d in zip(vals, dims)]
    bind(debug_print_p, *leaves, fmt=fmt, tree=tree)
    return (), None


debug_print_p = _effect_primitive("debug_print", _print_impl, _print_batch)


def print(fmt: str, *args, **kwargs) -> None:  # noqa: A001 - the name users know from JAX
    """Print ``fmt.format(*args, **kwargs)`` with the values, under any transform.

    Parameters
    ----------
    fmt
        A ``str.format`` template.
    *args, **kwargs
        Pytrees of arrays and numbers to fill it with.

    Examples
    --------
    >>> @fgrad.jit
    ... def step(w, x):
    ...     fgrad.debug.print("|w| = {n:.3f}", n=fnp.linalg.norm(w))
    ...     return w - 0.1 * fgrad.grad(loss)(w, x)
    """
    leaves, tree = tree_flatten((args, kwargs))
    _emit(debug_print_p, leaves, {"fmt": fmt, "tree": tree})


def _emit(prim: Primitive, leaves: list, params: dict) -> None:
    """Bind the effectful ``prim``; with constants only, a staging trace (jit) still
    records it, so that every call runs it, rather than the one trace."""
    if stage_constant_effect(prim, leaves, params) is None:
        bind(prim, *leaves, **params)


def _callback_impl(*leaves, callback: Callable, tree: PyTreeDef) -> tuple:
    args, kwargs = tree_unflatten(tree, list(leaves))
    callback(*args, **kwargs)
    return ()


def _callback_batch(size: int, vals: list, dims: list, callback: Callable, tree: PyTreeDef):
    leaves = [v if d is None else batch_to_front(v, d, size) for v, d in zip(vals, dims)]
    for i in range(size):  # once per example, as JAX does
        example = [v if d is None else v[i] for v, d in zip(leaves, dims)]
        bind(debug_callback_p, *example, callback=callback, tree=tree)
    return (), None


debug_callback_p = _effect_primitive("debug_callback", _callback_impl, _callback_batch)


def callback(callback: Callable, *args, ordered: bool = False, **kwargs) -> None:
    """Call ``callback(*args, **kwargs)`` with the concrete values, under any transform.

    Parameters
    ----------
    callback
        Any Python function; it gets NumPy arrays (and the numbers passed) in the
        structure of ``args`` and ``kwargs``, and what it returns is ignored.
    *args, **kwargs
        Pytrees of arrays and numbers.
    ordered
        Accepted for JAX compatibility: fgrad runs the calls of one function in
        program order anyway.

    Notes
    -----
    Eagerly and under ``grad``/``jvp`` it calls at once with the values (never
    derivatives); under ``jit`` the call is part of the compiled program and runs at
    every call; under ``vmap`` it runs once per example, in order.

    Examples
    --------
    >>> seen = []
    >>> @fgrad.jit
    ... def step(w):
    ...     fgrad.debug.callback(lambda v: seen.append(float(v)), fnp.sum(w))
    ...     return w * 0.9
    """
    leaves, tree = tree_flatten((args, kwargs))
    _emit(debug_callback_p, leaves, {"callback": callback, "tree": tree})


def __getattr__(name: str):
    raise missing_names.missing("fgrad.debug", name, missing_names.DEBUG)
