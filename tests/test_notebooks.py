"""The shared notebook checks (``seqdiff.testing_notebooks``) on hand-built notebooks, and
notebooks/bring_your_own_model.ipynb (core + code domain): its committed copy holds the cache comparison
and its picture; re-executing it offline gives the same kind of outputs (slow)."""

from pathlib import Path

import pytest

from seqdiff import testing_notebooks as nbcheck

nbformat = pytest.importorskip("nbformat")
from nbformat.v4 import new_code_cell, new_notebook, new_output  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "bring_your_own_model.ipynb"
CACHE_ROWS = ["no cache", "prefix cache", "dual cache", "dual, refresh every step"]
PNG = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}


def cell(source: str, *outputs, count: int | None = 1):
    return new_code_cell(source, outputs=list(outputs), execution_count=count)


def test_a_clean_notebook_passes_and_expected_text_is_found():
    nb = new_notebook(cells=[cell("x = 1"), cell("print('motif kept')", new_output("stream", name="stdout",
                                                                                     text="motif kept\n")),
                             cell("fig, ax = plt.subplots()\nax.plot([1, 2])", new_output("display_data", data=PNG))])
    assert nbcheck.problems(nb, expect=["motif kept"]) == []
    assert nbcheck.problems(nb, expect=["validity"]) == ["expected output 'validity' is missing"]


@pytest.mark.parametrize("source", ["plt.plot([1])", "ax.bar([0], [1])", "ax.boxplot(x)", "d.plot(kind='bar')",
                                    "fig.savefig('a.png')", "ax.imshow(m)"])
def test_a_drawing_cell_without_a_picture_fails(source):
    [problem] = nbcheck.problems(new_notebook(cells=[cell(source, new_output("stream", name="stdout", text="hi"))]))
    assert "draws but has no image/png output" in problem


def test_errors_stderr_and_unexecuted_cells_fail():
    nb = new_notebook(cells=[
        cell("import tqdm.auto", new_output("stream", name="stderr", text="TqdmWarning: IProgress not found")),
        cell("1 / 0", new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])),
        cell("y = 2", count=None)])
    found = nbcheck.problems(nb)
    assert len(found) == 3
    assert "wrote to stderr" in found[0] and "IProgress" in found[0]
    assert "raised ZeroDivisionError: division by zero" in found[1]
    assert "was not executed" in found[2]


def shortfalls(nb) -> list[str]:
    """The shared checks plus the cache comparison table (one row per configuration) and the exactness line."""
    found = nbcheck.problems(nb, expect=["same tokens as no cache", "dual cache refreshed every step == no cache",
                                         "generated 32 positions"])
    rows = {line.split("  ")[0] for line in nbcheck.printed(nb).splitlines()}
    found += [f"cache comparison row {name!r} is missing" for name in CACHE_ROWS if name not in rows]
    return found


@pytest.mark.skipif(not NOTEBOOK.is_file(), reason="notebook not in this checkout")
def test_committed_notebook_has_its_picture_and_cache_comparison():
    assert shortfalls(nbcheck.read(NOTEBOOK)) == []


@pytest.mark.slow
@pytest.mark.skipif(not NOTEBOOK.is_file(), reason="notebook not in this checkout")
def test_notebook_executes_offline(tmp_path):
    pytest.importorskip("seqdiff_code", reason="the notebook infills with the code domain")
    for name in ("nbclient", "transformers", "tokenizers"):
        pytest.importorskip(name)
    assert shortfalls(nbcheck.execute(NOTEBOOK, cwd=tmp_path, timeout=600)) == []
