"""A third-party-style domain used by the tests: registered only through an entry point (see the
dist-info folder beside this file), exactly as an external package would register one."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import Dataset

from seqdiff.tokenizer import CharTokenizer

PATTERNS = ["abcabcabcabc", "aabbccaabbcc", "cbacbacbacba", "abccbaabccba"]


class ToyDataset(Dataset):
    def __init__(self, tokenizer: CharTokenizer, size: int):
        self.tokenizer, self.size = tokenizer, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        eos = self.tokenizer.eos_id  # non-maskable anchors at both ends give positions a reference
        tokens = torch.tensor([eos] + self.tokenizer.encode(PATTERNS[index % len(PATTERNS)]) + [eos])
        maskable = torch.ones_like(tokens, dtype=torch.bool)
        maskable[[0, -1]] = False
        return {"tokens": tokens, "maskable": maskable}


class ToyDomain:
    name = "toy"
    description = "a toy domain for tests"

    def build_tokenizer(self, config: dict) -> CharTokenizer:
        return CharTokenizer.from_alphabet("abc")

    def load_tokenizer(self, directory: Path) -> CharTokenizer:
        return CharTokenizer.load(directory)

    def dataset(self, tokenizer, config: dict, split: str):
        return ToyDataset(tokenizer, int(config.get("size", 8)) if split == "train" else 4)

    def default_model(self):
        return None

    def validators(self) -> dict:
        return {}

    def scorers(self, device: str = "cpu") -> dict:
        return {}

    def rewards(self) -> dict:
        """``letter_fraction(letter="a")``: the share of a rollout's letters that are ``letter``."""
        def letter_fraction(letter: str = "a"):
            return lambda texts, canvases: [t.count(letter) / max(1, len(t)) for t in texts]

        return {"letter_fraction": letter_fraction}

    def bench_spec(self, tokenizer: CharTokenizer):
        """Unconditional canvases framed by eos like the training data, and the fraction of outputs that are
        one of the training patterns as its quality column."""
        from seqdiff.bench import BenchSpec

        def pattern_rate(tasks: list[dict], outputs: list[list[int]]) -> dict:
            texts = [tokenizer.decode([t for t, e in zip(out, task["editable"]) if e])
                     for out, task in zip(outputs, tasks)]
            return {"pattern_rate": sum(t in PATTERNS for t in texts) / max(1, len(texts))}

        return BenchSpec(canvas_prefix=(tokenizer.eos_id,), quality=pattern_rate, quality_columns=("pattern_rate",))

    def add_commands(self, subparsers: argparse._SubParsersAction) -> None:
        p = subparsers.add_parser("toy-hello", help="a command added by the toy domain")
        p.set_defaults(func=lambda args: print("hello from toy") or 0)

    def serve(self):
        """``GET /toy/hello`` answering the loaded greeting: the host's plugin path without a real domain."""
        from starlette.routing import Route

        from seqdiff.serve import ServeContribution

        return ServeContribution(name="toy", description="a toy greeting", routes=(Route("/toy/hello", hello),),
                                 load=lambda options: {"greeting": "hello from toy"})


async def hello(request):
    from seqdiff.serve.app import service
    from seqdiff.serve.body import json_response

    return json_response(200, service(request, "toy"))
