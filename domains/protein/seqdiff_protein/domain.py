"""The protein ``Domain`` object that the ``seqdiff.domains`` entry point names."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqdiff.tokenizer import CharTokenizer

MODELS = Path(__file__).parent / "models"
BUNDLED_MODEL = MODELS / "protein-small"
BUNDLED_SCORER = MODELS / "scorer-esm2arch-small"


class ProteinDomain:
    name = "protein"
    description = "protein sequence design and motif scaffolding (ESM alphabet)"

    def __init__(self) -> None:
        self._scorer = None

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

    def default_sampler(self):
        """Random-order (MDLM ancestral) unmasking; ``design`` uses ceil(generated residues / 8) steps."""
        from seqdiff.samplers import AncestralSampler

        return AncestralSampler(steps=32)

    def validators(self) -> dict:
        """Denoise validators: canvas [B, L] -> positions to re-mask."""
        from seqdiff_protein.metrics import RepeatGuard

        return {"repeat_guard": RepeatGuard()}

    def scorers(self, esm_model: str = "bundled", device: str = "cpu") -> dict:
        """``{"pppl": f(list[str]) -> list[float]}``: ESM pseudo-perplexity exp(-PLL/L) (lower = more natural;
        report repeat metrics beside it). Uses the bundled ESM-2-architecture scorer unless told otherwise;
        empty when that scorer is not installed. ``f.name`` is the scorer's honest name."""
        if esm_model == "bundled" and self.default_scorer() is None:
            return {}
        if self._scorer is None or getattr(self._scorer, "_key", None) != (esm_model, device):
            from seqdiff_protein.scoring import load_scorer

            self._scorer = load_scorer(esm_model, device=device)
            if self._scorer is not None:
                self._scorer._key = (esm_model, device)
        return {"pppl": self._scorer} if self._scorer is not None else {}

    def banned_ids(self, tokenizer) -> list[int]:
        """Ids a design never contains: everything but the 20 standard residues (``seqdiff bench`` uses it)."""
        from seqdiff_protein.alphabet import nonstandard_ids

        return nonstandard_ids(tokenizer)

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
