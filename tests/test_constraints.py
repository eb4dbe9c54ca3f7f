"""Constraint hooks of the one loop: ``logits_hook`` bans tokens; a validator's spans are re-masked and decoded
again, for a bounded number of rounds, and a round runs the model only on the rows it re-masked."""

from __future__ import annotations

import torch

from seqdiff.samplers import ConfidenceSampler, Denoise, SamplingOptions, row_generators
from seqdiff.testing import MASK, ROWS, SPECIAL, TOK, CallLog, batch

SEEDS = [4, 5, 6]


def sampler():
    return ConfidenceSampler(steps=6, sampling=SamplingOptions(temperature=1.0))


def test_logits_hook_bans_a_token(model):
    a = TOK.encode("a")[0]

    def ban_a(step, x, logits):
        logits[..., a] = float("-inf")
        return logits

    x, e = batch(ROWS)
    out = Denoise(sampler(), banned_ids=SPECIAL, logits_hook=ban_a)(model, x, e, row_generators(SEEDS))
    assert not ((out.tokens == a) & e).any() and not (out.tokens == MASK).any()


def test_remask_round_decodes_only_flagged_rows(model):
    x, e = batch(ROWS)
    plain = Denoise(sampler(), banned_ids=SPECIAL)(model, x, e, row_generators(SEEDS))
    calls = []

    def flag_row_1_once(canvas):
        calls.append(canvas.clone())
        bad = torch.zeros_like(canvas, dtype=torch.bool)
        if len(calls) == 1:
            bad[1] = True  # the loop intersects with editable
        return bad

    recording = CallLog(model)
    sizes = []
    recording.register_forward_hook(lambda module, args, output: sizes.append(args[0].shape[0]))
    out = Denoise(sampler(), banned_ids=SPECIAL, validator=flag_row_1_once, max_remask_rounds=3)(
        recording, x, e, row_generators(SEEDS))
    assert out.remask_rounds == 1 and len(calls) == 2
    assert torch.equal(calls[0], plain.tokens)  # the first round is the plain decode
    assert sizes[: plain.nfe] == [3] * plain.nfe and set(sizes[plain.nfe:]) == {1}
    assert torch.equal(out.tokens[[0, 2]], plain.tokens[[0, 2]])
    assert torch.equal(out.tokens[~e], x[~e]) and not (out.tokens == MASK).any()


def test_remask_rounds_are_bounded(model):
    x, e = batch(ROWS)
    out = Denoise(sampler(), banned_ids=SPECIAL, validator=lambda c: torch.ones_like(c, dtype=torch.bool),
                  max_remask_rounds=2)(model, x, e, row_generators(SEEDS))
    assert out.remask_rounds == 2 and not (out.tokens == MASK).any() and torch.equal(out.tokens[~e], x[~e])
