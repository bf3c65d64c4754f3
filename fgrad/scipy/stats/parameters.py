"""How the distributions read their parameters: Python numbers stay Python numbers."""

from __future__ import annotations

import math

import numpy as np

import fgrad.numpy as fnp
from fgrad import dtypes


def log_parameter(value):
    """``log(value)``: a Python float for a Python number, so that it stays weakly typed
    and float32 data keeps float32 (``fnp.log(1)`` would be a float64 array)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.log(value) if value > 0 else (-math.inf if value == 0 else math.nan)
    return fnp.log(value)


def float_dtype(*values) -> np.dtype:
    """The promoted dtype of ``values`` (Python numbers weak), float64 if not inexact: the
    dtype a distribution with integer data (counts) computes in."""
    dtype = dtypes.result_type(*values)
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


__all__ = ["float_dtype", "log_parameter"]
