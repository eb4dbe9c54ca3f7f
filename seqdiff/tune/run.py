"""Build a tune run from its config (every mistake surfaces before training), fit it with the shared
trainer, and export the tuned model folder atomically (a failed run leaves no folder behind)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from seqdiff.checkpoint import Pretrained, from_pretrained, save_pretrained
from seqdiff.io import atomic_write_text
from seqdiff.plugins import model_folder
from seqdiff.train import Fitted, fit
from seqdiff.tune.config import TuneConfig
from seqdiff.tune.module import StepData, TuneModule
from seqdiff.tune.rewards import BoundReward, resolve


@dataclass
class Prepared:
    pretrained: Pretrained
    module: TuneModule
    policy_path: Path
    reference_path: Path


def rollout_canvases(pretrained: Pretrained, domain, config: TuneConfig) -> tuple[list[dict], list[int]]:
    """The domain's canvases: built from ``rollout.canvas_options``, else cut from ``rollout.canvases``'
    split (its tasks, else unconditional canvases); and its banned ids."""
    from seqdiff.bench import default_tasks, spec_of

    tokenizer, ro = pretrained.tokenizer, config.rollout
    spec = spec_of(domain, tokenizer)
    if ro.canvas_options:
        if spec.canvases is None:
            raise ValueError(f"rollout.canvas_options: the {pretrained.domain} domain builds no canvases from "
                             "options; remove canvas_options")
        try:
            canvases = spec.canvases(ro.length, ro.num_prompts, config.trainer.seed, **ro.canvas_options)
        except TypeError as err:
            raise ValueError(f"rollout.canvas_options {sorted(ro.canvas_options)} are wrong ({err})") from None
    elif spec.tasks is None:
        canvases = default_tasks(spec, tokenizer, ro.length, ro.num_prompts)
    elif ro.canvases == "bench":
        canvases = spec.tasks(ro.length, ro.num_prompts, config.trainer.seed)
    elif "split" in inspect.signature(spec.tasks).parameters:
        canvases = spec.tasks(ro.length, ro.num_prompts, config.trainer.seed, split=ro.canvases)
    else:
        raise ValueError(f"rollout.canvases={ro.canvases!r}: the {pretrained.domain} domain's tasks come only "
                         "from its held-out bench split; set rollout.canvases: bench (and evaluate elsewhere)")
    banned = sorted(spec.banned_ids if spec.banned_ids is not None else tokenizer.special_ids)
    return canvases, banned


def prepare(config: TuneConfig) -> Prepared:
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    policy_path = model_folder(config.policy)
    reference_path = model_folder(config.reference) if config.reference else policy_path
    pretrained = from_pretrained(policy_path)
    reference = from_pretrained(reference_path).model if config.reference else None
    if reference is not None and reference.config.to_dict() != pretrained.model.config.to_dict():
        raise ValueError(f"reference={config.reference!r} has another architecture than the policy")
    domain = None
    if pretrained.domain is not None:
        from seqdiff.plugins import load_domain

        domain = load_domain(pretrained.domain)
    rewards = [BoundReward(term.name, term.weight, resolve(term.name, dict(term.options), domain),
                           config.reward_timeout_s) for term in config.rewards]
    canvases, banned = rollout_canvases(pretrained, domain, config)
    module = TuneModule(pretrained.model.train(), pretrained.tokenizer, canvases, banned, rewards, config,
                        noise=pretrained.noise, reference=reference)
    return Prepared(pretrained, module, policy_path, reference_path)


def tune(config: TuneConfig, resume: bool = False, prepared: Prepared | None = None) -> Path:
    """Fit, then export the tuned model folder; returns its path. A failing reward raises ``RewardError``
    out of here and no folder is written."""
    prepared = prepared or prepare(config)
    tc = config.trainer
    data = StepData(tc.max_steps, rollout_tokens(prepared.module))
    fitted = fit(prepared.module, data, tc, resume=resume, grad_clip=config.optim.grad_clip, monitor=None)
    export_dir = Path(config.export.dir or Path(tc.out_dir) / "model")
    if fitted.trainer.is_global_zero:
        base = prepared.pretrained
        meta = card_meta(config, prepared, fitted)
        tuned = Pretrained(model=prepared.module.policy.float(), tokenizer=base.tokenizer, domain=base.domain,
                           noise=base.noise, meta=meta)
        export_atomically(tuned, export_dir, getattr(torch, config.export.dtype))
        atomic_write_text(Path(tc.out_dir) / "tune_summary.json", json.dumps(meta, indent=1, default=str))
    return export_dir


def card_meta(config: TuneConfig, prepared: Prepared, fitted: Fitted) -> dict:
    """What the tuned folder's card records: rewards, estimator, steps, KL, reference, the base's card."""
    m = fitted.metrics
    return {"domain": prepared.pretrained.domain, "tuned_from": str(prepared.policy_path),
            "reference": str(prepared.reference_path), "estimator": config.estimator,
            "rewards": [dataclasses.asdict(r) for r in config.rewards], "steps": fitted.trainer.global_step,
            "group_size": config.group_size, "prompts_per_step": config.prompts_per_step,
            "kl_coef": config.kl_coef, "kl_last": m.get("train/kl"), "reward_last": m.get("train/reward"),
            "loss_last": m.get("train/loss"), "rollout": dataclasses.asdict(config.rollout),
            "train_minutes": fitted.minutes, "tokens_per_s": fitted.tokens_per_s, "hardware": fitted.hardware,
            "precision": fitted.precision, "base_meta": prepared.pretrained.meta}


def rollout_tokens(module: TuneModule) -> int:
    """Generated positions per step (mean editable count of the canvases x rollouts per step)."""
    editable = sum(sum(c["editable"]) for c in module.canvases) / max(1, len(module.canvases))
    return max(1, round(editable * module.config.prompts_per_step * module.config.group_size))


def export_atomically(pretrained: Pretrained, directory: Path, dtype: torch.dtype) -> None:
    """Write the folder beside its destination, then swap it in: readers never see a half-written one."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        save_pretrained(pretrained, staging, dtype=dtype)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
            staging.rename(directory)
            shutil.rmtree(old)
        else:
            staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
