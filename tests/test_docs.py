"""Every ```python block in docs/*.md runs, in order, in one namespace per page."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import fgrad

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text())


def _global_state() -> dict:
    """What a page's snippets could leave changed for the tests after them."""
    flags = {name: fgrad.config.read(name) for name in fgrad.config.flag_names()}
    return {
        "fgrad.config": flags,
        "np.geterr": np.geterr(),
        "np.get_printoptions": np.get_printoptions(),
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_docs_snippets_run(page: Path):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    assert blocks
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    before = _global_state()
    try:
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
            except Exception as err:
                raise AssertionError(f"{page.name}, snippet {i} failed:\n{block}") from err
        after = _global_state()
    finally:
        for name, value in before["fgrad.config"].items():
            fgrad.config.update(name, value)
        np.seterr(**before["np.geterr"])
        np.set_printoptions(**before["np.get_printoptions"])
    changed = {
        f"{kind}[{key!r}]": (value, after[kind][key])
        for kind, values in before.items()
        for key, value in values.items()
        if after[kind][key] != value
    }
    # A page's example that changes a global setting must set it back: the tests that run
    # after this one in the same process would otherwise run under it.
    assert not changed, f"{page.name}'s snippets leave global settings changed: {changed}"


def test_readme_snippets_run():
    readme = DOCS.parent / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        namespace: dict = {"__name__": "readme"}
        try:
            exec(compile(block, f"README.md[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"README.md, snippet {i} failed:\n{block}") from err
