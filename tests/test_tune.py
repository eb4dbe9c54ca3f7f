"""``seqdiff tune``: the estimators against exactly enumerated targets, the GRPO loss on a hand-built
batch, KL 0 at step 0, resume, rewards that fail, and the CLI's exit codes."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqdiff.tune.estimators import coupled, coupled_masks, mean_field, score_masked
from seqdiff.tune.grpo import group_advantages, grpo_loss, zero_spread_share

V, MASK = 3, 3  # token ids 0..2, the mask id 3 (the toy never predicts it)


class ContextModel:
    """logits[i] = base[i] + delta * sum over visible j != i of W[j, i, x_j]: each logit moves by at most
    delta * (L - 1) with context (|W| <= 1), so each token's log-probability by at most twice that."""

    def __init__(self, length: int, delta: float, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.base = torch.randn(length, V, generator=g) * 1.5
        self.w = torch.rand(length, length, V, V, generator=g) * 2 - 1
        self.delta = delta

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(x.clamp(max=V), V + 1)[..., :V].float()  # the mask: all zero
        context = torch.einsum("bjv,jivw->biw", onehot, self.w)
        context = context - torch.einsum("biv,iivw->biw", onehot, self.w)  # a token is not its own context
        logits = self.base + self.delta * context
        return torch.cat([logits, torch.full(logits.shape[:-1] + (1,), -1e9)], -1)


def exact_target(model, tokens: torch.Tensor, completion: torch.Tensor) -> float:
    """What the coupled estimator targets, by enumeration: per completion token, the mean of log p(token |
    v other completion tokens visible) over every such set, v weighted 2(n-v)/(n(n+1))."""
    idx = completion.nonzero().squeeze(-1).tolist()
    n, total = len(idx), 0.0
    for i in idx:
        others = [j for j in idx if j != i]
        for v in range(n):
            values = []
            for visible in itertools.combinations(others, v):
                masked = completion.clone()
                masked[list(visible)] = False
                values.append(float(score_masked(model, tokens[None], masked[None], MASK)[0, i]))
            total += 2 * (n - v) / (n * (n + 1)) * sum(values) / len(values)
    return total


def uncoupled(model, tokens, completion, generator) -> torch.Tensor:
    """The coupled estimator's cost and marginals without the coupling: pass one masks a draw A1 and
    scores it, pass two masks the complement of an independent draw A2 and scores that."""
    a1, a2 = coupled_masks(completion, generator), coupled_masks(completion, generator)
    return (score_masked(model, tokens, a1, MASK) + score_masked(model, tokens, completion & ~a2, MASK)).sum(-1)


@pytest.fixture(scope="module")
def toy():
    length, draws = 5, 6000
    tokens = torch.tensor([2, 0, 1, 2, 1])
    completion = torch.tensor([False, True, True, True, True])  # one prompt token, n = 4 scored
    return length, draws, tokens, completion


def test_a_context_free_model_makes_both_estimators_the_exact_log_likelihood(toy):
    length, draws, tokens, completion = toy
    model = ContextModel(length, delta=0.0)
    exact = float(torch.log_softmax(model.base, -1)[torch.arange(length), tokens][completion].sum())
    assert exact_target(model, tokens, completion) == pytest.approx(exact, abs=1e-5)
    batch, comp = tokens.repeat(draws, 1), completion.repeat(draws, 1)
    assert torch.allclose(mean_field(model, batch, comp, MASK).sequence(), torch.tensor(exact), atol=1e-5)
    est = coupled(model, batch, comp, MASK, coupled_masks(comp, torch.Generator().manual_seed(0))).sequence()
    assert torch.allclose(est, torch.tensor(exact), atol=1e-5)  # every draw: each token scored exactly once


def test_mean_field_and_coupled_agree_in_expectation_within_the_context_bound(toy):
    """Coupled matches its enumerated target within 4 standard errors; mean-field reads only the fully
    masked context, and every log-probability moves by at most 2 * delta * (L - 1) with context, so the
    two expectations differ by at most n times that: the stated bound."""
    length, draws, tokens, completion = toy
    delta = 0.05
    model = ContextModel(length, delta=delta, seed=1)
    target = exact_target(model, tokens, completion)
    batch, comp = tokens.repeat(draws, 1), completion.repeat(draws, 1)
    est = coupled(model, batch, comp, MASK, coupled_masks(comp, torch.Generator().manual_seed(1))).sequence()
    stderr = float(est.std()) / math.sqrt(draws)
    assert abs(float(est.mean()) - target) < 4 * stderr
    bound = 2 * delta * (length - 1) * int(completion.sum())
    mf = float(mean_field(model, tokens[None], completion[None], MASK).sequence())
    assert abs(mf - target) <= bound and abs(mf - float(est.mean())) <= bound + 4 * stderr
    assert abs(mf - target) > 1e-3  # mean-field is biased here: context matters, the bound is needed


def test_coupled_has_lower_variance_than_independent_masks_at_equal_cost(toy):
    """Two passes each, the same marginals and so the same expectation; only the coupling differs."""
    length, draws, tokens, completion = toy
    model = ContextModel(length, delta=0.3, seed=2)
    target = exact_target(model, tokens, completion)
    batch, comp = tokens.repeat(draws, 1), completion.repeat(draws, 1)
    g = torch.Generator().manual_seed(2)
    pair = coupled(model, batch, comp, MASK, coupled_masks(comp, g)).sequence()
    indep = uncoupled(model, batch, comp, g)
    for est in (pair, indep):
        assert abs(float(est.mean()) - target) < 4 * float(est.std()) / math.sqrt(draws)
    assert float(pair.var()) < 0.2 * float(indep.var())


def test_coupled_masks_pick_a_uniform_count_of_completion_positions_only():
    completion = torch.tensor([[False, True, True, True, False]] * 4000)
    first = coupled_masks(completion, torch.Generator().manual_seed(0))
    assert not (first & ~completion).any()
    counts = torch.bincount(first.sum(-1), minlength=4).float() / 4000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.03)


def test_grpo_loss_on_a_hand_built_batch():
    ln = math.log
    logp = torch.tensor([[ln(0.5), ln(0.25)], [ln(0.5), 0.0]])
    old = torch.tensor([[ln(0.5), ln(0.5)], [ln(0.25), 0.0]])
    ref = old.clone()
    weight = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    out = grpo_loss(logp, old, ref, torch.tensor([1.0, -1.0]), weight, clip_eps=0.2, kl_coef=0.1)
    k3 = lambda d: math.exp(d) - d - 1  # noqa: E731
    row0 = (-1.0 + (-0.5 + 0.1 * k3(ln(0.5) - ln(0.25)))) / 2  # ratio 1; ratio 0.5 -> min(0.5, 0.8) = 0.5
    row1 = 2.0 + 0.1 * k3(ln(0.25) - ln(0.5))  # ratio 2, advantage -1: min(-2, -1.2) = -2
    assert float(out.loss) == pytest.approx((row0 + row1) / 2, abs=1e-6)
    assert float(out.kl) == pytest.approx((k3(ln(2)) / 2 + k3(-ln(2))) / 2, abs=1e-6)
    assert float(out.clip_fraction) == pytest.approx(2 / 3)


def test_group_advantages_are_normalised_within_each_group():
    adv = group_advantages(torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0]), 3)
    std = math.sqrt(2 / 3)
    assert torch.allclose(adv, torch.tensor([-1 / std, 0.0, 1 / std, 0.0, 0.0, 0.0]), atol=1e-3)
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(torch.ones(6), 4)


def test_zero_spread_share_counts_the_groups_with_equal_rewards():
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5])
    assert zero_spread_share(rewards, 4) == 2 / 3
    assert (group_advantages(rewards, 4).view(3, 4)[[0, 2]] == 0).all()


# --- the Lightning run, on the toy domain (tests/toy_plugin) with a random-weights model folder ---

def _config(tmp_path, name="run", **over):
    from seqdiff.train import TrainerConfig
    from seqdiff.tune.config import RewardTerm, RolloutConfig, TuneConfig

    folder = tmp_path / "policy"
    if not folder.exists():
        from seqdiff.testing import write_model_folder
        from seqdiff.tokenizer import CharTokenizer

        write_model_folder(folder, CharTokenizer.from_alphabet("abc"), "toy")
    fields = dict(policy=str(folder), rewards=(RewardTerm("letter_fraction", options={"letter": "a"}),),
                  group_size=4, prompts_per_step=2, rollout=RolloutConfig(length=6, steps=3, num_prompts=3),
                  trainer=TrainerConfig(max_steps=4, val_every=2, log_every=1, out_dir=str(tmp_path / name),
                                        progress=False, accelerator="cpu", devices=1))
    fields.update(over)
    return TuneConfig(**fields)


@pytest.mark.parametrize("estimator", ["mean_field", "coupled"])
def test_kl_to_the_reference_is_zero_at_step_zero(tmp_path, estimator):
    from seqdiff.tune.run import prepare

    out = prepare(_config(tmp_path, estimator=estimator, kl_coef=0.5)).module.step_outcome(0)
    assert float(out.loss.kl.detach()) == 0.0
    assert len(out.texts) == 8 and all(set(t) <= set("abc") for t in out.texts)


def test_resume_reaches_the_same_step_loss_and_weights(tmp_path):
    from dataclasses import replace

    from safetensors.torch import load_file

    from seqdiff.tune.run import tune

    straight = tune(_config(tmp_path, "straight"))
    half = _config(tmp_path, "resumed")
    tune(replace(half, trainer=replace(half.trainer, max_steps=2)))
    resumed = tune(half, resume=True)
    a, b = (json.loads((p.parent / "tune_summary.json").read_text()) for p in (straight, resumed))
    assert a["steps"] == b["steps"] == 4
    assert a["loss_last"] == b["loss_last"] and a["reward_last"] == b["reward_last"]
    wa, wb = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    card = (straight / "README.md").read_text()
    for fact in ("letter_fraction", "estimator", "kl_coef", "reference", "steps"):
        assert fact in card


@pytest.mark.slow
def test_ddp_two_processes_draw_their_own_rollouts_and_export_one_folder(tmp_path):
    """2-process DDP on CPU (gloo): each rank draws its own rollouts (or DDP would only repeat the work),
    the gradients are shared (equal weights at the end), and rank 0 exports a card with the steps and the
    ranks' mean reward."""
    _config(tmp_path)  # writes the policy folder once, before the ranks start
    script = Path(__file__).parent / "tune_ddp_job.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "policy"), str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["world_size"] == 2 and result["card_steps"] == 3 and "steps" in result["card"]
    first, second = result["ranks"]
    assert sorted(first["rollouts"]) == sorted(second["rollouts"]) == ["0", "1", "2"]
    assert all(first["rollouts"][k]["texts"] != second["rollouts"][k]["texts"] for k in first["rollouts"])
    assert first["weights"] == second["weights"]
    last = (first["rollouts"]["2"]["reward"] + second["rollouts"]["2"]["reward"]) / 2
    assert result["reward_last"] == pytest.approx(last, abs=1e-6)


BAD_REWARDS = '''
import threading
def raises(texts, canvases):
    raise ValueError("boom")
def nan(texts, canvases):
    return [0.0] * 3 + [float("nan")] * (len(texts) - 3)
def hangs(texts, canvases):
    threading.Event().wait()
def fine(texts, canvases, bonus=0.0):
    return [len(t) + bonus for t in texts]
'''


def _write_yaml(tmp_path, reward: str, out: str, extra: str = "") -> str:
    _config(tmp_path)  # writes the policy folder
    path = tmp_path / f"{out}.yaml"
    path.write_text(f"policy: {tmp_path / 'policy'}\nrewards: [{{name: {reward}}}]\ngroup_size: 4\n"
                    f"reward_timeout_s: 0.5\nrollout: {{length: 6, steps: 3, num_prompts: 2}}\n{extra}"
                    f"trainer: {{max_steps: 2, val_every: 1, out_dir: {tmp_path / out}, progress: false, "
                    f"accelerator: cpu, devices: 1}}\n")
    return str(path)


@pytest.mark.parametrize("reward, message", [("bad_rewards:raises", "raised ValueError: boom"),
                                             ("bad_rewards:nan", "returned nan on sample 3"),
                                             ("bad_rewards:hangs", "did not return within 0.5 s")])
def test_a_failing_reward_is_reported_and_the_run_stops_with_no_export(tmp_path, monkeypatch, capsys,
                                                                      reward, message):
    from seqdiff.cli import main

    (tmp_path / "bad_rewards.py").write_text(BAD_REWARDS)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["tune", "--config", _write_yaml(tmp_path, reward, "bad")]) == 1
    err = capsys.readouterr().err
    assert reward in err and message in err and "exported nothing" in err
    assert not (tmp_path / "bad" / "model").exists()


def test_a_user_callable_with_options_runs_and_the_cli_exports(tmp_path, monkeypatch, capsys):
    from seqdiff.cli import main

    (tmp_path / "bad_rewards.py").write_text(BAD_REWARDS)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _write_yaml(tmp_path, "bad_rewards:fine, options: {bonus: 1.0}", "ok", "estimator: mean_field\n")
    assert main(["tune", "--config", config]) == 0
    assert "exported tuned model folder" in capsys.readouterr().out
    summary = json.loads((tmp_path / "ok" / "tune_summary.json").read_text())
    assert summary["steps"] == 2 and summary["estimator"] == "mean_field" and summary["reward_last"] > 1


@pytest.mark.parametrize("reward, message", [("no_such_reward", "not a reward of this domain"),
                                             ("no_such_module:f", "cannot be imported")])
def test_an_unknown_reward_is_a_usage_error_before_anything_runs(tmp_path, capsys, reward, message):
    from seqdiff.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--config", _write_yaml(tmp_path, reward, "unknown")])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "unknown").exists()


@pytest.mark.parametrize("name", ["tune-protein-charge.yaml", "tune-protein-motif.yaml", "tune-code-parse.yaml",
                                  "tune-code-useful.yaml"])
def test_the_shipped_configs_load_with_their_bounds_checked(name):
    from pathlib import Path

    from seqdiff.tune.config import load_config

    path = Path(__file__).resolve().parents[1] / "configs" / name
    config = load_config(path)
    assert config.rewards and config.estimator in ("mean_field", "coupled")
    with pytest.raises(ValueError, match="group_size=1"):
        load_config(path, ["group_size=1"])


# --- rollout.eos_filler: the <eos> filler layout (seqdiff/samplers/eos_filler.py) ---

EOS, M = 9, 8


def test_positions_after_the_first_editable_eos_are_forced_and_not_decided():
    from seqdiff.samplers.eos_filler import after_first_eos, decided

    x = torch.tensor([[EOS, 1, EOS, 2, EOS, M], [EOS, 1, 2, M, 1, 2]])
    editable = torch.tensor([[False, True, True, True, True, True], [False, True, True, True, True, False]])
    assert after_first_eos(x, editable, EOS).tolist() == [[False, False, False, True, True, True], [False] * 6]
    assert decided(x, editable, EOS).tolist() == [[False, True, True, False, False, False],
                                                  [False, True, True, True, True, False]]


def test_the_filler_hook_leaves_only_eos_after_a_committed_eos_and_nothing_else_changes():
    from seqdiff.samplers.eos_filler import EosFiller

    x = torch.tensor([[M, 1, EOS, M, M], [M, M, M, M, M]])
    editable = torch.tensor([[True, True, True, True, False], [True] * 5])
    logits = torch.randn(2, 5, 10)
    out = EosFiller(editable, EOS, M)(0, x, logits.clone())
    forced = torch.tensor([[False, False, False, True, False], [False] * 5])
    assert torch.equal(out[~forced], logits[~forced])
    assert out[forced].argmax(-1).tolist() == [EOS] and (out[forced][:, :EOS] <= -1e4).all()


def test_eos_filler_rollouts_are_read_up_to_their_first_eos_and_eos_is_not_banned(tmp_path):
    from dataclasses import replace

    from seqdiff.samplers import row_generators
    from seqdiff.tune.config import RolloutConfig
    from seqdiff.samplers.eos_filler import EosFiller, filled
    from seqdiff.tune.run import prepare

    rollout = RolloutConfig(length=6, steps=3, num_prompts=3, eos_filler=True, temperature=2.0)
    module = prepare(_config(tmp_path, rollout=rollout)).module
    eos, mask = module.tokenizer.eos_id, module.policy.config.mask_id
    assert eos not in module.denoise.banned_ids
    ends = 0
    for step in range(4):  # the rollouts step_outcome draws, redrawn from the same seeds
        x, editable, _ = module._batch(step)
        seeds = [module._seed(step, 1 + r) for r in range(len(x))]
        denoise = replace(module.denoise, logits_hook=EosFiller(editable, eos, mask))
        tokens = filled(denoise(module.policy, x, editable, row_generators(seeds, "cpu")).tokens, editable, eos)
        ends += int(((tokens == eos) & editable).any(-1).sum())
        out = module.step_outcome(step)
        assert out.texts == [module.tokenizer.decode(row.tolist()) for row in tokens]
        assert float(out.loss.kl.detach()) == 0.0
    assert ends > 0  # a random-weights model at temperature 2 draws <eos> somewhere


def test_a_rollout_is_read_up_to_its_first_eos():
    from seqdiff.samplers.eos_filler import filled

    x = torch.tensor([[EOS, 1, EOS, 2, EOS, 3]])
    editable = torch.tensor([[False, True, True, True, True, False]])
    assert filled(x, editable, EOS).tolist() == [[EOS, 1, EOS, EOS, EOS, 3]]
