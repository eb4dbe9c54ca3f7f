"""``seqdiff bench`` end to end on a tiny random model folder (shapes and bookkeeping, never timings)."""

from __future__ import annotations

import json

import pytest
import torch

from seqdiff.bench import (BenchConfig, BenchSpec, bench, default_tasks, grid, max_homopolymer, select, table,
                           top_residue_frac)
from seqdiff.checkpoint import Pretrained, save_pretrained
from seqdiff.cli import main
from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff.samplers import AncestralSampler, BlockwiseSampler, CacheOptions, ThresholdSampler
from seqdiff.tokenizer import CharTokenizer

REQUIRED = {"config", "nfe", "wall_s", "tokens_per_s", "speedup_vs_naive"}


@pytest.fixture(scope="module")
def tiny():
    tok = CharTokenizer.from_alphabet("ACDEFGHIKLMNPQRSTVWY")
    torch.manual_seed(0)
    model = Denoiser(DenoiserConfig(vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id,
                                    d_model=16, n_layers=1, n_heads=2)).eval()
    return model, tok


@pytest.fixture
def folder(tiny, tmp_path):
    model, tok = tiny
    return save_pretrained(Pretrained(model=model, tokenizer=tok, domain=None), tmp_path / "model")


def test_cli_bench_end_to_end(folder, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", str(folder), "--length", "12", "--batch-size", "2", "--designs", "3",
                 "--grid", "quick", "--json", str(out), "--seed", "5"])
    assert code == 0
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and len(rows) >= 5
    for row in rows:
        assert REQUIRED <= set(row)
        assert row["nfe"] >= 1
        assert row["designs"] == 3 and row["max_homopolymer"] >= 1 and 0 < row["top_residue_frac"] <= 1
    assert rows[0]["config"] == "naive-low_confidence" and rows[0]["speedup_vs_naive"] == 1.0
    assert rows[0]["nfe"] == 12  # one token per step
    names = [r["config"] for r in rows]
    assert len(set(names)) == len(names)
    assert {r["cache"] for r in rows} == {"none", "prefix", "dual"}
    printed = capsys.readouterr().out
    assert "| config |" in printed and "naive-low_confidence" in printed


def test_cli_bench_usage_errors(folder, tmp_path):
    for argv in (["--length", "0"], ["--grid", "huge"], ["--batch-size", "0"]):
        with pytest.raises(SystemExit) as err:
            main(["bench", "--model", str(folder), "--json", str(tmp_path / "x.json"), *argv])
        assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        main(["bench", "--model", "no-such-domain-or-folder", "--length", "4"])
    assert err.value.code == 2
    assert not (tmp_path / "x.json").exists()


class FakeDomain:
    """A domain with every optional bench piece: random naive order, a scorer, natural references."""

    name = "fake"

    def __init__(self):
        self.scored = 0

    def scorers(self, device="cpu"):
        def distinct(seqs):
            self.scored += len(seqs)
            return [float(len(set(s))) for s in seqs]

        return {"distinct": distinct}

    def bench_spec(self, tokenizer):
        return BenchSpec(naive_order="random", scorer="distinct", canvas_prefix=(tokenizer.eos_id,),
                         reference=lambda n, max_length: ["ACDEFGHIKL"[:max_length]] * n)


def test_bench_uses_the_domain_spec(tiny):
    model, tok = tiny
    domain = FakeDomain()
    configs = [BenchConfig("ancestral-3", AncestralSampler(steps=3)),
               BenchConfig("block-dual", BlockwiseSampler(ThresholdSampler(0.5), 4), CacheOptions("dual"))]
    rows = bench(model, tok, domain, length=10, batch_size=2, designs=2, configs=configs, log=lambda m: None)
    assert [r["config"] for r in rows] == ["naive-random", "ancestral-3", "block-dual", "reference"]
    assert rows[0]["nfe"] == 10 and rows[1]["nfe"] <= 3
    assert all("scorer_distinct" in r for r in rows) and domain.scored == 4 * 2
    assert rows[-1]["max_homopolymer"] == 1 and rows[-1]["top_residue_frac"] == 0.1
    spec = domain.bench_spec(tok)
    assert spec.columns()[-3:] == ("scorer_distinct", "max_homopolymer", "top_residue_frac")
    assert "scorer_distinct" in table(rows, spec.columns()) and "scorer_distinct" not in table(rows)


def test_default_canvas_comes_from_the_spec(tiny):
    _, tok = tiny
    spec = FakeDomain().bench_spec(tok)
    [task] = default_tasks(spec, tok, 3, 1)
    assert task["tokens"] == [tok.eos_id] + [tok.mask_id] * 3 + [tok.eos_id]
    assert task["editable"] == [False, True, True, True, False]
    assert default_tasks(BenchSpec(), tok, 2, 1)[0]["tokens"] == [tok.mask_id] * 2 + [tok.eos_id]


def test_third_party_domain_contributes_its_bench_columns():
    """The toy plugin (entry point only) brings its canvases and quality column; bench names no domain."""
    from seqdiff.plugins import load_domain

    domain = load_domain("toy")
    tok = domain.build_tokenizer({})
    torch.manual_seed(0)
    model = Denoiser(DenoiserConfig(vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id,
                                    d_model=16, n_layers=1, n_heads=2)).eval()
    rows = bench(model, tok, domain, length=12, batch_size=2, designs=2,
                 configs=[BenchConfig("ancestral-4", AncestralSampler(steps=4))], log=lambda m: None)
    assert [r["config"] for r in rows] == ["naive-low_confidence", "ancestral-4"]
    assert all(0 <= r["pattern_rate"] <= 1 for r in rows)
    assert "| pattern_rate |" in table(rows, domain.bench_spec(tok).columns())


def test_full_grid_covers_the_issue():
    names = [c.name for c in grid(BenchSpec(naive_order="random"), 256, "full")]
    assert names[0] == "naive-random"
    for want in ("ancestral-128", "ancestral-8", "threshold-0.7", "threshold-0.95", "factor-1.0",
                 "block32-threshold-0.9-cache-prefix", "block64-ancestral-32-cache-dual"):
        assert want in names


def test_sequence_statistics():
    assert max_homopolymer("AAKKKKA") == 4 and max_homopolymer("") == 0
    assert top_residue_frac("AAKA") == 0.75


def test_only_keeps_naive_and_matching_configs():
    configs = grid(BenchSpec(), 64)
    chosen = select(configs, "ancestral-8,dual")
    assert chosen[0].naive and all("ancestral-8" in c.name or "dual" in c.name for c in chosen[1:])
    assert [c.name for c in select(configs, "^ancestral-(32|8)$")] == ["naive-low_confidence", "ancestral-32",
                                                                      "ancestral-8"]
    assert len(chosen) > 2 and select(configs, None) == configs
    with pytest.raises(ValueError, match="matches no configuration"):
        select(configs, "nothing")


def test_plot_draws_each_quality_column(tmp_path):
    pytest.importorskip("matplotlib")
    from seqdiff.bench_plot import plot, quality_columns

    rows = [{"config": "naive-random", "nfe": 8, "tokens_per_s": 10.0, "pppl": 12.0, "note": "x"},
            {"config": "ancestral-2", "nfe": 2, "tokens_per_s": 40.0, "pppl": 13.0},
            {"config": "reference", "nfe": None, "tokens_per_s": None, "pppl": 11.5}]
    columns = ("config", "nfe", "wall_s", "tokens_per_s", "speedup_vs_naive", "pppl", "note")
    assert quality_columns(rows, columns) == ["pppl"]
    out = plot(rows, columns, tmp_path / "figs" / "bench.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["bench.png"]  # no temporary file left
    with pytest.raises(ValueError, match="no quality column"):
        plot(rows, ("config", "nfe", "tokens_per_s"), tmp_path / "none.png")
