"""Text generation with any loaded model (LLaDA, Dream, seqdiff's own): prompt + masks, decoded blockwise.

The knobs are the ones LLaDA and Fast-dLLM users know: ``steps`` (total, split over blocks), ``block_length``,
``threshold`` (Fast-dLLM parallel decoding instead of a fixed number of steps), ``cache`` (none, prefix,
dual), ``temperature``, ``seed``. Named ``generation`` so that ``seqdiff.generate`` stays the function.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqdiff.checkpoint import Pretrained
from seqdiff.samplers import (
    BlockwiseSampler, CacheOptions, ConfidenceSampler, Denoise, SamplingOptions, ThresholdSampler, row_generators)


@dataclass(frozen=True)
class GenerateResult:
    text: str  # the answer, cut at the first end-of-answer token
    token_ids: list[int]  # every generated position, including end-of-answer filler
    prompt_tokens: int
    nfe: int  # model calls
    steps: int
    wall_s: float

    @property
    def tokens_per_step(self) -> float:
        return len(self.token_ids) / max(1, self.steps)


def banned_ids(tokenizer) -> frozenset[int]:
    """Ids never drawn: for a Hugging Face tokenizer only the unused rows (a released model emits its own
    end-of-turn specials, <|eot_id|>, <|im_end|>); for seqdiff's tokenizers every special but eos."""
    unused = getattr(tokenizer, "unused_ids", None)
    return frozenset(unused) if unused is not None else frozenset(tokenizer.special_ids) - {tokenizer.eos_id}


def prompt_ids(pretrained: Pretrained, prompt: str, chat: bool = False) -> list[int]:
    """The prompt's token ids; with ``chat`` rendered through the folder's chat template first."""
    tokenizer = pretrained.tokenizer
    try:  # an undecodable byte in a command line arrives as a lone surrogate, which tokenizers refuse
        prompt.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"the prompt holds {err.object[err.start:err.end]!a}, which is not Unicode text (a byte "
                         f"that is not UTF-8?); give the prompt as UTF-8 text") from None
    if not chat:
        return list(tokenizer.encode(prompt, add_special_tokens=True))  # the model's BOS, where it has one
    if pretrained.chat is None:
        raise ValueError(f"{pretrained.path or 'this model'} has no chat template (tokenizer_config.json "
                         f"chat_template): leave out chat=True / --chat")
    text = pretrained.chat.render([{"role": "user", "content": prompt}])
    return list(tokenizer.encode(text))  # the template already holds the special tokens


def make_sampler(max_new_tokens: int, steps: int | None, block_length: int, threshold: float | None,
                 temperature: float, remasking: str = "low_confidence") -> BlockwiseSampler:
    sampling = SamplingOptions(temperature=temperature)
    if threshold is not None:
        inner = ThresholdSampler(threshold=threshold, sampling=sampling)
    else:
        inner = ConfidenceSampler(steps=steps or max_new_tokens, remasking=remasking, sampling=sampling)
    return BlockwiseSampler(inner, min(block_length, max_new_tokens))


MAX_CANVAS = 8192  # positions, for a model whose config declares no max_positions (bounds memory, not quality)


def canvas_limit(model) -> int:
    """The longest canvas ``generate`` builds for ``model``: its ``max_positions``, else ``MAX_CANVAS``."""
    return getattr(model.config, "max_positions", None) or MAX_CANVAS


def _check(max_new_tokens: int, steps: int | None, block_length: int, threshold: float | None) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 1")
    if steps is not None and steps < 1:
        raise ValueError(f"steps={steps} must be >= 1 (or None: one token per step)")
    if block_length < 1:
        raise ValueError(f"block_length={block_length} must be >= 1 (32 is Fast-dLLM's choice)")
    if threshold is not None and not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold} must be in (0, 1], e.g. 0.9")


def generate(pretrained: Pretrained, prompt: str, max_new_tokens: int = 128, steps: int | None = None,
             block_length: int = 32, threshold: float | None = None, cache: str = "none",
             temperature: float = 0.0, seed: int = 0, chat: bool = False,
             remasking: str = "low_confidence", refresh_every: int | None = None) -> GenerateResult:
    """Generate ``max_new_tokens`` positions after ``prompt``; ``steps`` defaults to one token per step.

    The text ends at the first special token the model commits (eos, <|eot_id|>, <|im_end|>, ...)."""
    _check(max_new_tokens, steps, block_length, threshold)
    tokenizer, model = pretrained.tokenizer, pretrained.model
    ids = prompt_ids(pretrained, prompt, chat)
    limit = canvas_limit(model)
    if len(ids) + max_new_tokens > limit:  # checked before the canvas is allocated
        raise ValueError(f"max_new_tokens={max_new_tokens} after {len(ids)} prompt tokens makes a canvas over this "
                         f"model's limit of {limit} positions; e.g. max_new_tokens={max(1, min(128, limit - len(ids)))}")
    device = next(model.parameters()).device
    x = torch.tensor([ids + [tokenizer.mask_id] * max_new_tokens], device=device)
    editable = torch.zeros_like(x, dtype=torch.bool)
    editable[:, len(ids):] = True
    banned = sorted(banned_ids(tokenizer))
    sampler = make_sampler(max_new_tokens, steps, block_length, threshold, temperature, remasking)
    run = Denoise(sampler, banned_ids=banned, cache=CacheOptions(mode=cache, refresh_every=refresh_every))
    out = run(model, x, editable, row_generators([seed], device=device))
    generated = out.tokens[0, len(ids):].tolist()
    ends = tokenizer.special_ids
    cut = next((i for i, t in enumerate(generated) if t in ends), len(generated))
    return GenerateResult(text=tokenizer.decode(generated[:cut]), token_ids=generated, prompt_tokens=len(ids),
                          nfe=out.nfe, steps=out.steps, wall_s=out.wall_s)
