"""``jax.extend``'s names fgrad has: :mod:`fgrad.extend.core` (``Primitive`` and the
jaxpr types), for new primitives written as JAX's (``docs/custom_primitives.md``)."""

from fgrad.extend import core

__all__ = ["core"]
