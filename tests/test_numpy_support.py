"""The generated support table is current, and its verdicts are honest."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from helpers import import_file

import fgrad.numpy as fnp

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "numpy_support.md"


def _generator():
    return import_file(ROOT / "scripts" / "gen_numpy_support.py", "gen")


def _rows() -> dict[str, list[str]]:
    rows = {}
    section = None
    for line in TABLE.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:]
        m = re.match(r"\| `([^`]+)` \| (yes|no) \| ([^|]*) \| ([^|]*) \|", line)
        if m and section is not None:
            rows[f"{section}:{m.group(1)}"] = [m.group(2), m.group(3).strip(), m.group(4).strip()]
    return rows


def _recorded_version() -> str:
    return re.search(r"Generated with NumPy (\S+)\.", TABLE.read_text()).group(1)


def test_table_is_current():
    """Regenerating gives the committed file. Under another NumPy version (whose namespace
    differs) the table cannot match; then every name it lists as supported must still be
    supported, and the version line says which NumPy the table describes."""
    text = TABLE.read_text()
    if _recorded_version() == np.__version__:
        assert text == _generator().generate(), (
            "docs/numpy_support.md is stale: run `python scripts/gen_numpy_support.py`"
        )
    else:
        supported = [
            k.split(":")[1]
            for k, v in _rows().items()
            if k.startswith("`numpy`:") and v[0] == "yes"
        ]
        assert all(hasattr(fnp, name) for name in supported)


def test_verdicts_are_honest():
    rows = _rows()
    assert rows["`numpy`:sin"] == ["yes", "yes", "yes"]
    assert rows["`numpy`:floor"] == ["yes", "zero", "zero"]
    assert rows["`numpy`:argmax"][1] == "n/a"
    assert rows["`numpy`:busday_count"][0] == "no"
    assert rows["`numpy.linalg`:cholesky"] == ["yes", "yes", "yes"]
    assert rows["`numpy.fft`:rfft"] == ["yes", "yes", "yes"]
    # every name marked supported exists, every name marked unsupported does not
    for key, (supported, _, _) in rows.items():
        section, name = key.split(":")
        if section == "`numpy`":
            assert hasattr(fnp, name) == (supported == "yes"), name


def test_every_public_numpy_function_is_listed():
    rows = _rows()
    listed = {k.split(":")[1] for k in rows if k.startswith("`numpy`:")}
    assert len(listed) >= 300
    if _recorded_version() == np.__version__:
        assert set(_generator()._public_functions(np)) == listed
    # nothing supported is listed as a failing derivative without being known here
    failing = sorted(
        k for k, (s, f, r) in rows.items() if s == "yes" and ("wrong" in (f, r) or "no (" in f + r)
    )
    assert failing == [], failing
