"""fgrad's core: tracing, the transforms and their rule registries.

``Tracer`` is public for libraries that must tell traced values from concrete arrays
(``isinstance(x, fgrad.core.Tracer)``); ``fgrad.Array`` covers both.
"""

from fgrad.core.tracer import Tracer

__all__ = ["Tracer"]
