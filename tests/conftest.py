"""Fixtures shared by several test files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from strict_backend import registered


@pytest.fixture
def strict() -> Iterator[str]:
    """The name of the strict stand-in device of ``tests/strict_backend.py`` (no implicit
    NumPy), registered for the test and left registered if another module did so."""
    with registered() as backend:
        yield backend.name
