"""Reward fine-tuning of the bundled protein model toward net charge +5 (with the repeat penalty and a KL
penalty), then a before/after table on the same seeds: mean net charge, scorer pseudo-perplexity,
longest homopolymer and top-residue fraction, natural held-out sequences beside them.

    nice -n 19 python scripts/tune_protein_charge.py --out runs/tune/protein-charge

Outputs (the tuned model folder, logs, table JSON) go under --out, not into the repository."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from seqdiff.checkpoint import from_pretrained
from seqdiff.samplers import AncestralSampler, Denoise, SamplingOptions, row_generators
from seqdiff.tune.config import load_config
from seqdiff.tune.run import tune
from seqdiff_protein.alphabet import cls_id, nonstandard_ids
from seqdiff_protein.domain import ProteinDomain
from seqdiff_protein.metrics import longest_run, top_residue
from seqdiff_protein.rewards import charge

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tune-protein-charge.yaml"


def designs(folder: Path, length: int, n: int, seed: int, steps: int) -> list[str]:
    """``n`` unconditional designs as the rollouts draw them (ancestral, temperature 1), design i seeded
    from (seed, i)."""
    pretrained = from_pretrained(folder)
    tok = pretrained.tokenizer
    x = torch.tensor([[cls_id(tok)] + [tok.mask_id] * length + [tok.eos_id]] * n)
    editable = torch.zeros_like(x, dtype=torch.bool)
    editable[:, 1:-1] = True
    sampler = AncestralSampler(steps=steps, noise=pretrained.noise, sampling=SamplingOptions(temperature=1.0))
    out = Denoise(sampler, banned_ids=nonstandard_ids(tok))(pretrained.model, x, editable,
                                                          row_generators([seed * 100_003 + i for i in range(n)]))
    return [tok.decode(row.tolist()) for row in out.tokens]


def stats(seqs: list[str], scorer) -> dict:
    return {"net_charge": statistics.mean(charge(s) for s in seqs),
            "pppl": statistics.mean(scorer(seqs)),
            "max_homopolymer": statistics.mean(longest_run(s) for s in seqs),
            "top_residue_frac": statistics.mean(top_residue(s)[1] for s in seqs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tune/protein-charge")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    parser.add_argument("--designs", type=int, default=32, help="designs per seed in the table")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--set", action="append", default=[], help="config overrides, as seqdiff tune --set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    overrides = [f"trainer.out_dir={out}", "trainer.progress=false", *args.set]
    if args.steps:
        overrides.append(f"trainer.max_steps={args.steps}")
    config = load_config(CONFIG, overrides)
    domain = ProteinDomain()
    scorer = domain.scorers("cpu")["pppl"]
    base = domain.default_model()
    ro, seeds = config.rollout, [int(s) for s in args.seeds.split(",")]
    tuned = out / "model"
    if not (tuned / "config.json").is_file():
        tune(config, resume=(out / "checkpoints" / "last.ckpt").exists())
    rows = []
    for seed in seeds:
        for name, folder in (("untuned", base), ("tuned", tuned)):
            rows.append({"model": name, "seed": seed,
                         **stats(designs(folder, ro.length, args.designs, seed, ro.steps), scorer)})
    natural = [s for s in domain.reference_sequences(200, max_length=256) if len(s) >= 32][: args.designs]
    rows.append({"model": "natural (held-out)", "seed": None, **stats(natural, scorer)})
    header = f"{'model':<20}{'seed':>5}{'net charge':>12}{'pppl':>9}{'max homopol.':>14}{'top residue':>13}"
    print(header)
    for r in rows:
        print(f"{r['model']:<20}{str(r['seed'] if r['seed'] is not None else '-'):>5}{r['net_charge']:>12.2f}"
              f"{r['pppl']:>9.2f}{r['max_homopolymer']:>14.2f}{r['top_residue_frac']:>13.3f}")
    summary = json.loads((out / "tune_summary.json").read_text()) if (out / "tune_summary.json").exists() else {}
    (out / "table.json").write_text(json.dumps({"rows": rows, "tune": summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
