"""The LightningModule of ``seqdiff tune``: rollouts with the project's own loop and samplers (the domain's
canvases and banned ids hold during training), rewards, group-relative advantages, the chosen estimator
under the policy and the frozen reference, and the GRPO loss.

Every random draw of step k (which canvases, the rollouts' noise, the estimator's masks) comes from
seeds of (seed, k, rank), so a resumed run repeats exactly what an uninterrupted one does. One gradient
step per batch of rollouts (on-policy: the old policy is the current one, so the ratio is 1 in value and
the clip guards nothing until several updates reuse a batch; the objective keeps the clip for that)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import lightning as L
import torch
from torch import Tensor

from seqdiff.lit import warmup_cosine
from seqdiff.model import Denoiser
from seqdiff.samplers import AncestralSampler, ConfidenceSampler, Denoise, SamplingOptions, row_generators
from seqdiff.samplers.eos_filler import EosFiller, decided, filled
from seqdiff.tune.config import TuneConfig
from seqdiff.tune.estimators import coupled_masks, estimate, prompt_masks
from seqdiff.tune.grpo import GRPOLoss, group_advantages, grpo_loss, zero_spread_share
from seqdiff.tune.rewards import BoundReward, total


@dataclass(frozen=True)
class StepOutcome:
    loss: GRPOLoss
    reward_mean: float
    reward_means: dict[str, float]
    texts: list[str]
    zero_spread: float  # share of groups with equal rewards (advantage 0)


class TuneModule(L.LightningModule):
    def __init__(self, policy: Denoiser, tokenizer, canvases: list[dict], banned: list[int],
                 rewards: list[BoundReward], config: TuneConfig, noise=None, reference: Denoiser | None = None):
        super().__init__()
        self.policy = policy
        self.reference = (reference or copy.deepcopy(policy)).eval().requires_grad_(False)
        self.tokenizer, self.canvases, self.rewards, self.config = tokenizer, canvases, rewards, config
        ro = config.rollout
        options = SamplingOptions(temperature=ro.temperature)
        sampler = (AncestralSampler(steps=ro.steps, sampling=options, **({"noise": noise} if noise else {}))
                   if ro.sampler == "ancestral" else ConfidenceSampler(steps=ro.steps, sampling=options))
        if ro.eos_filler:
            banned = [i for i in banned if i != tokenizer.eos_id]
        self.denoise = Denoise(sampler, banned_ids=banned)
        self.special = torch.tensor(sorted(tokenizer.special_ids), dtype=torch.long)

    def _seed(self, step: int, stream: int) -> int:
        return (self.config.trainer.seed * 1_000_003 + step * 9_973 + self.global_rank * 101 + stream) % (2**63)

    def _batch(self, step: int) -> tuple[Tensor, Tensor, list[dict]]:
        """``prompts_per_step`` canvases, each repeated ``group_size`` times, right-padded."""
        g = torch.Generator().manual_seed(self._seed(step, 0))
        picks = torch.randint(len(self.canvases), (self.config.prompts_per_step,), generator=g).tolist()
        chosen = [dict(self.canvases[i]) for i in picks for _ in range(self.config.group_size)]
        length = max(len(c["tokens"]) for c in chosen)
        x = torch.full((len(chosen), length), self.tokenizer.pad_id, dtype=torch.long)
        editable = torch.zeros(x.shape, dtype=torch.bool)
        for r, c in enumerate(chosen):
            x[r, : len(c["tokens"])] = torch.tensor(c["tokens"])
            editable[r, : len(c["editable"])] = torch.tensor(c["editable"])
        return x.to(self.device), editable.to(self.device), chosen

    def step_outcome(self, step: int) -> StepOutcome:
        """Rollouts, rewards and the GRPO loss of step ``step`` (with gradients into the policy)."""
        cfg, mask_id = self.config, self.policy.config.mask_id
        x, editable, canvases = self._batch(step)
        seeds = [self._seed(step, 1 + r) for r in range(len(x))]
        self.policy.eval()  # rollouts and scoring alike: the denoiser has no train-only behaviour
        eos = self.tokenizer.eos_id
        denoise = (replace(self.denoise, logits_hook=EosFiller(editable, eos, mask_id)) if cfg.rollout.eos_filler
                   else self.denoise)
        tokens = denoise(self.policy, x, editable, row_generators(seeds, self.device)).tokens
        if cfg.rollout.eos_filler:
            tokens = filled(tokens, editable, eos)
        texts = [self.tokenizer.decode(row.tolist()) for row in tokens.cpu()]
        for canvas, row, edit in zip(canvases, tokens.cpu(), editable.cpu()):
            canvas["output"] = row.tolist()
            canvas["editable_text"] = self.tokenizer.decode(row[edit[: len(row)]].tolist())
        sums, means = total(self.rewards, texts, canvases)
        rewards = torch.tensor(sums, dtype=torch.float32, device=self.device)
        advantages = group_advantages(rewards, cfg.group_size)
        g = torch.Generator(device=self.device).manual_seed(self._seed(step, -1))
        if cfg.estimator == "coupled":
            masks = coupled_masks(editable, g)
        else:
            prompt = ~editable & ~torch.isin(tokens, self.special.to(self.device))
            masks = prompt_masks(prompt, cfg.prompt_mask_prob, g)
        with torch.no_grad():
            ref = estimate(cfg.estimator, self.reference, tokens, editable, mask_id, masks)
        cur = estimate(cfg.estimator, self.policy, tokens, editable, mask_id, masks)
        weight = cur.weight * decided(tokens, editable, eos).float() if cfg.rollout.eos_filler else cur.weight
        loss = grpo_loss(cur.logp, cur.logp.detach(), ref.logp, advantages, weight, cfg.clip_eps, cfg.kl_coef)
        return StepOutcome(loss, float(rewards.mean()), means, texts, zero_spread_share(rewards, cfg.group_size))

    def training_step(self, batch, batch_idx):
        out = self.step_outcome(self.global_step)
        size = self.config.prompts_per_step * self.config.group_size
        # the card's last loss, reward and KL: means over the ranks (under DDP each draws its own rollouts)
        self.log("train/loss", out.loss.loss, prog_bar=True, batch_size=size, sync_dist=True)
        self.log("train/reward", out.reward_mean, prog_bar=True, batch_size=size, sync_dist=True)
        self.log("train/kl", out.loss.kl, prog_bar=True, batch_size=size, sync_dist=True)
        self.log("train/clip_fraction", out.loss.clip_fraction, batch_size=size)
        self.log("train/zero_spread", out.zero_spread, batch_size=size)
        for name, value in out.reward_means.items():
            self.log(f"reward/{name}", value, batch_size=size)
        return out.loss.loss

    def configure_optimizers(self):
        o = self.config.optim
        params = [p for p in self.policy.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        total_steps = self.config.trainer.max_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_cosine(s, o.warmup_steps, total_steps, o.min_lr_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class StepData(L.LightningDataModule):
    """One placeholder item per step: ``TuneModule`` draws its own canvases from the step number. Its
    ``maskable`` has one entry per rollout position a step generates, which the shared trainer's
    throughput counter reads (so the card's tokens/s counts generated tokens)."""

    def __init__(self, steps: int, tokens_per_step: int):
        super().__init__()
        self.steps, self.tokens_per_step = steps, tokens_per_step

    def train_dataloader(self):
        items = [{"maskable": torch.ones(self.tokens_per_step, dtype=torch.bool)}] * self.steps
        return torch.utils.data.DataLoader(items, batch_size=None)
