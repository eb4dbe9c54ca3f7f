"""Checks for the project's notebooks, shared by the core's and the domains' suites: a notebook passes only
when every cell that draws has a picture, nothing failed and nothing was written to stderr (a warning, a
progress bar) — in the executed copy and in the committed file alike, so a notebook committed without its
pictures fails too.

``python -m seqdiff.testing_notebooks NOTEBOOK...`` re-executes notebooks in place (outputs saved, no
timing metadata), the way the committed copies are refreshed. Needs ``nbformat`` and ``nbclient``."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Iterable

# a call that draws: plt.plot(...), ax.bar(...), fig.colorbar(...), or any of the drawing methods
PLOT_CALL = re.compile(r"\b(?:plt|ax|axes|fig)\.\w+\(|\.(?:plot|imshow|bar|barh|scatter|hist|boxplot|step|"
                       r"stairs|fill_between|errorbar)\(")


def execute(path: str | Path, cwd: str | Path | None = None, timeout: int = 900):
    """Run every cell of the notebook at ``path`` in a fresh python3 kernel (working directory ``cwd``,
    default the notebook's folder); returns the executed notebook, the file is not touched."""
    import nbclient
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    return nb


def read(path: str | Path):
    import nbformat

    return nbformat.read(Path(path), as_version=4)


def printed(nb) -> str:
    """Everything the notebook printed or displayed as text (streams and text/plain results), in order."""
    parts = []
    for cell in code_cells(nb):
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def problems(nb, expect: Iterable[str] = ()) -> list[str]:
    """Every way ``nb`` falls short, one line each (empty: it passes): a cell not executed, a drawing cell
    without an ``image/png`` output, an error output, any stderr stream, an expected text missing."""
    found = []
    for i, cell in enumerate(code_cells(nb)):
        outputs = cell.get("outputs", [])
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        where = f"code cell {i} ({first[:40]!r})"
        if cell.source.strip() and cell.get("execution_count") is None:
            found.append(f"{where} was not executed")
        if PLOT_CALL.search(cell.source) and not any("image/png" in o.get("data", {}) for o in outputs):
            found.append(f"{where} draws but has no image/png output")
        for out in outputs:
            if out.get("output_type") == "error":
                found.append(f"{where} raised {out.get('ename')}: {out.get('evalue')}")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"{where} wrote to stderr: {out.get('text', '')[:200]!r}")
    text = printed(nb)
    found += [f"expected output {e!r} is missing" for e in expect if e not in text]
    return found


def main(argv: list[str]) -> int:
    """Re-execute each notebook named in ``argv`` and write it back atomically with its outputs."""
    import nbformat

    from seqdiff.io import atomic_write_text

    if not argv:
        print("usage: python -m seqdiff.testing_notebooks NOTEBOOK.ipynb [...]", file=sys.stderr)
        return 2
    failed = 0
    for name in argv:
        nb = execute(name)
        atomic_write_text(Path(name), nbformat.writes(nb) + "\n")
        bad = problems(nb)
        failed += bool(bad)
        print(f"{name}: {len(code_cells(nb))} code cells, " + ("ok" if not bad else "; ".join(bad)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
