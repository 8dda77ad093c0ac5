"""What a learner reads for one step: the NumPy backend's training step runs only the textbook.

``traced_step`` runs one ``GAN.train_step`` under ``sys.settrace`` and returns every (file, line)
of tinygan it executed. On the NumPy backend none of them is in ``tinygan/fast/`` (the Numba and
CuPy twins and the choice among them), and they span at most nine files, which the README's
reading order names.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tinygan
from tinygan.evaluation.data import mixture
from tinygan.fast.backend import set_backend
from tinygan.gan.model import GAN

PACKAGE = Path(tinygan.__file__).resolve().parent
MAX_FILES = 9


def traced_step(recipe: str, *, batch_size: int = 8) -> set[tuple[str, int]]:
    """(path relative to tinygan/, line) of every line of tinygan that one warm NumPy-backend
    ``GAN.train_step`` executes, for the recipe ``recipe`` (its batch cut to ``batch_size``)."""
    set_backend("numpy")
    config = tinygan.recipe(recipe)
    config.batch_size = batch_size
    gan = GAN(mixture(recipe), config, seed=0)
    gan.train_step()  # warm: first-use lookups are not part of a step
    executed: set[tuple[str, int]] = set()

    def tracer(frame, event, arg):
        path = Path(frame.f_code.co_filename).resolve()
        if not path.is_relative_to(PACKAGE):
            return None  # do not follow NumPy's own Python code
        if event == "line":
            executed.add((path.relative_to(PACKAGE).as_posix(), frame.f_lineno))
        return tracer

    sys.settrace(tracer)
    try:
        gan.train_step()
    finally:
        sys.settrace(None)
    return executed


def summary(executed: set[tuple[str, int]]) -> dict[str, int]:
    """Lines, files, and lines in fast/ of a traced step."""
    files = {file for file, _ in executed}
    return {
        "lines": len(executed),
        "files": len(files),
        "fast_lines": sum(1 for file, _ in executed if file.startswith("fast/")),
    }


@pytest.mark.parametrize("recipe", ["two", "ring8"])
def test_a_numpy_step_runs_only_the_textbook(recipe):
    """No line of tinygan/fast/ runs, and the step's lines lie in at most MAX_FILES files."""
    executed = traced_step(recipe)
    counts = summary(executed)
    assert counts["lines"] > 100  # the tracer saw the step (G, D, losses, Adam all run)
    assert {"gan/model.py", "nn/layers.py", "nn/losses.py", "nn/optim.py"} <= {file for file, _ in executed}
    fast = sorted(line for line in executed if line[0].startswith("fast/"))
    assert not fast, f"a NumPy-backend step ran code in tinygan/fast/: {fast[:10]}"
    assert counts["files"] <= MAX_FILES, sorted({file for file, _ in executed})


def test_readme_quotes_the_traced_count():
    """The README's "executes N lines of code in M files" is the case study's traced step."""
    import re

    readme = re.sub(r"\s+", " ", (PACKAGE.parent / "README.md").read_text(encoding="utf-8"))
    match = re.search(r"executes (\d+) lines of code in (\d+) files", readme)
    assert match, "the README no longer says how many lines one training step executes"
    counts = summary(traced_step("two"))
    assert (int(match.group(1)), int(match.group(2))) == (counts["lines"], counts["files"]), counts


if __name__ == "__main__":  # python tests/test_reading_order.py: the counts for the report and README
    for name in ("two", "ring8"):
        lines = traced_step(name)
        print(name, summary(lines), sorted({f for f, _ in lines}))
