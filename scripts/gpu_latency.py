"""GPU latency and throughput of the bundled protein model, measured side by side in one process:

- one forward pass, eager vs replayed as a CUDA graph (the launch floor);
- whole designs: the naive baseline (random order, one residue per model call) vs ancestral sampling with
  L/8 and L/32 steps, each with the eager model and through ``GraphedDenoiser``;
- at batch 1 (latency) and batch 64 (throughput), lengths 256 and 1024.

Run on a lent GPU:  python scripts/gpu_latency.py --json out.json   (on a CPU it runs eagerly, slowly).
Quality is not measured here: the same samplers' quality figures come from ``seqdiff bench`` on the CPU."""

from __future__ import annotations

import argparse
import json
import time

import torch

from seqdiff.checkpoint import from_pretrained
from seqdiff.graphs import GraphedDenoiser
from seqdiff.samplers import AncestralSampler, ConfidenceSampler, Denoise, SamplingOptions, row_generators


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeat: int) -> float:
    """Median wall seconds of ``fn``, synchronised."""
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="domains/protein/seqdiff_protein/models/protein-small")
    parser.add_argument("--lengths", default="256,1024")
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--json")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    pre = from_pretrained(args.model, device=device, dtype=dtype)
    model, tok = pre.model.eval(), pre.tokenizer
    graphed = GraphedDenoiser(model)
    cls = tok.tokens.index("<cls>")
    banned = [i for i, t in enumerate(tok.tokens) if t not in "ACDEFGHIKLMNPQRSTVWY"]
    rows = []

    def emit(row: dict) -> None:
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    for length in map(int, args.lengths.split(",")):
        for batch in map(int, args.batches.split(",")):
            x = torch.full((batch, length + 2), tok.mask_id, device=device)
            x[:, 0], x[:, -1] = cls, tok.eos_id
            editable = torch.ones_like(x, dtype=torch.bool)
            editable[:, [0, -1]] = False
            with torch.no_grad():
                eager_ms = timed(lambda: model(x), 20) * 1e3
                graph_ms = timed(lambda: graphed(x), 50) * 1e3 if device == "cuda" else None
            emit({"what": "forward", "length": length, "batch": batch, "eager_ms": eager_ms, "graph_ms": graph_ms})
            samplers = {"naive random-order, 1 residue/call": ConfidenceSampler(
                steps=None, remasking="random", sampling=SamplingOptions(1.0))}
            for div in (8, 32):
                samplers[f"ancestral {length // div} steps"] = AncestralSampler(steps=length // div)
            forwards = {"eager": model, "cuda-graph": graphed} if device == "cuda" else {"eager": model}
            naive_s = None
            for name, sampler in samplers.items():
                for how, forward in forwards.items():
                    run = Denoise(sampler, banned_ids=banned)

                    def once():
                        return run(forward, x, editable, row_generators(range(batch), device))

                    sync()
                    start = time.perf_counter()
                    result = once()  # also warm-up and graph capture
                    sync()
                    first = time.perf_counter() - start
                    wall = timed(once, 1 if first > 5 else 3)
                    naive_s = naive_s or wall
                    floor = graph_ms or eager_ms
                    emit({"what": name, "forward": how, "length": length, "batch": batch, "nfe": result.nfe,
                          "steps": result.steps, "wall_s": wall, "residues_per_s": batch * length / wall,
                          "ms_per_step": wall * 1e3 / result.steps, "step_vs_graph_floor": wall * 1e3 /
                          result.steps / floor, "speedup_vs_naive_eager": naive_s / wall})
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                       "torch": torch.__version__, "dtype": str(dtype), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
