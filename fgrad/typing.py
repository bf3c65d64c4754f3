"""``fgrad.typing``: the type aliases of ``jax.typing``, for annotating functions.

``ArrayLike`` is what fgrad's functions accept as an array (NumPy arrays and scalars,
traced values, Python numbers); ``DTypeLike`` what they accept as a dtype. Both are
annotations only: fgrad checks values, not annotations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fgrad.core.array_type import Array

#: an array or a value fgrad converts to one: ``fgrad.Array`` (NumPy and CuPy arrays,
#: traced values), NumPy scalars and Python numbers
ArrayLike = Array | np.ndarray | np.generic | bool | int | float | complex

#: a dtype or a value NumPy reads as one: ``np.float32``, ``"float32"``, ``np.dtype``,
#: Python's ``float``, or an object with a ``dtype`` attribute
DTypeLike = str | type[Any] | np.dtype | Any

__all__ = ["ArrayLike", "DTypeLike"]
