"""The primitives: the only operations with derivative rules.

One module per family; each primitive sits in one block with its impl,
abstract-eval, jvp and vjp rules. Importing this package registers them all in
:data:`fgrad.core.primitive.registry`. The families import only the kernel
and families below them: :mod:`~fgrad.primitives.structural` (``broadcast_to``,
``reshape``, ``transpose``, ``reduce_sum`` and the batch-axis helpers) is the
base of all others, so no import order matters here.
"""

from fgrad.primitives import (
    collectives,
    conv,
    dot_general,
    elementwise,
    factorizations,
    fft,
    indexing,
    linalg,
    reductions,
    special,
    structural,
    tiles,
    windows,
)

__all__ = [
    "structural",
    "elementwise",
    "reductions",
    "dot_general",
    "indexing",
    "linalg",
    "factorizations",
    "fft",
    "special",
    "conv",
    "windows",
    "tiles",
    "collectives",
]
