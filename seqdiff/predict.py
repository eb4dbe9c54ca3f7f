"""Distributed batch sampling through Lightning's predict loop.

Each request is a canvas (tokens, editable mask, seed). ``trainer.predict`` shards requests over ranks;
a writer appends each rank's results to its own part file; ``merge_parts`` returns them in input order.
Rows are seeded individually (``RowSeeds``), so the merged output equals a single-process run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from seqdiff.io import atomic_write_text
from seqdiff.model import Denoiser
from seqdiff.samplers.base import row_generators
from seqdiff.samplers.loop import Denoise


@dataclass(frozen=True)
class CanvasRequest:
    tokens: list[int]
    editable: list[bool]
    seed: int


class _Requests(Dataset):
    def __init__(self, requests: Sequence[CanvasRequest]):
        self.requests = requests

    def __len__(self) -> int:
        return len(self.requests)

    def __getitem__(self, index: int) -> dict:
        r = self.requests[index]
        return {"index": index, "tokens": r.tokens, "editable": r.editable, "seed": r.seed}


def collate_canvases(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad canvases; padding is neither editable nor attended."""
    length = max(len(i["tokens"]) for i in items)
    tokens = torch.full((len(items), length), pad_id, dtype=torch.long)
    editable = torch.zeros((len(items), length), dtype=torch.bool)
    for row, item in enumerate(items):
        n = len(item["tokens"])
        tokens[row, :n] = torch.tensor(item["tokens"])
        editable[row, :n] = torch.tensor(item["editable"])
    return {"index": torch.tensor([i["index"] for i in items]), "tokens": tokens, "editable": editable,
            "seed": torch.tensor([i["seed"] for i in items]), "length": torch.tensor([len(i["tokens"]) for i in items])}


class SamplingModule(L.LightningModule):
    """Runs one ``Denoise`` configuration in ``predict_step``."""

    def __init__(self, model: Denoiser, denoise: Denoise):
        super().__init__()
        self.model, self.denoise = model, denoise

    def predict_step(self, batch, batch_idx):
        seeds = row_generators(batch["seed"].tolist(), self.device)
        result = self.denoise(self.model, batch["tokens"], batch["editable"], seeds)
        return [{"index": int(i), "tokens": result.tokens[row, : int(n)].tolist(), "nfe": result.nfe}
                for row, (i, n) in enumerate(zip(batch["index"], batch["length"]))]


class PartWriter(BasePredictionWriter):
    """One JSON-lines part file per rank, written once at the end of the epoch (atomically)."""

    def __init__(self, directory: Path):
        super().__init__(write_interval="epoch")
        self.directory = Path(directory)

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
        rows = [row for batch in predictions for row in batch]
        atomic_write_text(self.directory / f"part-{trainer.global_rank:05d}.jsonl",
                          "".join(json.dumps(r) + "\n" for r in rows))


def merge_parts(directory: Path) -> list[dict]:
    """All part files' rows in input order; a request served twice (padding of the last shard) counts once."""
    rows: dict[int, dict] = {}
    for part in sorted(Path(directory).glob("part-*.jsonl")):
        for line in part.read_text().splitlines():
            row = json.loads(line)
            rows.setdefault(row["index"], row)
    return [rows[i] for i in sorted(rows)]


def predict(model: Denoiser, denoise: Denoise, requests: Sequence[CanvasRequest], out_dir: Path,
            batch_size: int = 8, **trainer_kwargs) -> list[dict]:
    """Sample every request with ``trainer.predict`` (any Lightning strategy) and return merged rows."""
    out_dir = Path(out_dir)
    loader = DataLoader(_Requests(requests), batch_size=batch_size, shuffle=False,
                        collate_fn=lambda items: collate_canvases(items, model.config.pad_id))
    trainer = L.Trainer(callbacks=[PartWriter(out_dir)], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, **trainer_kwargs)
    trainer.predict(SamplingModule(model, denoise), dataloaders=loader, return_predictions=False)
    trainer.strategy.barrier("seqdiff-predict-parts")  # every rank's part file is written before rank 0 reads
    if not trainer.is_global_zero:
        return []
    rows = merge_parts(out_dir)
    if len(rows) != len(requests):
        missing = sorted(set(range(len(requests))) - {r["index"] for r in rows})
        raise RuntimeError(f"predict: part files in {out_dir} lack requests {missing[:10]}")
    return rows
