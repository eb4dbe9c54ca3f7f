"""The ``seqdiff tune`` config: YAML sections map 1:1 onto these frozen dataclasses (``seqdiff.config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seqdiff.config import from_dict
from seqdiff.lit import OptimConfig
from seqdiff.train import ExportConfig, TrainerConfig, merge, parse_overrides, read_yaml


@dataclass(frozen=True)
class RewardTerm:
    """One reward: a name in the domain's ``rewards()`` or ``module:function``, its weight and options."""

    name: str
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RolloutConfig:
    """How rollouts are drawn: the domain's canvases (its bench tasks, else unconditional canvases of
    ``length``), decoded by one of the project's samplers with the domain's banned ids.

    ``canvases`` names the data split the tasks are cut from: ``train`` (default) or ``validation``, so
    the held-out split ``seqdiff bench`` and the eval scripts measure on is never tuned on; ``bench`` is
    that held-out split itself (contaminates any later evaluation on it). Unconditional canvases carry no
    data, so the choice changes nothing for them. ``canvas_options``, when given, go to the domain's
    canvas builder instead (``BenchSpec.canvases``; protein: ``{motif: "10-20/seq:FSLF/10-20"}`` lays the
    motif into every rollout, non-editable, with ``--motif``'s grammar)."""

    length: int = field(default=64, metadata={"min": 1, "max": 8192})
    sampler: Literal["ancestral", "confidence"] = "ancestral"  # random order (proteins) | low-confidence (code)
    steps: int = field(default=16, metadata={"min": 1, "max": 8192})
    temperature: float = field(default=1.0, metadata={"min": 0.0, "max": 10.0})
    num_prompts: int = field(default=64, metadata={"min": 1, "max": 1_000_000})  # canvases drawn from
    canvases: Literal["train", "validation", "bench"] = "train"
    canvas_options: dict[str, Any] = field(default_factory=dict)
    # the model's <eos> may end a rollout's middle, every editable position after it <eos> (samplers/eos_filler.py:
    # the code model's training layout, which the infiller decodes under); False: <eos> is banned
    eos_filler: bool = False


@dataclass(frozen=True)
class TuneConfig:
    policy: str  # a model folder (ours or a supported family), or a domain name for its bundled model
    rewards: tuple[RewardTerm, ...]
    reference: str | None = None  # the frozen KL reference; default: the policy's starting weights
    estimator: Literal["mean_field", "coupled"] = "coupled"
    group_size: int = field(default=8, metadata={"min": 2, "max": 4096})
    prompts_per_step: int = field(default=2, metadata={"min": 1, "max": 4096})
    kl_coef: float = field(default=0.04, metadata={"min": 0.0, "max": 100.0})
    clip_eps: float = field(default=0.2, metadata={"min": 0.0, "max": 10.0})
    prompt_mask_prob: float = field(default=0.15, metadata={"min": 0.0, "max": 1.0})  # mean_field only
    reward_timeout_s: float = field(default=60.0, metadata={"min": 0.01, "max": 86400.0})
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5, weight_decay=0.0, warmup_steps=0,
                                                                                min_lr_ratio=1.0))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_steps=100, val_every=50))
    export: ExportConfig = field(default_factory=ExportConfig)

    def __post_init__(self) -> None:
        if not self.rewards:
            raise ValueError("rewards is empty: name at least one, e.g. rewards: [{name: net_charge}]")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TuneConfig:
    """The tune config from a YAML file and ``--set`` overrides; every mistake is a ValueError naming the
    field. Sections the YAML leaves out keep the tune defaults (a small learning rate, no warmup)."""
    data = merge(read_yaml(path) if path is not None else {}, parse_overrides(list(overrides)))
    for key in ("policy", "rewards"):
        if key not in data:
            raise ValueError(f"the tune config names no {key}: add `{key}:` (see configs/tune-protein-charge.yaml)")
    defaults = TuneConfig(policy="", rewards=(RewardTerm("x"),))
    for section, default in (("optim", defaults.optim), ("trainer", defaults.trainer)):
        if isinstance(data.get(section), dict):
            data[section] = {**{k: getattr(default, k) for k in default.__dataclass_fields__}, **data[section]}
    return from_dict(TuneConfig, data)
