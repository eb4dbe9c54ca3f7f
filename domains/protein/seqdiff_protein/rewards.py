"""Protein rewards for ``seqdiff tune`` (the domain's ``rewards()`` hook). Each factory takes its config
entry's options and returns ``f(texts, canvases) -> list[float]``, higher is better; texts are residue
strings. A motif is not a reward: it is part of the canvas (non-editable), kept by construction.

- ``net_charge(target, histidine)``: -|charge - target| with K, R +1; D, E -1; H ``histidine`` (default
  0.1, its partial charge near pH 7).
- ``hydrophobic_fraction(target, residues)``: -|fraction of ``residues`` - target| x 10.
- ``pll()``: mean per-residue pseudo-log-likelihood under the domain's scorer, -log(pseudo-perplexity).
- ``repeat_penalty(max_run, max_top_fraction)``: -(longest homopolymer beyond ``max_run`` + 10 x the most
  common residue's fraction beyond ``max_top_fraction``), 0 for natural-looking composition; add it
  beside a property reward so the property cannot be bought with homopolymers (KKKK... maximises charge).
"""

from __future__ import annotations

import math
from typing import Callable

from seqdiff_protein.metrics import longest_run, top_residue

Reward = Callable[[list[str], list[dict]], list[float]]
CHARGES = {"K": 1.0, "R": 1.0, "D": -1.0, "E": -1.0}
HYDROPHOBIC = "AILMFVW"


def charge(seq: str, histidine: float = 0.1) -> float:
    return sum(CHARGES.get(ch, 0.0) for ch in seq) + histidine * seq.count("H")


def net_charge(target: float = 5.0, histidine: float = 0.1) -> Reward:
    return lambda texts, canvases: [-abs(charge(t, histidine) - target) for t in texts]


def hydrophobic_fraction(target: float = 0.4, residues: str = HYDROPHOBIC) -> Reward:
    if not 0 <= target <= 1:
        raise ValueError(f"hydrophobic_fraction target={target} must be in [0, 1]")
    members = set(residues)
    return lambda texts, canvases: [-10 * abs(sum(ch in members for ch in t) / max(1, len(t)) - target)
                                    for t in texts]


def repeat_penalty(max_run: int = 4, max_top_fraction: float = 0.2) -> Reward:
    def penalty(seq: str) -> float:
        run = longest_run(seq)
        top = top_residue(seq)[1] if seq else 1.0
        return -(max(0, run - max_run) + 10 * max(0.0, top - max_top_fraction))

    return lambda texts, canvases: [penalty(t) for t in texts]


def pll(esm_model: str = "bundled", device: str = "cpu") -> Reward:
    """Loads the scorer on first use (a config naming it costs nothing until the run starts)."""
    from seqdiff_protein.domain import ProteinDomain

    domain = ProteinDomain()

    def reward(texts: list[str], canvases: list[dict]) -> list[float]:
        scorer = domain.scorers(device, esm_model=esm_model).get("pppl")
        if scorer is None:
            raise RuntimeError(f"the {esm_model!r} ESM scorer is not installed")
        return [-math.log(p) for p in scorer(texts)]

    return reward


FACTORIES = {"net_charge": net_charge, "hydrophobic_fraction": hydrophobic_fraction, "pll": pll,
             "repeat_penalty": repeat_penalty}
