import pytest
import torch
from torch import nn

from seqdiff.checkpoint import Pretrained
from seqdiff.model import DenoiserConfig
from seqdiff_code.infill import CodeInfiller, InfillCancelled, InfillRequest, canvas_lengths


class HandLogits(nn.Module):
    """Prefers "]" everywhere, then ")", then <eos>: a plain decode of ``x = (1 + 2`` closes with "]"."""

    def __init__(self, tokenizer):
        super().__init__()
        self.config = DenoiserConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id,
                                     mask_id=tokenizer.mask_id, d_model=8, n_layers=1, n_heads=2)
        (self.bracket,) = tokenizer.encode("]")
        (self.paren,) = tokenizer.encode(")")
        self.eos = tokenizer.eos_id
        self.calls = 0

    def forward(self, tokens, cache=None, window=None, refresh=False):
        self.calls += 1
        logits = torch.full(tokens.shape + (self.config.vocab_size,), -10.0)
        logits[..., self.bracket] = 5.0
        logits[..., self.paren] = 4.0
        logits[..., self.eos] = 0.0
        return logits


@pytest.fixture()
def hand_infiller(tokenizer):
    return CodeInfiller(Pretrained(model=HandLogits(tokenizer), tokenizer=tokenizer, domain="code"))


@pytest.mark.parametrize("max_tokens, candidates", [(1, 1), (3, 3)])
def test_constraints_fix_what_plain_decoding_gets_wrong(hand_infiller, max_tokens, candidates):
    prefix, suffix = "x = (1 + 2", "\nprint(x)\n"
    plain = hand_infiller.infill(prefix, suffix, max_tokens=max_tokens, candidates=candidates, constrained=False)
    assert not plain.valid and plain.text.startswith("]") and plain.remask_rounds == 0
    fixed = hand_infiller.infill(prefix, suffix, max_tokens=max_tokens, candidates=candidates, constrained=True)
    assert fixed.valid and fixed.remask_rounds >= 1 and fixed.errors == []
    assert fixed.text.startswith(")") and "]" not in fixed.text
    assert fixed.nfe > plain.nfe
    assert hand_infiller._check(InfillRequest(prefix, suffix), hand_infiller.tokenizer.encode(fixed.text))[1] == []


def test_canvas_lengths():
    assert canvas_lengths(64, 1) == [64]
    assert canvas_lengths(64, 4) == [64, 48, 32, 16]
    assert canvas_lengths(2, 4) == [2, 2, 1, 1]


def test_infill_result_fields_and_determinism(tiny_infiller):
    a = tiny_infiller.infill("def f(x):\n    return ", "\n", max_tokens=8, candidates=2, seed=5)
    b = tiny_infiller.infill("def f(x):\n    return ", "\n", max_tokens=8, candidates=2, seed=5)
    assert (a.text, a.valid, a.nfe, a.score) == (b.text, b.valid, b.nfe, b.score)
    assert a.candidates == 2 and a.nfe >= 1 and a.canvas_length in (8, 2)
    assert len(a.canvas_tokens) == len(a.commit_step) == a.canvas_length
    assert set(a.to_dict()) >= {"text", "valid", "candidates", "remask_rounds", "nfe", "wall_s"}
    assert "<eos>" not in a.text and "<mask>" not in a.text


def test_batched_equals_single(tiny_infiller):
    reqs = [InfillRequest("import os\n", "\nprint(1)\n", max_tokens=6, candidates=2, seed=1),
            InfillRequest("def g():\n", "", max_tokens=4, candidates=1, seed=2, constrained=False)]
    together = tiny_infiller.infill_many(reqs)
    for req, res in zip(reqs, together):
        alone = tiny_infiller.infill_many([req])[0]
        assert (alone.text, alone.canvas_length, alone.valid) == (res.text, res.canvas_length, res.valid)
    assert together[1].remask_rounds == 0 and not together[1].constrained


def test_should_stop_cancels(tiny_infiller):
    with pytest.raises(InfillCancelled):
        tiny_infiller.infill("x = ", "\n", max_tokens=8, candidates=1, should_stop=lambda: True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prefix="", suffix=""), "both empty"),
    (dict(prefix="x", max_tokens=0), "max_tokens=0"),
    (dict(prefix="x", max_tokens=10_000), "max_tokens=10000"),
    (dict(prefix="x", candidates=0), "candidates=0"),
    (dict(prefix="x", temperature=-1.0), "temperature=-1.0"),
])
def test_bad_requests(tiny_infiller, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_infiller.infill(**kwargs)


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        CodeInfiller.from_pretrained(tmp_path / "missing")


def test_domain_plugin():
    from seqdiff.plugins import load_domain

    domain = load_domain("code")
    [problem] = domain.validators()["syntax"]("é = (1,\n")
    assert problem.start >= 0 and domain.validators()["syntax"]("x = 1\n") == []
    assert domain.scorers()["compiles"](["x = 1\n", "x = (\n"]) == [1.0, 0.0]


def test_bench_on_held_out_infill_tasks(tiny_model_dir, tokenizer):
    """``seqdiff bench`` on a code model: held-out canvases, LLaDA naive baseline, syntax/exact-match columns."""
    from seqdiff.bench import bench
    from seqdiff.checkpoint import from_pretrained
    from seqdiff_code.domain import CodeDomain
    from seqdiff_code.tasks import bench_canvases

    canvases = bench_canvases(tokenizer, 16, 4, seed=3)
    assert len(canvases) == 4 and all(sum(c["editable"]) == 16 for c in canvases)
    assert all(len(c["tokens"]) <= 256 and c["task"].middle for c in canvases)
    pre = from_pretrained(tiny_model_dir)
    rows = bench(pre.model, pre.tokenizer, CodeDomain(), length=16, batch_size=2, designs=4, kind="quick",
                 log=lambda m: None)
    assert rows[0]["config"] == "naive-low_confidence" and rows[0]["nfe"] == 16
    assert all(0 <= r["syntax_valid_rate"] <= 1 and 0 <= r["exact_match"] <= 1 for r in rows)
