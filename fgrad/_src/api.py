"""``jax._src.api``: the transforms (``jit``, ``grad``, ``jvp``, ``vmap``, ...), which
are fgrad's top-level names."""

from fgrad import *  # noqa: F403
from fgrad import __all__  # noqa: F401
