"""``fgrad.errors``: ``jax.errors``' names for the errors fgrad raises.

A JAX program that catches ``jax.errors.ConcretizationTypeError`` ports with
``fgrad.errors.ConcretizationTypeError``: each name is the fgrad exception raised in
that situation (several of JAX's finer distinctions are one fgrad class).
"""

from fgrad.core.errors import (
    ConcretizationError,
    EscapedTracerError,
    FgradError,
    TracerArrayConversionError,
)

#: a traced value used where a concrete one is needed (``if x > 0`` under ``jit``)
ConcretizationTypeError = ConcretizationError
#: ``bool(traced)``: one kind of concretization
TracerBoolConversionError = ConcretizationError
#: ``int(traced)``, ``range(traced)``, an index: one kind of concretization
TracerIntegerConversionError = ConcretizationError
NonConcreteBooleanIndexError = ConcretizationError
#: a tracer that outlived its transform
UnexpectedTracerError = EscapedTracerError


class JaxRuntimeError(FgradError, RuntimeError):
    """A failure found while a computation runs: a failed ``checkify`` check."""


__all__ = [
    "ConcretizationTypeError",
    "JaxRuntimeError",
    "NonConcreteBooleanIndexError",
    "TracerArrayConversionError",
    "TracerBoolConversionError",
    "TracerIntegerConversionError",
    "UnexpectedTracerError",
]
