import math

import pytest
import torch

from seqdiff_protein.domain import BUNDLED_SCORER
from seqdiff_protein.esm_io import (ESMLoadError, build_fair_esm, esm2_as_denoiser, read_fair_esm_checkpoint,
                                    weights_from_seqdiff_folder)
from seqdiff_protein.scoring import load_scorer


ALPHA = "LAGVSERTIDPKQNFYMHWC"


def test_fair_esm_checkpoint_loads_under_weights_only(tmp_path, fair_esm_checkpoint):
    path = fair_esm_checkpoint(tmp_path / "esm2_t2_tiny.pt")
    with pytest.raises(Exception):  # the plain weights_only load really fails on this format
        torch.load(path, weights_only=True)
    w = read_fair_esm_checkpoint(path)
    assert (w.num_layers, w.embed_dim, w.attention_heads) == (2, 32, 4)
    build_fair_esm(w)


def test_esm2_denoiser_matches_fair_esm_logits(tmp_path, fair_esm_checkpoint):
    w = read_fair_esm_checkpoint(fair_esm_checkpoint(tmp_path / "esm2_t2_tiny.pt"))
    esm_model, ours = build_fair_esm(w), esm2_as_denoiser(w)
    tokens = torch.tensor([[0, 5, 6, 7, 32, 9, 10, 2]])
    with torch.no_grad():
        a = esm_model(tokens)["logits"]
        b = ours(tokens)
    assert torch.allclose(a, b, atol=1e-4)


def hand_pll(logits_fn, seq):
    """One masked copy at a time, no batching: the definition."""
    idx = {c: i for i, c in enumerate(("<cls>", "<pad>", "<eos>", "<unk>") + tuple(ALPHA))}
    ids = [0] + [idx[c] for c in seq] + [2]
    total = 0.0
    for i in range(1, len(seq) + 1):
        masked = list(ids)
        masked[i] = 32
        logp = logits_fn(torch.tensor([masked]))[0, i].double().log_softmax(-1)
        total += float(logp[ids[i]])
    return total


def test_scorer_matches_hand_computed_pll(tmp_path, fair_esm_checkpoint):
    path = fair_esm_checkpoint(tmp_path / "esm2_t2_tiny.pt")
    scorer = load_scorer(str(path), max_tokens=40)  # small chunks: exercises batching across chunks
    model = build_fair_esm(read_fair_esm_checkpoint(path))
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ", "GG", "W"]
    scores = scorer.score(seqs)
    for seq, s in zip(seqs, scores):
        expected = hand_pll(lambda t: model(t)["logits"], seq)
        assert s.pll == pytest.approx(expected, abs=1e-3)
        assert s.pppl == pytest.approx(math.exp(-expected / len(seq)), rel=1e-4)
        assert len(s.per_position) == len(seq)  # every residue, including the last
    assert scorer(seqs) == [s.pppl for s in scores]
    assert scorer.name == "fair-esm:esm2_t2_tiny"


def test_seqdiff_folder_scorer_runs_through_fair_esm(tiny_scorer_dir):
    w = weights_from_seqdiff_folder(tiny_scorer_dir)
    from seqdiff.checkpoint import from_pretrained

    ours = from_pretrained(tiny_scorer_dir).model
    tokens = torch.tensor([[0, 5, 32, 7, 2]])
    with torch.no_grad():
        assert torch.allclose(build_fair_esm(w)(tokens)["logits"], ours(tokens), atol=1e-4)
    scorer = load_scorer(str(tiny_scorer_dir))
    assert scorer.name == "seqdiff-esm2arch:tiny-scorer"  # never passed off as ESM-2


def test_scorer_refuses_generator(tiny_model_dir):
    with pytest.raises(ESMLoadError, match="generator"):
        load_scorer(str(tiny_model_dir), generator=tiny_model_dir)


def test_hf_esm_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.EsmConfig(vocab_size=33, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                 intermediate_size=64, pad_token_id=1, mask_token_id=32,
                                 position_embedding_type="rotary", token_dropout=True)
    torch.manual_seed(0)
    transformers.EsmForMaskedLM(cfg).save_pretrained(tmp_path / "hf")
    scorer = load_scorer(str(tmp_path / "hf"))
    (s,) = scorer.score(["MKTAYIAK"])
    assert scorer.name.startswith("hf:") and math.isfinite(s.pll) and s.pppl >= 1


def test_bad_checkpoints_are_named(tmp_path):
    bad = tmp_path / "esm2_t6_bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ESMLoadError, match="esm2_t6_bad.pt"):
        load_scorer(str(bad))
    with pytest.raises(ESMLoadError, match="hub cache"):
        load_scorer("esm2_t6_8M_UR50D") if not (torch.hub.get_dir()) else \
            __import__("seqdiff_protein.esm_io", fromlist=["read_hub"]).read_hub("esm2_t999_1M_UR50D")
    with pytest.raises(ESMLoadError, match="unknown --esm-model"):
        load_scorer("esm3_nonsense")


@pytest.mark.skipif(not (BUNDLED_SCORER / "config.json").is_file(), reason="bundled scorer not installed")
def test_bundled_scorer_loads_and_is_named_honestly():
    scorer = load_scorer("bundled")
    assert scorer.name == "bundled-esm2arch-small"
    (s,) = scorer.score(["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"])
    assert 1 < s.pppl < 33
