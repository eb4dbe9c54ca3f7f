"""``ProteinDesigner``: the Python API that ``seqdiff design-protein`` calls.

    from seqdiff_protein import ProteinDesigner
    designer = ProteinDesigner.from_pretrained()                 # the bundled model
    result = designer.design(motif="5-20/seq:FSLFDKDGDGTITTKELGTV/10-25", num_designs=8, seed=0)
    result.to_dataframe()                                       # the columns of scores.csv
    result.write("runs/ef_hand")                                # designs.fasta, scores.csv, run.json

Canvas: ``<cls> residues <eos>``; motif residues (and cls/eos) are not editable, every generated position
starts masked. Designs are grouped by length and each row has its own torch generator seeded from
``design_seed(seed, i)``, so batch size never changes a design.
"""

from __future__ import annotations

import csv
import io
import json
import math
import platform
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from seqdiff_protein.alphabet import ESM_TOKENS, STANDARD_RESIDUES, cls_id, nonstandard_ids, protein_tokenizer
from seqdiff_protein.motif import ContigSpec, Layout, MotifError

DEFINITIONS = {
    "esm_pll": "sum over all residues i=1..L of log p(x_i | sequence with i masked), natural log, 33-token softmax",
    "esm_pll_mean": "esm_pll / L",
    "esm_pppl": "exp(-esm_pll / L); >= 1, lower = more natural to the scorer; never rank on it without the "
                "repeat metrics (weak scorers rate homopolymers as excellent)",
    "motif_start_idxs/motif_end_idxs": "0-based inclusive indices of each motif segment in the design (EvoDiff/DPLM)",
    "con_ref_pdb_idx/con_hal_idx0": "RFdiffusion .trb names: (chain, PDB resnum) -> 0-based design index",
    "inpaint_seq": "0-based design indices of motif residues whose identity was redesigned (--redesign)",
    "longest_run": "longest homopolymer run",
    "top_residue_fraction": "fraction of the sequence taken by its most common residue",
    "nearest_train_identity": "approximate identity to the nearest indexed training-split sequence: shortlist by "
                              "shared 5-mers, then local BLOSUM62 alignment; identical aligned positions / design length",
    "mean_confidence": "mean over generated positions of the model's probability of the residue it committed, "
                       "at the step it committed it (temperature 1)",
    "pairwise_diversity": "mean over design pairs of 1 - global-alignment identity (identities / longer length)",
}

CSV_COLUMNS = ["id", "kind", "sequence", "length", "contig", "motif_start_idxs", "motif_end_idxs", "fixed_idx0",
               "esm_pll", "esm_pll_mean", "esm_pppl", "longest_run", "top_residue", "top_residue_fraction",
               "repeat_guard_pass", "nearest_train_identity", "mean_confidence", "seed", "temperature", "steps",
               "sampler", "model", "scorer"]


class DesignInputError(ValueError):
    """Bad user input to ``design`` (the CLI turns it into exit status 2)."""


@dataclass
class DesignRecord:
    row: dict  # one scores.csv row
    mapping: dict  # run.json per-design mapping
    confidence: list[float] | None = None  # per residue; NaN at kept motif positions

    @property
    def sequence(self) -> str:
        return self.row["sequence"]


@dataclass
class DesignResult:
    designs: list[DesignRecord]
    baselines: list[DesignRecord] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    @property
    def sequences(self) -> list[str]:
        return [d.sequence for d in self.designs]

    def to_dataframe(self, baselines: bool = False):
        import pandas as pd

        rows = [d.row for d in self.designs] + ([b.row for b in self.baselines] if baselines else [])
        return pd.DataFrame(rows, columns=CSV_COLUMNS)

    def write(self, directory: str | Path) -> Path:
        """Atomically write designs.fasta, scores.csv, run.json (+ baselines.fasta/.csv with baselines)."""
        from seqdiff.io import atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / "designs.fasta", fasta_text(self.designs))
        atomic_write_text(directory / "scores.csv", csv_text(self.designs))
        if self.baselines:
            atomic_write_text(directory / "baselines.fasta", fasta_text(self.baselines))
            atomic_write_text(directory / "baselines.csv", csv_text(self.baselines))
        run = {"config": self.config, "versions": versions(), "definitions": DEFINITIONS, "summary": self.summary,
               "designs": [d.mapping for d in self.designs]}
        atomic_write_text(directory / "run.json", json.dumps(run, indent=1, default=_json_default))
        return directory


def _json_default(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, list):
        return json.dumps(value)
    return "" if value is None else str(value)


def fasta_text(records: Sequence[DesignRecord]) -> str:
    """Single-line FASTA with ProteinMPNN-style ``key=value`` headers."""
    lines = []
    for rec in records:
        r = rec.row
        fields = [r["id"], f"id={r['id'].rsplit('_', 1)[-1].lstrip('0') or '0'}", f"T={r['temperature']}",
                  f"seed={r['seed']}", f"contig={r['contig']}", f"length={r['length']}",
                  f"esm_pppl={_fmt(r['esm_pppl'])}", f"esm_pll_mean={_fmt(r['esm_pll_mean'])}",
                  f"longest_run={r['longest_run']}", f"top_residue_fraction={_fmt(r['top_residue_fraction'])}",
                  f"sampler={r['sampler']}", f"model={r['model']}", f"scorer={r['scorer']}"]
        lines.append(">" + ", ".join(fields))
        lines.append(r["sequence"])
    return "\n".join(lines) + ("\n" if lines else "")


def csv_text(records: Sequence[DesignRecord]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: _fmt(rec.row.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("seqdiff", "seqdiff-protein", "torch", "fair-esm", "biopython", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    try:
        root = Path(__file__).resolve().parents[3]
        out["git_hash"] = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                         text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_hash"] = None
    return out


# ----- model resolution ---------------------------------------------------------------------------------
def load_generator(path: str | Path | None, device: str = "cpu", download: bool = False):
    """(Denoiser, noise config, name, path-or-None) for ``--model``: a seqdiff folder (default: bundled), or a
    fair-esm ESM-2 name / ``.pt`` checkpoint converted into a Denoiser."""
    from seqdiff.checkpoint import from_pretrained
    from seqdiff.noise import NoiseConfig

    from seqdiff_protein.domain import BUNDLED_MODEL
    from seqdiff_protein.esm_io import (
        ESMLoadError, esm2_as_denoiser, is_hf_esm, is_seqdiff_folder, read_esm2_weights)

    if path is None:
        if not (BUNDLED_MODEL / "config.json").is_file():
            raise DesignInputError(f"the bundled protein model is not installed ({BUNDLED_MODEL}); pass --model with a "
                                   f"seqdiff model folder (seqdiff train ...) or an ESM-2 name such as esm2_t6_8M_UR50D")
        path = BUNDLED_MODEL
    value = str(path)
    p = Path(value).expanduser()
    if p.is_dir():
        if not (is_seqdiff_folder(p) or is_hf_esm(p)):  # Hugging Face ESM-2 / DPLM folders load in the core
            raise DesignInputError(f"--model {value!r} is not a seqdiff model folder (config.json with format "
                                   f"'seqdiff-model'); e.g. --model runs/protein-small/model or --model esm2_t6_8M_UR50D")
        try:
            pre = from_pretrained(p, device=device)
        except (FileNotFoundError, ValueError, TypeError, KeyError, OSError) as err:
            raise DesignInputError(f"bad checkpoint --model {value!r}: {err}; e.g. --model runs/protein-small/model, "
                                   f"or leave --model out for the bundled model") from None
        if tuple(getattr(pre.tokenizer, "tokens", ())) != ESM_TOKENS:
            raise DesignInputError(f"--model {value!r} is not a protein model (its tokenizer is not the ESM alphabet)")
        name = "bundled-" + p.name if p.resolve() == BUNDLED_MODEL.resolve() else p.name
        return pre.model, pre.noise, name, p
    try:
        weights = read_esm2_weights(value, download=download)
        model = esm2_as_denoiser(weights).to(device)
    except ESMLoadError as err:
        raise DesignInputError(f"bad checkpoint --model {value!r}: {err}; e.g. --model esm2_t6_8M_UR50D "
                               f"(cached) or leave --model out for the bundled model") from None
    return model, NoiseConfig(), f"esm2:{weights.name}", (p if p.is_file() else None)


# ----- the designer ---------------------------------------------------------------------------------------
class _ConfidenceTracker:
    """Logits hook + step callback recording p(committed residue) at the step each position is committed."""

    def __init__(self, shape, banned: list[int], device):
        self.banned = torch.tensor(banned, device=device)
        self.conf = torch.full(shape, float("nan"))
        self.prev = self.probs = None

    def hook(self, step, x, logits):
        self.prev = x.clone()
        self.probs = logits.float().index_fill(-1, self.banned, float("-inf")).softmax(-1)
        return logits

    def callback(self, step, x):
        changed = x != self.prev
        if changed.any():
            p = self.probs.gather(-1, x.unsqueeze(-1)).squeeze(-1)
            self.conf[changed.cpu()] = p[changed].float().cpu()


def make_sampler(name: str, steps: int, temperature: float, top_k: int | None, top_p: float | None,
                 noise=None, remasking: str = "low_confidence"):
    from seqdiff.noise import NoiseConfig
    from seqdiff.samplers import AncestralSampler, ConfidenceSampler, SamplingOptions

    options = SamplingOptions(temperature=temperature, top_k=top_k, top_p=top_p)
    if name == "ancestral":
        return AncestralSampler(steps=steps, noise=noise or NoiseConfig(), sampling=options)
    if name == "confidence":
        return ConfidenceSampler(steps=steps, remasking=remasking, sampling=options)
    raise DesignInputError(f"unknown --sampler {name!r}; choose ancestral (default, random order) or confidence")


SAMPLERS = ("ancestral", "confidence")


class ProteinDesigner:
    def __init__(self, model, noise=None, model_name: str = "model", model_path: Path | None = None,
                 device: str = "cpu", esm_model: str | None = "bundled", esm_download: bool = False):
        self.model = model.to(device).eval()
        self.noise = noise
        self.model_name, self.model_path, self.device = model_name, model_path, device
        self.esm_model, self.esm_download = esm_model, esm_download
        self.tokenizer = protein_tokenizer()
        self._scorers: dict = {}

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu", esm_model: str | None = "bundled",
                        esm_download: bool = False) -> "ProteinDesigner":
        """``path``: a seqdiff model folder (default: the bundled model), a fair-esm ESM-2 name or ``.pt``."""
        model, noise, name, mpath = load_generator(path, device=device, download=esm_download)
        return cls(model, noise, name, mpath, device, esm_model=esm_model, esm_download=esm_download)

    def scorer(self, esm_model: str | None = None):
        from seqdiff_protein.esm_io import ESMLoadError
        from seqdiff_protein.scoring import load_scorer

        key = self.esm_model if esm_model is None else esm_model
        if key is None or str(key).lower() == "none":
            return None
        if key == "bundled":
            from seqdiff_protein.domain import BUNDLED_SCORER

            if not (BUNDLED_SCORER / "config.json").is_file():
                print("seqdiff: note: the bundled scorer is not installed; designs are not scored "
                      "(pass --esm-model NAME|PATH to score)", file=sys.stderr)
                return None
        if key not in self._scorers:
            try:
                self._scorers[key] = load_scorer(key, device=self.device, download=self.esm_download,
                                                 generator=self.model_path)
            except ESMLoadError as err:
                raise DesignInputError(f"--esm-model {key!r}: {err}" + ("" if "e.g." in str(err) else
                                       "; e.g. --esm-model bundled or --esm-model none")) from None
        return self._scorers[key]

    def design(self, motif: str | None = None, pdb: str | Path | None = None, length: str | int | None = None,
               redesign: str | None = None, num_designs: int = 8, seed: int = 0, steps: int | None = None,
               temperature: float = 1.0, sampler: str = "ancestral", top_k: int | None = None,
               top_p: float | None = None, remasking: str = "low_confidence", batch_size: int = 16,
               esm_model: str | None = None, baselines: bool = False, repeat_guard: bool = True,
               max_residue_fraction: float = 0.25, max_run: int = 6, repeat_rounds: int = 4,
               novelty: str | Sequence[str] | None = "auto", progress: bool = True,
               previous: Sequence[DesignRecord] = (),
               on_batch: Callable[["DesignResult"], None] | None = None) -> DesignResult:
        """Design ``num_designs`` proteins. ``previous`` records (from ``--resume``) are kept and skipped."""
        from tqdm.auto import tqdm

        spec = self.prepare(motif, pdb, length, redesign)
        if num_designs < 1:
            raise DesignInputError(f"--num-designs {num_designs} must be >= 1, e.g. -n 10")
        if batch_size < 1:
            raise DesignInputError(f"--batch-size {batch_size} must be >= 1, e.g. --batch-size 16")
        if steps is not None and steps < 1:
            raise DesignInputError(f"--steps {steps} must be >= 1 (or leave it out: generated residues / 8)")
        if sampler not in SAMPLERS:
            raise DesignInputError(f"unknown --sampler {sampler!r}; choose ancestral (default) or confidence")
        try:
            make_sampler(sampler, 1, temperature, top_k, top_p, self.noise, remasking)
        except ValueError as err:
            raise DesignInputError(str(err)) from None
        scorer = self.scorer(esm_model)
        index = novelty_index(novelty, self.model_path) if novelty is not None else None
        config = {
            "motif": motif, "contig": str(spec), "pdb": str(pdb) if pdb else None, "length": spec.length,
            "length_bounds": spec.bounds(), "redesign": sorted(f"{c}{r}" for c, r in spec.redesign),
            "num_designs": num_designs, "seed": seed, "steps": steps if steps is not None else "auto: ceil(generated/8)",
            "temperature": temperature, "sampler": sampler, "top_k": top_k, "top_p": top_p,
            "remasking": remasking if sampler == "confidence" else None, "batch_size": batch_size,
            "device": str(self.device), "model": self.model_name,
            "model_path": str(self.model_path) if self.model_path else None,
            "scorer": scorer.name if scorer else "none",
            "repeat_guard": ({"max_residue_fraction": max_residue_fraction, "max_run": max_run,
                              "max_remask_rounds": repeat_rounds} if repeat_guard else None),
            "novelty_reference": index.description if index is not None else None,
            "banned_tokens": [ESM_TOKENS[i] for i in nonstandard_ids(self.tokenizer)],
        }
        done = {int(r.mapping["index"]) for r in previous}
        layouts = [spec.layout(seed, i) for i in range(num_designs) if i not in done]
        records: dict[int, DesignRecord] = {int(r.mapping["index"]): r for r in previous if
                                            int(r.mapping["index"]) < num_designs}
        base_records: list[DesignRecord] = []
        result = DesignResult(designs=[], config=config)
        groups: dict[int, list[Layout]] = {}
        for lay in layouts:
            groups.setdefault(lay.length, []).append(lay)
        batches = [group[k:k + batch_size] for _, group in sorted(groups.items())
                   for k in range(0, len(group), batch_size)]
        bar = tqdm(total=len(layouts), desc="designing", unit="design", disable=not progress, file=sys.stderr)
        guard = None
        if repeat_guard:
            from seqdiff_protein.metrics import RepeatGuard

            guard = RepeatGuard(max_fraction=max_residue_fraction, max_run=max_run, mask_id=self.tokenizer.mask_id)
        for batch in batches:
            seqs, confs, nsteps = self._generate(batch, sampler, steps, temperature, top_k, top_p, remasking,
                                                 guard, repeat_rounds)
            settings = {"seed_of": None, "temperature": temperature, "steps": nsteps, "sampler": sampler}
            for lay, seq, conf in zip(batch, seqs, confs):
                check_design(seq, lay)
                records[lay.index] = self._record(lay, seq, conf, "design", settings, scorer, index, guard)
            if baselines:
                for lay, seq in zip(batch, seqs):
                    base_records += self._baselines(lay, seq, settings, scorer, index, guard)
            result.designs = [records[i] for i in sorted(records)]
            result.baselines = sorted(base_records, key=lambda r: r.row["id"])
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(result)
        bar.close()
        result.designs = [records[i] for i in sorted(records)]
        result.summary = summarize(result)
        if on_batch is not None:
            on_batch(result)
        return result

    def prepare(self, motif, pdb, length, redesign) -> ContigSpec:
        """Parse and resolve the motif spec (fails fast, before any model call)."""
        try:
            spec = ContigSpec.parse(motif, length, redesign)
            if pdb is not None and not spec.needs_pdb:
                pass  # a structure file with only seq: motifs is harmless; it is recorded in run.json
            return spec.with_structure(pdb)
        except MotifError as err:
            raise DesignInputError(str(err)) from None

    @torch.no_grad()
    def _generate(self, batch: list[Layout], sampler_name, steps, temperature, top_k, top_p, remasking, guard,
                  rounds):
        from seqdiff.samplers import Denoise
        from seqdiff.samplers.base import row_generators

        tok = self.tokenizer
        rows, editable = [], []
        for lay in batch:
            ids = [cls_id(tok)] + [tok.mask_id if not f else tok.encode(c)[0] for c, f in zip(lay.template, lay.fixed)]
            ids.append(tok.eos_id)
            rows.append(ids)
            editable.append([False] + [not f for f in lay.fixed] + [False])
        x = torch.tensor(rows, dtype=torch.long, device=self.device)
        edit = torch.tensor(editable, dtype=torch.bool, device=self.device)
        n_generated = int(edit.sum(-1).max())
        nsteps = steps if steps is not None else max(1, math.ceil(n_generated / 8))
        sampler = make_sampler(sampler_name, nsteps, temperature, top_k, top_p, self.noise, remasking)
        banned = nonstandard_ids(tok)
        tracker = _ConfidenceTracker(tuple(x.shape), banned, self.device)
        denoise = Denoise(sampler=sampler, banned_ids=banned, validator=guard,
                          max_remask_rounds=rounds if guard is not None else 0,
                          logits_hook=tracker.hook, callback=tracker.callback)
        gens = row_generators([lay.seed for lay in batch], device=self.device)
        out = denoise(self.model, x, edit, generator=gens)
        seqs = [tok.decode(row.tolist()) for row in out.tokens.cpu()]
        confs = [tracker.conf[b, 1:-1].tolist() for b in range(len(batch))]
        return seqs, confs, nsteps

    def _record(self, lay: Layout, seq: str, conf, kind: str, settings: dict, scorer, index, guard,
                ident: str | None = None) -> DesignRecord:
        from seqdiff_protein.metrics import repeat_metrics

        score = scorer.score([seq])[0] if scorer is not None else None
        rep = repeat_metrics(seq)
        passes = True
        if guard is not None:
            x = torch.tensor([self.tokenizer.encode(seq)])
            passes = not bool(guard(x).any())
        gen = [c for c, f in zip(conf or [], lay.fixed) if not f and c == c]
        row = {"id": ident or f"design_{lay.index:04d}", "kind": kind, "sequence": seq, "length": len(seq),
               "contig": lay.contig, "motif_start_idxs": lay.motif_start_idxs, "motif_end_idxs": lay.motif_end_idxs,
               "fixed_idx0": lay.fixed_idx0,
               "esm_pll": score.pll if score else float("nan"), "esm_pll_mean": score.pll_mean if score else float("nan"),
               "esm_pppl": score.pppl if score else float("nan"), **rep, "repeat_guard_pass": passes,
               "nearest_train_identity": round(index.nearest(seq)[0], 4) if index is not None else float("nan"),
               "mean_confidence": round(sum(gen) / len(gen), 4) if gen else float("nan"),
               "seed": lay.seed, "temperature": settings["temperature"], "steps": settings["steps"],
               "sampler": settings["sampler"], "model": self.model_name, "scorer": scorer.name if scorer else "none"}
        mapping = {"id": row["id"], **lay.mapping()}
        return DesignRecord(row=row, mapping=mapping, confidence=conf)

    def _baselines(self, lay: Layout, design: str, settings, scorer, index, guard) -> list[DesignRecord]:
        from seqdiff_protein.metrics import random_like, scrambled_motif

        rnd = random_like(lay.template, lay.fixed, random.Random(lay.seed ^ 0x5EED))
        scr = scrambled_motif(design, lay.placements, random.Random(lay.seed ^ 0xABC))
        base = {**settings, "sampler": "baseline"}
        return [self._record(lay, rnd, None, "random", {**base, "sampler": "random"}, scorer, index, guard,
                             ident=f"random_{lay.index:04d}"),
                self._record(lay, scr, None, "scrambled_motif", {**base, "sampler": "scrambled_motif"}, scorer,
                             index, guard, ident=f"scrambled_{lay.index:04d}")]


def check_design(seq: str, lay: Layout) -> None:
    """Invariants every design must meet (a failure is a bug, not a user error)."""
    if len(seq) != lay.length:
        raise RuntimeError(f"design {lay.index} has length {len(seq)}, expected {lay.length}")
    bad = [c for c in seq if c not in STANDARD_RESIDUES]
    if bad:
        raise RuntimeError(f"design {lay.index} contains non-standard residues {sorted(set(bad))}")
    for k, (t, f) in enumerate(zip(lay.template, lay.fixed)):
        if f and seq[k] != t:
            raise RuntimeError(f"design {lay.index} changed motif residue {k}: {t} -> {seq[k]}")


def summarize(result: DesignResult) -> dict:
    import numpy as np

    from seqdiff_protein.metrics import pairwise_diversity

    def stats(records):
        if not records:
            return {}
        col = lambda k: np.array([float(r.row[k]) for r in records], dtype=float)  # noqa: E731
        out = {"n": len(records)}
        for k in ("esm_pppl", "longest_run", "top_residue_fraction", "nearest_train_identity", "mean_confidence"):
            v = col(k)
            v = v[~np.isnan(v)]
            out[f"{k}_mean"] = round(float(v.mean()), 4) if len(v) else None
            out[f"{k}_median"] = round(float(np.median(v)), 4) if len(v) else None
        out["repeat_guard_pass_fraction"] = round(float(np.mean([bool(r.row["repeat_guard_pass"])
                                                                  for r in records])), 4)
        out["pairwise_diversity"] = round(pairwise_diversity([r.sequence for r in records]), 4) \
            if len(records) > 1 else None
        return out

    summary = {"designs": stats(result.designs)}
    for kind in ("random", "scrambled_motif"):
        sub = [b for b in result.baselines if b.row["kind"] == kind]
        if sub:
            summary[kind] = stats(sub)
    return summary


# ----- novelty reference ---------------------------------------------------------------------------------
_NOVELTY_CACHE: dict = {}
NOVELTY_MAX_RESIDUES = 10_000_000


def training_data_paths(model_path: Path | None) -> list[Path]:
    """Where the training FASTA lives: the model's recorded data paths, tried relative to the cwd and to the
    repository root, then the default ../shared/data/proteins."""
    from seqdiff_protein.data import DEFAULT_DATA

    candidates: list[str] = []
    if model_path is not None and Path(model_path).is_dir():
        try:
            meta = json.loads((Path(model_path) / "config.json").read_text()).get("meta", {})
            candidates += list((meta.get("data") or {}).get("paths") or [])
        except (OSError, ValueError):
            pass
    candidates.append(DEFAULT_DATA)
    root = Path(__file__).resolve().parents[3]
    out = []
    for c in candidates:
        for base in (Path.cwd(), root):
            p = (base / c).resolve()
            if p.exists():
                out.append(p)
                break
        if out:
            break
    return out


def novelty_index(novelty, model_path: Path | None = None, max_residues: int = NOVELTY_MAX_RESIDUES):
    """``"auto"``: the training split of the model's data (first ``max_residues`` residues, file order: CATH,
    PDB chains, then proteomes); a list of sequences; ``None``/"none": no novelty column."""
    from seqdiff_protein.metrics import NoveltyIndex

    if novelty is None or novelty == "none":
        return None
    if not isinstance(novelty, str):
        seqs = list(novelty)
        return NoveltyIndex(seqs, description=f"{len(seqs)} given sequences")
    if novelty != "auto":
        paths = [Path(novelty)]
    else:
        paths = training_data_paths(model_path)
        if not paths:
            return None
    key = (tuple(str(p) for p in paths), max_residues)
    if key not in _NOVELTY_CACHE:
        from seqdiff_protein.data import fasta_files, iter_fasta, split_of

        seqs, total = [], 0
        try:
            files = fasta_files(tuple(str(p) for p in paths))
        except FileNotFoundError as err:
            raise DesignInputError(str(err)) from None
        try:
            for f in files:
                for _, s in iter_fasta(f):
                    if novelty != "auto" or split_of(s) == "train":
                        seqs.append(s)
                        total += len(s)
                if total >= max_residues:
                    break
        except ValueError as err:
            raise DesignInputError(f"--train-fasta: {err}; give a FASTA file (plain or .gz), e.g. "
                                   f"--train-fasta ../shared/data/proteins/proteins_mini.fasta") from None
        if not seqs:
            raise DesignInputError(f"--train-fasta {novelty!r} holds no sequences; give a FASTA file with records")
        scope = "training split of" if novelty == "auto" else "all sequences of"
        _NOVELTY_CACHE[key] = NoveltyIndex(
            seqs, description=f"{scope} {', '.join(str(p) for p in paths)}: {len(seqs)} sequences, "
                              f"{total} residues (files in order until {max_residues} residues)")
    return _NOVELTY_CACHE[key]
