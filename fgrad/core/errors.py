"""The errors fgrad raises on purpose.

Each one is written for the person who will read it: it says what happened, with
which primitive, shapes and dtypes, and what to do instead. They subclass the
built-in exception a NumPy user would expect (``TypeError``/``ValueError``), so
``except TypeError`` keeps working.
"""

from __future__ import annotations


class FgradError(Exception):
    """Base class of every error fgrad raises deliberately."""


class ShapeError(FgradError, ValueError, TypeError):
    """A primitive received shapes it cannot combine.

    A ``ValueError`` as NumPy raises for such shapes, and a ``TypeError`` as JAX does
    (shapes are part of a JAX type), so ``except`` clauses written for either catch it."""


class DtypeError(FgradError, TypeError):
    """A primitive or transform received a dtype it cannot work with."""


class TracerArrayConversionError(FgradError, TypeError):
    """A traced value was handed to plain NumPy, which needs concrete numbers."""


class ConcretizationError(FgradError, TypeError):
    """Python needed a concrete value (``if``, ``float()``) of an abstract tracer."""


class ImmutableArrayError(FgradError, TypeError):
    """In-place assignment on a traced value."""


class EscapedTracerError(FgradError, RuntimeError):
    """A tracer outlived the transform that created it."""


class TransformError(FgradError, TypeError):
    """A transform was called with arguments or a function output it cannot handle."""


class UnboundAxisNameError(FgradError, NameError):
    """A collective names an axis that no enclosing ``vmap`` or ``distributed.spmd`` binds."""


class RetraceWarning(UserWarning):
    """One jitted function has been traced and compiled many times (``docs/jit.md``)."""


class OptimizerStateError(FgradError, TypeError, ValueError):
    """An optimiser's ``update`` was given a state its own ``init`` did not make.

    A ``TypeError`` (the state is of the wrong kind) and, as the length check of
    ``fgrad.optim.chain`` always raised, a ``ValueError``."""


class CheckpointError(FgradError, ValueError):
    """A checkpoint file is damaged, was not written by ``fgrad.io.save``, or does not
    match the template it is loaded into (``fgrad.io``)."""
