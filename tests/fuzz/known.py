"""Open bugs the fuzzer finds again and again, to leave out while looking for new ones.

Each entry names the bug and recognises the programs that show it. The test
suite's sample and ``python -m tests.fuzz --skip-known`` leave those programs
out; an entry goes as soon as its fix is merged, so that the fuzzer checks the fix.
"""

from __future__ import annotations

from collections.abc import Callable

from .programs import Program
from .runner import unused

KNOWN_OPEN: dict[str, Callable[[Program], bool]] = {
    "jit(grad) refuses a program with an unused while_loop result (JAX drops it)": lambda p: any(
        op.name in ("while_loop", "while_value") for op in unused(p)
    ),
}


def known_open(program: Program) -> list[str]:
    """The open bugs ``program`` would run into."""
    return [name for name, shows in KNOWN_OPEN.items() if shows(program)]
