"""A warning when a NumPy random generator is drawn from while ``jit`` traces.

``np.random.normal()`` (or ``rng.normal()``) inside a jitted function runs once, at
trace time, and its value is frozen into the compiled replay as a constant: every
later call returns the same "random" numbers. ``jit`` cannot see a draw, but it
can see its trace: a generator has a different state after tracing. The check
compares, before and after tracing, the state of

* NumPy's global generator (``np.random.get_bit_generator()``, behind
  ``np.random.normal`` and friends), by the raw bytes of its MT19937 state (about
  a microsecond);
* every ``np.random.Generator`` or ``RandomState`` the traced function names
  directly: a global it reads or a variable it closes over (``rng = np.random.
  default_rng(0)`` at the top of a script or notebook).

It cannot false-alarm in a single-threaded program: a state only changes when
something draws from it, and everything that ran in between was the trace. With
several threads alive another thread may be drawing, so it stays silent. It does
not see a generator reached only through other functions, attributes or
arguments, nor a legacy ``normal()`` served from its cached second value;
``docs/random.md`` documents the trap.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import warnings
from collections.abc import Callable, Iterator

import numpy as np

# MT19937's C state: 624 uint32 words and the position in them
_MT19937_STATE_BYTES = 624 * 4 + 4


class FrozenRandomWarning(UserWarning):
    """A NumPy random generator was drawn from while ``jit`` traced a function."""


def _named_generators(fun: Callable) -> list:
    """The generators ``fun`` reads as globals or closes over."""
    code = getattr(fun, "__code__", None)
    if code is None:
        return []
    candidates = [fun.__globals__.get(name) for name in code.co_names]
    candidates += [cell.cell_contents for cell in fun.__closure__ or () if _filled(cell)]
    # np.random is read here, not at import: NumPy loads it on first use (8 ms)
    generators = (np.random.Generator, np.random.RandomState)
    return [g for g in candidates if isinstance(g, generators)]


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _state(generator) -> object:
    if isinstance(generator, np.random.RandomState):
        return generator.get_state(legacy=False)
    return generator.bit_generator.state


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _snapshot(generators: list) -> tuple | None:
    if threading.active_count() > 1:
        return None
    global_generator = np.random.get_bit_generator()
    raw = None
    if type(global_generator) is np.random.MT19937:
        raw = ctypes.string_at(global_generator.ctypes.state_address, _MT19937_STATE_BYTES)
    return raw, [_state(g) for g in generators]


@contextlib.contextmanager
def warn_on_numpy_draws(fun: Callable) -> Iterator[None]:
    """Warn (``FrozenRandomWarning``) if the body draws from a NumPy generator ``fun`` uses."""
    generators = _named_generators(fun)
    before = _snapshot(generators)
    yield
    after = _snapshot(generators)
    if before is None or after is None:
        return
    drawn = before[0] != after[0] or not all(map(_same, before[1], after[1]))
    if drawn:
        warnings.warn(
            f"jit({getattr(fun, '__name__', 'function')}): a NumPy random generator was drawn "
            "from while tracing, so the numbers drawn are now constants of the compiled "
            "function: every call returns the same ones. Draw with fgrad.random inside jit "
            "(pass a key in: x = fgrad.random.normal(key, shape)), or draw outside and pass "
            "the values in.",
            FrozenRandomWarning,
            stacklevel=5,
        )
