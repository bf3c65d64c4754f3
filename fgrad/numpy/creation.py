"""Array creation: ``array``, ``zeros``, ``ones``, ``full``, ``*_like``, ``arange``, ``eye``, ...

Created arrays are constants: plain backend arrays, never tracers, so they
cost nothing to differentiate. They are created on the device of the current
transform's inputs (so constants meet GPU data on the GPU), on ``device=``
when given, or on ``like``'s device (NumPy's ``like=`` argument). The
exceptions are ``array`` of traced values (a list of tracers is stacked) and
``full`` with a traced fill value. ``asarray`` and ``astype`` are in
:mod:`fgrad.numpy.conversion`, ranges from traced bounds (``linspace``, ...) in
:mod:`fgrad.numpy.ranges`.
"""

from __future__ import annotations

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import PYTHON_SCALARS
from fgrad.core.errors import ConcretizationError
from fgrad.core.tracer import Tracer
from fgrad.numpy.conversion import as_array, asarray, astype, contains_tracer
from fgrad.primitives.structural import broadcast_to, reshape


def array(object, dtype=None, copy: bool = True, ndmin: int = 0, *, device=None):  # noqa: A002
    """NumPy's ``array``; lists that contain traced values are stacked into one traced array."""
    if contains_tracer(object):
        out = asarray(object, dtype)
        if out.ndim < ndmin:
            out = reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
        return out
    out = asarray(object, dtype, device=device)
    if copy and out is object:
        out = out.copy()
    return out if out.ndim >= ndmin else reshape(out, (1,) * (ndmin - out.ndim) + out.shape)


def array_namespace(device, like):
    """Where a new array goes: ``like``'s backend, ``device``, or the current transform's."""
    if like is not None:
        return backend.namespace(like)
    if device is not None:
        return backend.get_backend(device).xp
    return backend.default_backend().xp


def zeros(shape, dtype=float, order="C", *, device=None, like=None):
    """An array of zeros, on ``device`` (default: the current transform's inputs' device)."""
    try:
        return array_namespace(device, like).zeros(shape, dtype)
    except TypeError:
        _refuse_traced_sizes("zeros", shape)
        raise


def ones(shape, dtype=float, order="C", *, device=None, like=None):
    """An array of ones, on ``device`` (default: the current transform's inputs' device)."""
    try:
        return array_namespace(device, like).ones(shape, dtype)
    except TypeError:
        _refuse_traced_sizes("ones", shape)
        raise


def empty(shape, dtype=float, order="C", *, device=None, like=None):
    """An uninitialised array, on ``device`` (default: the current transform's device)."""
    try:
        return array_namespace(device, like).empty(shape, dtype)
    except TypeError:
        _refuse_traced_sizes("empty", shape)
        raise


def full(shape, fill_value, dtype=None, order="C", *, device=None, like=None):
    """An array filled with ``fill_value``; a traced fill value gives a traced array."""
    if isinstance(fill_value, Tracer):
        value = fill_value if dtype is None else astype(fill_value, dtype)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return broadcast_to(value, shape)
    try:
        return array_namespace(device, like).full(shape, fill_value, dtype)
    except TypeError:
        _refuse_traced_sizes("full", shape)
        raise


def _refuse_traced_sizes(name: str, sizes) -> None:
    """After NumPy refused ``sizes``: a ConcretizationError if a traced value is among them
    (an array's size must be known when the function is traced)."""
    flat = sizes if isinstance(sizes, (tuple, list)) else (sizes,)
    traced = [x for x in flat if isinstance(x, Tracer)]
    if traced:
        t = traced[0]
        raise ConcretizationError(
            f"fnp.{name}: the size of the new array is a traced {t.aval.str_short()} (being "
            f"traced by {t._trace.name}), but array sizes must be known when the function "
            "is traced: under jit every array's shape is fixed by the trace. Make the "
            "argument it comes from static: fgrad.jit(f, static_argnums=<its position>) or "
            "static_argnames=<its name> (each new value traces the function again), or "
            "take the size from an array's .shape, which is always known."
        ) from None


def _like_shape_dtype(a, dtype, shape):
    a = as_array(a) if not isinstance(a, PYTHON_SCALARS) else np.asarray(a)
    return (a.shape if shape is None else shape), (a.dtype if dtype is None else dtype)


# ``order`` and ``subok`` are NumPy's memory layout and subclass choices: accepted, and
# without effect, since fgrad's arrays have neither.


def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """Zeros with ``a``'s shape and dtype, on ``a``'s device (a constant, even for traced ``a``)."""
    return zeros(*_like_shape_dtype(a, dtype, shape), device=device, like=a)


def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """Ones with ``a``'s shape and dtype, on ``a``'s device."""
    return ones(*_like_shape_dtype(a, dtype, shape), device=device, like=a)


def empty_like(prototype, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """An uninitialised array with ``prototype``'s shape and dtype, on its device."""
    return empty(*_like_shape_dtype(prototype, dtype, shape), device=device, like=prototype)


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """``fill_value`` everywhere, with ``a``'s shape and dtype, on ``a``'s device."""
    shape, dtype = _like_shape_dtype(a, dtype, shape)
    return full(shape, fill_value, dtype, device=device, like=a)


def arange(*args, dtype=None, device=None, like=None, **bounds):
    """Evenly spaced values (``numpy.arange``), on ``device``; as in NumPy, ``start``,
    ``stop`` and ``step`` may also be passed by keyword (``bounds``)."""
    try:
        return array_namespace(device, like).arange(*args, dtype=dtype, **bounds)
    except TypeError:
        _refuse_traced_sizes("arange", (*args, *bounds.values()))
        raise


def eye(
    N: int, M: int | None = None, k: int = 0, dtype=float, order="C", *, device=None, like=None
):
    """A 2-D array with ones on diagonal ``k``, on ``device``."""
    try:
        return array_namespace(device, like).eye(N, M, k, dtype)
    except TypeError:
        _refuse_traced_sizes("eye", (N, M, k))
        raise


def identity(n: int, dtype=float, *, device=None, like=None):
    """The ``n`` x ``n`` identity matrix, on ``device``."""
    try:
        return array_namespace(device, like).identity(n, dtype)
    except TypeError:
        _refuse_traced_sizes("identity", n)
        raise


__all__ = [
    "arange",
    "array",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "identity",
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
]
