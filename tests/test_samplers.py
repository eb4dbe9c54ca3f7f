"""Sampler contract suite (every sampler), the decision rules on hand-built logits, logit reuse, batch
invariance."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff.samplers import (
    AncestralSampler, BlockwiseSampler, CacheOptions, ConfidenceSampler, Denoise, FactorSampler, RemaskSampler,
    SamplingOptions, StepContext, ThresholdSampler)
from seqdiff.testing import MASK, ROWS, SAMPLERS, SPECIAL, CallLog, batch, canvas, run

# ---------------------------------------------------------------- contract suite, every sampler


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_contract(name, model):
    make, _ = SAMPLERS[name]
    x, e = batch(ROWS)
    counting = CallLog(model)
    out = run(make(1.0), counting, x, e, [1, 2, 3])
    assert out.tokens.shape == x.shape
    assert torch.equal(out.tokens[~e], x[~e])  # non-editable positions bit-for-bit
    assert not (out.tokens == MASK).any()
    assert not torch.isin(out.tokens[e], torch.tensor(SPECIAL)).any()  # special ids never emitted
    assert out.nfe == len(counting.calls) and out.nfe >= 1
    assert out.steps == len(out.tokens_per_step)
    assert (out.commit_step[e] >= 0).all() and (out.commit_step[~e] == -1).all()
    again = run(make(1.0), model, x, e, [1, 2, 3])
    assert torch.equal(out.tokens, again.tokens)  # same seed, same output


@pytest.mark.parametrize("name", sorted(n for n, (_, det) in SAMPLERS.items() if det))
def test_temperature_zero_is_seed_independent(name, model):
    make, _ = SAMPLERS[name]
    x, e = batch(ROWS)
    a = run(make(0.0), model, x, e, [1, 2, 3])
    b = run(make(0.0), model, x, e, [7, 8, 9])
    assert torch.equal(a.tokens, b.tokens)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_batch_invariance(name, model):
    """With per-row seeds, a row's output does not depend on the rest of the batch (different prompt lengths,
    a motif, right padding)."""
    make, _ = SAMPLERS[name]
    seeds = [11, 12, 13]
    x, e = batch(ROWS)
    together = run(make(1.0), model, x, e, seeds).tokens
    for r, (ids, edit) in enumerate(ROWS):
        alone = run(make(1.0), model, torch.tensor([ids]), torch.tensor([edit]), [seeds[r]]).tokens[0]
        assert torch.equal(together[r, : len(ids)], alone), f"row {r}"
    swapped = run(make(1.0), model, x.flip(0), e.flip(0), seeds[::-1]).tokens.flip(0)
    assert torch.equal(swapped, together)


def test_remask_refines_at_the_end(model):
    x, e = batch(ROWS)
    inner = ConfidenceSampler(steps=6, sampling=SamplingOptions(temperature=0.0))
    out = run(RemaskSampler(inner, refine_steps=3, fraction=0.25, sampling=SamplingOptions(temperature=0.0)), model, x, e, [1, 2, 3])
    plain = run(inner, model, x, e, [1, 2, 3])
    assert out.steps == plain.steps + 3 and out.nfe == plain.nfe + 3
    # the inner's last step commits and re-masks; refinement steps redraw them, the last re-masks nothing
    assert out.tokens_per_step[:5] == plain.tokens_per_step[:5]
    assert out.tokens_per_step[5] > plain.tokens_per_step[5]


# ---------------------------------------------------------------- schedules and rules on hand-built logits


def ctx_for(editable, step=0, num_steps=1, generator=None):
    return StepContext(step=step, num_steps=num_steps, mask_id=MASK, editable=editable, generator=generator)


def logits_with_confidence(conf: list[float], vocab: int = 11) -> torch.Tensor:
    """[1, L, V]: position i puts probability conf[i] on token 4 + i % 7, the rest spread evenly."""
    rows = []
    for i, c in enumerate(conf):
        p = torch.full((vocab,), (1 - c) / (vocab - 1), dtype=torch.float64)
        p[4 + i % 7] = c
        rows.append(p.log())
    return torch.stack(rows)[None].float()


def llada_quota(n: int, steps: int) -> list[int]:
    base, rem = divmod(n, steps)
    return [base + (1 if i < rem else 0) for i in range(steps)]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), steps=st.integers(1, 50))
def test_fixed_quota_follows_llada_schedule(n, steps):
    sampler = ConfidenceSampler(steps=steps)
    plan = sampler.planned_steps(n)
    x = torch.full((1, n), MASK)
    e = torch.ones_like(x, dtype=torch.bool)
    logits = torch.randn(1, n, 11, generator=torch.Generator().manual_seed(n * 100 + steps))
    logits[..., :4] = float("-inf")  # the loop bans special ids (the mask among them)
    counts = []
    for i in range(plan):
        new = sampler.step(logits, x, ctx_for(e, i, plan))
        counts.append(int((new != x).sum()))
        x = new
    assert counts == llada_quota(n, min(steps, n))
    assert not (x == MASK).any()


@settings(max_examples=80, deadline=None)
@given(conf=st.lists(st.floats(0.15, 0.99), min_size=1, max_size=24), tau=st.floats(0.2, 0.98),
       fixed=st.lists(st.booleans(), min_size=24, max_size=24))
def test_threshold_rule(conf, tau, fixed):
    n = len(conf)
    x = torch.full((1, n), MASK)
    e = ~torch.tensor([fixed[:n]])
    new = ThresholdSampler(threshold=tau).step(logits_with_confidence(conf), x, ctx_for(e))
    committed = (new != x)[0]
    c = logits_with_confidence(conf).softmax(-1).max(-1).values[0].double()  # what the sampler sees
    eligible = e[0]
    if not eligible.any():
        assert not committed.any()
        return
    expect = eligible & (c >= tau)
    if not expect.any():  # at least one: the most confident editable position
        best = torch.where(eligible, c, -1.0).argmax()
        expect = torch.zeros_like(expect)
        expect[best] = True
    assert torch.equal(committed, expect)
    assert torch.equal(new[0][committed], torch.tensor([4 + i % 7 for i in range(n)])[committed])


@settings(max_examples=80, deadline=None)
@given(conf=st.lists(st.floats(0.15, 0.99), min_size=1, max_size=24), f=st.floats(0.1, 3.0))
def test_factor_rule(conf, f):
    n = len(conf)
    x = torch.full((1, n), MASK)
    e = torch.ones_like(x, dtype=torch.bool)
    new = FactorSampler(factor=f).step(logits_with_confidence(conf), x, ctx_for(e))
    committed = (new != x)[0]
    probs = logits_with_confidence(conf).softmax(-1).max(-1).values[0].double()  # what the sampler sees
    order = sorted(range(n), key=lambda i: -float(probs[i]))
    accepted = 1
    for r in range(2, n + 1):
        if float(probs[order[r - 1]]) >= 1 - f / (r + 1):
            accepted = r
        else:
            break
    assert int(committed.sum()) == accepted
    assert set(torch.nonzero(committed).flatten().tolist()) == set(order[:accepted])


def test_threshold_one_per_row_with_masks():
    x = torch.tensor([[MASK, MASK, 4], [4, 5, 6]])
    e = torch.ones_like(x, dtype=torch.bool)
    logits = logits_with_confidence([0.2, 0.3, 0.2]).expand(2, -1, -1)
    new = ThresholdSampler(threshold=0.99).step(logits, x, ctx_for(e))
    assert new[0].tolist() == [MASK, 5, 4] and torch.equal(new[1], x[1])


def test_blockwise_blocks_counted_from_first_editable_position():
    sampler = BlockwiseSampler(ConfidenceSampler(steps=4), block_length=3)
    x = torch.tensor([[4, 4, MASK, MASK, MASK, MASK, MASK, 2], [4, 4, 4, 4, 5, MASK, MASK, 2]])
    e = x == MASK
    e[1, 4] = True  # an editable committed token starts row 1's first block
    blk = sampler.blocks(x, e, MASK)
    assert blk.block[0].tolist() == [-1, -1, 0, 0, 0, 1, 1, 1]
    assert blk.current.tolist() == [0, 0] and blk.num_blocks.tolist() == [2, 1]
    assert sampler.window(x, e, MASK) == (2, 7)
    logits = torch.randn(2, 8, 11)
    logits[..., :4] = float("-inf")
    new = sampler.step(logits, x, ctx_for(e, 0, sampler.planned_steps(5)))
    assert ((new != x)[0, 5:] == 0).all()  # only the current block of row 0 changes


def test_blockwise_splits_steps_like_llada(model):
    """LLaDA: 4 blocks of 8, 16 steps -> 4 steps per block, quota 2 per step."""
    x = torch.full((1, 32), MASK)
    e = torch.ones_like(x, dtype=torch.bool)
    sampler = BlockwiseSampler(ConfidenceSampler(steps=16, sampling=SamplingOptions(temperature=0.0)), block_length=8)
    assert sampler.planned_steps(32) == 16
    out = run(sampler, model, x, e, [0])
    assert out.tokens_per_step == [2] * 16
    order = out.commit_step[0]
    for b in range(3):  # block b is finished before block b + 1 starts
        assert order[b * 8:(b + 1) * 8].max() < order[(b + 1) * 8:(b + 2) * 8].min()


def test_fixed_quota_through_the_loop(model):
    x, e = batch([canvas("ab", 13)])
    out = run(ConfidenceSampler(steps=5), model, x, e, [0])
    assert out.tokens_per_step == llada_quota(13, 5)


def test_top_k_and_top_p_restrict_the_draw():
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0, 5.0, 4.0, 1.0, 0.5, 0.2, 0.1, 0.0]]]).expand(1, 200, 11)
    x = torch.full((1, 200), MASK)
    e = torch.ones_like(x, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    hot = SamplingOptions(temperature=5.0, top_k=2)
    out = ConfidenceSampler(steps=1, sampling=hot).step(logits, x, ctx_for(e, generator=g))
    assert set(out.unique().tolist()) == {4, 5}
    nucleus = SamplingOptions(temperature=5.0, top_p=0.5)  # p(4) = 0.70 crosses 0.5 alone
    out = ConfidenceSampler(steps=1, sampling=nucleus).step(logits, x, ctx_for(e, generator=g))
    assert set(out.unique().tolist()) == {4}
    free = SamplingOptions(temperature=5.0)
    out = ConfidenceSampler(steps=1, sampling=free).step(logits, x, ctx_for(e, generator=g))
    assert len(out.unique()) > 4


def test_gumbel_draw_matches_softmax_frequencies():
    logits = torch.log(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.6, 0.3, 0.1, 0, 0, 0, 0]) + 1e-12)
    logits = logits.expand(1, 4000, 11).float()
    x = torch.full((1, 4000), MASK)
    e = torch.ones_like(x, dtype=torch.bool)
    out = ConfidenceSampler(steps=1, sampling=SamplingOptions(temperature=1.0)).step(logits, x, ctx_for(e, generator=torch.Generator()
                                                                                     .manual_seed(1)))
    freq = torch.bincount(out[0], minlength=11).double() / 4000
    assert abs(freq[4] - 0.6) < 0.04 and abs(freq[5] - 0.3) < 0.04 and abs(freq[6] - 0.1) < 0.03


def test_ancestral_reveals_by_schedule():
    """Linear schedule, T steps: each masked position is revealed with probability 1/(T - i) at step i."""
    sampler = AncestralSampler(steps=4)
    x = torch.full((1, 20000), MASK)
    e = torch.ones_like(x, dtype=torch.bool)
    logits = torch.zeros(1, 20000, 11)
    logits[..., :4] = float("-inf")
    g = torch.Generator().manual_seed(0)
    left = 20000
    for i in range(4):
        new = sampler.step(logits, x, ctx_for(e, i, 4, g))
        revealed = int((new != x).sum())
        assert math.isclose(revealed / left, 1 / (4 - i), abs_tol=0.02)
        x, left = new, left - revealed
    assert left == 0


# ---------------------------------------------------------------- logit reuse


def test_ancestral_logit_reuse_is_exact(model):
    """Many more steps than tokens: most steps change nothing; reusing their logits changes no output."""
    x, e = batch(ROWS)
    sampler = AncestralSampler(steps=80)
    counting = CallLog(model)
    reused = run(sampler, counting, x, e, [4, 5, 6])
    fresh = run(sampler, model, x, e, [4, 5, 6], reuse_logits=False)
    assert torch.equal(reused.tokens, fresh.tokens)
    assert fresh.nfe == fresh.steps == reused.steps
    assert reused.nfe == len(counting.calls) < 50
    assert reused.nfe == 1 + sum(1 for c in reused.tokens_per_step[:-1] if c)


# ---------------------------------------------------------------- errors


def test_cache_needs_a_blockwise_sampler():
    for sampler in (AncestralSampler(), ConfidenceSampler(), ThresholdSampler(), RemaskSampler(AncestralSampler())):
        with pytest.raises(ValueError, match="needs a blockwise sampler"):
            Denoise(sampler, cache=CacheOptions(mode="dual"))


@pytest.mark.parametrize("bad", [lambda: ThresholdSampler(threshold=1.5), lambda: FactorSampler(factor=0),
                                 lambda: BlockwiseSampler(ConfidenceSampler(), 0),
                                 lambda: RemaskSampler(AncestralSampler(), fraction=0.9),
                                 lambda: ConfidenceSampler(measure="nope"), lambda: CacheOptions(mode="full")])
def test_bad_options_fail_fast(bad):
    with pytest.raises(ValueError):
        bad()
