"""``fgrad.experimental``: the few names of ``jax.experimental`` that fgrad has.

:func:`io_callback` (from :mod:`fgrad.callbacks`) and :mod:`checkify` (functional
error checks, ``from fgrad.experimental import checkify``). Any other name is an
``AttributeError`` saying where fgrad keeps its counterpart, if it has one
(``missing_names.EXPERIMENTAL``).
"""

import importlib as _importlib

from fgrad.callbacks import io_callback
from fgrad.core import missing_names as _missing_names
from fgrad.core.source_info import public_api as _public_api

__all__ = ["io_callback"]


def __getattr__(name: str):
    if name == "checkify":  # loaded on first use, as JAX programs import it
        return _importlib.import_module(f"{__name__}.checkify")
    raise _missing_names.missing("fgrad.experimental", name, _missing_names.EXPERIMENTAL)


_public_api(globals(), __all__)  # errors from eager calls start at the user's line
