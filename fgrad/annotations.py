"""JAX's annotations that mean nothing to fgrad's evaluation: they run the code as it is.

* ``named_scope`` / ``named_call`` name a region for XLA's profiler; fgrad has none,
  so they are a context manager and decorator that do nothing.
* ``ensure_compile_time_eval``: in JAX, operations on concrete values inside ``jit``
  are staged unless wrapped in it. fgrad already computes such operations at trace
  time (only values derived from the jitted function's arguments are traced), so the
  context manager only marks the code.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator


class named_scope(contextlib.ContextDecorator):  # noqa: N801 - named like a function, as in JAX
    """A named region, for a profiler fgrad does not have: changes nothing.

    Usable as ``with fgrad.named_scope("layer1"): ...`` and as a decorator.

    Parameters
    ----------
    name
        The region's name; must be a string, as in JAX.
    """

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise TypeError(f"named_scope: the name must be a string, got {type(name).__name__}")
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> bool:
        return False


def named_call(fun: Callable, *, name: str | None = None) -> Callable:
    """``fun`` under a profiler name fgrad does not use: a function that calls ``fun``.

    Parameters
    ----------
    fun
        The function.
    name
        The name JAX's profiler would show; ignored.

    Returns
    -------
    Callable
    """

    @functools.wraps(fun)
    def call(*args, **kwargs):
        return fun(*args, **kwargs)

    return call


@contextlib.contextmanager
def ensure_compile_time_eval() -> Iterator[None]:
    """Compute operations on concrete values now, even inside ``jit``: fgrad always does.

    Inside a jitted function, fgrad traces only values derived from its arguments; an
    expression on constants (``fnp.arange(3) * 2``) is a NumPy array at trace time, with
    or without this context manager. Values derived from traced arguments stay traced.

    Yields
    ------
    None
    """
    yield


__all__ = ["ensure_compile_time_eval", "named_call", "named_scope"]
