"""notebooks/tour.ipynb runs top to bottom in a fresh kernel, within a minute, and is committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "notebooks" / "tour.ipynb"
CELL_TIMEOUT_S = 60  # the whole tour takes about 30 s on two busy cores


def test_tour_is_committed_without_outputs():
    notebook = nbformat.read(TOUR, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the tour has no code cells"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "strip the tour's outputs"


@pytest.mark.slow
def test_tour_runs_without_errors(monkeypatch):
    """Executes every cell (its own asserts check the worked example, the gradient check and the JSD identity)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(TOUR, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    images = [out for cell in notebook.cells for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
    assert len(images) == 3, f"expected the tour's 3 inline figures, got {len(images)}"
