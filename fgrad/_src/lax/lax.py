"""``jax._src.lax.lax``: ``fgrad.lax``'s operations."""

from fgrad.lax import *  # noqa: F403
from fgrad.lax import __all__  # noqa: F401
