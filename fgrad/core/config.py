"""``fgrad.config``: global settings, set and read under JAX's flag names.

``fgrad.config.update("jax_disable_jit", True)`` and ``fgrad.config.jax_disable_jit``
work as in JAX for the flags that can mean something here (``jax_disable_jit``,
``jax_debug_nans``, ``jax_debug_infs``, ``jax_log_compiles``, the default device).
Flags whose JAX meaning fgrad already has (``jax_enable_x64=True``: fgrad follows
NumPy, float64 by default) or that tune XLA (matmul precision, compilation caches)
are accepted and change nothing; a value fgrad cannot honour (``jax_enable_x64=False``,
a TPU) is an error that says why. See ``docs/config.md``.

The transforms read the few flags they act on from :data:`flags`, one attribute
each, so that a flag left off costs nothing measurable.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fgrad.core import backend
from fgrad.core.errors import FgradError


class ConfigError(FgradError, ValueError):
    """An unknown flag, or a value fgrad cannot honour."""


class _Flags:
    """The flags fgrad's transforms act on, as plain attributes (read on hot paths)."""

    __slots__ = (
        "disable_jit",
        "debug_nans",
        "debug_infs",
        "log_compiles",
        "source_info",
        "explain_cache_misses",
        "fuse",
        "fuse_compile",
        "traceback_filtering",
    )

    def __init__(self) -> None:
        self.disable_jit = False
        self.debug_nans = False
        self.debug_infs = False
        self.log_compiles = False
        self.source_info = True
        self.explain_cache_misses = False
        self.fuse = "auto"
        self.fuse_compile = "sync"
        self.traceback_filtering = True


#: read by ``jit`` (disable_jit, log_compiles, explain_cache_misses, fuse), by primitive
#: evaluation (debug_nans/infs) and by tracing (source_info)
flags = _Flags()


@dataclass(frozen=True)
class _Flag:
    default: object
    check: Callable[[str, object], object]  # returns the value to store, or raises
    meaning: str  # what the flag does in fgrad, for the error listing the flags


def _boolean(name: str, value) -> bool:
    if value not in (True, False):  # 0 and 1 too, as JAX accepts
        raise ConfigError(f"{name} takes True or False, got {value!r}")
    return bool(value)


def _setting(attr: str) -> Callable[[str, object], bool]:
    def check(name: str, value) -> bool:
        value = _boolean(name, value)
        setattr(flags, attr, value)
        return value

    return check


def _enable_x64(name: str, value) -> bool:
    if not _boolean(name, value):
        raise ConfigError(
            "jax_enable_x64=False asks for JAX's 32-bit default, which fgrad does not have: "
            "fgrad follows NumPy, so arrays made from Python floats are float64 and float32 "
            "inputs stay float32. For 32-bit computation create float32 arrays "
            "(fnp.asarray(x, dtype=fnp.float32), fnp.zeros(n, fnp.float32)) and keep "
            "jax_enable_x64 at True (the default, which changes nothing)."
        )
    return True


def _choice(*allowed, enforced: tuple = (), note: str = "") -> Callable[[str, object], object]:
    """A flag taking one of ``allowed``; values outside ``enforced`` warn with ``note``."""

    def check(name: str, value):
        if value not in allowed:
            raise ConfigError(f"{name} takes one of {list(allowed)}, got {value!r}")
        if enforced and value not in enforced:
            warnings.warn(f"{name}={value!r} is recorded but not enforced: {note}", stacklevel=3)
        return value

    return check


def _fuse(name: str, value) -> str:
    if value not in ("auto", "force", "off"):
        raise ConfigError(
            f"{name} takes 'auto' (fused numba kernels for programs called repeatedly, when "
            f"numba is installed), 'force' (from the first call) or 'off', got {value!r}"
        )
    flags.fuse = value
    return value


def _fuse_compile(name: str, value) -> str:
    if value not in ("background", "async", "sync"):
        raise ConfigError(
            f"{name} takes 'background' (a subprocess compiles a program's kernels while its "
            f"first calls run on NumPy; the 9th call switches, waiting for what is left), "
            f"'async' (the first call after the compile ends switches: no call waits, but the "
            f"call, so the last bits of results, can differ between runs) or 'sync' (the "
            f"9th call compiles), got {value!r}"
        )
    flags.fuse_compile = value
    return value


def _anything(name: str, value):
    return value


def _traceback_filtering(name: str, value):
    allowed = ("auto", "off", "tracebackhide", "remove_frames", "quiet_remove_frames")
    if value not in allowed:
        raise ConfigError(f"{name} takes one of {list(allowed)}, got {value!r}")
    flags.traceback_filtering = value != "off"
    return value


def _default_device(name: str, value):
    if value is None:
        backend.set_default_device(None)
        return None
    backend.set_default_device(backend.get_backend(value), check_available=True)
    return value


_PLATFORM_NAMES = {"cpu": "cpu", "host": "cpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu"}


def _platform(name: str, value):
    """``jax_platform_name`` (one name) and ``jax_platforms`` (a comma list, first usable)."""
    names = [n.strip().lower() for n in (value or "").split(",") if n.strip()]
    if not names:
        backend.set_default_device(None)
        return value
    for n in names:
        if n not in _PLATFORM_NAMES:
            raise ConfigError(
                f"{name}={value!r}: fgrad computes on 'cpu' (NumPy) and 'gpu'/'cuda' (CuPy); "
                f"it has no {n!r} backend"
            )
    last_error = None
    for n in names:
        try:
            backend.set_default_device(backend.get_backend(_PLATFORM_NAMES[n]), True)
            return value
        except backend.BackendError as err:
            last_error = err
    raise ConfigError(f"{name}={value!r}: none of these platforms is usable: {last_error}")


_PRECISIONS = (None, "default", "high", "highest", "bfloat16", "tensorfloat32", "float32")
_NO_XLA = "fgrad runs NumPy, which has no such setting"

_FLAGS: dict[str, _Flag] = {
    "jax_enable_x64": _Flag(True, _enable_x64, "True only: fgrad is float64 by default"),
    "jax_disable_jit": _Flag(False, _setting("disable_jit"), "jit runs functions eagerly"),
    "jax_debug_nans": _Flag(
        False, _setting("debug_nans"), "an error at the first primitive that makes a NaN"
    ),
    "jax_debug_infs": _Flag(
        False, _setting("debug_infs"), "an error at the first primitive that makes an inf"
    ),
    "jax_log_compiles": _Flag(
        False, _setting("log_compiles"), "jit logs each trace (logger 'fgrad')"
    ),
    "jax_explain_cache_misses": _Flag(
        False,
        _setting("explain_cache_misses"),
        "jit logs why it traces again: the argument that changed (logger 'fgrad')",
    ),
    "fgrad_source_info": _Flag(
        True,
        _setting("source_info"),
        "make_jaxpr and jit record each equation's source line (jaxpr.pretty(source=True))",
    ),
    "fgrad_fuse": _Flag(
        "auto", _fuse, "jit's fused numba kernels: 'auto' (after repeated calls), 'force', 'off'"
    ),
    "fgrad_fuse_compile": _Flag(
        "sync",
        _fuse_compile,
        "how 'auto' compiles kernels: 'sync' (the 9th call), 'background' (a subprocess "
        "from the 2nd call; the 9th call switches), 'async' (switch once compiled: not "
        "reproducible bit for bit)",
    ),
    "jax_default_device": _Flag(None, _default_device, "where device_put(x) puts x"),
    "jax_platform_name": _Flag("", _platform, "the default device: 'cpu' or 'gpu'"),
    "jax_platforms": _Flag(None, _platform, "the default device: first usable of a list"),
    "jax_default_matmul_precision": _Flag(
        None,
        _choice(*_PRECISIONS),
        "accepted; NumPy multiplies in the arrays' own precision",
    ),
    "jax_numpy_rank_promotion": _Flag(
        "allow",
        _choice(
            "allow", "warn", "raise",
            enforced=("allow",),
            note="fgrad.numpy broadcasts as NumPy does and does not check ranks",
        ),
        "'allow' only is enforced (NumPy broadcasting)",
    ),
    "jax_numpy_dtype_promotion": _Flag(
        "standard",
        _choice(
            "standard", "strict",
            enforced=("standard",),
            note="fgrad.numpy promotes dtypes as NumPy does",
        ),
        "'standard' only is enforced (NumPy promotion)",
    ),
    "jax_check_tracer_leaks": _Flag(
        False, _boolean, "accepted; fgrad always reports escaped tracers"
    ),
    "jax_enable_checks": _Flag(False, _boolean, "accepted, no effect"),
    "jax_traceback_filtering": _Flag(
        "auto",
        _traceback_filtering,
        "'off' shows fgrad's own frames in the tracebacks of its errors (hidden otherwise)",
    ),
    "jax_compilation_cache_dir": _Flag(None, _anything, f"accepted, no effect: {_NO_XLA}"),
    "jax_persistent_cache_min_compile_time_secs": _Flag(
        1.0, _anything, f"accepted, no effect: {_NO_XLA}"
    ),
    "jax_persistent_cache_min_entry_size_bytes": _Flag(
        0, _anything, f"accepted, no effect: {_NO_XLA}"
    ),
    "jax_threefry_partitionable": _Flag(True, _boolean, "accepted, no effect (one device)"),
    "jax_num_cpu_devices": _Flag(
        -1, _anything, "accepted, no effect: fgrad computes on one device per process"
    ),
    "jax_use_shardy_partitioner": _Flag(
        False, _boolean, "accepted, no effect: fgrad has no sharding (one device)"
    ),
    "jax_remat3": _Flag(
        False, _boolean, "accepted, no effect: fgrad has one checkpoint implementation"
    ),
    "jax_default_prng_impl": _Flag(
        "threefry2x32",
        _choice("threefry2x32"),
        "'threefry2x32' only: fgrad.random's generator",
    ),
}


class Config:
    """fgrad's settings under JAX's flag names: ``update(name, value)``, ``config.<name>``."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", {n: f.default for n, f in _FLAGS.items()})

    def update(self, name: str, value) -> None:
        """Set the flag ``name`` (a JAX flag name such as ``"jax_disable_jit"``) to ``value``.

        Parameters
        ----------
        name
            One of :meth:`flag_names`. An unknown name is an error listing them.
        value
            The new value. One fgrad cannot honour (``jax_enable_x64=False``, a TPU
            platform) is an error that says what to do instead.
        """
        flag = self._flag(name)
        self._values[name] = flag.check(name, value)

    def read(self, name: str):
        """The value of the flag ``name``."""
        self._flag(name)
        return self._values[name]

    @staticmethod
    def flag_names() -> list[str]:
        """The JAX flag names fgrad accepts."""
        return sorted(_FLAGS)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.read(name)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"set flags with fgrad.config.update({name!r}, value)")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *_FLAGS]

    def __repr__(self) -> str:
        return f"fgrad.config({self._values})"

    @staticmethod
    def _flag(name: str) -> _Flag:
        flag = _FLAGS.get(name)
        if flag is None:
            listing = "\n".join(f"  {n}: {f.meaning}" for n, f in sorted(_FLAGS.items()))
            raise ConfigError(f"fgrad.config has no flag {name!r}. The flags it knows:\n{listing}")
        return flag


config = Config()


@contextlib.contextmanager
def _overriding(name: str, value) -> Iterator[None]:
    old = config.read(name)
    config.update(name, value)
    try:
        yield
    finally:
        config.update(name, old)


def disable_jit(disable: bool = True) -> contextlib.AbstractContextManager:
    """Within the block, ``jit`` runs functions eagerly (``jax_disable_jit``).

    Examples
    --------
    >>> with fgrad.disable_jit():
    ...     step(params, x)   # runs op by op: print() and breakpoints see values
    """
    return _overriding("jax_disable_jit", disable)


def default_device(device) -> contextlib.AbstractContextManager:
    """Within the block, ``device_put(x)`` puts ``x`` on ``device`` (``jax_default_device``)."""
    return _overriding("jax_default_device", device)


def debug_nans(enable: bool = True) -> contextlib.AbstractContextManager:
    """Within the block, the first primitive that makes a NaN raises ``FloatingPointError``
    naming it, its inputs and the user's line (``jax_debug_nans``; see ``docs/config.md``).

    Examples
    --------
    >>> with fgrad.debug_nans():
    ...     fgrad.grad(loss)(params)   # forward or backward: the line that made the NaN
    """
    return _overriding("jax_debug_nans", enable)


def debug_infs(enable: bool = True) -> contextlib.AbstractContextManager:
    """Within the block, the first primitive that makes an inf raises ``FloatingPointError``
    (``jax_debug_infs``), as :func:`debug_nans` does for NaNs."""
    return _overriding("jax_debug_infs", enable)
