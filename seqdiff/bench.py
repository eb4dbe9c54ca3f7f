"""``seqdiff bench``: the domain's naive baseline and a grid of sampler/cache configurations, run in one
process on the same canvases and seeds, with speed and quality side by side.

Everything domain-specific comes from the Domain object, each piece optional:

- ``naive_order`` ("random" or "low_confidence"; default: random for the protein domain, else
  low_confidence): the order of the one-token-per-step baseline every speed-up is measured against;
- ``bench_tasks(tokenizer, length, n, seed) -> list[dict(tokens, editable)]``: the canvases (default: an
  unconditional canvas, ``<cls>`` + length masks + ``<eos>`` when the tokenizer has ``<cls>``, else
  masks + ``<eos>``; only the masks are editable);
- ``bench_quality(tokenizer, tasks, outputs: list[list[int]]) -> dict[str, float]``: domain figures such as
  ``syntax_valid_rate`` and ``exact_match`` for code infill;
- ``scorers(device)["pppl"]``: ``f(list[str]) -> list[float]``, reported as ``scorer_pppl``;
- ``reference_sequences(n, max_length=...)``: natural sequences for a ``reference`` row;
- ``banned_ids(tokenizer)``: ids never to emit (default: the tokenizer's special ids).

Sequence statistics (``max_homopolymer``, ``top_residue_frac``) are computed on the decoded editable
region for unconditional canvases. Ratios from one run are the figures to quote.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from seqdiff.samplers import (
    AncestralSampler, BlockwiseSampler, CacheOptions, ConfidenceSampler, Denoise, FactorSampler, SamplingOptions,
    ThresholdSampler, row_generators)

GRIDS = ("full", "quick")


@dataclass
class BenchConfig:
    name: str
    sampler: Any
    cache: CacheOptions = field(default_factory=CacheOptions)
    naive: bool = False


def naive_order(domain) -> str:
    order = getattr(domain, "naive_order", None)
    if order is not None:
        return order
    return "random" if getattr(domain, "name", None) == "protein" else "low_confidence"


def naive_config(domain) -> BenchConfig:
    """One token per step, no cache, in the domain's own order (proteins: random, as EvoDiff's OADM)."""
    order = naive_order(domain)
    temperature = 1.0 if order == "random" else 0.0
    sampler = ConfidenceSampler(steps=None, remasking=order, sampling=SamplingOptions(temperature=temperature))
    return BenchConfig(f"naive-{order}", sampler, naive=True)


def grid(domain, length: int, kind: str = "full") -> list[BenchConfig]:
    """The naive row first, then ancestral steps L/2..L/32 (logit reuse), thresholds, factor, blocks x caches."""
    if kind not in GRIDS:
        raise ValueError(f"unknown grid {kind!r}; choose one of {', '.join(GRIDS)}")
    temperature = 1.0 if naive_order(domain) == "random" else 0.0
    opts = SamplingOptions(temperature=temperature)
    configs = [naive_config(domain)]
    divisors = (2, 4, 8, 16, 32) if kind == "full" else (8,)
    for steps in dict.fromkeys(max(1, length // d) for d in divisors):
        configs.append(BenchConfig(f"ancestral-{steps}", AncestralSampler(steps=steps, sampling=opts)))
    for tau in ((0.7, 0.8, 0.9, 0.95) if kind == "full" else (0.9,)):
        configs.append(BenchConfig(f"threshold-{tau}", ThresholdSampler(tau, sampling=opts)))
    if kind == "full":
        configs.append(BenchConfig("factor-1.0", FactorSampler(1.0, sampling=opts)))
    blocks = sorted({b for b in (32, length // 4) if 2 <= b < length}) if kind == "full" else [
        max(1, min(32, length // 2))]
    inners = [("threshold-0.9", lambda: ThresholdSampler(0.9, sampling=opts))]
    if kind == "full":
        steps = max(1, length // 8)
        inners.append((f"ancestral-{steps}", lambda: AncestralSampler(steps=steps, sampling=opts)))
    for block in blocks:
        for inner_name, make in inners:
            for mode in ("none", "prefix", "dual"):
                configs.append(BenchConfig(f"block{block}-{inner_name}-cache-{mode}",
                                           BlockwiseSampler(make(), block), CacheOptions(mode)))
    return configs


def default_tasks(tokenizer, length: int, n: int) -> list[dict]:
    tokens = getattr(tokenizer, "tokens", ())
    head = [tokens.index("<cls>")] if "<cls>" in tokens else []
    ids = head + [tokenizer.mask_id] * length + [tokenizer.eos_id]
    editable = [False] * len(head) + [True] * length + [False]
    return [{"tokens": list(ids), "editable": list(editable)} for _ in range(n)]


def max_homopolymer(seq: str) -> int:
    best = run = 0
    prev = None
    for ch in seq:
        run = run + 1 if ch == prev else 1
        prev, best = ch, max(best, run)
    return best


def top_residue_frac(seq: str) -> float:
    return Counter(seq).most_common(1)[0][1] / len(seq) if seq else float("nan")


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return round(statistics.fmean(values), 4) if values else None


def sequence_quality(seqs: Sequence[str], pppl: Callable | None) -> dict:
    out = {"max_homopolymer": _mean(max_homopolymer(s) for s in seqs),
           "top_residue_frac": _mean(top_residue_frac(s) for s in seqs)}
    if pppl is not None:
        out["scorer_pppl"] = _mean(pppl(list(seqs)))
    return out


def _collate(tasks: list[dict], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(t["tokens"]) for t in tasks)
    x = torch.full((len(tasks), length), pad_id, dtype=torch.long)
    e = torch.zeros((len(tasks), length), dtype=torch.bool)
    for r, t in enumerate(tasks):
        x[r, : len(t["tokens"])] = torch.tensor(t["tokens"])
        e[r, : len(t["editable"])] = torch.tensor(t["editable"])
    return x.to(device), e.to(device)


def run_config(cfg: BenchConfig, model, tasks: list[dict], batch_size: int, seed: int, banned: Sequence[int],
               pad_id: int, device="cpu") -> dict:
    """Decode every task (batches of ``batch_size``; design i seeded with seed + i); outputs and timing."""
    denoise = Denoise(cfg.sampler, banned_ids=banned, cache=cfg.cache)
    outputs, wall, nfe, steps, batches, generated = [], 0.0, 0, 0, 0, 0
    for start in range(0, len(tasks), batch_size):
        chunk = tasks[start:start + batch_size]
        x, e = _collate(chunk, pad_id, device)
        result = denoise(model, x, e, row_generators([seed + start + i for i in range(len(chunk))], device))
        wall += result.wall_s
        nfe, steps, batches = nfe + result.nfe, steps + result.steps, batches + 1
        generated += int(e.sum())
        tokens = result.tokens.cpu()
        outputs += [tokens[r, : len(t["tokens"])].tolist() for r, t in enumerate(chunk)]
    return {"outputs": outputs, "wall_s": wall, "nfe": nfe / batches, "steps": steps / batches,
            "tokens_per_s": generated / wall if wall > 0 else float("inf"), "generated": generated}


def _scorer(domain, name: str, log, device) -> Callable | None:
    scorers = getattr(domain, "scorers", None)
    if scorers is None:
        return None
    try:
        return scorers(device=str(device)).get(name)
    except Exception as err:  # a missing optional scorer must not stop the speed figures
        log(f"bench: scorer {name!r} unavailable ({err}); skipping its column")
        return None


def bench(model, tokenizer, domain=None, length: int = 256, batch_size: int = 1, designs: int | None = None,
          seed: int = 0, kind: str = "full", configs: list[BenchConfig] | None = None, device="cpu",
          log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> list[dict]:
    """Run the naive baseline and the grid; returns JSON-ready rows (naive first, reference last)."""
    designs = designs or batch_size
    if getattr(domain, "bench_tasks", None) is not None:
        tasks = domain.bench_tasks(tokenizer, length, designs, seed)
    else:
        tasks = default_tasks(tokenizer, length, designs)
    unconditional = getattr(domain, "bench_tasks", None) is None
    hook = getattr(domain, "banned_ids", None)
    banned = sorted(hook(tokenizer)) if hook is not None else sorted(tokenizer.special_ids)
    configs = configs or grid(domain, length, kind)
    if not configs[0].naive:
        configs = [naive_config(domain)] + configs
    pppl = _scorer(domain, "pppl", log, device) if unconditional else None
    quality_hook = getattr(domain, "bench_quality", None)
    model.eval()
    warm_x, warm_e = _collate(tasks[:1], tokenizer.pad_id, device)  # first-call allocations are not timed
    with torch.no_grad():
        model(warm_x)
    rows, naive_tps = [], None
    for cfg in configs:
        run = run_config(cfg, model, tasks, batch_size, seed, banned, tokenizer.pad_id, device)
        if cfg.naive:
            naive_tps = run["tokens_per_s"]
        row = {"config": cfg.name, "cache": cfg.cache.mode, "exact": cfg.cache.exact, "length": length,
               "batch_size": batch_size, "designs": len(tasks), "nfe": round(run["nfe"], 2),
               "steps": round(run["steps"], 2), "wall_s": round(run["wall_s"], 4),
               "tokens_per_s": round(run["tokens_per_s"], 2),
               "speedup_vs_naive": 1.0 if cfg.naive else round(run["tokens_per_s"] / naive_tps, 3)}
        if unconditional:
            seqs = [tokenizer.decode([t for t, ed in zip(out, task["editable"]) if ed])
                    for out, task in zip(run["outputs"], tasks)]
            row.update(sequence_quality(seqs, pppl))
        if quality_hook is not None:
            row.update(quality_hook(tokenizer, tasks, run["outputs"]))
        rows.append(row)
        log(f"bench: {cfg.name}: nfe {row['nfe']}, {row['tokens_per_s']} tok/s, x{row['speedup_vs_naive']}")
    reference = getattr(domain, "reference_sequences", None)
    if unconditional and reference is not None:
        try:
            seqs = reference(len(tasks), max_length=length)
        except Exception as err:
            log(f"bench: no reference sequences ({err})")
            seqs = []
        if seqs:
            rows.append({"config": "reference", "cache": None, "exact": None, "length": length,
                         "batch_size": None, "designs": len(seqs), "nfe": None, "steps": None, "wall_s": None,
                         "tokens_per_s": None, "speedup_vs_naive": None,
                         "mean_length": _mean(len(s) for s in seqs), **sequence_quality(seqs, pppl)})
    return rows


COLUMNS = ("config", "nfe", "wall_s", "tokens_per_s", "speedup_vs_naive", "scorer_pppl", "max_homopolymer",
           "top_residue_frac", "syntax_valid_rate", "exact_match")


def table(rows: list[dict]) -> str:
    """A Markdown table of the columns present in any row."""
    cols = [c for c in COLUMNS if any(c in r and r[c] is not None for r in rows)]
    extra = sorted({k for r in rows for k in r} - set(COLUMNS) - {
        "cache", "exact", "length", "batch_size", "designs", "steps", "mean_length"})
    cols += [c for c in extra if any(isinstance(r.get(c), (int, float)) for r in rows)]

    def fmt(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def resolve_model(spec: str, device="cpu"):
    """A model folder, or a domain name whose bundled default model is used. Returns (pretrained, domain)."""
    from seqdiff.checkpoint import from_pretrained
    from seqdiff.plugins import load_domain

    path = Path(spec)
    if path.exists():
        pretrained = from_pretrained(path, device=device)
        domain = load_domain(pretrained.domain) if pretrained.domain else None
        return pretrained, domain
    domain = load_domain(spec)
    folder = domain.default_model()
    if folder is None:
        raise LookupError(f"domain {spec!r} ships no bundled model; pass --model with a model folder")
    return from_pretrained(folder, device=device), domain


def write_json(rows: list[dict], path: str | Path) -> None:
    from seqdiff.io import atomic_write_text

    atomic_write_text(Path(path), json.dumps(rows, indent=1))


def select(configs: list[BenchConfig], only: str | None) -> list[BenchConfig]:
    """The naive row and the configurations whose name one of the comma-separated regular expressions
    matches anywhere (``ancestral`` matches every name holding it; ``^ancestral-(32|8)$`` exactly two)."""
    if not only:
        return configs
    try:
        patterns = [re.compile(f.strip()) for f in only.split(",") if f.strip()]
    except re.error as err:
        raise ValueError(f"--only {only!r} is not a list of regular expressions ({err})") from None
    chosen = [c for c in configs if c.naive or any(p.search(c.name) for p in patterns)]
    if len(chosen) == sum(c.naive for c in configs):
        raise ValueError(f"--only {only!r} matches no configuration; names: {', '.join(c.name for c in configs)}")
    return chosen


def main_bench(spec: str, length: int, batch_size: int, json_path: str | None, designs: int | None = None,
               seed: int = 0, kind: str = "full", device: str = "cpu", only: str | None = None) -> list[dict]:
    pretrained, domain = resolve_model(spec, device)
    configs = select(grid(domain, length, kind), only)
    start = time.perf_counter()
    rows = bench(pretrained.model, pretrained.tokenizer, domain, length=length, batch_size=batch_size,
                 designs=designs, seed=seed, kind=kind, configs=configs, device=device)
    print(f"model: {pretrained.path} (domain {pretrained.domain}); length {length}, batch {batch_size}, "
          f"{rows[0]['designs']} designs, seed {seed}, device {device}, torch threads "
          f"{torch.get_num_threads()}, {time.perf_counter() - start:.1f} s")
    print(table(rows))
    if json_path:
        write_json(rows, json_path)
    return rows
