"""``seqdiff bench``: the domain's naive baseline and a grid of sampler/cache configurations, run in one
process on the same canvases and seeds, with speed and quality side by side.

Everything domain-specific comes from one ``BenchSpec`` the domain returns (``Domain.bench_spec``): the
order of the one-token-per-step baseline, the canvases, the ids never to emit, the quality columns and
their function, an optional scorer and reference sequences. A model folder with no domain gets
``BenchSpec()``. Sequence statistics (``max_homopolymer``, ``top_residue_frac``) are computed on the
decoded editable region for unconditional canvases. Ratios from one run are the figures to quote.
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
from typing import Any, Callable, Literal, Sequence

import torch

from seqdiff.samplers import (
    AncestralSampler, BlockwiseSampler, CacheOptions, ConfidenceSampler, Denoise, FactorSampler, SamplingOptions,
    ThresholdSampler, row_generators)

Canvas = dict  # {"tokens": list[int], "editable": list[bool], ...domain extras}
SEQUENCE_COLUMNS = ("max_homopolymer", "top_residue_frac")
BASE_COLUMNS = ("config", "nfe", "wall_s", "tokens_per_s", "speedup_vs_naive")


@dataclass(frozen=True)
class BenchSpec:
    """What ``seqdiff bench`` needs from a domain; each default is the domain-neutral choice.

    - ``naive_order``: the baseline's unmasking order (random, as EvoDiff's OADM, or LLaDA's low-confidence
      order); random baselines sample at temperature 1, low-confidence ones greedily.
    - ``tasks(length, n, seed) -> list[Canvas]``: conditional canvases from the held-out split (a
      ``split`` keyword, when accepted, names another: ``seqdiff tune`` draws ``train``); ``None`` means
      ``n`` unconditional canvases ``canvas_prefix + length masks + canvas_suffix`` (suffix ``None``: the
      tokenizer's eos).
    - ``canvases(length, n, seed, **options) -> list[Canvas]``: canvases built from options (``seqdiff
      tune``'s ``rollout.canvas_options``; protein: a motif layout), ``None`` when the domain takes none.
    - ``banned_ids``: ids never emitted (``None``: the tokenizer's special ids).
    - ``quality(tasks, outputs) -> {column: value}`` for the ``quality_columns`` it fills.
    - ``scorer``: a name in ``Domain.scorers(device)`` averaged over unconditional outputs as
      ``scorer_<name>``; ``reference(n, max_length) -> list[str]``: natural sequences for a ``reference`` row.
    """

    naive_order: Literal["random", "low_confidence"] = "low_confidence"
    tasks: Callable[[int, int, int], list[Canvas]] | None = None
    canvas_prefix: tuple[int, ...] = ()
    canvas_suffix: tuple[int, ...] | None = None
    canvases: Callable[..., list[Canvas]] | None = None
    banned_ids: tuple[int, ...] | None = None
    quality: Callable[[list[Canvas], list[list[int]]], dict[str, float]] | None = None
    quality_columns: tuple[str, ...] = ()
    scorer: str | None = None
    reference: Callable[[int, int], list[str]] | None = None

    @property
    def unconditional(self) -> bool:
        return self.tasks is None

    @property
    def naive_temperature(self) -> float:
        return 1.0 if self.naive_order == "random" else 0.0

    def columns(self) -> tuple[str, ...]:
        """The table's columns: speed, then this spec's quality figures."""
        scored = (f"scorer_{self.scorer}",) if self.scorer and self.unconditional else ()
        sequence = SEQUENCE_COLUMNS if self.unconditional else ()
        return BASE_COLUMNS + scored + sequence + self.quality_columns


def spec_of(domain, tokenizer) -> BenchSpec:
    return domain.bench_spec(tokenizer) if domain is not None else BenchSpec()


GRIDS = ("full", "quick")


@dataclass
class BenchConfig:
    name: str
    sampler: Any
    cache: CacheOptions = field(default_factory=CacheOptions)
    naive: bool = False


def naive_config(spec: BenchSpec) -> BenchConfig:
    """One token per step, no cache, in the domain's own order."""
    sampler = ConfidenceSampler(steps=None, remasking=spec.naive_order,
                                sampling=SamplingOptions(temperature=spec.naive_temperature))
    return BenchConfig(f"naive-{spec.naive_order}", sampler, naive=True)


def grid(spec: BenchSpec, length: int, kind: str = "full") -> list[BenchConfig]:
    """The naive row first, then ancestral steps L/2..L/32 and 8, 4, 2 (distilled students' few-step regime;
    logit reuse), thresholds, factor, blocks x caches."""
    if kind not in GRIDS:
        raise ValueError(f"unknown grid {kind!r}; choose one of {', '.join(GRIDS)}")
    opts = SamplingOptions(temperature=spec.naive_temperature)
    configs = [naive_config(spec)]
    divisors = (2, 4, 8, 16, 32) if kind == "full" else (8,)
    few = [s for s in (8, 4, 2) if s < length] if kind == "full" else []
    for steps in dict.fromkeys([max(1, length // d) for d in divisors] + few):
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


def default_tasks(spec: BenchSpec, tokenizer, length: int, n: int) -> list[Canvas]:
    """``n`` unconditional canvases: the spec's prefix ids, ``length`` masks, its suffix ids."""
    head = list(spec.canvas_prefix)
    tail = list(spec.canvas_suffix) if spec.canvas_suffix is not None else [tokenizer.eos_id]
    ids = head + [tokenizer.mask_id] * length + tail
    editable = [False] * len(head) + [True] * length + [False] * len(tail)
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


def sequence_quality(seqs: Sequence[str], scorer: Callable | None = None, name: str | None = None) -> dict:
    out = {"max_homopolymer": _mean(max_homopolymer(s) for s in seqs),
           "top_residue_frac": _mean(top_residue_frac(s) for s in seqs)}
    if scorer is not None:
        out[f"scorer_{name}"] = _mean(scorer(list(seqs)))
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


def _scorer(domain, spec: BenchSpec, log, device) -> Callable | None:
    if domain is None or spec.scorer is None or not spec.unconditional:
        return None
    try:
        return domain.scorers(device=str(device)).get(spec.scorer)
    except Exception as err:  # a missing optional scorer must not stop the speed figures
        log(f"bench: scorer {spec.scorer!r} unavailable ({err}); skipping its column")
        return None


def _reference_row(spec: BenchSpec, n: int, length: int, pppl, log) -> dict | None:
    try:
        seqs = spec.reference(n, length)
    except Exception as err:  # e.g. the training data is not on this machine
        log(f"bench: no reference sequences ({err})")
        return None
    if not seqs:
        return None
    return {"config": "reference", "cache": None, "exact": None, "length": length, "batch_size": None,
            "designs": len(seqs), "nfe": None, "steps": None, "wall_s": None, "tokens_per_s": None,
            "speedup_vs_naive": None, "mean_length": _mean(len(s) for s in seqs),
            **sequence_quality(seqs, pppl, spec.scorer)}


def _row(cfg: BenchConfig, run: dict, length: int, batch_size: int, n: int, naive_tps: float) -> dict:
    return {"config": cfg.name, "cache": cfg.cache.mode, "exact": cfg.cache.exact, "length": length,
            "batch_size": batch_size, "designs": n, "nfe": round(run["nfe"], 2),
            "steps": round(run["steps"], 2), "wall_s": round(run["wall_s"], 4),
            "tokens_per_s": round(run["tokens_per_s"], 2),
            "speedup_vs_naive": 1.0 if cfg.naive else
            round(run["tokens_per_s"] / naive_tps, 3) if naive_tps else None}


def bench(model, tokenizer, domain=None, length: int = 256, batch_size: int = 1, designs: int | None = None,
          seed: int = 0, kind: str = "full", configs: list[BenchConfig] | None = None, device="cpu",
          log: Callable[[str], None] = lambda m: print(m, file=sys.stderr), reference: bool = True,
          naive: bool = True) -> list[dict]:
    """Run the naive baseline (unless ``naive`` is False: one token per step costs L forwards, and its
    ``speedup_vs_naive`` column is then empty) and the grid; returns JSON-ready rows (naive first, reference
    last unless ``reference`` is False)."""
    spec = spec_of(domain, tokenizer)
    designs = designs or batch_size
    tasks = spec.tasks(length, designs, seed) if spec.tasks else default_tasks(spec, tokenizer, length, designs)
    banned = sorted(spec.banned_ids if spec.banned_ids is not None else tokenizer.special_ids)
    configs = configs or grid(spec, length, kind)
    if not naive:
        configs = [c for c in configs if not c.naive]
    elif not configs[0].naive:
        configs = [naive_config(spec)] + configs
    pppl = _scorer(domain, spec, log, device)
    model.eval()
    warm_x, _ = _collate(tasks[:1], tokenizer.pad_id, device)  # first-call allocations are not timed
    with torch.no_grad():
        model(warm_x)
    rows, naive_tps = [], None
    for cfg in configs:
        run = run_config(cfg, model, tasks, batch_size, seed, banned, tokenizer.pad_id, device)
        naive_tps = run["tokens_per_s"] if cfg.naive else naive_tps
        row = _row(cfg, run, length, batch_size, len(tasks), naive_tps)
        if spec.unconditional:
            seqs = [tokenizer.decode([t for t, ed in zip(out, task["editable"]) if ed])
                    for out, task in zip(run["outputs"], tasks)]
            row.update(sequence_quality(seqs, pppl, spec.scorer))
        if spec.quality is not None:
            row.update(spec.quality(tasks, run["outputs"]))
        rows.append(row)
        speedup = f", x{row['speedup_vs_naive']}" if row["speedup_vs_naive"] is not None else ""
        log(f"bench: {cfg.name}: nfe {row['nfe']}, {row['tokens_per_s']} tok/s{speedup}")
    if reference and spec.unconditional and spec.reference is not None:
        reference = _reference_row(spec, len(tasks), length, pppl, log)
        rows += [reference] if reference else []
    return rows


def table(rows: list[dict], columns: Sequence[str] = BASE_COLUMNS) -> str:
    """A Markdown table of those ``columns`` (``BenchSpec.columns()``) that some row fills."""
    cols = [c for c in columns if any(r.get(c) is not None for r in rows)]

    def fmt(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def resolve_model(spec: str, device="cpu", dtype: str | torch.dtype = torch.float32):
    """A model folder, or a domain name whose bundled default model is used, its weights in ``dtype`` (a
    ``--dtype`` choice or a torch dtype). Returns (pretrained, domain)."""
    from seqdiff.checkpoint import from_pretrained
    from seqdiff.plugins import load_domain, model_folder

    pretrained = from_pretrained(model_folder(spec), device=device, dtype=dtype)
    return pretrained, load_domain(pretrained.domain) if pretrained.domain else None


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


def main_bench(model: str, length: int, batch_size: int, json_path: str | None, designs: int | None = None,
               seed: int = 0, kind: str = "full", device: str = "cpu", only: str | None = None,
               plot_path: str | None = None, compare: Sequence[str] = (), dtype: str = "float32",
               naive: bool = True) -> list[dict]:
    """Bench ``model``, then each ``compare`` folder (e.g. distilled students) on the same canvases and
    seeds; with ``compare`` every row names its model and the reference row comes once, last. A compare
    entry ``FOLDER@NAMES`` runs only the configurations ``NAMES`` selects (as ``only`` does), e.g. a
    student at the steps it was distilled for."""
    pretrained, domain = resolve_model(model, device, dtype)
    spec = spec_of(domain, pretrained.tokenizer)
    full = grid(spec, length, kind)
    entries = [(model, "")] + [entry.partition("@")[::2] for entry in compare]
    chosen = [select(full, only_here or only) for _, only_here in entries]  # every selector checked first
    start = time.perf_counter()
    rows = []
    for i, ((name, _), configs) in enumerate(zip(entries, chosen)):
        if i:
            pretrained = _same_domain(resolve_model(name, device, dtype)[0], domain, pretrained.tokenizer, name)
        part = bench(pretrained.model, pretrained.tokenizer, domain, length=length, batch_size=batch_size,
                     designs=designs, seed=seed, kind=kind, configs=configs, device=device,
                     reference=i == len(compare), naive=naive)
        weights = str(next(pretrained.model.parameters()).dtype).removeprefix("torch.")
        for r in part:
            made = r["config"] != "reference"
            rows.append({**({"model": name if made else None} if compare else {}), **r,
                         "dtype": weights if made else None})
    print(f"model: {pretrained.path if not compare else ', '.join(n for n, _ in entries)} (domain "
          f"{pretrained.domain}); length {length}, batch {batch_size}, "
          f"{rows[0]['designs']} designs, seed {seed}, device {device}, "
          f"{str(next(pretrained.model.parameters()).dtype).removeprefix('torch.')}, torch threads "
          f"{torch.get_num_threads()}, {time.perf_counter() - start:.1f} s")
    columns = (("model",) if compare else ()) + spec.columns()
    print(table(rows, columns))
    if json_path:
        write_json(rows, json_path)
    if plot_path:
        from seqdiff.bench_plot import plot

        name = pretrained.path.name if pretrained.path else model
        print(f"plot: {plot(rows, spec.columns(), plot_path, title=f'{name}: length {length}, batch {batch_size}')}")
    return rows


def _same_domain(pretrained, domain, tokenizer, name: str):
    """A compared folder must decode the same canvases: same domain and the same vocabulary."""
    if pretrained.domain != (domain.name if domain is not None else None):
        raise ValueError(f"--compare {name!r} is a {pretrained.domain!r} model; the first --model is "
                         f"{domain.name if domain else None!r}: compare models of one domain")
    if pretrained.tokenizer.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"--compare {name!r} has a vocabulary of {pretrained.tokenizer.vocab_size}, the first "
                         f"--model {tokenizer.vocab_size}: compare models that share a tokenizer")
    return pretrained
