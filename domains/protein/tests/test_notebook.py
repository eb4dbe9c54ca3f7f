"""notebooks/protein_design.ipynb: the committed copy holds its pictures and printed figures (cheap, always
run), and re-executing it with the bundled model and scorer gives the same kind of outputs (slow)."""

import re
from pathlib import Path

import pytest

from seqdiff import testing_notebooks as nbcheck
from seqdiff_protein.domain import BUNDLED_MODEL, BUNDLED_SCORER

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "protein_design.ipynb"
pytest.importorskip("nbformat")


def shortfalls(nb) -> list[str]:
    """The shared checks plus "motif kept: True" once for every design the notebook asks for."""
    source = "\n".join(c.source for c in nbcheck.code_cells(nb))
    wanted = int(re.search(r"num_designs=(\d+)", source).group(1))
    text = nbcheck.printed(nb)
    kept = re.findall(r"^design_\d+ .*motif kept: (\w+)", text, flags=re.M)
    found = nbcheck.problems(nb, expect=["pppl median", "natural (test split)", "random"])
    if kept != ["True"] * wanted:
        found.append(f"expected 'motif kept: True' for each of {wanted} designs, got {kept}")
    return found


@pytest.mark.skipif(not NOTEBOOK.is_file(), reason="notebook not in this checkout")
def test_committed_notebook_has_its_pictures_and_figures():
    assert shortfalls(nbcheck.read(NOTEBOOK)) == []


@pytest.mark.slow
@pytest.mark.skipif(not (BUNDLED_MODEL / "config.json").is_file() or not (BUNDLED_SCORER / "config.json").is_file(),
                    reason="bundled model or scorer not installed")
def test_protein_notebook_executes():
    pytest.importorskip("nbclient")
    assert shortfalls(nbcheck.execute(NOTEBOOK, timeout=600)) == []
