"""Shared test fixtures for the core's and the domains' suites (and for third-party domains' tests): a tiny
character vocabulary and canvases, the catalogue of samplers the contract suite runs, a tiny denoiser, and a
model wrapper that records every call so tests can check NFE and cache windows.

Plain functions and objects (no pytest import): the suites wrap them in fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff.samplers import (
    AncestralSampler, BlockwiseSampler, ConfidenceSampler, Denoise, DenoiseResult, FactorSampler, RemaskSampler,
    Sampler, SamplingOptions, ThresholdSampler, row_generators)
from seqdiff.tokenizer import CharTokenizer, Tokenizer

TOK = CharTokenizer.from_alphabet("abcdefg")  # pad 0, mask 1, eos 2, unk 3, residues 4..10
PAD, MASK, EOS = TOK.pad_id, TOK.mask_id, TOK.eos_id
SPECIAL = sorted(TOK.special_ids)


def _opts(t: float) -> SamplingOptions:
    return SamplingOptions(temperature=t)


# name -> (factory(temperature) -> sampler, output independent of the seed at temperature 0)
SAMPLERS: dict[str, tuple[Callable[[float], Sampler], bool]] = {
    "ancestral": (lambda t: AncestralSampler(steps=6, sampling=_opts(t)), False),
    "confidence": (lambda t: ConfidenceSampler(sampling=_opts(t)), True),
    "confidence-steps-margin": (lambda t: ConfidenceSampler(steps=5, measure="margin", sampling=_opts(t)), True),
    "confidence-entropy": (lambda t: ConfidenceSampler(steps=7, measure="entropy", sampling=_opts(t)), True),
    "confidence-random": (lambda t: ConfidenceSampler(steps=5, remasking="random", sampling=_opts(t)), False),
    "threshold": (lambda t: ThresholdSampler(threshold=0.3, sampling=_opts(t)), True),
    "factor": (lambda t: FactorSampler(factor=1.0, sampling=_opts(t)), True),
    "block-confidence": (lambda t: BlockwiseSampler(ConfidenceSampler(steps=8, sampling=_opts(t)), 4), True),
    "block-threshold": (lambda t: BlockwiseSampler(ThresholdSampler(0.5, sampling=_opts(t)), 5), True),
    "block-ancestral": (lambda t: BlockwiseSampler(AncestralSampler(steps=9, sampling=_opts(t)), 4), False),
    "remask-ancestral": (lambda t: RemaskSampler(AncestralSampler(steps=6, sampling=_opts(t)), refine_steps=3,
                                                 fraction=0.2, sampling=_opts(t)), False),
    "remask-confidence": (lambda t: RemaskSampler(ConfidenceSampler(steps=6, sampling=_opts(t)), refine_steps=2,
                                                  fraction=0.3, sampling=_opts(t)), True),
}

# inner samplers the KV-cache tests wrap in BlockwiseSampler
INNERS: dict[str, Callable[[], Sampler]] = {
    "confidence": lambda: ConfidenceSampler(steps=10, sampling=SamplingOptions(temperature=1.0)),
    "threshold": lambda: ThresholdSampler(0.4),
    "factor": lambda: FactorSampler(1.5),
    "ancestral": lambda: AncestralSampler(steps=12),
}


def tiny_denoiser(seed: int = 0, vocab: CharTokenizer = TOK, spread: float = 40.0) -> Denoiser:
    """2 layers, d=32; the embeddings are scaled by ``spread`` so rankings are not decided at rounding level."""
    torch.manual_seed(seed)
    model = Denoiser(DenoiserConfig(vocab_size=vocab.vocab_size, pad_id=vocab.pad_id, mask_id=vocab.mask_id,
                                    d_model=32, n_layers=2, n_heads=4)).eval()
    with torch.no_grad():
        model.embed_tokens.weight.mul_(spread)
        model.embed_tokens.weight[vocab.pad_id].zero_()
    return model


class CallLog(nn.Module):
    """Wraps a denoiser and records each call's (window, refresh): ``len(calls)`` is the NFE."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.config, self.calls = model, model.config, []

    def new_cache(self):
        return self.model.new_cache()

    def forward(self, tokens, cache=None, window=None, refresh=False):
        self.calls.append((window, refresh))
        return self.model(tokens, cache=cache, window=window, refresh=refresh)


def canvas(prompt: str, n_masks: int, motif_at: tuple[int, str] | None = None) -> tuple[list[int], list[bool]]:
    """<prompt> [masks] <eos>; prompt and eos fixed; an optional fixed motif inside the masks."""
    ids = TOK.encode(prompt) + [MASK] * n_masks + [EOS]
    edit = [False] * len(prompt) + [True] * n_masks + [False]
    if motif_at is not None:
        at, motif = motif_at
        for j, c in enumerate(motif):
            ids[len(prompt) + at + j] = TOK.encode(c)[0]
            edit[len(prompt) + at + j] = False
    return ids, edit


def batch(rows: list[tuple[list[int], list[bool]]], pad_id: int = PAD) -> tuple[Tensor, Tensor]:
    """Right-padded canvas [B, L] and editable mask [B, L]."""
    length = max(len(ids) for ids, _ in rows)
    x = torch.full((len(rows), length), pad_id)
    e = torch.zeros((len(rows), length), dtype=torch.bool)
    for r, (ids, edit) in enumerate(rows):
        x[r, : len(ids)] = torch.tensor(ids)
        e[r, : len(ids)] = torch.tensor(edit)
    return x, e


ROWS = [canvas("ab", 14), canvas("abcdefg", 9, motif_at=(3, "cc")), canvas("", 17)]


def run(sampler: Sampler, model, x: Tensor, e: Tensor, seeds: list[int], **kw) -> DenoiseResult:
    """Decode with per-row seeds, the tiny vocabulary's specials banned."""
    return Denoise(sampler, banned_ids=SPECIAL, **kw)(model, x, e, row_generators(list(seeds)))


def write_model_folder(path: str | Path, tokenizer: Tokenizer, domain: str, seed: int = 0, **config) -> Path:
    """A random-weights model folder (2 layers, d=32 unless ``config`` says otherwise) in the on-disk format
    users get from ``seqdiff train``: exercises the whole loading path, fast."""
    from seqdiff.checkpoint import Pretrained, save_pretrained

    torch.manual_seed(seed)
    shape = {"d_model": 32, "n_layers": 2, "n_heads": 4, **config}
    model = Denoiser(DenoiserConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id,
                                    mask_id=tokenizer.mask_id, **shape))
    return save_pretrained(Pretrained(model=model, tokenizer=tokenizer, domain=domain,
                                      meta={"note": "random weights (tests)"}), path)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``seqdiff ARGV`` in-process: (exit status, stdout, stderr); an escaping exception fails the test."""
    import contextlib
    import io

    from seqdiff.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


def logged_losses(out_dir: Path) -> dict[int, float]:
    """``train/loss`` by step from a Lightning run's CSV logs (every version, so a resumed run's too)."""
    import csv

    losses = {}
    for path in sorted(out_dir.glob("logs/version_*/metrics.csv")):
        for row in csv.DictReader(path.open()):
            if row.get("train/loss"):
                losses[int(row["step"])] = float(row["train/loss"])
    return losses
