"""Executes notebooks/code_infill.ipynb (bundled model when installed; random weights otherwise)."""

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "code_infill.ipynb"


@pytest.mark.skipif(not NOTEBOOK.is_file(), reason="notebook not in this checkout")
def test_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the trajectory plot
    text = "".join(o.get("text", "") for o in outputs)
    assert "syntax-valid" in text
