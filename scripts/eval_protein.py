"""Protein evaluation on the test split (run once the bundled models are installed):

1. bundled-scorer pseudo-perplexity of N unconditional designs vs N natural test-split sequences vs N random
   sequences (background composition, same lengths), with repeat metrics beside each;
2. time per design on this machine (threads reported);
3. every problem of ../shared/data/motif_examples.json through the CLI with seq: motifs: motif kept exactly in
   100% of designs, all residues standard.

    python scripts/eval_protein.py [--n 100] [--designs-per-motif 10] [--out runs/eval_protein] [--threads 1]
Prints a markdown report and writes it (and the raw runs) under --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--length", default="100-150", help="unconditional design lengths")
    ap.add_argument("--designs-per-motif", type=int, default=10)
    ap.add_argument("--out", default="runs/eval_protein")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from seqdiff_protein import ProteinDesigner
    from seqdiff_protein.domain import ProteinDomain
    from seqdiff_protein.metrics import BACKGROUND, pairwise_diversity, repeat_metrics

    lines = ["# Protein evaluation", ""]
    designer = ProteinDesigner.from_pretrained()
    meta = json.loads((designer.model_path / "config.json").read_text())["meta"]
    lines.append(f"Generator: {designer.model_name} (validation NLL bound "
                 f"{meta.get('validation_nll_nats_per_token')} nats/token, {meta.get('steps')} steps on "
                 f"{meta.get('hardware')}). CPU threads: {torch.get_num_threads()}.")
    t0 = time.perf_counter()
    result = designer.design(length=args.length, num_designs=args.n, seed=0, esm_model="none", novelty="auto",
                             batch_size=args.batch_size, progress=True)
    gen_s = time.perf_counter() - t0
    result.write(out / "unconditional")
    designs = result.sequences
    domain = ProteinDomain()
    lo, hi = (int(v) for v in args.length.split("-"))
    from seqdiff_protein.data import reference_sequences

    natural = reference_sequences(args.n, max_length=hi, min_length=lo)  # test split, same length range
    rng = random.Random(0)
    randoms = ["".join(rng.choices(list(BACKGROUND), list(BACKGROUND.values()), k=len(s))) for s in designs]
    scorer = domain.scorers()["pppl"]
    lines += ["", f"Time per design (generation only, {args.n} designs of {args.length} residues, batch "
                  f"{args.batch_size}): {gen_s / args.n:.3f} s", "",
              f"## Unconditional designs vs natural vs random (scorer: {scorer.name}; lower pppl = more natural "
              f"to the scorer; read it with the repeat metrics)", "",
              "| set | n | mean length | pppl median | pppl mean | longest run mean (max) | top-residue fraction mean (max) | pairwise diversity |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = {}
    for name, seqs in (("designs", designs), ("natural test split", natural), ("random (background comp.)", randoms)):
        t = time.perf_counter()
        ppl = np.array(scorer(seqs))
        score_s = time.perf_counter() - t
        reps = [repeat_metrics(s) for s in seqs]
        runs = np.array([r["longest_run"] for r in reps])
        tops = np.array([r["top_residue_fraction"] for r in reps])
        div = pairwise_diversity(seqs, max_pairs=1000)
        rows[name] = {"pppl_median": float(np.median(ppl)), "pppl_mean": float(ppl.mean()),
                      "longest_run_mean": float(runs.mean()), "top_fraction_mean": float(tops.mean()),
                      "diversity": div, "score_s": score_s}
        lines.append(f"| {name} | {len(seqs)} | {np.mean([len(s) for s in seqs]):.0f} | {np.median(ppl):.2f} | "
                     f"{ppl.mean():.2f} | {runs.mean():.2f} ({runs.max()}) | {tops.mean():.3f} ({tops.max():.3f}) | "
                     f"{div:.3f} |")
    ident = [r.row["nearest_train_identity"] for r in result.designs]
    lines += ["", f"Nearest-training-sequence identity of designs (approximate, {result.config['novelty_reference']}): "
                  f"mean {np.nanmean(ident):.3f}, max {np.nanmax(ident):.3f}.",
              f"Repeat guard pass rate: {result.summary['designs']['repeat_guard_pass_fraction']:.2f}."]

    examples = json.loads((ROOT.parent / "shared" / "data" / "motif_examples.json").read_text())["problems"]
    lines += ["", "## motif_examples.json through the CLI (seq: motifs)", "",
              "| problem | contig (seq: form) | designs | motif kept | all standard | lengths in range | pppl median | longest run max |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    all_ok = True
    for prob in examples:
        parts = []
        for seg in prob["segments"]:
            parts.append(f"seq:{seg['sequence']}" if seg["type"] == "motif" else
                         (str(seg["min_len"]) if seg["min_len"] == seg["max_len"] else f"{seg['min_len']}-{seg['max_len']}"))
        contig = "/".join(parts)
        run_dir = out / f"motif_{prob['name']}"
        length = f"{prob['total_length']['min']}-{prob['total_length']['max']}"
        cmd = [sys.executable, "-m", "seqdiff", "design-protein", "--motif", contig, "--length", length,
               "-n", str(args.designs_per_motif), "--seed", "0", "--out", str(run_dir), "--quiet", "--threads",
               str(args.threads), "--baselines", "--resume"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines.append(f"| {prob['name']} | `{contig}` | FAILED: {proc.stderr.strip()[-200:]} | | | | | |")
            all_ok = False
            continue
        recs = list(csv.DictReader(open(run_dir / "scores.csv")))
        kept = 0
        for r in recs:
            starts, ends = json.loads(r["motif_start_idxs"]), json.loads(r["motif_end_idxs"])
            kept += all(r["sequence"][s:e + 1] == m for s, e, m in zip(starts, ends, prob["motif_sequences"]))
        std = sum(set(r["sequence"]) <= set("ACDEFGHIKLMNPQRSTVWY") for r in recs)
        inrange = sum(prob["total_length"]["min"] <= len(r["sequence"]) <= prob["total_length"]["max"] for r in recs)
        ok = kept == std == inrange == len(recs)
        all_ok &= ok
        ppl = np.median([float(r["esm_pppl"]) for r in recs])
        lines.append(f"| {prob['name']} | `{contig}` | {len(recs)} | {kept / len(recs):.0%} | {std / len(recs):.0%} | "
                     f"{inrange / len(recs):.0%} | {ppl:.2f} | {max(int(r['longest_run']) for r in recs)} |")
    lines += ["", f"All motif checks passed: {all_ok}"]
    report = "\n".join(lines) + "\n"
    (out / "report.md").write_text(report)
    (out / "report.json").write_text(json.dumps({"unconditional": rows, "time_per_design_s": gen_s / args.n,
                                                 "motif_checks_passed": all_ok}, indent=1))
    print(report)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
