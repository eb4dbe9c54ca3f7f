"""The code ``Domain`` object that the ``seqdiff.domains`` entry point names."""

from __future__ import annotations

import argparse
from pathlib import Path

BUNDLED_MODEL = Path(__file__).parent / "models" / "code-small"


class CodeDomain:
    name = "code"
    description = "source-code infilling with tree-sitter syntax constraints (byte-level BPE, Python)"

    def build_tokenizer(self, config: dict):
        """``{}``: the committed tokenizer.json. ``{"train": true, "vocab_size": 4096, "paths": [...],
        "min_frequency": 2, "save": "path/tokenizer.json"}``: train a fresh one on the corpus' train split."""
        from seqdiff_code.tokenizer import CodeTokenizer

        known = {"train", "vocab_size", "paths", "min_frequency", "save", "file"}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown code tokenizer key(s) {sorted(unknown)}; known: {sorted(known)}")
        if not config.get("train"):
            extra = set(config) - {"train", "file"}
            if extra:
                raise ValueError(f"tokenizer key(s) {sorted(extra)} only apply with train: true")
            return CodeTokenizer.from_file(config["file"]) if config.get("file") else CodeTokenizer.bundled()
        return train_tokenizer(paths=tuple(config.get("paths", ("stdlib",))),
                               vocab_size=int(config.get("vocab_size", 4096)),
                               min_frequency=int(config.get("min_frequency", 2)), save=config.get("save"))

    def load_tokenizer(self, directory: Path):
        from seqdiff_code.tokenizer import CodeTokenizer

        return CodeTokenizer.load(directory)

    def dataset(self, tokenizer, config: dict, split: str):
        from seqdiff_code.data import CodeDataConfig, CodeDataset, load_texts

        data_config = CodeDataConfig.from_dict(config)
        return CodeDataset(load_texts(data_config, split), tokenizer, data_config, deterministic=split != "train")

    def default_model(self) -> Path | None:
        return BUNDLED_MODEL if (BUNDLED_MODEL / "config.json").is_file() else None

    naive_order = "low_confidence"  # ``seqdiff bench``'s baseline: LLaDA order, one token per step

    def bench_tasks(self, tokenizer, length: int, n: int, seed: int) -> list[dict]:
        """Held-out infill tasks as bench canvases: context + ``length`` masks (see tasks.bench_canvases)."""
        from seqdiff_code.tasks import bench_canvases

        return bench_canvases(tokenizer, length, n, seed)

    def bench_quality(self, tokenizer, tasks: list[dict], outputs: list[list[int]]) -> dict:
        from seqdiff_code.tasks import bench_scores

        return bench_scores(tokenizer, tasks, outputs)

    def default_sampler(self):
        from seqdiff.samplers import ConfidenceSampler

        return ConfidenceSampler()

    def validators(self) -> dict:
        from seqdiff_code.syntax import syntax_errors

        return {"syntax": syntax_errors}

    def scorers(self, device: str = "cpu") -> dict:
        from seqdiff_code.tasks import infill_tasks, score_infills

        return {"infill_tasks": infill_tasks, "infill_score": score_infills}

    def add_commands(self, subparsers: argparse._SubParsersAction) -> None:
        from seqdiff_code.cli import add_infill_command

        add_infill_command(subparsers)

    def serve(self):
        """The editor protocols (llama.cpp /infill, OpenAI /v1/completions) over the infiller."""
        from seqdiff_code.serve.routes import contribution

        return contribution()


def train_tokenizer(paths: tuple[str, ...] = ("stdlib",), vocab_size: int = 4096, min_frequency: int = 2,
                    save: str | None = None):
    """Train the byte-level BPE on the train split of the corpus (validation/test files never seen)."""
    from seqdiff_code.corpus import collect, split_files
    from seqdiff_code.tokenizer import CodeTokenizer

    texts = [f.text for f in split_files(collect(paths), "train")]
    tokenizer = CodeTokenizer.train(texts, vocab_size=vocab_size, min_frequency=min_frequency)
    if save:
        from seqdiff.io import atomic_write_text

        atomic_write_text(Path(save), tokenizer.to_json())
    return tokenizer
