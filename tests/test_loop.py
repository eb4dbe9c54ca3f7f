"""What the loop owns for every caller: commit-time log-probabilities, per-position bans (validator
repairs), cancellation, an error when masks remain, windowed-sampler composition, stateless row seeds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from seqdiff.samplers import (
    AncestralSampler, BlockwiseSampler, ConfidenceSampler, Denoise, DenoiseError, RemaskSampler, Repair,
    StepContext, ThresholdSampler, row_generators)
from seqdiff.testing import MASK, ROWS, SPECIAL, batch

SAMPLERS = {
    "ancestral": lambda: AncestralSampler(steps=6),
    "confidence": lambda: ConfidenceSampler(steps=5),
    "block-threshold": lambda: BlockwiseSampler(ThresholdSampler(0.5), 4),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_token_logprob_is_the_commit_step_log_softmax(name, model):
    """Replay: the canvas before step s is the output with every position committed at step >= s masked;
    the model's log-softmax there (bans applied) at the committed token is what the result reports."""
    x, e = batch(ROWS)
    out = Denoise(SAMPLERS[name](), banned_ids=SPECIAL)(model, x, e, row_generators([1, 2, 3]))
    committed = out.commit_step >= 0
    assert torch.equal(committed, e)
    assert (out.token_logprob[~committed] == 0).all()
    for s in sorted(set(out.commit_step[committed].tolist())):
        before = torch.where(out.commit_step >= s, torch.full_like(x, MASK), out.tokens)
        logits = model(before).float().index_fill(-1, torch.tensor(sorted({MASK, *SPECIAL})), float("-inf"))
        expected = logits.log_softmax(-1).gather(-1, out.tokens.unsqueeze(-1)).squeeze(-1)
        at = out.commit_step == s
        torch.testing.assert_close(out.token_logprob[at], expected[at], rtol=0, atol=1e-5)


def test_should_stop_ends_the_run_with_masks_left(model):
    x, e = batch(ROWS)
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 2

    out = Denoise(ConfidenceSampler(steps=None), banned_ids=SPECIAL, should_stop=stop)(model, x, e)
    assert out.stopped and out.steps == 2 and out.nfe == 2
    assert (out.tokens == MASK).any()


def test_masks_left_after_the_step_limit_is_an_error(model):
    @dataclasses.dataclass(frozen=True)
    class Stuck:
        def planned_steps(self, num_masked: int) -> int:
            return 1

        def step(self, logits, x, ctx: StepContext):
            return x

    x, e = batch(ROWS)
    with pytest.raises(DenoiseError, match="Stuck left"):
        Denoise(Stuck(), banned_ids=SPECIAL)(model, x, e)


def test_a_repair_bans_the_rejected_token_at_its_position(model):
    x, e = batch(ROWS)
    plain = Denoise(ConfidenceSampler(steps=5), banned_ids=SPECIAL)(model, x, e)
    pos = int(e[0].nonzero()[0])
    first = int(plain.tokens[0, pos])
    seen = []

    def reject_first_token_once(canvas):
        seen.append(int(canvas[0, pos]))
        where = torch.zeros_like(canvas, dtype=torch.bool)
        where[0, pos] = len(seen) == 1
        return Repair(remask=where, ban=where)

    out = Denoise(ConfidenceSampler(steps=5), banned_ids=SPECIAL, validator=reject_first_token_once,
                  max_remask_rounds=1)(model, x, e)
    assert seen[0] == first and out.remask_rounds == 1
    assert int(out.tokens[0, pos]) != first
    assert torch.equal(out.tokens[1:], plain.tokens[1:])  # other rows untouched


def test_row_seeds_carry_no_state_between_runs(model):
    x, e = batch(ROWS)
    seeds = row_generators([4, 5, 6])
    run = Denoise(AncestralSampler(steps=6), banned_ids=SPECIAL)
    assert torch.equal(run(model, x, e, seeds).tokens, run(model, x, e, seeds).tokens)


def test_denoise_is_frozen():
    d = Denoise(ConfidenceSampler(), cache="none")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.max_remask_rounds = 3  # type: ignore[misc]


def test_wrappers_compose_only_where_plans_and_windows_hold():
    with pytest.raises(TypeError, match="RemaskSampler"):
        BlockwiseSampler(RemaskSampler(ConfidenceSampler(steps=4)), 4)
    with pytest.raises(ValueError, match="blockwise"):  # RemaskSampler does not forward a window
        Denoise(RemaskSampler(BlockwiseSampler(ConfidenceSampler(steps=4), 4)), cache="dual")
    Denoise(BlockwiseSampler(ConfidenceSampler(steps=4), 4), cache="dual")  # windowed: accepted


def test_a_remask_round_can_start_from_the_last_rounds_cache(model):
    """``CacheOptions(across_rounds=True)``: a re-masking round whose window is the one the last round
    ended in makes no refresh (the costly full-canvas call); rows the validator leaves alone are decoded
    as without it, a subset of rows runs on the cache cut to them, and the option is not called exact."""
    from seqdiff.samplers import CacheOptions
    from seqdiff.testing import CallLog

    x, e = batch(ROWS)
    pos = int(e[0].nonzero()[0])

    def reject_row_0(canvas):
        where = torch.zeros_like(canvas, dtype=torch.bool)
        where[0, pos] = True
        return Repair(remask=where, ban=where)

    outs, refreshes = {}, {}
    for across in (False, True):
        log = CallLog(model)
        run = Denoise(BlockwiseSampler(ConfidenceSampler(steps=20), 32), banned_ids=SPECIAL,
                      cache=CacheOptions("dual", across_rounds=across), validator=reject_row_0,
                      max_remask_rounds=1)
        outs[across] = run(log, x, e)
        refreshes[across] = sum(refresh for _, refresh in log.calls)
    assert outs[True].remask_rounds == outs[False].remask_rounds == 1
    assert refreshes == {False: 2, True: 1}
    assert torch.equal(outs[True].tokens[1:], outs[False].tokens[1:])
    assert int(outs[True].tokens[0, pos]) != int(Denoise(BlockwiseSampler(ConfidenceSampler(steps=20), 32),
                                                         banned_ids=SPECIAL)(model, x, e).tokens[0, pos])
    assert not CacheOptions("dual", refresh_every=1, across_rounds=True).exact
