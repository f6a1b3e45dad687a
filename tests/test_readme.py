"""The README's Python examples are real code: each stands, verbatim, in the example, the test app or the quickstart."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
SOURCES = "\n".join(
    path.read_text()
    for folder in ("example_project", "tests/testapp", "tests/quickstart")
    for path in sorted((ROOT / folder).rglob("*.py"))
)


def chunks(snippet: str) -> list[str]:
    """Blank-line separated blocks: imports and definitions may stand apart in the source."""
    return [block.strip("\n") for block in re.split(r"\n\s*\n(?=\S)", textwrap.dedent(snippet)) if block.strip()]


def test_the_readme_has_an_example_for_each_way_of_use():
    joined = "\n".join(SNIPPETS)
    for marker in ("VersionedModel", "@conditional(", "ConditionalModelViewSet", "CONDITIONAL_API = {"):
        assert marker in joined


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.strip().splitlines()[-1][:40] for s in SNIPPETS])
def test_readme_example_is_code_the_suite_runs(snippet):
    if snippet.strip("\n") in SOURCES:
        return  # verbatim, indentation included: entries of a dict the source holds, say
    missing = [chunk for chunk in chunks(snippet) if chunk not in SOURCES]
    assert not missing, (
        f"README example not found in example_project/, tests/testapp/, tests/quickstart/: {missing[0][:200]}"
    )
