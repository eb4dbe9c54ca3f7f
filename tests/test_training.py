"""Lightning training end to end on the toy domain (a third-party-style plugin)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqdiff.checkpoint import from_pretrained
from seqdiff.testing import logged_losses
from seqdiff.train import load_config, train

TOY = {"domain": "toy", "model": {"d_model": 32, "n_layers": 2, "n_heads": 4}, "optim": {"lr": 0.003, "warmup_steps": 10},
       "trainer": {"batch_size": 8, "val_every": 4, "val_batches": 1, "progress": False, "accelerator": "cpu",
                   "devices": 1}}


def toy_config(tmp_path: Path, **trainer):
    overrides = [f"trainer.{k}={v}" for k, v in {**TOY["trainer"], "out_dir": tmp_path / "run", **trainer}.items()]
    overrides += [f"model.{k}={v}" for k, v in TOY["model"].items()]
    overrides += [f"optim.{k}={v}" for k, v in TOY["optim"].items()]
    return load_config(None, ["domain=toy", *overrides])


def test_tiny_model_overfits_tiny_dataset(tmp_path):
    config = toy_config(tmp_path, max_steps=150, val_every=150, log_every=10, batch_size=16)
    folder = train(dataclasses.replace(config, data={"size": 16}))
    loaded = from_pretrained(folder)
    assert loaded.meta["steps"] == 150
    # 4 fixed patterns over 3 letters: uniform guessing costs ln 3 = 1.10 nats/token; memorised ≈ 0
    assert loaded.meta["validation_nll_nats_per_token"] < 0.35


def test_resume_reaches_the_same_step_and_loss(tmp_path):
    straight = toy_config(tmp_path / "a", max_steps=8, log_every=1)
    train(straight)
    first = toy_config(tmp_path / "b", max_steps=4, log_every=1)
    train(first)
    resumed = toy_config(tmp_path / "b", max_steps=8, log_every=1)
    folder = train(resumed, resume=True)
    assert from_pretrained(folder).meta["steps"] == 8
    a, b = logged_losses(tmp_path / "a/run"), logged_losses(tmp_path / "b/run")
    assert max(a) == max(b)
    assert a[max(a)] == pytest.approx(b[max(b)], rel=1e-5)
    wa = from_pretrained(tmp_path / "a/run/model").model.state_dict()
    wb = from_pretrained(folder).model.state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_init_from_starts_from_a_model_folder(tmp_path):
    first = train(toy_config(tmp_path / "a", max_steps=30, log_every=5))
    # one step at a negligible learning rate: the result is the folder's weights, not a fresh init
    cont = load_config(None, ["domain=toy", f"model.init_from={first}", "optim.lr=0.000000001", "optim.warmup_steps=0",
                              *[f"model.{k}={v}" for k, v in TOY["model"].items()],
                              *[f"trainer.{k}={v}" for k, v in TOY["trainer"].items()],
                              "trainer.max_steps=1", f"trainer.out_dir={tmp_path / 'b'}"])
    folder = train(cont)
    before, after = from_pretrained(first).model.state_dict(), from_pretrained(folder).model.state_dict()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    assert from_pretrained(folder).meta["init_from"] == str(first)


def test_init_from_refuses_another_shape_or_tokenizer(tmp_path):
    first = train(toy_config(tmp_path / "a", max_steps=2))
    wider = toy_config(tmp_path / "b", max_steps=2)
    wider = dataclasses.replace(wider, model=dataclasses.replace(wider.model, d_model=64, init_from=str(first)))
    with pytest.raises(ValueError, match="d_model: 32 there, 64 here"):
        train(wider)
    vocab = json.loads((first / "tokenizer.json").read_text())
    vocab["tokens"][-1], vocab["tokens"][-2] = vocab["tokens"][-2], vocab["tokens"][-1]  # same size, ids swapped
    (first / "tokenizer.json").write_text(json.dumps(vocab))
    same_shape = toy_config(tmp_path / "c", max_steps=2)
    same_shape = dataclasses.replace(same_shape, model=dataclasses.replace(same_shape.model, init_from=str(first)))
    with pytest.raises(ValueError, match="another tokenizer"):
        train(same_shape)


def test_unknown_config_key_names_the_section():
    with pytest.raises(ValueError, match="trainer.max_step"):
        load_config(None, ["domain=toy", "trainer.max_step=3"])


def test_override_syntax_is_checked():
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(None, ["domain=toy", "trainer.max_steps"])


@pytest.mark.slow
def test_ddp_two_processes_train_and_predict(tmp_path):
    """2-process DDP on CPU (gloo): a few training steps, then a distributed predict whose merged output
    equals the single-process output."""
    script = Path(__file__).parent / "ddp_job.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["train_steps"] == 4
    assert result["world_size"] == 2
    assert result["distributed"] == result["single"]


def test_progress_bar_counts_steps_of_max_steps(tmp_path, capsys):
    """A step-bounded run shows its steps (``6/6``), not Lightning's ``Epoch 0/-2``; time left when bounded."""
    train(toy_config(tmp_path, max_steps=6, val_every=6, progress=True, max_time_minutes=5))
    out = capsys.readouterr().out.replace("\r", "\n")
    assert "step: 100%" in out and "6/6" in out and "time_left=" in out
    assert "Epoch 0/-" not in out
