"""``DesignConfig``: every setting of one design run, each default written once (the CLI's flags, the
HTTP route's fields and ``ProteinDesigner.design(**fields)`` all build this), with its bounds beside it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Mapping

from seqdiff.config import ConfigError, from_dict, validate

MAX_DESIGNS = 100_000  # per run; layouts are made batch by batch, so this bounds the output, not memory
MAX_STEPS = 100_000
MAX_BATCH = 4096


class DesignInputError(ValueError):
    """Bad user input to ``design`` (the CLI exits 2 with it); ``field`` names the ``DesignConfig`` field it
    is about, when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DesignConfig:
    """What to design and how. ``length`` is ``"LO-HI"`` or a number; ``steps=None`` means ceil(generated
    residues / 8); ``esm_model=None`` means the designer's scorer; ``novelty`` is ``"auto"`` (the model's
    training split, when present), a FASTA path, sequences, or ``None``."""

    motif: str | None = None
    pdb: str | Path | None = None
    length: str | int | None = None
    redesign: str | None = None
    num_designs: int = field(default=10, metadata={"min": 1, "max": MAX_DESIGNS})
    seed: int = field(default=0, metadata={"min": 0, "max": 2**63 - 1})
    sampler: Literal["ancestral", "confidence"] = "ancestral"
    steps: int | None = field(default=None, metadata={"min": 1, "max": MAX_STEPS})
    temperature: float = field(default=1.0, metadata={"min": 0.0, "max": 100.0})
    top_k: int | None = field(default=None, metadata={"min": 1, "max": 20})
    top_p: float | None = field(default=None, metadata={"min": 1e-6, "max": 1.0})
    remasking: Literal["low_confidence", "random"] = "low_confidence"
    batch_size: int = field(default=16, metadata={"min": 1, "max": MAX_BATCH})
    esm_model: str | None = None
    baselines: bool = False
    repeat_guard: bool = True
    max_residue_fraction: float = field(default=0.25, metadata={"min": 0.0, "max": 1.0})
    max_run: int = field(default=6, metadata={"min": 1, "max": 1022})
    repeat_rounds: int = field(default=4, metadata={"min": 0, "max": 100})
    novelty: str | tuple[str, ...] | None = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)
        if self.length is not None and not isinstance(self.length, str) and self.length < 1:
            raise ConfigError("length", self.length, "must be >= 1, e.g. 100 or '100-150'")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DesignConfig":
        data = dict(data)
        if isinstance(data.get("novelty"), list):
            data["novelty"] = tuple(data["novelty"])
        return from_dict(cls, data)

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULTS = DesignConfig()

# The CLI flag of each field whose flag is not ``--`` + the name with dashes (``translate`` uses it).
FLAGS = {"num_designs": "-n/--num-designs", "repeat_guard": "--no-repeat-guard", "novelty": "--train-fasta"}


def flag_of(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def translate(err: ConfigError) -> str:
    """A config error in the CLI's words: ``--num-designs 0 must be >= 1``."""
    return f"{flag_of(err.field)} {err.value!r} {err.problem}"


FIELD_NAMES = tuple(f.name for f in fields(DesignConfig))
