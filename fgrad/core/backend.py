"""Backends: the array library that computes is chosen by the data, never by a switch.

Primitive impls call NumPy's functions, which hand CuPy arrays to CuPy through
NumPy's dispatch protocols (``__array_ufunc__``, ``__array_function__``). What
remains for fgrad is to *create* arrays where the data lives: the seed
cotangent of ``grad``, zero cotangents, constants inside rules, and the arrays
``fgrad.numpy`` creates inside a transformed function. The helpers here do
that: :func:`zeros` and friends with ``like=`` an existing array, and a
per-thread *default device* that each transform sets from its inputs, so that
``fnp.zeros(3)`` inside ``grad`` of a function of GPU arrays is a GPU array.

CuPy is imported only when a CuPy array is seen or a GPU is asked for. Mixing
arrays of two backends in one operation is an error that names both and points
to :func:`device_put`; nothing is copied between host and device unless the
user asks.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from fgrad.core.errors import FgradError
from fgrad.core.pytree import tree_leaves, tree_map
from fgrad.core.tracer import Tracer


class BackendError(FgradError, TypeError):
    """Arrays of different backends met, or a backend is not available."""


@dataclass(frozen=True)
class Backend:
    """An array library fgrad can compute with.

    Attributes
    ----------
    name
        The device name users pass to :func:`device_put` (``"cpu"``, ``"gpu"``).
    owns
        ``owns(x)`` tells whether ``x`` is one of this backend's arrays. It must
        not import the library: it is asked about every array fgrad creates
        constants for.
    load
        Imports and returns the library's NumPy-like namespace module.
    to_host, from_host
        Copy an array of this backend to a NumPy array, and back.
    synchronize
        ``synchronize(x)`` waits until the work that computes ``x`` is done (a stream
        sync on a GPU; nothing where computation is synchronous, as on NumPy).
    """

    name: str
    owns: Callable[[object], bool]
    load: Callable[[], ModuleType]
    to_host: Callable[[object], np.ndarray]
    from_host: Callable[[np.ndarray], object]
    synchronize: Callable[[object], None] = lambda x: None

    @property
    def xp(self) -> ModuleType:
        return self.load()


def _cupy() -> ModuleType:
    try:
        return importlib.import_module("cupy")
    except ImportError as err:
        raise BackendError(
            "the GPU backend needs CuPy, which is not installed; install it with "
            "`pip install 'fgrad[cuda]'` (or the cupy-cudaXX wheel matching your CUDA)"
        ) from err


def _owned_by_cupy(x) -> bool:
    return type(x).__module__.startswith("cupy") and "cupy" in sys.modules


CPU = Backend("cpu", lambda x: True, lambda: np, np.asarray, lambda x: x)
GPU = Backend(
    "gpu",
    _owned_by_cupy,
    _cupy,
    lambda x: _cupy().asnumpy(x),
    lambda x: _cupy().asarray(x),
    lambda x: x.device.synchronize(),
)

#: non-NumPy backends, asked in order; NumPy is the fallback for everything else
_backends: dict[str, Backend] = {"gpu": GPU}


def register_backend(backend: Backend) -> None:
    """Make another array library available as a device (e.g. a strict test backend)."""
    if backend.name == "cpu":
        raise ValueError("the name 'cpu' is NumPy's")
    _backends[backend.name] = backend


def unregister_backend(name: str) -> None:
    _backends.pop(name, None)


def is_device_array(x) -> bool:
    """Whether ``x`` is an array of a non-NumPy backend (a CuPy array, ...)."""
    return any(b.owns(x) for b in _backends.values())


def _data(x):
    """The array behind ``x``: tracers are looked through to their values."""
    while isinstance(x, Tracer):
        below = x.value_below()
        if below is None:  # abstract: the trace remembers its inputs' backend
            return getattr(x._trace, "device", None) or CPU
        x = below
    return x


def backend_of(x) -> Backend:
    """The backend of an array, NumPy scalar or tracer.

    Python scalars belong to no device: for them this is the default device, so
    that zeros "like" a scalar argument land where the computation happens.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        return CPU
    if isinstance(x, (int, float, complex, bool)):
        return default_backend()
    x = _data(x)
    if isinstance(x, Backend):
        return x
    for backend in _backends.values():
        if backend.owns(x):
            return backend
    return CPU


def common_backend(values, what: str = "these arrays") -> Backend:
    """The one backend of ``values`` (Python scalars fit any); an error if they mix."""
    if type(values) in (list, tuple) and values and all(type(v) is np.ndarray for v in values):
        return CPU  # the common case, checked quickly
    found: dict[str, Backend] = {}
    for v in values:
        if isinstance(v, (int, float, complex, bool, np.generic)):
            continue
        b = backend_of(v)
        found.setdefault(b.name, b)
    if len(found) > 1:
        names = " and ".join(f"'{n}'" for n in found)
        raise BackendError(
            f"{what} live on different devices ({names}). fgrad never copies between host "
            "and device implicitly: move them to one device first, e.g. "
            "fgrad.device_put(x, 'gpu') or fgrad.device_get(x) for NumPy."
        )
    return next(iter(found.values()), default_backend())


# -- the default device ---------------------------------------------------------------

_local = threading.local()


def default_backend() -> Backend:
    """Where arrays created without a ``like`` go: the innermost transform's inputs' device."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else CPU


class on_device:  # noqa: N801 - used like a function: ``with on_device(gpu):``
    """Within the block, create arrays on ``backend`` (the block's value).

    A class rather than a generator-based context manager: every transform call
    enters one, and this costs a fraction of the generator machinery.
    """

    __slots__ = ("backend",)

    def __init__(self, backend: Backend):
        self.backend = backend

    def __enter__(self) -> Backend:
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(self.backend)
        return self.backend

    def __exit__(self, *exc) -> None:
        _local.stack.pop()


def default_device_of(values) -> on_device:
    """Within the block, create arrays on the backend of ``values`` (their common one)."""
    return on_device(common_backend(values, "the inputs of this transform"))


# -- creating arrays where the data is --------------------------------------------------


def namespace(like=None) -> ModuleType:
    """The array namespace of ``like``, or of the default device."""
    return (default_backend() if like is None else backend_of(like)).xp


def zeros(shape, dtype, like=None):
    """``zeros(shape, dtype)`` on the backend of ``like`` (or the default device)."""
    return namespace(like).zeros(shape, dtype)


def ones(shape, dtype, like=None):
    return namespace(like).ones(shape, dtype)


def full(shape, value, dtype, like=None):
    return namespace(like).full(shape, value, dtype)


def asarray(x, dtype=None, like=None):
    """``x`` as an array of the backend of ``like``; host data is copied there explicitly."""
    backend = default_backend() if like is None else backend_of(like)
    if backend is CPU or backend.owns(x):
        return backend.xp.asarray(x, dtype=dtype)
    return backend.from_host(np.asarray(x, dtype=dtype))


def scatter_add(out, index: tuple, values) -> None:
    """``out[index] += values`` in place, accumulating repeated indices (``numpy.add.at``).

    CuPy's ufuncs have no ``.at`` method; ``cupyx.scatter_add`` does the same there.
    """
    if backend_of(out) is GPU:
        importlib.import_module("cupyx").scatter_add(out, index, values)
    else:
        np.add.at(out, index, values)


# -- moving data -----------------------------------------------------------------------


def get_backend(device) -> Backend:
    """The backend for a device name (``"cpu"``, ``"gpu"``) or a CuPy device object."""
    if isinstance(device, Backend):
        return device
    if isinstance(device, str):
        name = device.split(":")[0].lower()
        if name in ("cpu", "numpy", "host"):
            return CPU
        if name in ("gpu", "cuda"):
            return GPU
        if name in _backends:
            return _backends[name]
        raise ValueError(f"unknown device {device!r}; choose from {devices()}")
    if type(device).__module__.startswith("cupy"):
        return GPU
    raise TypeError(f"device must be a name like 'cpu' or 'gpu' or a CuPy device, got {device!r}")


def devices() -> list[str]:
    """The devices fgrad can compute on here: ``"cpu"``, and ``"gpu"`` when CuPy sees one."""
    names = ["cpu"]
    try:
        cupy = importlib.import_module("cupy")
        if cupy.cuda.runtime.getDeviceCount() > 0:
            names.append("gpu")
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: no GPU
        pass
    names += [n for n in _backends if n != "gpu"]
    return names


# -- the configured default device (fgrad.config's jax_default_device / jax_platforms) --

_configured: Backend = CPU


def set_default_device(device: Backend | None, check_available: bool = False) -> None:
    """Make ``device`` (``None``: the CPU) where :func:`device_put` puts arrays by default.

    With ``check_available``, a GPU without CuPy is an error now rather than later.
    """
    global _configured
    device = CPU if device is None else device
    if check_available and device is GPU:
        _cupy()
    _configured = device


def platform() -> str:
    """The name of the default device (``"cpu"`` unless set, see ``docs/config.md``)."""
    return _configured.name


def local_devices(process_index: int | None = None, backend: str | None = None) -> list[str]:
    """The devices this process computes on: one, the default device (or ``backend``).

    As ``jax.local_devices``; fgrad names devices by strings, so the result is a
    list of one name (``["cpu"]``), usable as ``device_put``'s ``device``.
    """
    return [platform() if backend is None else get_backend(backend).name]


def device_count() -> int:
    """How many devices of the default platform fgrad computes on: always one."""
    return 1


def device_put(tree, device=None):
    """Copy every array of a pytree to ``device`` (``"cpu"``, ``"gpu"``, or a CuPy device).

    Parameters
    ----------
    tree
        A pytree of arrays (NumPy, CuPy) and scalars.
    device
        Where the arrays should live. ``None`` means the default device: the CPU,
        unless ``fgrad.config.update("jax_default_device", "gpu")`` (or
        ``jax_platform_name``) chose another. Arrays already there are returned as
        they are; Python scalars are left alone (they adapt to any device).

    Returns
    -------
    The same pytree with its arrays on ``device``.
    """
    target = _configured if device is None else get_backend(device)
    if target is GPU:
        _cupy()  # a clear error when CuPy is missing

    def put(x):
        if isinstance(x, (int, float, complex, bool)):
            return x
        source = backend_of(x)
        if source is target:
            return x
        host = source.to_host(x) if source is not CPU else np.asarray(x)
        return target.from_host(host)

    return tree_map(put, tree)


def device_get(tree):
    """Copy every array of a pytree to host memory as NumPy arrays."""
    return device_put(tree, "cpu")


def block_until_ready(tree):
    """Wait until every array of ``tree`` is computed; return ``tree``.

    NumPy computes synchronously, so on the CPU this returns at once; CuPy queues
    work on a stream, and this waits for it (time GPU code with it). fgrad's
    results outside transforms are plain NumPy or CuPy arrays, which have no
    ``.block_until_ready()`` method: ``fgrad.block_until_ready(x)`` is the
    spelling that works everywhere. Tracers are returned as they are.
    """
    for x in tree_leaves(tree):
        if not isinstance(x, (Tracer, np.ndarray, np.generic, int, float, complex, bool)):
            backend_of(x).synchronize(x)
    return tree
