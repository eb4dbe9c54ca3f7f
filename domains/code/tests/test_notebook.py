"""notebooks/code_infill.ipynb: the committed copy holds its pictures and the validity table (cheap, always
run), and re-executing it with the bundled code model gives the same kind of outputs (slow)."""

import re
from pathlib import Path

import pytest

from seqdiff import testing_notebooks as nbcheck
from seqdiff_code.domain import CodeDomain

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "code_infill.ipynb"
pytest.importorskip("nbformat")
RATE = r"\s+(?:0|1)\.\d+"  # a rate in the validity table


def shortfalls(nb) -> list[str]:
    """The shared checks plus the validity table: a CPython-valid and a non-empty rate for both settings."""
    found = nbcheck.problems(nb, expect=["CPython-valid", "non-empty"])
    text = nbcheck.printed(nb)
    for setting in ("unconstrained", "constrained"):
        if not re.search(rf"^{setting}{RATE}{RATE}", text, flags=re.M):
            found.append(f"validity table row {setting!r} (CPython-valid, non-empty rates) is missing")
    return found


@pytest.mark.skipif(not NOTEBOOK.is_file(), reason="notebook not in this checkout")
def test_committed_notebook_has_its_pictures_and_table():
    assert shortfalls(nbcheck.read(NOTEBOOK)) == []


@pytest.mark.slow
@pytest.mark.skipif(not NOTEBOOK.is_file(), reason="notebook not in this checkout")
@pytest.mark.skipif(CodeDomain().default_model() is None, reason="bundled code model not installed")
def test_notebook_executes(tmp_path):
    pytest.importorskip("nbclient")
    assert shortfalls(nbcheck.execute(NOTEBOOK, cwd=tmp_path, timeout=900)) == []
