from pathlib import Path

import pytest

from seqdiff_protein.domain import BUNDLED_MODEL, BUNDLED_SCORER

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "protein_design.ipynb"


@pytest.mark.slow
@pytest.mark.skipif(not (BUNDLED_MODEL / "config.json").is_file() or not (BUNDLED_SCORER / "config.json").is_file(),
                    reason="bundled model or scorer not installed")
def test_protein_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "pppl median" in text
