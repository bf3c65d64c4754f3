"""``jax._src.lax``: see :mod:`fgrad._src.lax.lax`."""
