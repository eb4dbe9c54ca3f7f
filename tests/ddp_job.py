"""Run by test_training.py as its own process: Lightning's DDP launcher re-executes this script per rank."""

import json
import sys
from pathlib import Path

import torch

from seqdiff.checkpoint import from_pretrained
from seqdiff.predict import CanvasRequest, predict
from seqdiff.samplers import AncestralSampler, Denoise
from seqdiff.train import load_config, train


def main(out: Path) -> None:
    config = load_config(None, ["domain=toy", "model.d_model=32", "model.n_layers=1", "model.n_heads=4",
                                "trainer.max_steps=4", "trainer.batch_size=4", "trainer.val_every=4",
                                "trainer.val_batches=1", "trainer.progress=false", "trainer.accelerator=cpu",
                                "trainer.devices=2", "trainer.strategy=ddp", f"trainer.out_dir={out / 'run'}"])
    folder = train(config)
    torch.distributed.barrier()
    model = from_pretrained(folder).model
    mask = model.config.mask_id
    requests = [CanvasRequest(tokens=[4] + [mask] * n + [5], editable=[False] + [True] * n + [False], seed=i)
                for i, n in enumerate([3, 9, 5, 7, 4, 8, 6])]
    denoise = Denoise(AncestralSampler(steps=4), banned_ids=[model.config.pad_id])
    distributed = predict(model, denoise, requests, out / "parts", batch_size=2, accelerator="cpu", devices=2,
                          strategy="ddp")
    if torch.distributed.get_rank() == 0:
        single = predict(model, denoise, requests, out / "single", batch_size=3, accelerator="cpu", devices=1)
        steps = from_pretrained(folder).meta["steps"]
        (out / "result.json").write_text(json.dumps({
            "train_steps": steps, "world_size": torch.distributed.get_world_size(),
            "distributed": [r["tokens"] for r in distributed], "single": [r["tokens"] for r in single]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
