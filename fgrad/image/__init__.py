"""``fgrad.image``: ``jax.image``'s ``resize`` and ``scale_and_translate``, differentiable.

See :mod:`fgrad.image.resize`.
"""

from fgrad.core.source_info import public_api as _public_api
from fgrad.image.resize import ResizeMethod, resize, scale_and_translate

__all__ = ["ResizeMethod", "resize", "scale_and_translate"]

_public_api(globals(), ["resize", "scale_and_translate"])
