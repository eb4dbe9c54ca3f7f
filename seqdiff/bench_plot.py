"""``seqdiff bench --plot``: the speed/quality trade-off the table lists, as a picture. One panel per quality
column: tokens/s (log scale) against the column, one point per configuration labelled with its NFE; the
naive baseline drawn apart, the natural/reference row as a dashed line. Needs matplotlib."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from seqdiff.bench import BASE_COLUMNS
from seqdiff.io import atomic_write_bytes


def quality_columns(rows: list[dict], columns: Sequence[str]) -> list[str]:
    """The columns after the speed columns that some row fills with a number."""
    return [c for c in columns if c not in BASE_COLUMNS
            and any(isinstance(r.get(c), (int, float)) for r in rows)]


def plot(rows: list[dict], columns: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Write the figure to ``path`` (PNG, SVG, PDF: by its suffix), atomically; returns the path."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt

    path = Path(path)
    panels = quality_columns(rows, columns)
    if not panels:
        raise ValueError("the bench rows hold no quality column to plot (this domain's spec declares none)")
    timed = [r for r in rows if r.get("tokens_per_s")]
    reference = next((r for r in rows if r["config"] == "reference"), None)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, column in zip(axes[0], panels):
        points = [r for r in timed if isinstance(r.get(column), (int, float))]
        for k, r in enumerate(points):
            naive = r["config"].startswith("naive")
            ax.scatter(r["tokens_per_s"], r[column], marker="s" if naive else "o", s=60 if naive else 36,
                       color="tab:red" if naive else "tab:blue", zorder=3)
            ax.annotate(f"{r['config']} ({r['nfe']:g} NFE)", (r["tokens_per_s"], r[column]), fontsize=7,
                        xytext=(4, 3 if k % 2 else -9), textcoords="offset points")  # staggered: ties
        if reference is not None and isinstance(reference.get(column), (int, float)):
            ax.axhline(reference[column], color="tab:green", linestyle="--", label="reference (natural)")
            ax.legend(loc="best", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("tokens/s (log)")
        ax.set_ylabel(column)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title or "speed against quality (red square: naive baseline)")
    fig.tight_layout()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=path.suffix.lstrip(".").lower() or "png", dpi=120)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
