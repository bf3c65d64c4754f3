"""``fgrad.experimental``: the few names of ``jax.experimental`` that fgrad has.

:func:`io_callback` (from :mod:`fgrad.callbacks`). Any other name is an
``AttributeError`` saying where fgrad keeps its counterpart, if it has one
(``missing_names.EXPERIMENTAL``).
"""

from fgrad.callbacks import io_callback
from fgrad.core import missing_names as _missing_names
from fgrad.core.source_info import public_api as _public_api

__all__ = ["io_callback"]


def __getattr__(name: str):
    raise _missing_names.missing("fgrad.experimental", name, _missing_names.EXPERIMENTAL)


_public_api(globals(), __all__)  # errors from eager calls start at the user's line
