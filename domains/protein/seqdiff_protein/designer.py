"""``ProteinDesigner``: the Python API that ``seqdiff design-protein``, the notebook and the HTTP route call.

    from seqdiff_protein import ProteinDesigner
    designer = ProteinDesigner.from_pretrained()                 # the bundled model
    result = designer.design(motif="5-20/seq:FSLFDKDGDGTITTKELGTV/10-25", num_designs=8, seed=0)
    result.to_dataframe()                                       # the columns of scores.csv
    result.write("runs/ef_hand")                                # designs.fasta, scores.csv, run.json

Canvas: ``<cls> residues <eos>``; motif residues (and cls/eos) are not editable, every generated position
starts masked. Each row has its own torch generator seeded from ``design_seed(seed, i)``, so batch size
never changes a design. Layouts are made a window at a time and grouped by length inside the window, so a
large ``num_designs`` costs no memory up front.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch

from seqdiff.config import ConfigError
from seqdiff_protein.alphabet import ESM_TOKENS, STANDARD_RESIDUES, cls_id, nonstandard_ids, protein_tokenizer
from seqdiff_protein.contig import MAX_LENGTH, MotifError
from seqdiff_protein.design_config import DesignConfig, DesignInputError
from seqdiff_protein.layout import ContigSpec, Layout
from seqdiff_protein.novelty import NoveltyReferences
from seqdiff_protein.records import DesignRecord, DesignResult, summarize

AUTO_STEPS = "auto: ceil(generated/8)"
WINDOW_BATCHES = 8  # layouts are sampled this many batches at a time, then grouped by length


def make_sampler(config: DesignConfig, steps: int, noise=None):
    from seqdiff.noise import NoiseConfig
    from seqdiff.samplers import AncestralSampler, ConfidenceSampler, SamplingOptions

    options = SamplingOptions(temperature=config.temperature, top_k=config.top_k, top_p=config.top_p)
    if config.sampler == "ancestral":
        return AncestralSampler(steps=steps, noise=noise or NoiseConfig(), sampling=options)
    return ConfidenceSampler(steps=steps, remasking=config.remasking, sampling=options)


class ProteinDesigner:
    def __init__(self, model, noise=None, model_name: str = "model", model_path: Path | None = None,
                 device: str = "cpu", esm_model: str | None = "bundled", esm_download: bool = False,
                 max_length: int = MAX_LENGTH):
        self.model = model.to(device).eval()
        self.noise = noise
        self.model_name, self.model_path, self.device = model_name, model_path, device
        self.esm_model, self.esm_download = esm_model, esm_download
        self.max_length = max_length  # residues per design: the model's (and ESM scorer's) position limit
        self.tokenizer = protein_tokenizer()
        self.novelty = NoveltyReferences()
        self._scorers: dict = {}

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu", esm_model: str | None = "bundled",
                        esm_download: bool = False, dtype: str = "float32") -> "ProteinDesigner":
        """``path``: a seqdiff model folder (default: the bundled model), a fair-esm ESM-2 name or ``.pt``;
        ``dtype``: the generator's (``"auto"``: ``seqdiff.precision``); scorers stay float32."""
        from seqdiff_protein.loading import load_generator

        model, noise, name, mpath = load_generator(path, device=device, download=esm_download, dtype=dtype)
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

    def prepare(self, config: DesignConfig) -> ContigSpec:
        """Parse and resolve the motif spec (fails fast, before any model call)."""
        try:
            spec = ContigSpec.parse(config.motif, config.length, config.redesign, max_length=self.max_length)
            return spec.with_structure(config.pdb)
        except MotifError as err:
            raise DesignInputError(str(err), field=err.field) from None

    def design(self, config: DesignConfig | None = None, /, *, previous: Sequence[DesignRecord] = (),
               on_batch: Callable[[DesignResult], None] | None = None, **fields) -> DesignResult:
        """Design ``config.num_designs`` proteins; ``design(**fields)`` builds the ``DesignConfig``. Records in
        ``previous`` (``--resume``) are kept and their designs skipped; none is ever dropped."""
        from tqdm.auto import tqdm

        if config is None:
            config = DesignConfig.from_dict(fields)
        elif fields:
            raise TypeError(f"give a DesignConfig or keyword fields, not both (got {sorted(fields)})")
        spec = self.prepare(config)
        kept = {int(r.mapping["index"]): r for r in previous if r.row["kind"] == "design"}
        check_previous(kept, config.num_designs)
        try:
            make_sampler(config, 1, self.noise)
        except ValueError as err:
            raise DesignInputError(str(err)) from None
        scorer = self.scorer(config.esm_model)
        index = self.novelty.get(config.novelty, self.model_path)
        result = DesignResult(designs=[kept[i] for i in sorted(kept)], config=self.run_config(config, spec, scorer, index),
                              baselines=[r for r in previous if r.row["kind"] != "design"])
        guard = self._guard(config)
        todo = [i for i in range(config.num_designs) if i not in kept] if kept else range(config.num_designs)
        bar = tqdm(total=len(todo), desc="designing", unit="design", disable=not config.progress, file=sys.stderr)
        for batch in length_batches((spec.layout(config.seed, i) for i in todo), config.batch_size):
            self._design_batch(batch, config, guard, scorer, index, kept, result)
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(result)
        bar.close()
        result.summary = summarize(result)
        return result

    def _design_batch(self, batch: list[Layout], config: DesignConfig, guard, scorer, index,
                      kept: dict[int, DesignRecord], result: DesignResult) -> None:
        seqs, confs, nsteps = self._generate(batch, config, guard)
        settings = {"temperature": config.temperature, "steps": nsteps, "sampler": config.sampler}
        for lay, seq, conf in zip(batch, seqs, confs):
            check_design(seq, lay)
            kept[lay.index] = self._record(lay, seq, conf, "design", settings, scorer, index, guard)
            if config.baselines:
                result.baselines += self._baselines(lay, seq, settings, scorer, index, guard)
        result.designs = [kept[i] for i in sorted(kept)]
        result.baselines.sort(key=lambda r: r.row["id"])

    def run_config(self, config: DesignConfig, spec: ContigSpec, scorer, index) -> dict:
        """The run.json ``config``: the settings as given and as resolved (what ``--resume`` compares)."""
        return {
            "motif": config.motif, "contig": str(spec), "pdb": config.pdb, "length": spec.length,
            "length_bounds": spec.bounds(), "redesign": sorted(f"{c}{r}" for c, r in spec.redesign),
            "motif_sequences": [s.sequence for s in spec.segments if getattr(s, "sequence", None)],
            "num_designs": config.num_designs, "seed": config.seed,
            "steps": config.steps if config.steps is not None else AUTO_STEPS,
            "temperature": config.temperature, "sampler": config.sampler, "top_k": config.top_k,
            "top_p": config.top_p, "remasking": config.remasking if config.sampler == "confidence" else None,
            "batch_size": config.batch_size, "device": str(self.device), "model": self.model_name,
            "model_path": str(self.model_path) if self.model_path else None,
            "scorer": scorer.name if scorer else "none", "baselines": config.baselines,
            "repeat_guard": ({"max_residue_fraction": config.max_residue_fraction, "max_run": config.max_run,
                              "max_remask_rounds": config.repeat_rounds} if config.repeat_guard else None),
            "novelty_reference": index.description if index is not None else None,
            "banned_tokens": [ESM_TOKENS[i] for i in nonstandard_ids(self.tokenizer)],
        }

    def _guard(self, config: DesignConfig):
        if not config.repeat_guard:
            return None
        from seqdiff_protein.metrics import RepeatGuard

        return RepeatGuard(max_fraction=config.max_residue_fraction, max_run=config.max_run,
                           mask_id=self.tokenizer.mask_id)

    @torch.no_grad()
    def _generate(self, batch: list[Layout], config: DesignConfig, guard):
        from seqdiff.samplers import Denoise
        from seqdiff.samplers.base import row_generators

        tok = self.tokenizer
        rows, editable = [], []
        for lay in batch:
            ids = [cls_id(tok)] + [tok.mask_id if not f else tok.encode(c)[0] for c, f in zip(lay.template, lay.fixed)]
            rows.append(ids + [tok.eos_id])
            editable.append([False] + [not f for f in lay.fixed] + [False])
        x = torch.tensor(rows, dtype=torch.long, device=self.device)
        edit = torch.tensor(editable, dtype=torch.bool, device=self.device)
        nsteps = config.steps if config.steps is not None else max(1, math.ceil(int(edit.sum(-1).max()) / 8))
        denoise = Denoise(sampler=make_sampler(config, nsteps, self.noise), banned_ids=nonstandard_ids(tok),
                          validator=guard, max_remask_rounds=config.repeat_rounds if guard is not None else 0)
        out = denoise(self.model, x, edit, generator=row_generators([lay.seed for lay in batch], device=self.device))
        seqs = [tok.decode(row.tolist()) for row in out.tokens.cpu()]
        # p(residue) at the step it was committed; NaN where nothing was decoded (motif, cls, eos)
        conf = torch.where(out.commit_step >= 0, out.token_logprob.exp(), float("nan")).cpu()
        return seqs, [conf[b, 1:-1].tolist() for b in range(len(batch))], nsteps

    def _record(self, lay: Layout, seq: str, conf, kind: str, settings: dict, scorer, index, guard,
                ident: str | None = None) -> DesignRecord:
        from seqdiff_protein.metrics import repeat_metrics

        score = scorer.score([seq])[0] if scorer is not None else None
        passes = guard is None or not bool(guard(torch.tensor([self.tokenizer.encode(seq)])).any())
        gen = [c for c, f in zip(conf or [], lay.fixed) if not f and c == c]
        nan = float("nan")
        row = {"id": ident or f"design_{lay.index:04d}", "kind": kind, "sequence": seq, "length": len(seq),
               "contig": lay.contig, "motif_start_idxs": lay.motif_start_idxs, "motif_end_idxs": lay.motif_end_idxs,
               "fixed_idx0": lay.fixed_idx0, "esm_pll": score.pll if score else nan,
               "esm_pll_mean": score.pll_mean if score else nan, "esm_pppl": score.pppl if score else nan,
               **repeat_metrics(seq), "repeat_guard_pass": passes,
               "nearest_train_identity": round(index.nearest(seq)[0], 4) if index is not None else nan,
               "mean_confidence": round(sum(gen) / len(gen), 4) if gen else nan,
               "seed": lay.seed, "temperature": settings["temperature"], "steps": settings["steps"],
               "sampler": settings["sampler"], "model": self.model_name, "scorer": scorer.name if scorer else "none"}
        return DesignRecord(row=row, mapping={"id": row["id"], **lay.mapping()}, confidence=conf)

    def _baselines(self, lay: Layout, design: str, settings, scorer, index, guard) -> list[DesignRecord]:
        from seqdiff_protein.metrics import random_like, scrambled_motif

        rnd = random_like(lay.template, lay.fixed, random.Random(lay.seed ^ 0x5EED))
        scr = scrambled_motif(design, lay.placements, random.Random(lay.seed ^ 0xABC))
        return [self._record(lay, rnd, None, "random", {**settings, "sampler": "random"}, scorer, index, guard,
                             ident=f"random_{lay.index:04d}"),
                self._record(lay, scr, None, "scrambled_motif", {**settings, "sampler": "scrambled_motif"}, scorer,
                             index, guard, ident=f"scrambled_{lay.index:04d}")]


def length_batches(layouts: Iterable[Layout], batch_size: int) -> Iterator[list[Layout]]:
    """Batches of equal-length layouts, taken ``WINDOW_BATCHES`` batches' worth at a time (memory stays
    bounded for any ``num_designs``; per-row seeds make the grouping invisible in the results)."""
    window: list[Layout] = []
    for lay in layouts:
        window.append(lay)
        if len(window) == batch_size * WINDOW_BATCHES:
            yield from _group(window, batch_size)
            window = []
    yield from _group(window, batch_size)


def _group(layouts: list[Layout], batch_size: int) -> Iterator[list[Layout]]:
    groups: dict[int, list[Layout]] = {}
    for lay in layouts:
        groups.setdefault(lay.length, []).append(lay)
    for _, group in sorted(groups.items()):
        for k in range(0, len(group), batch_size):
            yield group[k:k + batch_size]


def check_previous(kept: dict[int, DesignRecord], num_designs: int) -> None:
    """A resumed run may add designs, never drop one."""
    if kept and max(kept) >= num_designs:
        raise ConfigError("num_designs", num_designs, f"is fewer than the {len(kept)} designs the run already "
                                                      f"holds (nothing was removed); ask for at least {max(kept) + 1}")


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
