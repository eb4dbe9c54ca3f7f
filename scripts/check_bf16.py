"""Does bf16 inference change what users get? float32 and bfloat16 side by side on the same seeds.

* protein: ``design-protein``'s default path (bundled model, length ``--length``, 32 ancestral steps at 256)
  in each dtype; the designs scored by the domain's float32 scorer (pseudo-perplexity), longest homopolymer
  and top-residue fraction, generation speed (scoring excluded), and how many designs are identical.
* code: ``CodeInfiller.infill`` on held-out tasks (``seqdiff_code.tasks.infill_tasks``): CPython-valid rate
  of ``prefix + middle + suffix``, exact line match, median wall time.
* 12 x 512 random-weight denoiser (38M, EvoDiff-OADM's size): ms per forward at length 256 and how often
  the two dtypes' argmax agrees (random weights: no quality to measure).

    python scripts/check_bf16.py --designs 16 --tasks 30 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

DTYPES = ("float32", "bfloat16")


def protein_rows(designs: int, length: int, batch: int) -> list[dict]:
    from seqdiff_protein import ProteinDesigner
    from seqdiff_protein.domain import ProteinDomain
    from seqdiff_protein.metrics import longest_run, top_residue

    pppl = ProteinDomain().scorers()["pppl"]
    rows, seqs = [], {}
    for dtype in DTYPES:
        designer = ProteinDesigner.from_pretrained(esm_model="none", dtype=dtype)
        start = time.perf_counter()
        result = designer.design(length=length, num_designs=designs, batch_size=batch, seed=0, novelty=None,
                                 progress=False)
        wall = time.perf_counter() - start
        seqs[dtype] = [r.row["sequence"] for r in result.designs]
        scores = pppl(seqs[dtype])
        rows.append({"check": f"protein {dtype}", "pppl": statistics.mean(scores),
                     "longest_run": statistics.mean(longest_run(s) for s in seqs[dtype]),
                     "top_fraction": statistics.mean(top_residue(s)[1] for s in seqs[dtype]),
                     "residues/s": designs * length / wall})
    same = sum(a == b for a, b in zip(*seqs.values()))
    rows[-1]["note"] = f"{same}/{designs} designs identical to float32"
    return rows


def code_rows(n_tasks: int) -> list[dict]:
    from seqdiff_code.infill import CodeInfiller
    from seqdiff_code.tasks import infill_tasks, score_infills

    tasks = infill_tasks(n_single=n_tasks // 2, n_multi=n_tasks - n_tasks // 2)
    rows, texts = [], {}
    for dtype in DTYPES:
        infiller = CodeInfiller.from_pretrained(dtype=dtype)
        results = [infiller.infill(t.prefix, t.suffix, max_tokens=64) for t in tasks]
        texts[dtype] = [r.text for r in results]
        s = score_infills(tasks, results)
        rows.append({"check": f"code {dtype}", "valid": s["compiles_rate"], "exact": s["exact_match_stripped"],
                     "median_ms": 1000 * s["median_wall_s"], "nfe": s["mean_nfe"]})
    same = sum(a == b for a, b in zip(*texts.values()))
    rows[-1]["note"] = f"{same}/{len(tasks)} middles identical to float32"
    return rows


def big_rows(length: int, reps: int = 5) -> list[dict]:
    from seqdiff.model import Denoiser, DenoiserConfig

    torch.manual_seed(0)
    model = Denoiser(DenoiserConfig(vocab_size=33, pad_id=1, mask_id=32, d_model=512, n_layers=12, n_heads=8)).eval()
    x = torch.randint(4, 29, (1, length))
    x[:, torch.rand(length) < 0.5] = 32  # half masked, as mid-way through decoding
    logits, best = {}, {dtype: float("inf") for dtype in DTYPES}
    with torch.inference_mode():
        for rep in range(reps + 1):  # alternating dtypes, best of reps: a busy machine slows both alike
            for dtype in DTYPES:
                model.to(getattr(torch, dtype))
                start = time.perf_counter()
                logits[dtype] = model(x).float()
                if rep:  # the first round warms up
                    best[dtype] = min(best[dtype], time.perf_counter() - start)
    rows = [{"check": f"12x512 {dtype}", "ms/forward": 1000 * best[dtype]} for dtype in DTYPES]
    agree = (logits["float32"].argmax(-1) == logits["bfloat16"].argmax(-1)).float().mean().item()
    drift = (logits["float32"] - logits["bfloat16"]).abs().max().item()
    rows[-1]["note"] = f"argmax agrees at {agree:.1%} of positions, max |logit diff| {drift:.3f}"
    return rows


def show(rows: list[dict]) -> None:
    for row in rows:
        cells = [f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k != "check"]
        print(f"{row['check']:<18} " + "  ".join(cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--designs", type=int, default=16, help="protein designs per dtype (default 16)")
    ap.add_argument("--length", type=int, default=256, help="protein length (default 256)")
    ap.add_argument("--batch-size", type=int, default=8, help="designs decoded together (default 8)")
    ap.add_argument("--tasks", type=int, default=30, help="held-out code infill tasks (default 30)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--only", default="protein,code,big", help="comma-separated: protein, code, big")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from seqdiff.precision import auto_dtype, cpu_has_native_bf16

    print(f"cpu native bf16: {cpu_has_native_bf16()}; auto for d_model 256: {auto_dtype('cpu', 256)}; "
          f"torch threads {torch.get_num_threads()}", flush=True)
    parts = set(args.only.split(","))
    if "big" in parts:
        show(big_rows(args.length))
    if "protein" in parts:
        show(protein_rows(args.designs, args.length, args.batch_size))
    if "code" in parts:
        show(code_rows(args.tasks))


if __name__ == "__main__":
    main()
