"""JAX's ``jax.interpreters`` names for writing primitives the JAX way: ``ad`` (jvp and
transpose rules), ``batching`` (batch rules) and ``mlir`` (lowerings, accepted and not
needed: fgrad runs a primitive's impl). See ``docs/custom_primitives.md``.
"""

from fgrad.interpreters import ad, batching, mlir

__all__ = ["ad", "batching", "mlir"]
