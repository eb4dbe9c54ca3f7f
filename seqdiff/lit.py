"""Lightning wiring: model + schedule + loss + optimiser. Lightning is imported only here and in data.py."""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightning as L
import torch

from seqdiff.loss import diffusion_loss, mask_tokens
from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff.noise import NoiseConfig, Schedule


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at max_steps
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr={self.lr} must be > 0")
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps={self.warmup_steps} must be >= 0")


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear warmup, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class DiffusionModule(L.LightningModule):
    """Training and validation of a ``Denoiser`` with the masked-diffusion ELBO.

    Noise for step k comes from a generator seeded by (seed, k, rank), so a resumed run draws exactly
    what an uninterrupted one would."""

    def __init__(self, model: dict, noise: dict, optim: dict, max_steps: int, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.model = Denoiser(DenoiserConfig.from_dict(model))
        self.schedule = Schedule(NoiseConfig(**noise))
        self.optim = OptimConfig(**{**optim, "betas": tuple(optim.get("betas", OptimConfig.betas))})
        self.max_steps, self.seed = max_steps, seed

    def _generator(self, offset: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed * 1_000_003 + offset * 9_973 + self.global_rank)
        return g

    def _loss(self, batch, generator):
        tokens, maskable = batch["tokens"], batch["maskable"]
        t = self.schedule.sample_times(tokens.shape[0], generator, tokens.device)
        noisy, is_masked = mask_tokens(tokens, maskable, t, self.schedule, self.model.config.mask_id, generator)
        logits = self.model(noisy)
        return diffusion_loss(logits, tokens, is_masked, maskable, t, self.schedule, self.model.config.mask_id)

    def training_step(self, batch, batch_idx):
        out = self._loss(batch, self._generator(self.global_step))
        self.log("train/loss", out.loss, prog_bar=True, batch_size=batch["tokens"].shape[0])
        self.log("train/tokens", out.num_tokens.float(), reduce_fx="sum", batch_size=batch["tokens"].shape[0])
        return out.loss

    def validation_step(self, batch, batch_idx):
        out = self._loss(batch, self._generator(-1 - batch_idx))
        # NLL bound in nats/token: weight each batch by its token count
        self.log("val/nll", out.loss, prog_bar=True, sync_dist=True, batch_size=int(out.num_tokens))

    def configure_optimizers(self):
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.optim.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}],
                                      lr=self.optim.lr, betas=self.optim.betas)
        o = self.optim
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, o.warmup_steps, self.max_steps, o.min_lr_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
