"""The code ``Domain`` object that the ``seqdiff.domains`` entry point names."""

from __future__ import annotations

import argparse
from pathlib import Path

# the pretrained code-small tuned toward infills that compile and hold code (its card; configs/tune-code-bundled.yaml)
BUNDLED_MODEL = Path(__file__).parent / "models" / "code-small-tuned"


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

    def bench_spec(self, tokenizer):
        """Held-out infill tasks (``tasks.bench_canvases``) against LLaDA's low-confidence one-token baseline,
        with syntax validity and exact match of the middles."""
        from functools import partial

        from seqdiff.bench import BenchSpec
        from seqdiff_code.tasks import bench_canvases, bench_scores, tune_canvases

        return BenchSpec(naive_order="low_confidence", tasks=partial(bench_canvases, tokenizer),
                         canvases=partial(tune_canvases, tokenizer),
                         quality=partial(bench_scores, tokenizer),
                         quality_columns=("syntax_valid_rate", "exact_match"))

    def validators(self) -> dict:
        """``{"syntax": f(source) -> problems}``: tree-sitter ERROR/MISSING spans (Python)."""
        return {"syntax": syntax_problems}

    def scorers(self, device: str = "cpu") -> dict:
        """``{"compiles": f(sources) -> 1.0 if CPython compiles the source else 0.0}``."""
        from seqdiff_code.syntax import compiles

        return {"compiles": lambda sources: [float(compiles(s)) for s in sources]}

    def rewards(self) -> dict:
        """``parses``, ``useful``, ``reference_match`` and ``unit_tests`` (sandboxed): seqdiff_code.rewards."""
        from seqdiff_code.rewards import FACTORIES

        return dict(FACTORIES)

    def add_commands(self, subparsers: argparse._SubParsersAction) -> None:
        from seqdiff_code.cli import add_infill_command

        add_infill_command(subparsers)

    def serve(self):
        """The editor protocols (llama.cpp /infill, OpenAI /v1/completions) over the infiller."""
        from seqdiff_code.serve.routes import contribution

        return contribution()


def syntax_problems(source: str) -> list:
    """Tree-sitter's byte spans as character spans of ``source``."""
    from seqdiff.domain import Problem
    from seqdiff_code.syntax import syntax_errors

    data = source.encode("utf-8")

    def char(offset: int) -> int:
        return len(data[:offset].decode("utf-8", errors="ignore"))

    return [Problem(char(e.start), char(e.end), e.kind) for e in syntax_errors(data)]


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
