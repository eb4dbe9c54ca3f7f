"""Reward fine-tuning of the bundled protein model toward net charge +5 (with the repeat penalty and a KL
penalty), then a before/after table on the same seeds: mean net charge, scorer pseudo-perplexity,
longest homopolymer and top-residue fraction, natural held-out sequences beside them. With a config whose
``rollout.canvas_options`` names a motif, the table's designs are laid out as ``design-protein --motif``
lays them (layout i of seed s) and a column gives the fraction of designs that keep the motif exactly.

    nice -n 19 python scripts/tune_protein_charge.py --out runs/tune/protein-charge
    nice -n 19 python scripts/tune_protein_charge.py --config configs/tune-protein-motif.yaml --out runs/tune/motif

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
from seqdiff_protein.tune_canvases import motif_canvases

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tune-protein-charge.yaml"


def canvases(tok, length: int, n: int, seed: int, canvas_options: dict) -> list[dict]:
    """The table's ``n`` canvases of ``seed``: the config's motif layouts if it has canvas options (the
    designer's layout i of seed s), else unconditional ``<cls>`` + ``length`` masks + ``<eos>``."""
    if canvas_options:
        return motif_canvases(tok, length, n, seed, **canvas_options)
    blank = {"tokens": [cls_id(tok)] + [tok.mask_id] * length + [tok.eos_id],
             "editable": [False] + [True] * length + [False]}
    return [blank] * n


def designs(folder: Path, layouts: list[dict], seed: int, steps: int) -> list[str]:
    """One design per canvas as the rollouts draw them (ancestral, temperature 1, right-padded), design i
    seeded from (seed, i)."""
    pretrained = from_pretrained(folder)
    tok = pretrained.tokenizer
    width = max(len(c["tokens"]) for c in layouts)
    x = torch.full((len(layouts), width), tok.pad_id)
    editable = torch.zeros_like(x, dtype=torch.bool)
    for r, c in enumerate(layouts):
        x[r, : len(c["tokens"])] = torch.tensor(c["tokens"])
        editable[r, : len(c["editable"])] = torch.tensor(c["editable"])
    sampler = AncestralSampler(steps=steps, noise=pretrained.noise, sampling=SamplingOptions(temperature=1.0))
    seeds = [seed * 100_003 + i for i in range(len(layouts))]
    out = Denoise(sampler, banned_ids=nonstandard_ids(tok))(pretrained.model, x, editable, row_generators(seeds))
    return [tok.decode(row[: len(c["tokens"])].tolist()) for row, c in zip(out.tokens, layouts)]


def motif_kept(seqs: list[str], layouts: list[dict]) -> float | None:
    """Fraction of designs whose fixed positions read exactly the layout's motif residues (None: no motif)."""
    if not layouts or "layout" not in layouts[0]:
        return None
    kept = [len(s) == len(c["layout"].template)
            and all(a == b for a, b, f in zip(s, c["layout"].template, c["layout"].fixed) if f)
            for s, c in zip(seqs, layouts)]
    return sum(kept) / len(kept)


def stats(seqs: list[str], scorer, layouts: list[dict] = ()) -> dict:
    return {"net_charge": statistics.mean(charge(s) for s in seqs), "motif_kept": motif_kept(seqs, layouts),
            "pppl": statistics.mean(scorer(seqs)),
            "max_homopolymer": statistics.mean(longest_run(s) for s in seqs),
            "top_residue_frac": statistics.mean(top_residue(s)[1] for s in seqs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(CONFIG), help="a protein tune config (default: the charge one)")
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
    config = load_config(args.config, overrides)
    domain = ProteinDomain()
    scorer = domain.scorers("cpu")["pppl"]
    base = domain.default_model()
    ro, seeds = config.rollout, [int(s) for s in args.seeds.split(",")]
    tuned = out / "model"
    if not (tuned / "config.json").is_file():
        tune(config, resume=(out / "checkpoints" / "last.ckpt").exists())
    rows = []
    for seed in seeds:
        layouts = canvases(from_pretrained(base).tokenizer, ro.length, args.designs, seed, dict(ro.canvas_options))
        for name, folder in (("untuned", base), ("tuned", tuned)):
            rows.append({"model": name, "seed": seed,
                         **stats(designs(folder, layouts, seed, ro.steps), scorer, layouts)})
    natural = [s for s in domain.reference_sequences(200, max_length=256) if len(s) >= 32][: args.designs]
    rows.append({"model": "natural (held-out)", "seed": None, **stats(natural, scorer)})
    header = (f"{'model':<20}{'seed':>5}{'net charge':>12}{'motif kept':>12}{'pppl':>9}{'max homopol.':>14}"
              f"{'top residue':>13}")
    print(header)
    for r in rows:
        kept = "-" if r["motif_kept"] is None else f"{r['motif_kept']:.3f}"
        print(f"{r['model']:<20}{str(r['seed'] if r['seed'] is not None else '-'):>5}{r['net_charge']:>12.2f}"
              f"{kept:>12}{r['pppl']:>9.2f}{r['max_homopolymer']:>14.2f}{r['top_residue_frac']:>13.3f}")
    summary = json.loads((out / "tune_summary.json").read_text()) if (out / "tune_summary.json").exists() else {}
    (out / "table.json").write_text(json.dumps({"rows": rows, "tune": summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
