"""The ``seqdiff distill`` config: a YAML file mapped onto frozen dataclasses by ``seqdiff.config.from_dict``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seqdiff.config import ConfigError, from_dict
from seqdiff.lit import OptimConfig
from seqdiff.train import ExportConfig, TrainerConfig, merge, parse_overrides, read_yaml


@dataclass(frozen=True)
class CanvasConfig:
    """Where the canvases the student is trained on come from.

    ``unconditional``: the domain's bench canvases (its prefix ids, ``length`` masks, its suffix ids), the
    states unconditional design starts from. ``dataset``: the domain's training examples (``data`` is
    passed to its ``dataset()``) with their maskable positions masked and the rest kept as the prompt
    (the code domain's prefix | middle | suffix infill layout)."""

    source: Literal["unconditional", "dataset"] = "unconditional"
    length: int = field(default=256, metadata={"min": 1, "max": 1 << 16})
    size: int = field(default=1024, metadata={"min": 1, "max": 1 << 24})  # unconditional canvases per epoch
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DistillConfig:
    """``teacher_steps`` is k, the teacher's steps in round 0. Progressive: round r's teacher takes
    k / 2^r steps and its student half that; ``trainer.max_steps`` is split evenly over the rounds and the
    student of each round becomes the next round's teacher. Certainty: one round, the teacher's greedy
    trajectory has ``teacher_steps`` steps."""

    teacher: str  # a model folder (its config.json names the domain)
    mode: Literal["progressive", "certainty"] = "progressive"
    teacher_steps: int = field(default=32, metadata={"min": 2, "max": 1 << 16})
    rounds: int = field(default=1, metadata={"min": 1, "max": 16})
    temperature: float = field(default=1.0, metadata={"min": 0.05, "max": 100.0})  # progressive: sampling and targets
    intermediates: int = field(default=1, metadata={"min": 1, "max": 64})  # progressive: teacher samples per target
    certainty_weight: float = field(default=1.0, metadata={"min": 0.0, "max": 1000.0})
    canvas: CanvasConfig = field(default_factory=CanvasConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def __post_init__(self) -> None:
        if self.mode == "certainty" and self.rounds != 1:
            raise ConfigError("rounds", self.rounds, "must be 1 in certainty mode (the teacher stays fixed)")
        if self.mode == "progressive" and self.teacher_steps % 2 ** self.rounds:
            raise ConfigError("teacher_steps", self.teacher_steps,
                              f"must be divisible by 2^rounds = {2 ** self.rounds} (each round halves the steps)")
        if self.trainer.max_steps % self.rounds:
            raise ConfigError("trainer.max_steps", self.trainer.max_steps,
                              f"must be a multiple of rounds={self.rounds} (the steps are split evenly)")

    @property
    def steps_per_round(self) -> int:
        return self.trainer.max_steps // self.rounds

    @property
    def student_steps(self) -> int:
        """The steps the exported student is meant to sample with."""
        return self.teacher_steps // 2 ** self.rounds if self.mode == "progressive" else self.teacher_steps


def load_config(path: str | Path | None, overrides: list[str] = ()) -> DistillConfig:
    """The config from a YAML file and ``--set`` overrides; every mistake is a ValueError naming the field."""
    data = merge(read_yaml(path) if path is not None else {}, parse_overrides(list(overrides)))
    if "teacher" not in data:
        raise ValueError("the config names no teacher: add `teacher: path/to/model-folder`")
    config = from_dict(DistillConfig, data)
    if not (Path(config.teacher) / "config.json").is_file():
        raise ValueError(f"teacher={config.teacher!r} is not a model folder (no config.json there)")
    return config
