"""Array creation and conversion: ``array``, ``asarray``, ``zeros``, ``ones``, ``*_like``, ...

Created arrays are constants: plain backend arrays, never tracers, so they
cost nothing to differentiate. The exceptions are ``array``/``asarray`` of
traced values (a list of tracers is stacked) and ``full`` with a traced fill
value.
"""

from __future__ import annotations

import numpy as np

from fgrad.core.abstract import PYTHON_SCALARS
from fgrad.core.tracer import Tracer
from fgrad.primitives.elementwise import convert_element_type, stop_gradient
from fgrad.primitives.shape import broadcast_to, reshape

_SEQUENCES = (list, tuple)


def _contains_tracer(obj) -> bool:
    if isinstance(obj, Tracer):
        return True
    if type(obj) in _SEQUENCES:
        return any(_contains_tracer(o) for o in obj)
    return False


def _stack_nested(obj):
    """``array`` of a (nested) list holding tracers: stack the leaves along new leading axes."""
    if type(obj) not in _SEQUENCES:
        return asarray(obj)
    parts = [_stack_nested(o) for o in obj]
    from fgrad.numpy_api.manipulation import stack

    return stack(parts, axis=0)


def astype(x, dtype):
    """``x`` converted to ``dtype``; conversion to integers or bool carries no derivative."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind not in "fc":
        x = stop_gradient(x)
    return convert_element_type(x, dtype)


def asarray(a, dtype=None):
    """Convert ``a`` to an array; traced values stay traced (NumPy's ``asarray``)."""
    if isinstance(a, Tracer):
        return a if dtype is None else astype(a, dtype)
    if _contains_tracer(a):
        out = _stack_nested(a)
        return out if dtype is None else astype(out, dtype)
    return np.asarray(a, dtype=dtype)


def array(object, dtype=None, copy: bool = True, ndmin: int = 0):  # noqa: A002 - NumPy's name
    """NumPy's ``array``; lists that contain traced values are stacked into one traced array."""
    if isinstance(object, Tracer) or _contains_tracer(object):
        out = asarray(object, dtype)
        if out.ndim < ndmin:
            out = reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
        return out
    return np.array(object, dtype=dtype, copy=copy, ndmin=ndmin)


def as_operand(x):
    """Operands of elementwise functions: Python scalars stay weak, sequences become arrays."""
    return asarray(x) if type(x) in _SEQUENCES else x


def as_array(x):
    """Arguments that need ``.shape``/``.ndim``: arrays and tracers pass, the rest is converted."""
    if isinstance(x, (Tracer, np.ndarray)):
        return x
    return asarray(x)


def zeros(shape, dtype=float):
    return np.zeros(shape, dtype)


def ones(shape, dtype=float):
    return np.ones(shape, dtype)


def empty(shape, dtype=float):
    return np.empty(shape, dtype)


def full(shape, fill_value, dtype=None):
    if isinstance(fill_value, Tracer):
        value = fill_value if dtype is None else astype(fill_value, dtype)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return broadcast_to(value, shape)
    return np.full(shape, fill_value, dtype)


def _like_shape_dtype(a, dtype, shape):
    a = as_array(a) if not isinstance(a, PYTHON_SCALARS) else np.asarray(a)
    return (a.shape if shape is None else shape), (a.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, shape=None):
    return np.zeros(*_like_shape_dtype(a, dtype, shape))


def ones_like(a, dtype=None, shape=None):
    return np.ones(*_like_shape_dtype(a, dtype, shape))


def empty_like(a, dtype=None, shape=None):
    return np.empty(*_like_shape_dtype(a, dtype, shape))


def full_like(a, fill_value, dtype=None, shape=None):
    shape, dtype = _like_shape_dtype(a, dtype, shape)
    return full(shape, fill_value, dtype)


def arange(*args, **kwargs):
    return np.arange(*args, **kwargs)


def linspace(
    start,
    stop,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype=None,
    axis: int = 0,
):
    return np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype, axis=axis)


def eye(N: int, M: int | None = None, k: int = 0, dtype=float):
    return np.eye(N, M, k, dtype)


def identity(n: int, dtype=float):
    return np.identity(n, dtype)
