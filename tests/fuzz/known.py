"""Open bugs the fuzzer finds again and again, to leave out while looking for new ones.

Each entry names the bug and recognises the programs that show it. The test
suite's sample and ``python -m tests.fuzz --skip-known`` leave those programs
out; an entry goes as soon as its fix is merged, so that the fuzzer checks the fix.
"""

from __future__ import annotations

from collections.abc import Callable

from .programs import Program

KNOWN_OPEN: dict[str, Callable[[Program], bool]] = {}

#: Where fgrad and JAX differ on purpose, fgrad following NumPy (``fgrad.numpy`` is NumPy's
#: API with NumPy's dtypes, eagerly and under every transform alike). The runner compares
#: dtypes with fgrad's own eager run only, and values with JAX; the programs avoid the first.
ACCEPTED: dict[str, str] = {
    "a NumPy function of a Python number is a strongly typed NumPy scalar": (
        "numpy.cos(0.5) is a float64 NumPy scalar, so cos(i * 0.5) + x32 is float64 in NumPy "
        "and fgrad (eager, jit, a loop's traced index alike); JAX keeps it weakly typed "
        "(float32). Python's own arithmetic on Python numbers stays weakly typed in both."
    ),
    "an integer array with a float32 array is float64": (
        "NumPy's promotion: int64 and float32 give float64; JAX's lattice gives float32. "
        "The values agree to float32 precision, which is what the runner compares."
    ),
    "a float64 NumPy scalar is strongly typed": (
        "numpy.float64 subclasses float but NumPy promotes it as an array (float64 + x32 "
        "is float64); JAX has no such scalar."
    ),
}


def known_open(program: Program) -> list[str]:
    """The open bugs ``program`` would run into."""
    return [name for name, shows in KNOWN_OPEN.items() if shows(program)]
