"""Run by test_tune.py as its own process: ``seqdiff tune`` under 2-process CPU DDP (gloo) on the toy
domain; Lightning's DDP launcher re-executes this script per rank. Each rank records the rollouts it drew
(texts, mean reward) and a digest of its final weights; rank 0 writes ``result.json``."""

import hashlib
import json
import sys
from pathlib import Path

import torch

from seqdiff.checkpoint import from_pretrained
from seqdiff.train import TrainerConfig
from seqdiff.tune.config import RewardTerm, RolloutConfig, TuneConfig
from seqdiff.tune.run import prepare, tune


def main(policy: Path, out: Path) -> None:
    config = TuneConfig(policy=str(policy), rewards=(RewardTerm("letter_fraction", options={"letter": "a"}),),
                        group_size=4, prompts_per_step=1, rollout=RolloutConfig(length=8, steps=3, num_prompts=4),
                        trainer=TrainerConfig(max_steps=3, val_every=3, log_every=1, out_dir=str(out / "run"),
                                              progress=False, accelerator="cpu", devices=2, strategy="ddp"))
    prepared = prepare(config)
    module, drawn = prepared.module, {}
    step_outcome = module.step_outcome

    def recording(step: int):
        outcome = step_outcome(step)
        drawn[step] = {"texts": outcome.texts, "reward": outcome.reward_mean}
        return outcome

    module.step_outcome = recording
    folder = tune(config, prepared=prepared)
    rank = torch.distributed.get_rank()
    weights = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in module.policy.parameters()))
    (out / f"rank{rank}.json").write_text(json.dumps({"rollouts": drawn, "weights": weights.hexdigest()}))
    torch.distributed.barrier()
    if rank == 0:
        ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
        (out / "result.json").write_text(json.dumps({
            "world_size": torch.distributed.get_world_size(), "card_steps": from_pretrained(folder).meta["steps"],
            "card": (folder / "README.md").read_text(),
            "reward_last": from_pretrained(folder).meta["reward_last"], "ranks": ranks}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
