"""Array creation and conversion: ``array``, ``asarray``, ``zeros``, ``ones``, ``*_like``, ...

Created arrays are constants: plain backend arrays, never tracers, so they
cost nothing to differentiate. They are created on the device of the current
transform's inputs (so constants meet GPU data on the GPU), on ``device=``
when given, or on ``like``'s device (NumPy's ``like=`` argument). The
exceptions are ``array``/``asarray`` of traced values (a list of tracers is
stacked) and ``full`` with a traced fill value.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import PYTHON_SCALARS
from fgrad.core.tracer import Tracer
from fgrad.primitives.elementwise import convert_element_type, stop_gradient
from fgrad.primitives.structural import broadcast_to, reshape
from fgrad.transforms.make_jaxpr import JaxprTracer

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
    from fgrad.numpy.manipulation import stack

    return stack(parts, axis=0)


def astype(x, dtype):
    """``x`` converted to ``dtype``; conversion to integers or bool carries no derivative."""
    dtype = np.dtype(dtype)
    x = as_array(x)  # Python scalars, traced by jit or not, become (strongly typed) arrays
    if x.dtype == dtype:
        return x
    if dtype.kind not in "fc":
        x = stop_gradient(x)
    return convert_element_type(x, dtype)


def asarray(a, dtype=None, *, device=None):
    """Convert ``a`` to an array (NumPy's ``asarray``); traced values stay traced.

    Arrays stay on their device unless ``device`` names another one (an explicit
    copy, like :func:`fgrad.device_put`); lists and scalars go to ``device``, or
    to the current transform's device.
    """
    if isinstance(a, Tracer):
        return a if dtype is None else astype(a, dtype)
    if _contains_tracer(a):
        out = _stack_nested(a)
        return out if dtype is None else astype(out, dtype)
    if device is not None:
        from fgrad.core.backend import device_put

        return device_put(backend.asarray(a, dtype, like=_backend_array(a)), device)
    if hasattr(a, "shape") and hasattr(a, "dtype"):  # an array of some backend: keep it there
        return backend.backend_of(a).xp.asarray(a, dtype=dtype)
    return backend.asarray(a, dtype)


def _backend_array(a):
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else None


def array(object, dtype=None, copy: bool = True, ndmin: int = 0, *, device=None):  # noqa: A002
    """NumPy's ``array``; lists that contain traced values are stacked into one traced array."""
    if isinstance(object, Tracer) or _contains_tracer(object):
        out = asarray(object, dtype)
        if out.ndim < ndmin:
            out = reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
        return out
    out = asarray(object, dtype, device=device)
    if copy and out is object:
        out = out.copy()
    return out if out.ndim >= ndmin else reshape(out, (1,) * (ndmin - out.ndim) + out.shape)


def as_operand(x):
    """Operands of elementwise functions: Python scalars stay weak, sequences become arrays."""
    return asarray(x) if type(x) in _SEQUENCES else x


def as_array(x):
    """Arguments that need ``.shape``/``.ndim``: arrays and tracers pass, the rest is converted.

    A weakly typed tracer (a Python scalar traced by ``jit``) is converted too, as the
    scalar itself would be, so that every primitive but the elementwise ones sees arrays.
    """
    if isinstance(x, Tracer):
        weak = x.__class__ is JaxprTracer and x.jaxpr_var.aval.weak_type  # only jit inputs are weak
        return convert_element_type(x, x.dtype) if weak else x
    if isinstance(x, np.ndarray):
        return x
    return asarray(x)


def _namespace(device, like):
    """Where a new array goes: ``like``'s backend, ``device``, or the current transform's."""
    if like is not None:
        return backend.namespace(like)
    if device is not None:
        return backend.get_backend(device).xp
    return backend.default_backend().xp


def zeros(shape, dtype=float, *, device=None, like=None):
    """An array of zeros, on ``device`` (default: the current transform's inputs' device)."""
    return _namespace(device, like).zeros(shape, dtype)


def ones(shape, dtype=float, *, device=None, like=None):
    """An array of ones, on ``device`` (default: the current transform's inputs' device)."""
    return _namespace(device, like).ones(shape, dtype)


def empty(shape, dtype=float, *, device=None, like=None):
    """An uninitialised array, on ``device`` (default: the current transform's device)."""
    return _namespace(device, like).empty(shape, dtype)


def full(shape, fill_value, dtype=None, *, device=None, like=None):
    """An array filled with ``fill_value``; a traced fill value gives a traced array."""
    if isinstance(fill_value, Tracer):
        value = fill_value if dtype is None else astype(fill_value, dtype)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return broadcast_to(value, shape)
    return _namespace(device, like).full(shape, fill_value, dtype)


def _like_shape_dtype(a, dtype, shape):
    a = as_array(a) if not isinstance(a, PYTHON_SCALARS) else np.asarray(a)
    return (a.shape if shape is None else shape), (a.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, shape=None):
    """Zeros with ``a``'s shape and dtype, on ``a``'s device (a constant, even for traced ``a``)."""
    return zeros(*_like_shape_dtype(a, dtype, shape), like=a)


def ones_like(a, dtype=None, shape=None):
    """Ones with ``a``'s shape and dtype, on ``a``'s device."""
    return ones(*_like_shape_dtype(a, dtype, shape), like=a)


def empty_like(a, dtype=None, shape=None):
    """An uninitialised array with ``a``'s shape and dtype, on ``a``'s device."""
    return empty(*_like_shape_dtype(a, dtype, shape), like=a)


def full_like(a, fill_value, dtype=None, shape=None):
    """``fill_value`` everywhere, with ``a``'s shape and dtype, on ``a``'s device."""
    shape, dtype = _like_shape_dtype(a, dtype, shape)
    return full(shape, fill_value, dtype, like=a)


def arange(*args, dtype=None, device=None, like=None):
    """Evenly spaced values (``numpy.arange``), on ``device``."""
    return _namespace(device, like).arange(*args, dtype=dtype)


def linspace(
    start,
    stop,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype=None,
    axis: int = 0,
    *,
    device=None,
):
    """``num`` evenly spaced values over ``[start, stop]`` (``numpy.linspace``), on ``device``.

    Differentiable in ``start`` and ``stop`` when they are traced (scalars or arrays).
    """
    if not (_contains_tracer(start) or _contains_tracer(stop)):
        return _namespace(device, None).linspace(
            start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype, axis=axis
        )
    from fgrad.numpy.manipulation import concatenate, moveaxis, reshape

    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = asarray(start), asarray(stop)
    float_dtype = np.result_type(start.dtype, stop.dtype, float(num))
    start, stop = astype(start, float_dtype), astype(stop, float_dtype)
    div = (num - 1) if endpoint else num
    delta = stop - start
    steps = np.arange(num, dtype=float_dtype).reshape((num,) + (1,) * delta.ndim)
    step = delta / div if div > 0 else delta * np.nan
    y = start + steps * step if div > 0 else start + steps * delta
    if endpoint and num > 1:
        y = concatenate([y[:-1], reshape(stop, (1,) + stop.shape)], axis=0)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        y = astype(y, dtype)
    return (y, step) if retstep else y


def logspace(
    start, stop, num: int = 50, endpoint: bool = True, base=10.0, dtype=None, axis: int = 0
):
    """``base ** linspace(start, stop)`` (``numpy.logspace``); differentiable in the bounds."""
    if not (_contains_tracer(start) or _contains_tracer(stop) or _contains_tracer(base)):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    y = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    out = asarray(base) ** y
    return out if dtype is None else astype(out, dtype)


def geomspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0):
    """A geometric progression from ``start`` to ``stop`` (``numpy.geomspace``), exact at
    the ends; differentiable in the (positive) bounds."""
    if not (_contains_tracer(start) or _contains_tracer(stop)):
        return np.geomspace(start, stop, num, endpoint, dtype, axis)
    from fgrad.core.tracer import known_value
    from fgrad.numpy.manipulation import concatenate, moveaxis, reshape
    from fgrad.numpy.reductions import any as any_
    from fgrad.numpy.ufuncs import exp, log, sign

    start, stop = asarray(start), asarray(stop)
    float_dtype = np.result_type(start.dtype, stop.dtype, float(num))
    start, stop = astype(start, float_dtype), astype(stop, float_dtype)  # as NumPy computes
    if known_value(any_((start == 0) | (stop == 0))):
        raise ValueError("Geometric sequence cannot include zero")
    # a progression of negative numbers is the negated one of their magnitudes
    out_sign = sign(start)
    start, stop = start / out_sign, stop / out_sign
    y = exp(linspace(log(start), log(stop), num, endpoint=endpoint))
    if num > 0:
        ends = [reshape(start, (1,) + start.shape), y[1:-1] if endpoint else y[1:]]
        if endpoint and num > 1:
            ends.append(reshape(stop, (1,) + stop.shape))
        y = concatenate(ends, axis=0) if num > 1 else reshape(start, (1,) + start.shape)
    y = y * out_sign
    if axis != 0:
        y = moveaxis(y, 0, axis)
    return y if dtype is None else astype(y, dtype)


def eye(N: int, M: int | None = None, k: int = 0, dtype=float, *, device=None, like=None):
    """A 2-D array with ones on diagonal ``k``, on ``device``."""
    return _namespace(device, like).eye(N, M, k, dtype)


def identity(n: int, dtype=float, *, device=None, like=None):
    """The ``n`` x ``n`` identity matrix, on ``device``."""
    return _namespace(device, like).identity(n, dtype)


__all__ = [
    "arange",
    "array",
    "asarray",
    "astype",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "identity",
    "geomspace",
    "linspace",
    "logspace",
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
]
