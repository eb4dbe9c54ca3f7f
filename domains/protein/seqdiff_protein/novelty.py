"""The reference for the ``nearest_train_identity`` column: which training sequences a design is compared
with, found from the model's own config (``meta.data.paths``) or given explicitly, and built once per
source by the ``NoveltyReferences`` object a designer holds (no module-level cache)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from seqdiff_protein.design_config import DesignInputError

NOVELTY_MAX_RESIDUES = 10_000_000


def training_data_paths(model_path: Path | None) -> list[Path]:
    """The first existing training-data location: the data paths recorded in the model's config (found from
    the working directory up, then in the model folder), then the default data folder (from the working
    directory up). Empty when none exists: the novelty column is optional."""
    from seqdiff_protein.data import DEFAULT_DATA, find_data

    recorded: list[str] = []
    if model_path is not None and Path(model_path).is_dir():
        try:
            meta = json.loads((Path(model_path) / "config.json").read_text()).get("meta", {})
            recorded = list((meta.get("data") or {}).get("paths") or [])
        except (OSError, ValueError, AttributeError):
            pass
    for raw in recorded:
        found = find_data(raw) or find_data(Path(model_path) / raw)
        if found:
            return [found]
    found = find_data(DEFAULT_DATA)
    return [found] if found else []


class NoveltyReferences:
    """Novelty indexes built on demand and kept by source, so repeated runs read each FASTA once."""

    def __init__(self, max_residues: int = NOVELTY_MAX_RESIDUES):
        self.max_residues = max_residues
        self._built: dict[tuple[str, ...], object] = {}

    def get(self, novelty: str | Sequence[str] | None, model_path: Path | None = None):
        """``"auto"``: the training split of the model's data (first ``max_residues`` residues, file order);
        a FASTA path: all its sequences; a list of sequences; ``None``/``"none"``: no novelty column."""
        from seqdiff_protein.metrics import NoveltyIndex

        if novelty is None or novelty == "none":
            return None
        if not isinstance(novelty, str):
            seqs = list(novelty)
            return NoveltyIndex(seqs, description=f"{len(seqs)} given sequences")
        paths = training_data_paths(model_path) if novelty == "auto" else [Path(novelty)]
        if not paths:
            return None
        key = (novelty == "auto",) + tuple(str(p) for p in paths)
        if key not in self._built:
            self._built[key] = self._build(paths, train_only=novelty == "auto", label=novelty)
        return self._built[key]

    def _build(self, paths: list[Path], train_only: bool, label: str):
        from seqdiff_protein.data import fasta_files, iter_fasta, split_of
        from seqdiff_protein.metrics import NoveltyIndex

        seqs, total = [], 0
        try:
            for f in fasta_files(tuple(str(p) for p in paths)):
                for _, s in iter_fasta(f):
                    if not train_only or split_of(s) == "train":
                        seqs.append(s)
                        total += len(s)
                if total >= self.max_residues:
                    break
        except FileNotFoundError as err:
            raise DesignInputError(str(err)) from None
        except ValueError as err:
            raise DesignInputError(f"--train-fasta: {err}; give a FASTA file (plain or .gz), e.g. "
                                   f"--train-fasta ../shared/data/proteins/proteins_mini.fasta") from None
        if not seqs:
            raise DesignInputError(f"--train-fasta {label!r} holds no sequences; give a FASTA file with records")
        scope = "training split of" if train_only else "all sequences of"
        return NoveltyIndex(seqs, description=f"{scope} {', '.join(str(p) for p in paths)}: {len(seqs)} sequences, "
                                              f"{total} residues (files in order until {self.max_residues} residues)")
