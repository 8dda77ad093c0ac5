"""The README is a user's document: its example runs as written, and no document speaks of how the project was made."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_api_example_runs_as_written():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert namespace["samples"].shape == (1000, 2)
    assert all(p.grad.any() for p in namespace["G"].parameters()), "the hand-written G step left a gradient at 0"


def test_readme_is_short():
    assert len(README.encode("utf-8")) <= 12_000  # a page: details live in docs/


WORDS_ABOUT_THE_MAKING = re.compile(
    r"\b(build machine|second machine|earlier session|later session|this session|issue \d+|#\d{1,3}\b)", re.I
)


@pytest.mark.parametrize(
    "path",
    [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "tinygan").rglob("*.py")),
        *sorted((ROOT / "demos").glob("*.py")),
        *sorted((ROOT / "benchmarks").glob("*.py")),
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_documents_speak_of_the_project(path: Path):
    found = WORDS_ABOUT_THE_MAKING.findall(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(ROOT)} speaks of how it was made: {found}"
