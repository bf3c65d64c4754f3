"""``jax.lax``'s instructions to XLA's compiler, which fgrad carries out directly:
``optimization_barrier`` (fgrad evaluates in program order, so it is the identity),
``composite`` (the decomposition is what runs) and ``platform_dependent`` (the
branch of the device fgrad computes on).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fgrad.core import backend

__all__ = ["composite", "optimization_barrier", "platform_dependent"]

#: JAX's platform names for each fgrad device, the most specific first
_PLATFORMS = {"cpu": ("cpu",), "gpu": ("cuda", "rocm", "gpu")}


def optimization_barrier(operand, /):
    """``operand`` (any pytree) unchanged (``jax.lax.optimization_barrier``).

    XLA may move computations across program points; fgrad runs operations in the
    order written (under ``jit`` too), so there is nothing to hold back. Derivatives
    and batching pass through.
    """
    return operand


def composite(decomposition: Callable, name: str, version: int = 0) -> Callable:
    """``decomposition`` itself, as the function JAX's ``lax.composite`` returns.

    JAX names the decomposition in the compiled program so that a backend may swap
    in its own kernel; fgrad always runs the decomposition, with its derivatives.
    ``name`` and ``version`` are accepted and recorded as ``__composite_name__``.
    """

    @functools.wraps(decomposition)
    def call(*args, **kwargs):
        return decomposition(*args, **kwargs)

    call.__composite_name__ = (name, version)
    return call


def platform_dependent(*args: Any, default: Callable | None = None, **per_platform: Callable):
    """Call the branch for the device fgrad computes on (``jax.lax.platform_dependent``).

    The device is that of the current transform's inputs (NumPy: ``cpu``; CuPy:
    ``cuda``, ``rocm`` or ``gpu``, the first given); without such a branch,
    ``default``.
    """
    device = backend.default_backend().name
    for platform in _PLATFORMS.get(device, (device,)):
        if platform in per_platform:
            return per_platform[platform](*args)
    if default is None:
        raise NotImplementedError(
            f"lax.platform_dependent: no branch for fgrad's device {device!r} "
            f"(branches for {sorted(per_platform)}) and no default="
        )
    return default(*args)
