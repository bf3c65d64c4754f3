"""``fgrad.ad_checkpoint``: rematerialisation under JAX's module name (``jax.ad_checkpoint``):
:func:`checkpoint` (also ``fgrad.checkpoint`` / ``fgrad.remat``), :func:`checkpoint_name`
and ``checkpoint_policies``. See :mod:`fgrad.transforms.checkpoint`."""

from fgrad.core.source_info import public_api
from fgrad.transforms import checkpoint_policies
from fgrad.transforms.checkpoint import checkpoint, checkpoint_name, remat

__all__ = ["checkpoint", "checkpoint_name", "checkpoint_policies", "remat"]

public_api(globals(), __all__)  # errors from eager calls start at the user's line
