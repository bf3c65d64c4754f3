"""A warning when NumPy's global random state is drawn from while ``jit`` traces.

``np.random.normal()`` inside a jitted function runs once, at trace time, and its
value is frozen into the compiled replay as a constant: every later call
returns the same "random" numbers. ``jit`` cannot see a draw, but it can see its
trace: NumPy's global generator (``np.random.get_bit_generator()``, an MT19937
unless the user changed it) has a different state after tracing. The check
compares the raw bytes of that state before and after (about a microsecond).

It cannot false-alarm in a single-threaded program: the state only changes when
something draws from it, and everything that ran in between was the trace. With
several threads alive another thread may be drawing, so it stays silent. It does
not see draws from a ``np.random.Generator`` the user made (those have no shared
state to watch), nor a legacy ``normal()`` served from its cached second value;
``docs/random.md`` documents the trap.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import warnings
from collections.abc import Iterator

import numpy as np

# MT19937's C state: 624 uint32 words and the position in them
_MT19937_STATE_BYTES = 624 * 4 + 4


class FrozenRandomWarning(UserWarning):
    """NumPy's global random state was drawn from while ``jit`` traced a function."""


def _snapshot() -> bytes | None:
    generator = np.random.get_bit_generator()
    if type(generator) is not np.random.MT19937 or threading.active_count() > 1:
        return None
    return ctypes.string_at(generator.ctypes.state_address, _MT19937_STATE_BYTES)


@contextlib.contextmanager
def warn_on_numpy_draws(fun_name: str) -> Iterator[None]:
    """Warn (``FrozenRandomWarning``) if the body draws from NumPy's global random state."""
    before = _snapshot()
    yield
    if before is not None and _snapshot() not in (before, None):
        warnings.warn(
            f"jit({fun_name}): NumPy's global random state was drawn from while tracing, so "
            "the numbers drawn are now constants of the compiled function: every call returns "
            "the same ones. Draw with fgrad.random inside jit (pass a key in: "
            "x = fgrad.random.normal(key, shape)), or draw outside and pass the values in.",
            FrozenRandomWarning,
            stacklevel=5,
        )
