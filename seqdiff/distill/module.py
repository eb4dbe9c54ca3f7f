"""The distillation LightningModule: a trainable student and a frozen teacher of the same architecture.

Both are submodules, so a checkpoint holds the teacher of the current round as well and a resumed run
continues with it. The randomness of step s comes from a generator seeded by (seed, s, rank), as in
``seqdiff.lit.DiffusionModule``, so a resumed run draws what an uninterrupted one would."""

from __future__ import annotations

import lightning as L
import torch

from seqdiff.lit import OptimConfig, warmup_cosine
from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff.noise import NoiseConfig

from seqdiff.distill.losses import certainty_loss, confident_share, masked_kl
from seqdiff.distill.rollout import ancestral_state, ban, greedy_trajectory, teacher_two_steps


class DistillModule(L.LightningModule):
    def __init__(self, model: dict, noise: dict, optim: dict, mode: str, teacher_steps: int, rounds: int,
                 steps_per_round: int, banned: list[int], temperature: float = 1.0, certainty_weight: float = 1.0,
                 intermediates: int = 1, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.model = Denoiser(DenoiserConfig.from_dict(model))  # the student (``model``: what gets exported)
        self.teacher = Denoiser(DenoiserConfig.from_dict(model)).requires_grad_(False)
        self.noise = NoiseConfig(**noise)
        self.optim = OptimConfig(**{**optim, "betas": tuple(optim.get("betas", OptimConfig.betas))})
        self.register_buffer("teacher_round", torch.zeros((), dtype=torch.long))  # checkpointed with the teacher
        self.register_buffer("banned", torch.tensor(sorted({self.model.config.mask_id, *banned}), dtype=torch.long),
                             persistent=False)

    def start_from(self, weights: dict) -> None:
        """Student and teacher both start as the teacher folder's weights."""
        self.model.load_state_dict(weights)
        self.teacher.load_state_dict(weights)

    def round_of(self, step: int) -> int:
        return min(step // self.hparams.steps_per_round, self.hparams.rounds - 1)

    def teacher_steps_at(self, step: int) -> int:
        """k of the current round (progressive: halved every round)."""
        k = self.hparams.teacher_steps
        return k // 2 ** self.round_of(step) if self.hparams.mode == "progressive" else k

    def _generator(self, offset: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(self.hparams.seed * 1_000_003 + offset * 9_973 + self.global_rank)
        return g

    def on_train_batch_start(self, batch, batch_idx) -> None:
        current = self.round_of(self.global_step)
        if current > int(self.teacher_round):  # a new round: this student is its teacher
            self.teacher.load_state_dict(self.model.state_dict())
            self.teacher_round.fill_(current)

    def training_step(self, batch, batch_idx):
        tokens, editable = batch["tokens"], batch["maskable"]
        x = torch.where(editable, torch.full_like(tokens, self.model.config.mask_id), tokens)
        g = self._generator(self.global_step)
        if self.hparams.mode == "progressive":
            loss = self._progressive(x, editable, g)
        else:
            loss = self._certainty(x, editable, g)
        n = tokens.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/round", float(self.round_of(self.global_step)), batch_size=n)
        return loss

    def _progressive(self, x, editable, g):
        k = self.teacher_steps_at(self.global_step)
        student_steps = k // 2
        i = int(torch.randint(0, student_steps, (), generator=g, device=self.device))
        hp = self.hparams
        state = ancestral_state(self.model, x, editable, student_steps, i, self.banned, self.noise, hp.temperature, g)
        target, where = teacher_two_steps(self.teacher, state, editable, k, i, self.banned, self.noise,
                                          hp.temperature, g, hp.intermediates)
        logits = ban(self.model(state), self.banned) / hp.temperature
        return masked_kl(target, logits, where)

    def _certainty(self, x, editable, g):
        k = self.hparams.teacher_steps
        at = int(torch.randint(0, k, (), generator=g, device=self.device))
        state, final = greedy_trajectory(self.teacher, x, editable, k, at, self.banned, g)
        where = (state == self.model.config.mask_id) & editable
        logits = ban(self.model(state), self.banned)
        loss, ce = certainty_loss(logits, final, where, self.hparams.certainty_weight)
        self.log("train/ce", ce, batch_size=x.shape[0])
        self.log("train/confident", confident_share(logits.detach(), where), prog_bar=True, batch_size=x.shape[0])
        return loss

    def configure_optimizers(self):
        decay = [p for p in self.model.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.model.parameters() if p.ndim < 2]
        o, per_round = self.optim, self.hparams.steps_per_round
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": o.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=o.lr, betas=o.betas)
        scheduler = torch.optim.lr_scheduler.LambdaLR(  # warmup and cosine restart with each round
            optimizer, lambda step: warmup_cosine(step % per_round, o.warmup_steps, per_round, o.min_lr_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
