"""Every ```python block in docs/*.md runs, in order, in one namespace per page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_docs_snippets_run(page: Path):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    assert blocks
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{page.name}, snippet {i} failed:\n{block}") from err


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
