"""Rewards: named by a domain (the ``Domain.rewards()`` hook) or a user's ``module:function``.

A reward is ``f(texts, canvases) -> list[float]``: ``texts`` are the decoded rollouts (special tokens
dropped), ``canvases`` the dicts the rollouts started from (``tokens``, ``editable``, domain extras such
as a code task) with ``output`` (the finished token ids) and ``editable_text`` (the decoded editable
positions: a code infill's middle) added. Higher is better. A user's callable is
imported and called in this process, with the options of its config entry as keyword arguments: it
runs with the trainer's rights, so name only code you trust.

Every call is guarded: a reward that raises, runs past its timeout, returns the wrong count or a
non-finite value stops the run with a ``RewardError`` naming the reward and the sample.
"""

from __future__ import annotations

import importlib
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable

from seqdiff.domain import Reward



class RewardError(RuntimeError):
    """A reward failed on a batch of rollouts; ``reward`` and ``sample`` say which and where."""

    def __init__(self, reward: str, sample: int | None, problem: str, text: str | None = None):
        self.reward, self.sample, self.problem = reward, sample, problem
        where = f" on sample {sample}" if sample is not None else ""
        shown = f" (text {text[:60]!r})" if text is not None else ""
        super().__init__(f"reward {reward!r} {problem}{where}{shown}; the run stopped and exported nothing")


@dataclass(frozen=True)
class BoundReward:
    """A reward with its config entry's name, weight and timeout."""

    name: str
    weight: float
    fn: Reward
    timeout_s: float

    def __call__(self, texts: list[str], canvases: list[dict]) -> list[float]:
        values = call_with_timeout(self.name, lambda: self.fn(texts, canvases), self.timeout_s)
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError) as err:
            raise RewardError(self.name, None, f"returned {type(values).__name__}, not numbers ({err})") from None
        if len(values) != len(texts):
            raise RewardError(self.name, None, f"returned {len(values)} values for {len(texts)} samples")
        for i, value in enumerate(values):
            if not math.isfinite(value):
                raise RewardError(self.name, i, f"returned {value}", texts[i])
        return values


def call_with_timeout(name: str, fn: Callable[[], Any], timeout_s: float) -> Any:
    """``fn()`` on a daemon thread: a hung reward cannot be killed in-process, but it cannot block the
    run (or the interpreter's exit) either; errors carry the reward's name."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # reported to the caller's thread below
            box["error"] = err

    thread = threading.Thread(target=target, name=f"reward-{name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise RewardError(name, None, f"did not return within {timeout_s:g} s (reward_timeout_s)")
    if "error" in box:
        err = box["error"]
        sample = getattr(err, "sample", None)
        raise RewardError(name, sample, f"raised {type(err).__name__}: {err}") from err
    return box["value"]


def resolve(name: str, options: dict, domain) -> Reward:
    """A config entry's reward: ``module:function`` (imported, called with ``options``) or a name in the
    domain's ``rewards()`` (a factory called with ``options``)."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"rewards: {name!r} cannot be imported ({err}); give module:function of an "
                             f"importable module") from None
        if not callable(fn):
            raise ValueError(f"rewards: {name!r} is not callable")
        return (lambda texts, canvases: fn(texts, canvases, **options)) if options else fn
    factories = domain.rewards() if domain is not None else {}
    if name not in factories:
        raise ValueError(f"rewards: {name!r} is not a reward of this domain (known: "
                         f"{', '.join(sorted(factories)) or 'none'}) nor a module:function")
    try:
        return factories[name](**options)
    except TypeError as err:
        raise ValueError(f"rewards: {name!r} options {sorted(options)} are wrong ({err})") from None


def total(rewards: list[BoundReward], texts: list[str], canvases: list[dict]) -> tuple[list[float], dict]:
    """The weighted sum per sample and each reward's batch mean (for logs)."""
    sums = [0.0] * len(texts)
    means = {}
    for reward in rewards:
        values = reward(texts, canvases)
        sums = [s + reward.weight * v for s, v in zip(sums, values)]
        means[reward.name] = sum(values) / max(1, len(values))
    return sums, means
