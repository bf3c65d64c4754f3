"""JAX's private module paths that JAX's own tutorials import (``jax._src.api``,
``jax._src.lax.lax``), here as fgrad's public modules under those names, so that the
tutorials run with ``jax`` renamed to ``fgrad``. Code written for fgrad imports
``fgrad`` and ``fgrad.lax`` instead.
"""
