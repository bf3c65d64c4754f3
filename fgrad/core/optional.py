"""Whether an optional dependency (numba, SciPy, ...) is installed.

Looked up once per name with ``importlib.util.find_spec``, which finds the package without
importing it, so asking costs ``import fgrad`` nothing.
"""

from __future__ import annotations

import functools
import importlib.util


@functools.cache
def installed(name: str) -> bool:
    """Whether the top-level package ``name`` can be imported.

    Parameters
    ----------
    name
        A top-level package name, e.g. ``"numba"``.

    Returns
    -------
    bool
        True where ``import name`` would find the package.
    """
    return importlib.util.find_spec(name) is not None
