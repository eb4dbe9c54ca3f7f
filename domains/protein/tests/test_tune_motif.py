"""Motif layouts in ``seqdiff tune`` rollouts: the motif is written into every canvas, non-editable, so
every rollout keeps it, whatever the policy's weights say."""

from __future__ import annotations

import pytest

from seqdiff_protein.alphabet import protein_tokenizer
from seqdiff_protein.tune_canvases import motif_canvases

MOTIF = "EVNKIKSALL"
CONTIG = f"3-12/seq:{MOTIF}/3-12"


def _config(tmp_path, **rollout):
    from seqdiff.testing import write_model_folder
    from seqdiff.train import TrainerConfig
    from seqdiff.tune.config import RewardTerm, RolloutConfig, TuneConfig

    folder = write_model_folder(tmp_path / "policy", protein_tokenizer(), "protein")
    options = {"motif": CONTIG, "total_length": "16-30", **rollout}
    return TuneConfig(policy=str(folder), rewards=(RewardTerm("net_charge", options={"target": 5.0}),),
                      group_size=4, prompts_per_step=1,
                      rollout=RolloutConfig(steps=3, num_prompts=5, canvas_options=options),
                      trainer=TrainerConfig(max_steps=2, val_every=1, log_every=1, out_dir=str(tmp_path / "run"),
                                            progress=False, accelerator="cpu", devices=1))


def test_motif_canvases_write_the_motif_in_and_leave_only_the_scaffold_editable():
    tok = protein_tokenizer()
    canvases = motif_canvases(tok, 64, 6, seed=3, motif=CONTIG, total_length="16-30")
    assert len({len(c["tokens"]) for c in canvases}) > 1  # linker lengths sampled per canvas
    for c in canvases:
        lay = c["layout"]
        assert 16 <= lay.length <= 30 and len(c["tokens"]) == lay.length + 2
        (place,) = lay.placements
        start, end = place.start_idx0 + 1, place.end_idx0 + 2  # +1: <cls>
        assert tok.decode(c["tokens"][start:end]) == MOTIF and not any(c["editable"][start:end])
        assert c["editable"][:start] == [False] + [True] * (start - 1)
        assert all(t == tok.mask_id for t, e in zip(c["tokens"], c["editable"]) if e)
    assert [c["layout"].template for c in canvases] == [c["layout"].template for c in
                                                       motif_canvases(tok, 64, 6, seed=3, motif=CONTIG,
                                                                      total_length="16-30")]


def test_every_rollout_keeps_the_motif(tmp_path):
    from seqdiff.tune.run import prepare

    module = prepare(_config(tmp_path)).module
    for step in range(3):
        (place,) = module._batch(step)[2][0]["layout"].placements  # the canvas this step draws
        out = module.step_outcome(step)
        assert len(out.texts) == 4
        for text in out.texts:
            assert text[place.start_idx0: place.end_idx0 + 1] == MOTIF and set(text) <= set("ACDEFGHIKLMNPQRSTVWY")


def test_a_motif_tune_runs_and_exports(tmp_path):
    import json

    from seqdiff.tune.run import tune

    folder = tune(_config(tmp_path))
    summary = json.loads((folder.parent / "tune_summary.json").read_text())
    assert summary["steps"] == 2 and summary["rollout"]["canvas_options"]["motif"] == CONTIG


@pytest.mark.parametrize("options, message", [({"motif": "3-12/seq:EVNKX/3-12"}, "X"),
                                              ({"motif": CONTIG, "colour": "red"}, "canvas_options")])
def test_bad_canvas_options_fail_before_training_naming_the_problem(tmp_path, options, message):
    from dataclasses import replace

    from seqdiff.tune.run import prepare

    config = _config(tmp_path)
    config = replace(config, rollout=replace(config.rollout, canvas_options=options))
    with pytest.raises(ValueError, match=message):
        prepare(config)
