"""Validation NLL (nats/token, the ELBO bound the trainer reports) of code model folders on the same
held-out examples, with the same masking noise for every model, so the figures compare like for like.

    python scripts/compare_code_models.py OLD_DIR NEW_DIR --paths stdlib --paths runs/corpus-packages

Each ``--paths`` value is one held-out set (comma-separated sources make one set). Examples: the
``--split`` files of that set through the code domain's dataset (deterministic draws), ``--batches`` x
``--batch-size`` item indices spread evenly over the whole split; batch ``i`` draws its times and masks
from a generator seeded with ``i``. ``--line-fraction 0`` (default) is the masking mix the bundled model's
card figure was measured on. Prints one JSON line per (set, model) and writes them to ``--out`` if given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from seqdiff.checkpoint import from_pretrained
from seqdiff.data import collate
from seqdiff.loss import diffusion_loss, mask_tokens
from seqdiff.noise import Schedule


def held_out(tokenizer, paths: list[str], split: str, line_fraction: float):
    from seqdiff_code.data import CodeDataConfig, CodeDataset, load_texts

    config = CodeDataConfig(paths=tuple(paths), line_fraction=line_fraction)
    return CodeDataset(load_texts(config, split), tokenizer, config, deterministic=True)


@torch.no_grad()
def nll(model, schedule: Schedule, dataset, pad_id: int, batches: int, batch_size: int) -> dict:
    """Token-weighted mean ELBO over the evenly spread batches."""
    n = min(len(dataset), batches * batch_size)
    indices = [round(i * (len(dataset) - 1) / max(1, n - 1)) for i in range(n)]
    total, tokens = 0.0, 0
    for b in range(0, n, batch_size):
        batch = collate([dataset[i] for i in indices[b:b + batch_size]], pad_id)
        generator = torch.Generator().manual_seed(b // batch_size)
        t = schedule.sample_times(batch["tokens"].shape[0], generator)
        noisy, masked = mask_tokens(batch["tokens"], batch["maskable"], t, schedule, model.config.mask_id, generator)
        out = diffusion_loss(model(noisy), batch["tokens"], masked, batch["maskable"], t, schedule,
                             model.config.mask_id)
        total += float(out.loss) * int(out.num_tokens)
        tokens += int(out.num_tokens)
    return {"nll_nats_per_token": round(total / max(1, tokens), 4), "tokens": tokens, "examples": n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model folders (same tokenizer)")
    parser.add_argument("--paths", action="append", required=True, help="one held-out set's sources")
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--line-fraction", type=float, default=0.0)
    parser.add_argument("--out", help="JSON-lines file to write the rows to")
    args = parser.parse_args(argv)
    models = [from_pretrained(m) for m in args.models]
    tokenizer = models[0].tokenizer
    rows = []
    for paths in args.paths:
        sources = paths.split(",")
        dataset = held_out(tokenizer, sources, args.split, args.line_fraction)
        for folder, pretrained in zip(args.models, models):
            row = {"set": paths, "split": args.split, "line_fraction": args.line_fraction, "model": folder,
                   **nll(pretrained.model, Schedule(pretrained.noise), dataset, tokenizer.pad_id,
                         args.batches, args.batch_size)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        from seqdiff.io import atomic_write_text

        atomic_write_text(Path(args.out), "".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
