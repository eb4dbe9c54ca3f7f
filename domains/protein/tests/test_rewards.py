"""The protein domain's tune rewards: exact values, and the repeat penalty that keeps a property reward
from being met by homopolymers."""

from __future__ import annotations

import math

import pytest

from seqdiff.plugins import load_domain
from seqdiff_protein.rewards import charge, hydrophobic_fraction, net_charge, repeat_penalty

NATURAL = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"


def test_the_domain_declares_its_rewards_through_the_hook():
    assert set(load_domain("protein").rewards()) == {"net_charge", "hydrophobic_fraction", "pll", "repeat_penalty"}


def test_net_charge_counts_basic_and_acidic_residues():
    assert charge("KRDE") == 0.0 and charge("KKH") == pytest.approx(2.1) and charge("KKH", histidine=0) == 2
    assert net_charge(target=2.0)(["KKAA", "KKKKD", "DD"], [{}] * 3) == [0.0, -1.0, -4.0]


def test_hydrophobic_fraction_is_the_distance_to_its_target():
    assert hydrophobic_fraction(target=0.5)(["AILK", "KKKK"], [{}] * 2) == pytest.approx([-2.5, -5.0])
    with pytest.raises(ValueError, match="target=2"):
        hydrophobic_fraction(target=2)


def test_the_repeat_penalty_spares_natural_sequences_and_outweighs_poly_lysine_charge():
    penalty = repeat_penalty(max_run=4, max_top_fraction=0.2)
    poly_k = "K" * len(NATURAL)
    assert penalty([NATURAL], [{}]) == [0.0]
    assert penalty(["AAAAAA" + "CDEFGHIKLMNPQRSTVWY"], [{}])[0] == pytest.approx(-(2 + 10 * (6 / 25 - 0.2)))
    target = charge(NATURAL) + 2
    seqs = [NATURAL, poly_k]
    total = [c + p for c, p in zip(net_charge(target)(seqs, [{}] * 2), penalty(seqs, [{}] * 2))]
    assert total[0] > total[1]  # poly-K overshoots the charge and pays for its run and composition


def test_pll_is_minus_the_log_pseudo_perplexity_of_the_bundled_scorer():
    domain = load_domain("protein")
    if domain.default_scorer() is None:
        pytest.skip("the bundled scorer is not installed")
    from seqdiff_protein.rewards import pll

    seqs = ["MKTAYIAKQR", "GGGGGGGGGG"]
    values = pll()(seqs, [{}] * 2)
    pppl = domain.scorers("cpu")["pppl"](seqs)
    assert values == pytest.approx([-math.log(p) for p in pppl])
