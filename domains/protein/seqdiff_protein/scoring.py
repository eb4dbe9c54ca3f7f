"""ESM pseudo-perplexity through fair-esm (or transformers' EsmForMaskedLM).

Definitions (written next to every score we output):

* PLL = sum over ALL residues i = 1..L of log p(x_i | x with position i masked), one masked copy per
  residue, batched. (fair-esm's ``compute_pppl`` example skips the last residue; we do not.)
* esm_pll_mean = PLL / L;  esm_pppl = exp(-PLL / L)  (>= 1, lower = the scorer finds it more natural).
* The softmax runs over ESM's whole 33-token vocabulary, as in fair-esm.

A weak scorer rates homopolymers as excellent, so never rank designs on pseudo-perplexity alone: the
repeat metrics (metrics.py) go beside it in every output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from seqdiff_protein.alphabet import ESM_TOKENS
from seqdiff_protein.esm_io import (
    ESMLoadError, build_fair_esm, is_esm_name, is_hf_esm, is_seqdiff_folder, read_esm2_weights,
    weights_from_seqdiff_folder)

CLS, PAD, EOS, MASK = 0, 1, 2, 32
_INDEX = {t: i for i, t in enumerate(ESM_TOKENS)}


@dataclass(frozen=True)
class PLLScore:
    pll: float
    pll_mean: float
    pppl: float
    per_position: tuple[float, ...] = ()  # log p(x_i | x_\i) per residue


class PseudoPerplexityScorer:
    """``scorer(sequences) -> list[pppl]``; ``scorer.score(sequences)`` gives PLL, mean and per-position."""

    def __init__(self, logits_fn: Callable[[Tensor], Tensor], name: str, device: str | torch.device = "cpu",
                 max_tokens: int = 16384, source: str = ""):
        self.logits_fn, self.name, self.device, self.max_tokens = logits_fn, name, torch.device(device), max_tokens
        self.source = source or name

    def __call__(self, sequences: Sequence[str]) -> list[float]:
        return [s.pppl for s in self.score(sequences)]

    @torch.no_grad()
    def score(self, sequences: Sequence[str], progress: bool = False) -> list[PLLScore]:
        from tqdm.auto import tqdm

        out = []
        for seq in tqdm(list(sequences), desc="scoring", unit="seq", disable=not progress, leave=False):
            out.append(self._score_one(seq))
        return out

    def _score_one(self, seq: str) -> PLLScore:
        length = len(seq)
        if length == 0:
            return PLLScore(float("nan"), float("nan"), float("nan"))
        try:
            ids = [CLS] + [_INDEX[c] for c in seq] + [EOS]
        except KeyError as err:
            raise ValueError(f"cannot score {seq[:30]!r}...: {err.args[0]!r} is not in the ESM alphabet") from None
        base = torch.tensor(ids, dtype=torch.long, device=self.device)
        rows = max(1, self.max_tokens // len(ids))
        logps = []
        for start in range(0, length, rows):
            positions = torch.arange(start, min(start + rows, length), device=self.device) + 1
            batch = base.repeat(len(positions), 1)
            batch[torch.arange(len(positions)), positions] = MASK
            logits = self.logits_fn(batch).float()
            logp = logits[torch.arange(len(positions)), positions].log_softmax(-1)
            logps.append(logp.gather(-1, base[positions].unsqueeze(-1)).squeeze(-1))
        per = torch.cat(logps).double().cpu()
        pll = float(per.sum())
        return PLLScore(pll=pll, pll_mean=pll / length, pppl=math.exp(-pll / length),
                        per_position=tuple(per.tolist()))


def fair_esm_scorer(model: torch.nn.Module, name: str, device="cpu", **kw) -> PseudoPerplexityScorer:
    model = model.to(device).eval()

    def logits(tokens: Tensor) -> Tensor:
        return model(tokens)["logits"]

    return PseudoPerplexityScorer(logits, name, device, **kw)


def hf_scorer(value: str, device="cpu", download: bool = False, **kw) -> PseudoPerplexityScorer:
    try:
        from transformers import EsmForMaskedLM
    except ImportError:
        raise ESMLoadError(f"{value!r} is a Hugging Face ESM model; install transformers to use it") from None
    try:
        model = EsmForMaskedLM.from_pretrained(value, local_files_only=not download).to(device).eval()
    except Exception as err:
        raise ESMLoadError(f"cannot load Hugging Face ESM model {value!r}: {str(err).splitlines()[0]}") from None
    cfg = model.config
    if cfg.vocab_size != len(ESM_TOKENS) or getattr(cfg, "mask_token_id", MASK) != MASK:
        raise ESMLoadError(f"{value!r} does not use ESM-2's 33-token alphabet (vocab_size={cfg.vocab_size})")

    def logits(tokens: Tensor) -> Tensor:
        return model(input_ids=tokens, attention_mask=tokens.ne(PAD)).logits

    return PseudoPerplexityScorer(logits, f"hf:{value}", device, **kw)


def honest_name(folder: Path, bundled: Path | None) -> str:
    """Names that never pass our own weights off as ESM-2 (``bundled-esm2arch-small``)."""
    stem = folder.name.removeprefix("scorer-")
    if bundled is not None and folder.resolve() == bundled.resolve():
        return f"bundled-{stem}"
    return f"seqdiff-esm2arch:{folder.name}"


def load_scorer(value: str | None, device: str | torch.device = "cpu", download: bool = False,
                generator: str | Path | None = None, **kw) -> PseudoPerplexityScorer | None:
    """Resolve ``--esm-model``: ``none``, ``bundled``, a fair-esm name or ``.pt``, a Hugging Face ESM folder/id,
    or a seqdiff ESM-2-shaped folder. Refuses to score with the generator's own weights."""
    from seqdiff_protein.domain import BUNDLED_SCORER

    if value is None or str(value).lower() == "none":
        return None
    value = str(value)
    if value == "bundled":
        if not (BUNDLED_SCORER / "config.json").is_file():
            raise ESMLoadError(f"the bundled scorer is not installed ({BUNDLED_SCORER}); pass --esm-model "
                               f"esm2_t6_8M_UR50D (with the weights cached), a fair-esm .pt path, or none")
        value = str(BUNDLED_SCORER)
    path = Path(value).expanduser()
    if generator is not None and path.exists() and Path(generator).exists() and \
            path.resolve() == Path(generator).resolve():
        raise ESMLoadError(f"--esm-model {value!r} is the generator itself; never score designs with the model that "
                           f"made them: use --esm-model bundled, an ESM-2 name such as esm2_t6_8M_UR50D, or none")
    if path.is_dir() and is_seqdiff_folder(path):
        weights = weights_from_seqdiff_folder(path, name=honest_name(path, BUNDLED_SCORER))
        return fair_esm_scorer(build_fair_esm(weights), weights.name, device, **kw)
    if (path.is_dir() and is_hf_esm(path)) or (not path.exists() and "/" in value and not value.endswith(".pt")):
        return hf_scorer(value, device, download=download, **kw)
    if path.is_dir():
        raise ESMLoadError(f"--esm-model {value!r} is a folder but neither a seqdiff model folder nor a Hugging Face "
                           f"EsmForMaskedLM folder (config.json with model_type 'esm'); e.g. --esm-model bundled")
    if not (value.endswith(".pt") or path.is_file() or is_esm_name(value)):
        raise ESMLoadError(f"unknown --esm-model {value!r}: give a fair-esm ESM-2 name (e.g. esm2_t6_8M_UR50D, "
                           f"esm2_t33_650M_UR50D), a fair-esm .pt file, a Hugging Face ESM folder, bundled, or none")
    weights = read_esm2_weights(value, download=download)
    name = weights.name if is_esm_name(value) else f"fair-esm:{weights.name}"
    return fair_esm_scorer(build_fair_esm(weights), name, device, **kw)
