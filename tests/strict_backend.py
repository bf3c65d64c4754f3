"""A strict stand-in for CuPy, so that backend bugs fail on a CPU-only machine.

``StrictArray`` wraps a NumPy array and behaves like a CuPy array where it
matters to fgrad: NumPy's ufuncs and array functions dispatch to it
(``__array_ufunc__``, ``__array_function__``); it refuses implicit conversion to
NumPy (``__array__`` raises, as ``cupy.ndarray`` does); it refuses to mix with
``numpy.ndarray`` operands (scalars are fine); binary operators defer to
operands of higher ``__array_priority__`` (fgrad's tracers). Any fgrad code
that sneaks a host array into a computation on such arrays fails here.

``NAMESPACE`` plays the role of the ``cupy`` module (creation functions), and
``BACKEND`` registers it with fgrad as the device ``"strict"``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np

import fgrad
from fgrad.core.backend import Backend, register_backend, unregister_backend


class MixedBackendError(TypeError):
    """A NumPy array met a StrictArray (CuPy raises TypeError here too)."""


def _unwrap(x):
    if isinstance(x, StrictArray):
        return x._data
    if isinstance(x, np.ndarray):
        raise MixedBackendError(
            f"StrictArray refuses to operate with a numpy.ndarray of shape {x.shape}: "
            "a host array leaked into a computation on another backend"
        )
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, np.generic):  # CuPy returns 0-d arrays, never NumPy scalars
        return StrictArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _index(idx):
    """Indices may hold NumPy integer arrays (CuPy copies those to the device)."""
    if isinstance(idx, tuple):
        return tuple(_index(i) for i in idx)
    return idx._data if isinstance(idx, StrictArray) else idx


class StrictArray:
    """A NumPy array in disguise that behaves like a device array."""

    __slots__ = ("_data",)
    __array_priority__ = 100  # below fgrad's tracers, so they handle mixed operators

    def __init__(self, data: np.ndarray):
        if not isinstance(data, np.ndarray):
            raise TypeError(f"StrictArray wraps numpy arrays, got {type(data).__name__}")
        self._data = data

    # -- what fgrad reads ------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    T = property(lambda self: StrictArray(self._data.T))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"StrictArray({self._data!r})"

    def get(self) -> np.ndarray:
        """A host copy, as ``cupy.ndarray.get``."""
        return self._data.copy()

    def copy(self) -> StrictArray:
        return StrictArray(self._data.copy())

    def astype(self, dtype) -> StrictArray:
        return StrictArray(self._data.astype(dtype))

    def reshape(self, *shape) -> StrictArray:
        return StrictArray(self._data.reshape(*shape))

    def view(self, dtype) -> StrictArray:
        """The bits read as ``dtype`` (``cupy.ndarray.view``)."""
        return StrictArray(self._data.view(dtype))

    flags = property(lambda self: self._data.flags)

    def transpose(self, *axes) -> StrictArray:
        return StrictArray(self._data.transpose(*axes))

    def sum(self, axis=None, keepdims=False):
        return np.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return np.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return np.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return np.min(self, axis=axis, keepdims=keepdims)

    def item(self):
        return self._data.item()

    def __float__(self) -> float:
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __getitem__(self, idx):
        return _wrap(self._data[_index(idx)])

    def __setitem__(self, idx, value):
        self._data[_index(idx)] = _unwrap(value)

    # -- refusals -----------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "Implicit conversion of a StrictArray to a NumPy array is not allowed "
            "(CuPy refuses it too); use .get() or fgrad.device_get"
        )

    # -- NumPy's dispatch protocols --------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "at":  # ufunc.at(a, indices, b): a is modified in place
            a, indices, *rest = inputs
            getattr(ufunc, method)(_unwrap(a), _index(indices), *_unwrap(rest))
            return None
        for x in inputs:
            if not isinstance(x, (StrictArray, np.ndarray, np.generic, int, float, bool, complex)):
                return NotImplemented
        return _wrap(getattr(ufunc, method)(*_unwrap(list(inputs)), **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        if not all(issubclass(t, (StrictArray, np.ndarray)) for t in types):
            return NotImplemented
        args = tuple(_unwrap(list(args)))
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        return _wrap(func(*args, **kwargs))


def _operator(ufunc, reflected: bool = False):
    def op(self, other):
        if not isinstance(other, (StrictArray, np.ndarray, np.generic, int, float, bool, complex)):
            if getattr(other, "__array_priority__", 0) > self.__array_priority__:
                return NotImplemented
        return ufunc(other, self) if reflected else ufunc(self, other)

    return op


for _name, _ufunc in {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "truediv": np.true_divide,
    "pow": np.power,
    "matmul": np.matmul,
    "floordiv": np.floor_divide,
    "mod": np.remainder,
    "and": np.bitwise_and,  # CuPy's operators, as NumPy's, are bitwise
    "or": np.bitwise_or,
    "xor": np.bitwise_xor,
    "lshift": np.left_shift,
    "rshift": np.right_shift,
}.items():
    setattr(StrictArray, f"__{_name}__", _operator(_ufunc))
    setattr(StrictArray, f"__r{_name}__", _operator(_ufunc, reflected=True))
for _name, _ufunc in {
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
}.items():
    setattr(StrictArray, f"__{_name}__", _operator(_ufunc))
StrictArray.__neg__ = lambda self: np.negative(self)
StrictArray.__abs__ = lambda self: np.absolute(self)
StrictArray.__invert__ = lambda self: np.logical_not(self)
StrictArray.__hash__ = None  # type: ignore[assignment]


def _creation(fn):
    def create(*args, **kwargs):
        return StrictArray(np.asarray(fn(*args, **kwargs)))

    return create


def _asarray(x, dtype=None):
    if isinstance(x, StrictArray):
        return x if dtype is None else x.astype(dtype)
    return StrictArray(np.array(x, dtype=dtype))  # an explicit host-to-device copy


def _on_data(fn):
    """A submodule function (``cupy.fft.fft``, ``cupy.linalg.solve``) on StrictArrays only."""

    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(list(args)), **{k: _unwrap(v) for k, v in kwargs.items()}))

    return call


def _submodule(module, names):
    return SimpleNamespace(**{name: _on_data(getattr(module, name)) for name in names})


NAMESPACE = SimpleNamespace(
    __name__="strict",
    asarray=_asarray,
    fft=_submodule(np.fft, ["fftn", "ifftn", "rfftn", "irfftn"]),
    linalg=_submodule(
        np.linalg, ["solve", "det", "slogdet", "cholesky", "eigh", "eig", "svd", "qr"]
    ),
    **{
        name: _creation(getattr(np, name))
        for name in ("zeros", "ones", "empty", "full", "arange", "linspace", "eye", "identity")
    },
)

BACKEND = Backend(
    name="strict",
    owns=lambda x: isinstance(x, StrictArray),
    load=lambda: NAMESPACE,
    to_host=lambda x: x.get(),
    from_host=lambda x: StrictArray(np.array(x)),
)


@contextlib.contextmanager
def registered() -> Iterator[Backend]:
    """``BACKEND`` registered for the block, and left registered after it if it was before.

    ``tests/test_backends.py`` registers it for its whole module, and pytest-xdist runs
    other files' tests between that module's: a test that unregistered it outright would
    take the device away from the test_backends tests its worker runs next.
    """
    already = BACKEND.name in fgrad.devices()
    register_backend(BACKEND)
    try:
        yield BACKEND
    finally:
        if not already:
            unregister_backend(BACKEND.name)


__all__ = ["BACKEND", "NAMESPACE", "MixedBackendError", "StrictArray", "registered"]
