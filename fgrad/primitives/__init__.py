"""The primitives: the only operations with derivative rules.

One module per family; each primitive sits in one block with its impl,
abstract-eval, jvp and vjp rules. Importing this package registers them all in
:data:`fgrad.core.primitive.registry`.
"""

# reductions first: it and shape refer to each other (see shape.py)
from fgrad.primitives import reductions  # noqa: I001
from fgrad.primitives import shape, elementwise, dot_general, indexing, linalg, fft, special
from fgrad.primitives import factorizations, conv, windows, collectives

__all__ = [
    "reductions",
    "shape",
    "elementwise",
    "dot_general",
    "indexing",
    "linalg",
    "factorizations",
    "fft",
    "special",
    "conv",
    "windows",
    "collectives",
]
