"""``seqdiff distill --config X.yaml``: teacher folder -> Lightning fit (``seqdiff.train.fit``) -> student folder."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import Dataset

from seqdiff.bench import default_tasks, spec_of
from seqdiff.checkpoint import Pretrained, from_pretrained, model_card, save_pretrained
from seqdiff.data import LoaderConfig, SequenceDataModule
from seqdiff.plugins import load_domain, model_folder
from seqdiff.train import fit

from seqdiff.distill.config import DistillConfig
from seqdiff.distill.module import DistillModule


class CanvasSet(Dataset):
    """``size`` copies of one unconditional canvas: the editable span is what gets distilled."""

    def __init__(self, canvas: dict, size: int):
        self.tokens = torch.tensor(canvas["tokens"], dtype=torch.long)
        self.maskable = torch.tensor(canvas["editable"], dtype=torch.bool)
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"tokens": self.tokens, "maskable": self.maskable}


@dataclass
class Prepared:
    """Everything ``distill`` fits, built before training so that a bad teacher, domain or data option is
    an error up front (the CLI exits 2 on it)."""

    teacher: Pretrained
    module: DistillModule
    canvases: Dataset


def prepare(config: DistillConfig) -> Prepared:
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    teacher = from_pretrained(model_folder(config.teacher))
    if teacher.domain is None:
        raise ValueError(f"teacher={config.teacher!r} names no domain in its config.json; distillation needs "
                         f"the domain's canvases")
    domain = load_domain(teacher.domain)
    spec = spec_of(domain, teacher.tokenizer)
    banned = spec.banned_ids if spec.banned_ids is not None else teacher.tokenizer.special_ids
    canvases = _canvases(config, domain, spec, teacher.tokenizer)
    module = DistillModule(model=teacher.model.config.to_dict(), noise=dataclasses.asdict(teacher.noise),
                           optim=dataclasses.asdict(config.optim), mode=config.mode,
                           teacher_steps=config.teacher_steps, rounds=config.rounds,
                           steps_per_round=config.steps_per_round, banned=sorted(banned),
                           temperature=config.temperature, certainty_weight=config.certainty_weight,
                           intermediates=config.intermediates,
                           seed=config.trainer.seed)
    module.start_from(teacher.model.float().state_dict())  # a resumed run's checkpoint then replaces these
    return Prepared(teacher, module, canvases)


def _canvases(config: DistillConfig, domain, spec, tokenizer) -> Dataset:
    c = config.canvas
    if c.source == "dataset":
        return domain.dataset(tokenizer, c.data, "train")
    if not spec.unconditional:
        raise ValueError(f"canvas.source='unconditional': domain {domain.name!r} benches conditional tasks; "
                         f"use canvas.source=dataset (with canvas.data) for it")
    return CanvasSet(default_tasks(spec, tokenizer, c.length, 1)[0], c.size)


def distill(config: DistillConfig, resume: bool = False, prepared: Prepared | None = None) -> Path:
    """Fit, then export the student's model folder. Returns its path."""
    tc = config.trainer
    prepared = prepared or prepare(config)
    teacher, module = prepared.teacher, prepared.module
    data = SequenceDataModule(prepared.canvases, None, teacher.tokenizer.pad_id,
                              LoaderConfig(batch_size=tc.batch_size, num_workers=tc.num_workers, seed=tc.seed))
    fitted = fit(module, data, tc, resume=resume, grad_clip=config.optim.grad_clip, monitor=None)
    export_dir = Path(config.export.dir or Path(tc.out_dir) / "model")
    if fitted.trainer.is_global_zero:
        meta = _meta(config, teacher, fitted)
        student = Pretrained(model=module.model.float(), tokenizer=teacher.tokenizer, domain=teacher.domain,
                             noise=teacher.noise, meta=meta)
        save_pretrained(student, export_dir, dtype=getattr(torch, config.export.dtype), card=_card(student, config))
        (Path(tc.out_dir) / "distill_summary.json").write_text(json.dumps(meta, indent=1, default=str))
    return export_dir


def _meta(config: DistillConfig, teacher: Pretrained, fitted) -> dict[str, Any]:
    return {"distilled_from": str(config.teacher), "distill_mode": config.mode, "rounds": config.rounds,
            "teacher_steps": config.teacher_steps, "student_steps": config.student_steps,
            "intermediates": config.intermediates,
            "steps": fitted.trainer.global_step, "steps_per_round": config.steps_per_round,
            "batch_size": config.trainer.batch_size, "data": dataclasses.asdict(config.canvas),
            "train_loss_last": fitted.metrics.get("train/loss"), "train_minutes": fitted.minutes,
            "hardware": fitted.hardware, "precision": fitted.precision,
            "teacher_meta": {k: teacher.meta[k] for k in ("steps", "data", "validation_nll_nats_per_token")
                             if k in teacher.meta}}


def _card(student: Pretrained, config: DistillConfig) -> str:
    how = (f"progressive step distillation (SDTT-style), {config.rounds} round(s) from {config.teacher_steps} "
           f"to {config.student_steps} ancestral steps" if config.mode == "progressive" else
           f"certainty forcing (dParallel-style) on the teacher's {config.teacher_steps}-step greedy trajectories")
    lines = model_card(student).split("\n", 2)
    return "\n".join([lines[0], "", f"Distilled from `{config.teacher}` by {how}: sample it with "
                      f"{config.student_steps} steps.", "", lines[2]])
