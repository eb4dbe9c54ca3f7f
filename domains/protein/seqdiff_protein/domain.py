"""The protein ``Domain`` object that the ``seqdiff.domains`` entry point names."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqdiff.tokenizer import CharTokenizer

BUNDLED_MODEL = Path(__file__).parent / "models" / "protein-small"


class ProteinDomain:
    name = "protein"
    description = "protein sequence design and motif scaffolding (ESM alphabet)"

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

    def default_sampler(self):
        from seqdiff.samplers import AncestralSampler

        return AncestralSampler(steps=32)

    def validators(self) -> dict:
        return {}

    def scorers(self) -> dict:
        return {}

    def add_commands(self, subparsers: argparse._SubParsersAction) -> None:
        return None

    def routes(self) -> list:
        return []
