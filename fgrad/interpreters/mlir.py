"""``jax.interpreters.mlir``: lowerings, which fgrad records and never calls.

JAX compiles each primitive to XLA through its lowering; fgrad's ``jit`` replays the
primitive's impl, so a lowering is not needed. As JAX does, ``jit`` refuses a primitive
made with its name alone until :func:`register_lowering` has named one, so that a
program behaves here as under JAX; any rule (even ``None``) will do.
"""

from __future__ import annotations

from collections.abc import Callable

from fgrad.core.primitive import Primitive

__all__ = ["lower_fun", "register_lowering"]

#: the lowerings registered, by primitive and platform (``None``: every platform)
lowerings: dict[tuple[Primitive, str | None], Callable | None] = {}


def register_lowering(
    prim: Primitive, rule: Callable | None, platform: str | None = None, **options
) -> Callable | None:
    """Record ``rule`` as ``prim``'s lowering (``jax.interpreters.mlir.register_lowering``)
    and let ``jit`` compile ``prim``; fgrad runs the impl, never ``rule``.

    Returns
    -------
    callable or None
        ``rule``, so that this works as a decorator's last step.
    """
    if not isinstance(prim, Primitive):
        raise TypeError(f"mlir.register_lowering: expected a Primitive, got {type(prim).__name__}")
    lowerings[prim, platform] = rule
    prim.requires_lowering = False
    return rule


def lower_fun(fun: Callable, multiple_results: bool = True) -> Callable:
    """``fun`` itself (``jax.interpreters.mlir.lower_fun``): fgrad needs no lowering."""
    return fun
