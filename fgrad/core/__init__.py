"""fgrad's kernel: abstract values, traces and tracers, primitives and ``bind``, the jaxpr,
the rule tables, errors, backends, config and pytrees. It knows no primitive and no
transform (those are :mod:`fgrad.primitives` and :mod:`fgrad.transforms`, above it).

``Tracer`` is public for libraries that must tell traced values from concrete arrays
(``isinstance(x, fgrad.core.Tracer)``); ``fgrad.Array`` covers both. ``Primitive`` and
``ShapedArray`` are here under ``jax.core``'s names, for new primitives written as JAX's
(see ``docs/custom_primitives.md``).
"""

from fgrad.core.abstract import ShapedArray
from fgrad.core.primitive import Primitive
from fgrad.core.tracer import Tracer

__all__ = ["Primitive", "ShapedArray", "Tracer"]
