"""The ``Domain`` protocol: what a plugin (protein, code, or a third party's) supplies to the core.

Domains are discovered through the ``seqdiff.domains`` entry-point group (see plugins.py); the
built-in ones register exactly like third-party ones. A domain module should import heavy
dependencies lazily, inside the methods that need them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from torch.utils.data import Dataset

from seqdiff.tokenizer import Tokenizer

if TYPE_CHECKING:
    from seqdiff.bench import BenchSpec
    from seqdiff.serve.contribution import ServeContribution


@dataclass(frozen=True)
class Problem:
    """One thing a validator found wrong in an output: characters ``start:end`` of its text and why."""

    start: int
    end: int
    message: str


Check = Callable[[str], list[Problem]]  # an output's text -> its problems (empty: valid)
Scorer = Callable[[list[str]], list[float]]  # outputs' texts -> one score each (the domain documents its sense)
# (rollout texts, the canvases they started from with ``output`` ids added) -> one reward each, higher better
Reward = Callable[[list[str], list[dict]], list[float]]
RewardFactory = Callable[..., Reward]  # the options of a tune config's reward entry -> the reward


@runtime_checkable
class Domain(Protocol):
    name: str
    description: str

    def build_tokenizer(self, config: dict[str, Any]) -> Tokenizer:
        """A fresh tokenizer for training (``tokenizer:`` section of a training YAML)."""

    def load_tokenizer(self, directory: Path) -> Tokenizer:
        """The tokenizer saved in a model folder."""

    def dataset(self, tokenizer: Tokenizer, config: dict[str, Any], split: str) -> Dataset:
        """Training examples for ``split`` in {train, validation, test}: dicts with ``tokens`` (LongTensor
        [L]) and optionally ``maskable`` (BoolTensor [L]; default all True)."""

    def default_model(self) -> Path | None:
        """The bundled model folder, if the domain ships one."""

    def validators(self) -> dict[str, Check]:
        """Named checks of a finished output's text (protein: alphabet and repeats; code: syntax)."""

    def scorers(self, device: str = "cpu") -> dict[str, Scorer]:
        """Named scoring functions; models they load go on ``device``. May be empty when an optional
        scorer is not installed."""

    def rewards(self) -> dict[str, RewardFactory]:
        """Named reward factories for ``seqdiff tune`` (see ``seqdiff.tune.rewards``): each is called with
        its config entry's options and returns a ``Reward``. Rewards that run untrusted code (a model's
        program under unit tests) must run it outside this process. May be empty."""

    def bench_spec(self, tokenizer: Tokenizer) -> "BenchSpec":
        """What ``seqdiff bench`` runs for this domain's models (see ``seqdiff.bench.BenchSpec``)."""

    def add_commands(self, subparsers: argparse._SubParsersAction) -> None:
        """Register CLI subcommands; each sets ``func(args) -> int``."""

    def serve(self) -> ServeContribution | None:
        """What this domain adds to ``seqdiff serve`` (routes, a model loader run in a worker thread at
        start-up, extra CLI arguments, a one-line description), or None to serve nothing. Called when the
        CLI is built, so it must be cheap: load models in the contribution's ``load``."""
