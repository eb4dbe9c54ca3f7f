"""GPU latency/throughput of the bundled protein model: one forward (eager vs CUDA graph) and whole
designs (naive one-residue-per-call random order vs ancestral with few steps), batch 1 and batch 64.

Run on a lent GPU:  python scripts/gpu_latency.py --json out.json   (CPU works too, without graphs)."""

from __future__ import annotations

import argparse
import json
import time

import torch

from seqdiff.checkpoint import from_pretrained
from seqdiff.samplers import AncestralSampler, ConfidenceSampler, Denoise, SamplingOptions
from seqdiff.samplers.base import row_generators


def timed(fn, repeat: int) -> float:
    """Median wall seconds of ``fn`` (synchronised)."""
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="domains/protein/seqdiff_protein/models/protein-small")
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--json")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    pre = from_pretrained(args.model, device=device, dtype=dtype)
    model, tok = pre.model, pre.tokenizer
    cls = tok.tokens.index("<cls>")
    banned = [i for i, t in enumerate(tok.tokens) if t not in "ACDEFGHIKLMNPQRSTVWY"]
    rows = []

    def canvas(batch):
        x = torch.full((batch, args.length + 2), tok.mask_id, device=device)
        x[:, 0], x[:, -1] = cls, tok.eos_id
        editable = torch.ones_like(x, dtype=torch.bool)
        editable[:, [0, -1]] = False
        return x, editable

    for batch in (1, 64):
        x, editable = canvas(batch)
        with torch.no_grad():
            eager = timed(lambda: model(x), 20)
            graph_s = None
            if device == "cuda":
                static = x.clone()
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(3):
                        model(static)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    out = model(static)
                graph_s = timed(graph.replay, 50)
        rows.append({"what": "forward", "batch": batch, "eager_ms": eager * 1e3,
                     "cuda_graph_ms": graph_s * 1e3 if graph_s else None})
        samplers = {"naive random-order 1/step": ConfidenceSampler(steps=None, remasking="random",
                                                                   sampling=SamplingOptions(1.0)),
                    f"ancestral {args.length // 8} steps": AncestralSampler(steps=args.length // 8),
                    f"ancestral {args.length // 32} steps": AncestralSampler(steps=args.length // 32)}
        base = None
        for name, sampler in samplers.items():
            run = Denoise(sampler, banned_ids=banned)
            result = run(model, x, editable, row_generators(range(batch), device))
            wall = timed(lambda: run(model, x, editable, row_generators(range(batch), device)), 3)
            base = base or wall
            rows.append({"what": name, "batch": batch, "nfe": result.nfe, "wall_s": wall,
                         "residues_per_s": batch * args.length / wall, "speedup_vs_naive": base / wall})
    for r in rows:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "rows": rows}, handle,
                      indent=1)


if __name__ == "__main__":
    main()
