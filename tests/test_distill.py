"""seqdiff distill: the losses on hand-built cases, a tiny student that gets closer to its teacher, resume,
config errors, and bench rows for a student next to its teacher."""

import math
from pathlib import Path

import pytest
import torch

from seqdiff.bench import main_bench
from seqdiff.checkpoint import Pretrained, from_pretrained, save_pretrained
from seqdiff.cli import main
from seqdiff.distill.command import distill
from seqdiff.distill.config import load_config
from seqdiff.distill.losses import certainty_loss, confident_share, masked_kl, two_step_target, two_step_weights
from seqdiff.noise import NoiseConfig
from seqdiff.distill.rollout import ancestral_state, ban, greedy_trajectory, teacher_two_steps
from seqdiff.samplers import ConfidenceSampler, Denoise, SamplingOptions
from seqdiff.testing import logged_losses, tiny_denoiser
from seqdiff.tokenizer import CharTokenizer

TOY_TOK = CharTokenizer.from_alphabet("abc")  # the toy domain's tokenizer
LENGTH = 12


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A toy-domain folder whose random weights give peaked, position-dependent distributions."""
    model = tiny_denoiser(seed=3, vocab=TOY_TOK, spread=4.0)
    folder = tmp_path_factory.mktemp("teacher") / "model"
    return save_pretrained(Pretrained(model=model, tokenizer=TOY_TOK, domain="toy"), folder)


def settings(teacher: Path, out: Path, **extra) -> list[str]:
    base = {"teacher": teacher, "teacher_steps": 8, "canvas.length": LENGTH, "optim.lr": 0.003,
            "optim.warmup_steps": 2, "trainer.max_steps": 8, "trainer.batch_size": 8, "trainer.val_every": 4,
            "trainer.log_every": 1, "trainer.progress": False, "trainer.accelerator": "cpu",
            "trainer.devices": 1, "trainer.out_dir": out}
    return [f"{k}={v}" for k, v in {**base, **extra}.items()]


def test_two_step_target_by_hand():
    # linear schedule, k = 4, first student step: p1 = 1/4, p2 = (1/4) / (3/4) = 1/3 -> weights 1/2, 1/2
    w1, w2 = two_step_weights(torch.tensor([0.25]), torch.tensor([1 / 3]))
    assert w1.item() == pytest.approx(0.5) and w2.item() == pytest.approx(0.5)
    q1 = torch.tensor([[[0.5, 0.5, 0.0]]])
    q2 = torch.tensor([[[1.0, 0.0, 0.0]]])
    target = two_step_target(q1, q2, torch.tensor([0.25]), torch.tensor([1 / 3]))
    assert torch.allclose(target, torch.tensor([[[0.75, 0.25, 0.0]]]))
    # a last step reveals everything: p2 = 1, p1 = 1/2 -> weights 1/2, 1/2 as well
    assert two_step_weights(torch.tensor([0.5]), torch.tensor([1.0]))[0].item() == pytest.approx(0.5)


def test_masked_kl_by_hand():
    target = torch.tensor([[[0.75, 0.25, 0.0], [1.0, 0.0, 0.0]]])
    logits = torch.tensor([[[0.0, 0.0, float("-inf")], [5.0, 1.0, 2.0]]])  # the third id banned in row 0
    kl = masked_kl(target, logits, torch.tensor([[True, False]]))
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert kl.item() == pytest.approx(expected, rel=1e-6)
    logits.requires_grad_(True)
    masked_kl(target, logits, torch.tensor([[True, True]])).backward()
    assert torch.isfinite(logits.grad).all()


def test_certainty_loss_by_hand():
    logits = torch.log(torch.tensor([[[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]]])).requires_grad_(True)
    answer = torch.tensor([[0, 0, 1]])
    where = torch.tensor([[True, True, False]])
    loss, ce = certainty_loss(logits, answer, where, weight=0.5)
    ce_expected = (-math.log(0.8) - math.log(0.4)) / 2
    entropy_first = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))  # only position 0 is predicted correctly
    assert ce.item() == pytest.approx(ce_expected, rel=1e-6)
    assert loss.item() == pytest.approx(ce_expected + 0.5 * entropy_first, rel=1e-6)  # mean over the 1 correct
    loss.backward()
    assert logits.grad[0, 2].abs().sum() == 0  # positions outside ``where`` get no gradient


def test_certainty_entropy_is_averaged_over_the_correct_positions_only():
    """Adding wrong positions changes the cross-entropy but not the certainty term's strength."""
    p = torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    logits = torch.log(p)[None]
    answer, where = torch.tensor([[0, 0, 0, 0]]), torch.tensor([[True, True, True, True]])
    entropy = -(p * p.log()).sum(-1)
    loss, ce = certainty_loss(logits, answer, where, weight=1.0)
    assert ce.item() == pytest.approx(-p[:, 0].log().mean().item(), rel=1e-6)
    assert (loss - ce).item() == pytest.approx(entropy[:2].mean().item(), rel=1e-6)
    none_correct = certainty_loss(logits, torch.tensor([[1, 1, 0, 0]]), torch.tensor([[True, True, False, False]]), 1.0)
    assert none_correct[0].item() == pytest.approx(none_correct[1].item())  # no correct position: CE alone


def test_certainty_loss_ignores_banned_tokens_outside_where():
    """A kept prompt or pad token the student may never emit (-inf logit) must not make the loss NaN."""
    logits = torch.tensor([[[2.0, 0.0, float("-inf")], [0.0, 1.0, float("-inf")]]], requires_grad=True)
    loss, ce = certainty_loss(logits, torch.tensor([[0, 2]]), torch.tensor([[True, False]]), weight=1.0)
    assert torch.isfinite(loss) and ce.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 1)))
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_confident_share_counts_positions_over_the_threshold():
    logits = torch.log(torch.tensor([[[0.95, 0.05], [0.6, 0.4], [0.99, 0.01]]]))
    assert confident_share(logits, torch.tensor([[True, True, False]])).item() == pytest.approx(0.5)


def test_greedy_trajectory_matches_the_denoise_loop(teacher):
    model = from_pretrained(teacher).model
    x = torch.tensor([[TOY_TOK.eos_id] + [TOY_TOK.mask_id] * LENGTH + [TOY_TOK.eos_id]] * 2)
    editable = x == TOY_TOK.mask_id
    banned = torch.tensor(sorted(TOY_TOK.special_ids))
    state, final = greedy_trajectory(model, x, editable, 6, at=3, banned=banned, generator=torch.Generator())
    reference = Denoise(ConfidenceSampler(steps=6, sampling=SamplingOptions(temperature=0.0)),
                        banned_ids=sorted(TOY_TOK.special_ids))(model, x, editable).tokens
    assert torch.equal(final, reference)
    assert 0 < int((state == TOY_TOK.mask_id).sum()) < int(editable.sum())
    assert torch.equal(torch.where(state == TOY_TOK.mask_id, final, state), final)  # the state lies on the path


def kl_to_teacher(student, teacher_model, k: int, seeds=range(4)) -> float:
    """Mean KL of the student's one step of 2/k to the teacher's two steps of 1/k (its target averaged over 32
    intermediate states, so the figure is nearly free of sampling noise) at states the teacher draws."""
    x = torch.tensor([[TOY_TOK.eos_id] + [TOY_TOK.mask_id] * LENGTH + [TOY_TOK.eos_id]] * 8)
    editable = x == TOY_TOK.mask_id
    banned = torch.tensor(sorted(TOY_TOK.special_ids))
    total = 0.0
    for seed in seeds:
        for i in range(k // 2):
            g = torch.Generator().manual_seed(seed)
            state = ancestral_state(teacher_model, x, editable, k // 2, i, banned, NoiseConfig(), 1.0, g)
            target, where = teacher_two_steps(teacher_model, state, editable, k, i, banned, NoiseConfig(), 1.0, g,
                                              intermediates=32)
            with torch.no_grad():
                total += masked_kl(target, ban(student(state), banned), where).item()
    return total / (len(seeds) * (k // 2))


def test_a_few_steps_bring_the_student_closer_to_its_teachers_two_steps(teacher, tmp_path):
    # measured: 0.00078 -> 0.00012 nats (single-intermediate targets are too noisy to gain in 40 steps)
    config = load_config(None, settings(teacher, tmp_path / "run", teacher_steps=4, intermediates=8, **{
        "trainer.max_steps": 40, "trainer.batch_size": 16, "optim.lr": 0.0001}))
    folder = distill(config)
    teacher_model, student = from_pretrained(teacher).model, from_pretrained(folder).model
    before, after = kl_to_teacher(teacher_model, teacher_model, 4), kl_to_teacher(student, teacher_model, 4)
    assert after < 0.5 * before, (before, after)
    meta = from_pretrained(folder).meta
    assert (meta["distill_mode"], meta["teacher_steps"], meta["student_steps"], meta["steps"]) == \
        ("progressive", 4, 2, 40)
    assert f"Distilled from `{teacher}`" in (folder / "README.md").read_text()


def test_resume_across_a_round_reaches_the_same_step_loss_and_weights(teacher, tmp_path):
    straight = distill(load_config(None, settings(teacher, tmp_path / "a", rounds=2)))
    # round one alone (rounds=1 over 4 steps is the same plan as the first half of rounds=2 over 8), then resume
    distill(load_config(None, settings(teacher, tmp_path / "b", **{"trainer.max_steps": 4})))
    resumed = distill(load_config(None, settings(teacher, tmp_path / "b", rounds=2)), resume=True)
    assert from_pretrained(resumed).meta["steps"] == 8
    a, b = logged_losses(tmp_path / "a"), logged_losses(tmp_path / "b")
    assert max(a) == max(b) == 7
    assert a[7] == pytest.approx(b[7], rel=1e-5)
    wa, wb = from_pretrained(straight).model.state_dict(), from_pretrained(resumed).model.state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_config_errors_exit_2_naming_the_field(teacher, tmp_path, capsys):
    cases = {("rounds=0",): "rounds=0 must be >= 1",
             ("mode=fast",): "mode='fast' must be one of",
             ("teacher_steps=12", "rounds=3"): "teacher_steps=12 must be divisible by 2^rounds = 8",
             ("trainer.max_steps=7", "rounds=2"): "trainer.max_steps=7 must be a multiple of rounds=2",
             ("canvas.length=0",): "canvas.length=0 must be >= 1",
             ("mode=certainty", "rounds=2"): "rounds=2 must be 1 in certainty mode",
             ("teacher=/nonexistent",): "teacher='/nonexistent' is not a model folder"}
    for overrides, message in cases.items():
        args = ["distill"] + [a for o in settings(teacher, tmp_path / "x") + list(overrides) for a in ("--set", o)]
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_certainty_mode_sharpens_the_student_on_the_teachers_path(teacher, tmp_path):
    config = load_config(None, settings(teacher, tmp_path / "run", mode="certainty", teacher_steps=12, **{
        "trainer.max_steps": 30, "optim.lr": 0.001}))
    folder = distill(config)
    teacher_model, student = from_pretrained(teacher).model, from_pretrained(folder).model
    x = torch.tensor([[TOY_TOK.eos_id] + [TOY_TOK.mask_id] * LENGTH + [TOY_TOK.eos_id]])
    editable = x == TOY_TOK.mask_id
    banned = torch.tensor(sorted(TOY_TOK.special_ids))
    _, path = greedy_trajectory(teacher_model, x, editable, 12, 0, banned, torch.Generator())
    with torch.no_grad():  # the probability of the teacher's final tokens from the fully masked canvas
        p_teacher = ban(teacher_model(x), banned).softmax(-1).gather(-1, path[..., None])[editable].mean()
        p_student = ban(student(x), banned).softmax(-1).gather(-1, path[..., None])[editable].mean()
    assert p_student > p_teacher + 0.1, (p_teacher, p_student)
    assert from_pretrained(folder).meta["distill_mode"] == "certainty"


def test_bench_compares_a_student_with_its_teacher_on_the_same_canvases(teacher, tmp_path, capsys):
    student = save_pretrained(Pretrained(model=tiny_denoiser(seed=5, vocab=TOY_TOK, spread=4.0), tokenizer=TOY_TOK,
                                         domain="toy"), tmp_path / "student")
    rows = main_bench(str(teacher), LENGTH, 2, None, designs=2, kind="quick", only="^ancestral",
                      compare=[str(student)])
    assert [(r["model"], r["config"]) for r in rows] == [
        (str(teacher), "naive-low_confidence"), (str(teacher), "ancestral-1"),
        (str(student), "naive-low_confidence"), (str(student), "ancestral-1")]
    assert "| model |" in capsys.readouterr().out
    other = save_pretrained(Pretrained(model=tiny_denoiser(seed=5), tokenizer=CharTokenizer.from_alphabet("abcdefg"),
                                       domain="toy"), tmp_path / "other")
    with pytest.raises(ValueError, match="vocabulary of 11"):
        main_bench(str(teacher), LENGTH, 2, None, kind="quick", only="^ancestral", compare=[str(other)])


def test_bench_runs_each_student_at_its_own_steps_without_the_naive_row(teacher, tmp_path, capsys):
    """``FOLDER@NAMES`` picks a compared folder's rows; ``naive=False`` drops the L-step baseline; rows name the
    weights' dtype."""
    student = save_pretrained(Pretrained(model=tiny_denoiser(seed=5, vocab=TOY_TOK, spread=4.0), tokenizer=TOY_TOK,
                                         domain="toy"), tmp_path / "student")
    rows = main_bench(str(teacher), LENGTH, 2, None, designs=2, only="^ancestral-(4|2)$", naive=False,
                      compare=[f"{student}@^ancestral-2$"])
    assert [(r["model"], r["config"]) for r in rows] == [
        (str(teacher), "ancestral-4"), (str(teacher), "ancestral-2"), (str(student), "ancestral-2")]
    assert all(r["speedup_vs_naive"] is None and r["dtype"] == "float32" for r in rows)
    out = capsys.readouterr().out
    assert f"{teacher}, {student} (domain toy)" in out and "float32" in out
    with pytest.raises(ValueError, match="matches no configuration"):  # refused before any decoding
        main_bench(str(teacher), LENGTH, 2, None, designs=2, compare=[f"{student}@^nothing$"])
    assert "bench:" not in capsys.readouterr().err
