"""The protein ``Domain`` object that the ``seqdiff.domains`` entry point names."""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from seqdiff.tokenizer import CharTokenizer

MODELS = Path(str(files("seqdiff_protein") / "models"))  # package data: works installed or editable
BUNDLED_MODEL = MODELS / "protein-small"
BUNDLED_SCORER = MODELS / "scorer-esm2arch-small"


class ProteinDomain:
    name = "protein"
    description = "protein sequence design and motif scaffolding (ESM alphabet)"

    def __init__(self) -> None:
        self._scorers: dict = {}  # (esm_model, device) -> loaded scorer (or None)

    def build_tokenizer(self, config: dict) -> CharTokenizer:
        from seqdiff_protein.alphabet import protein_tokenizer

        if config:
            raise ValueError(f"the protein tokenizer takes no options (got {sorted(config)})")
        return protein_tokenizer()

    def load_tokenizer(self, directory: Path) -> CharTokenizer:
        return CharTokenizer.load(directory)

    def dataset(self, tokenizer, config: dict, split: str):
        from seqdiff_protein.data import ProteinDataConfig, ProteinDataset, load_split

        data_config = ProteinDataConfig.from_dict(config)
        return ProteinDataset(load_split(data_config, split), tokenizer, data_config.max_length)

    def default_model(self) -> Path | None:
        return BUNDLED_MODEL if (BUNDLED_MODEL / "config.json").is_file() else None

    def default_scorer(self) -> Path | None:
        return BUNDLED_SCORER if (BUNDLED_SCORER / "config.json").is_file() else None

    def validators(self) -> dict:
        """Text checks of a design: ``alphabet`` (20 standard residues) and ``repeat_guard`` (runaway repeats)."""
        from seqdiff_protein.metrics import alphabet_problems, guard_problems

        return {"alphabet": alphabet_problems, "repeat_guard": guard_problems}

    def scorers(self, device: str = "cpu", esm_model: str = "bundled") -> dict:
        """``{"pppl": f(list[str]) -> list[float]}``: ESM pseudo-perplexity exp(-PLL/L) (lower = more natural;
        report repeat metrics beside it). Uses the bundled ESM-2-architecture scorer unless told otherwise;
        empty when that scorer is not installed. ``f.name`` is the scorer's honest name."""
        if esm_model == "bundled" and self.default_scorer() is None:
            return {}
        key = (esm_model, device)
        if key not in self._scorers:
            from seqdiff_protein.scoring import load_scorer

            self._scorers[key] = load_scorer(esm_model, device=device)
        scorer = self._scorers[key]
        return {"pppl": scorer} if scorer is not None else {}

    def rewards(self) -> dict:
        """``net_charge``, ``hydrophobic_fraction``, ``pll`` and ``repeat_penalty`` (seqdiff_protein.rewards)."""
        from seqdiff_protein.rewards import FACTORIES

        return dict(FACTORIES)

    def bench_spec(self, tokenizer):
        """Unconditional ``<cls> masks <eos>`` canvases, EvoDiff-OADM's random one-token baseline, only the 20
        standard residues emitted, the pseudo-perplexity scorer and natural held-out sequences as reference;
        ``seqdiff tune`` rollouts may instead lay out a motif (``rollout.canvas_options: {motif: ...}``)."""
        from functools import partial

        from seqdiff.bench import BenchSpec
        from seqdiff_protein.alphabet import cls_id, nonstandard_ids
        from seqdiff_protein.tune_canvases import motif_canvases

        return BenchSpec(naive_order="random", canvas_prefix=(cls_id(tokenizer),), canvas_suffix=(tokenizer.eos_id,),
                         canvases=partial(motif_canvases, tokenizer),
                         banned_ids=tuple(nonstandard_ids(tokenizer)), scorer="pppl",
                         reference=lambda n, max_length: self.reference_sequences(n, max_length=max_length))

    def reference_sequences(self, n: int = 100, max_length: int | None = 256, split: str = "test") -> list[str]:
        """Natural held-out sequences (md5 split; the generator never trained on ``test``)."""
        from seqdiff_protein.data import reference_sequences

        return reference_sequences(n, max_length=max_length, split=split)

    def add_commands(self, subparsers: argparse._SubParsersAction) -> None:
        from seqdiff_protein.cli import add_design_command

        add_design_command(subparsers)

    def serve(self):
        """``POST /v1/protein/designs`` over ``ProteinDesigner`` (see routes.py)."""
        from seqdiff_protein.routes import contribution

        return contribution()
