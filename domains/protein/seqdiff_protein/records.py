"""A design run's records and files: designs.fasta (single-line, ProteinMPNN-style headers), scores.csv,
run.json (config, versions, definitions, summary, per-design motif mapping), each written atomically, and
read back for ``--resume`` with every field checked."""

from __future__ import annotations

import csv
import io
import json
import math
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from seqdiff_protein.design_config import DesignInputError

DEFINITIONS = {
    "esm_pll": "sum over all residues i=1..L of log p(x_i | sequence with i masked), natural log, 33-token softmax",
    "esm_pll_mean": "esm_pll / L",
    "esm_pppl": "exp(-esm_pll / L); >= 1, lower = more natural to the scorer; never rank on it without the "
                "repeat metrics (weak scorers rate homopolymers as excellent)",
    "motif_start_idxs/motif_end_idxs": "0-based inclusive indices of each motif segment in the design (EvoDiff/DPLM)",
    "con_ref_pdb_idx/con_hal_idx0": "RFdiffusion .trb names: (chain, PDB resnum) -> 0-based design index",
    "inpaint_seq": "0-based design indices of motif residues whose identity was redesigned (--redesign)",
    "longest_run": "longest homopolymer run",
    "top_residue_fraction": "fraction of the sequence taken by its most common residue",
    "nearest_train_identity": "approximate identity to the nearest indexed training-split sequence: shortlist by "
                              "shared 5-mers, then local BLOSUM62 alignment; identical aligned positions / design length",
    "mean_confidence": "mean over generated positions of the model's probability of the residue it committed, "
                       "at the step it committed it (temperature 1)",
    "pairwise_diversity": "mean over design pairs of 1 - global-alignment identity (identities / longer length)",
}

CSV_COLUMNS = ["id", "kind", "sequence", "length", "contig", "motif_start_idxs", "motif_end_idxs", "fixed_idx0",
               "esm_pll", "esm_pll_mean", "esm_pppl", "longest_run", "top_residue", "top_residue_fraction",
               "repeat_guard_pass", "nearest_train_identity", "mean_confidence", "seed", "temperature", "steps",
               "sampler", "model", "scorer"]


@dataclass
class DesignRecord:
    row: dict  # one scores.csv row
    mapping: dict  # run.json per-design mapping
    confidence: list[float] | None = None  # per residue; NaN at kept motif positions

    @property
    def sequence(self) -> str:
        return self.row["sequence"]


@dataclass
class DesignResult:
    designs: list[DesignRecord]
    baselines: list[DesignRecord] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    @property
    def sequences(self) -> list[str]:
        return [d.sequence for d in self.designs]

    def to_dataframe(self, baselines: bool = False):
        import pandas as pd

        rows = [d.row for d in self.designs] + ([b.row for b in self.baselines] if baselines else [])
        return pd.DataFrame(rows, columns=CSV_COLUMNS)

    def write(self, directory: str | Path) -> Path:
        """Atomically write designs.fasta, scores.csv, run.json (+ baselines.fasta/.csv with baselines)."""
        from seqdiff.io import atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / "designs.fasta", fasta_text(self.designs))
        atomic_write_text(directory / "scores.csv", csv_text(self.designs))
        if self.baselines:
            atomic_write_text(directory / "baselines.fasta", fasta_text(self.baselines))
            atomic_write_text(directory / "baselines.csv", csv_text(self.baselines))
        run = {"config": self.config, "versions": versions(), "definitions": DEFINITIONS, "summary": self.summary,
               "designs": [d.mapping for d in self.designs]}
        atomic_write_text(directory / "run.json", json.dumps(json_safe(run), indent=1, allow_nan=False))
        return directory


def json_safe(obj):
    """``obj`` with NaN/inf as null, tuples and sets as lists, anything else unknown as its string."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, list):
        return json.dumps(value)
    return "" if value is None else str(value)


def fasta_text(records: Sequence[DesignRecord]) -> str:
    """Single-line FASTA with ProteinMPNN-style ``key=value`` headers."""
    lines = []
    for rec in records:
        r = rec.row
        fields = [r["id"], f"id={r['id'].rsplit('_', 1)[-1].lstrip('0') or '0'}", f"T={r['temperature']}",
                  f"seed={r['seed']}", f"contig={r['contig']}", f"length={r['length']}",
                  f"esm_pppl={_fmt(r['esm_pppl'])}", f"esm_pll_mean={_fmt(r['esm_pll_mean'])}",
                  f"longest_run={r['longest_run']}", f"top_residue_fraction={_fmt(r['top_residue_fraction'])}",
                  f"sampler={r['sampler']}", f"model={r['model']}", f"scorer={r['scorer']}"]
        lines.append(">" + ", ".join(fields))
        lines.append(r["sequence"])
    return "\n".join(lines) + ("\n" if lines else "")


def csv_text(records: Sequence[DesignRecord]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: _fmt(rec.row.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("seqdiff", "seqdiff-protein", "torch", "fair-esm", "biopython", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    try:  # the checkout this package runs from, if any (an installed wheel has none)
        here = Path(__file__).resolve().parent
        out["git_hash"] = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                                         text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_hash"] = None
    return out


def summarize(result: DesignResult) -> dict:
    import numpy as np

    from seqdiff_protein.metrics import pairwise_diversity

    def stats(records):
        if not records:
            return {}
        col = lambda k: np.array([float(r.row[k]) for r in records], dtype=float)  # noqa: E731
        out = {"n": len(records)}
        for k in ("esm_pppl", "longest_run", "top_residue_fraction", "nearest_train_identity", "mean_confidence"):
            v = col(k)
            v = v[~np.isnan(v)]
            out[f"{k}_mean"] = round(float(v.mean()), 4) if len(v) else None
            out[f"{k}_median"] = round(float(np.median(v)), 4) if len(v) else None
        out["repeat_guard_pass_fraction"] = round(float(np.mean([bool(r.row["repeat_guard_pass"])
                                                                  for r in records])), 4)
        out["pairwise_diversity"] = round(pairwise_diversity([r.sequence for r in records]), 4) \
            if len(records) > 1 else None
        return out

    summary = {"designs": stats(result.designs)}
    for kind in ("random", "scrambled_motif"):
        sub = [b for b in result.baselines if b.row["kind"] == kind]
        if sub:
            summary[kind] = stats(sub)
    return summary




# ----- reading a run back (--resume) ------------------------------------------------------------------------
# run.json config keys that do not change any design or score; num_designs may grow (``check_previous``)
NOT_COMPARED = {"motif", "pdb", "length", "num_designs", "batch_size", "device", "model_path"}


def check_resume(old: dict, new: dict, directory: Path) -> None:
    """Every setting that changes a design or a score must equal the previous run's."""
    for key in sorted(set(new) - NOT_COMPARED):
        a, b = old.get(key), new[key]
        if json.dumps(json_safe(a)) != json.dumps(json_safe(b)):
            raise DesignInputError(f"--resume: {str(directory)!r} was made with {key}={a!r}, this run has "
                                   f"{key}={b!r}; rerun with the same settings or use a new --out folder")


INT_COLUMNS = ("length", "longest_run", "seed", "steps")
FLOAT_COLUMNS = ("esm_pll", "esm_pll_mean", "esm_pppl", "top_residue_fraction", "nearest_train_identity",
                 "mean_confidence", "temperature")
LIST_COLUMNS = ("motif_start_idxs", "motif_end_idxs", "fixed_idx0")


def read_run(directory: Path) -> tuple[dict, list[DesignRecord], list[DesignRecord]]:
    """(run.json config, design records, baseline records) of a finished or interrupted run; a file that
    cannot be read or a field that does not parse is a ``DesignInputError`` naming the file."""
    try:
        run = json.loads((directory / "run.json").read_text())
        if not isinstance(run, dict) or not isinstance(run.get("config", {}), dict):
            raise ValueError("run.json is not an object with a config")
        mappings = {d["id"]: d for d in run.get("designs", [])}
        for m in mappings.values():
            int(m["index"])
        designs = [DesignRecord(row=parse_row(r), mapping=mappings[r["id"]])
                   for r in _read_csv(directory / "scores.csv") if r.get("id") in mappings]
        baselines = [DesignRecord(row=parse_row(r), mapping={}) for r in _read_csv(directory / "baselines.csv")]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DesignInputError(f"--resume: cannot read the previous run in {str(directory)!r} "
                               f"({type(err).__name__}: {err}); use a new --out folder") from None
    return run.get("config", {}), designs, baselines


def _read_csv(path: Path) -> list[dict]:
    if path.name == "baselines.csv" and not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def parse_row(row: dict) -> dict:
    """A scores.csv row with its numbers and lists parsed (``ValueError`` names the bad column)."""
    out = dict(row)
    try:
        for key in LIST_COLUMNS:
            out[key] = json.loads(row[key]) if row.get(key) else []
        for key in INT_COLUMNS:
            out[key] = int(row[key])
        for key in FLOAT_COLUMNS:
            out[key] = float(row[key]) if row.get(key) not in (None, "") else float("nan")
    except (TypeError, ValueError) as err:
        raise ValueError(f"scores.csv row {row.get('id')!r}, column {key}={row.get(key)!r}: {err}") from None
    out["repeat_guard_pass"] = row.get("repeat_guard_pass") == "True"
    return out
