"""Batching for training: pad examples to the batch's longest, deterministic per-epoch shuffling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler


def collate(examples: list[dict[str, Tensor]], pad_id: int) -> dict[str, Tensor]:
    """Right-pad ``tokens`` with ``pad_id``; padded positions are not maskable (and not attended)."""
    length = max(len(e["tokens"]) for e in examples)
    tokens = torch.full((len(examples), length), pad_id, dtype=torch.long)
    maskable = torch.zeros((len(examples), length), dtype=torch.bool)
    for row, example in enumerate(examples):
        n = len(example["tokens"])
        tokens[row, :n] = example["tokens"]
        maskable[row, :n] = example.get("maskable", torch.ones(n, dtype=torch.bool))
    return {"tokens": tokens, "maskable": maskable}


class EpochShuffle(Sampler[int]):
    """A permutation that depends only on (seed, epoch): resuming or re-running sees the same order.
    Lightning calls ``set_epoch`` on it (and wraps it for distributed runs)."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


@dataclass(frozen=True)
class LoaderConfig:
    batch_size: int = 32
    num_workers: int = 0
    seed: int = 0


class SequenceDataModule(L.LightningDataModule):
    """Wraps a domain's train/validation datasets; the domain decides what an example is."""

    def __init__(self, train: Dataset, validation: Dataset | None, pad_id: int, loader: LoaderConfig):
        super().__init__()
        self.train, self.validation, self.pad_id, self.loader = train, validation, pad_id, loader

    def _loader(self, dataset: Dataset, sampler: Sampler | None) -> DataLoader:
        return DataLoader(dataset, batch_size=self.loader.batch_size, sampler=sampler,
                          num_workers=self.loader.num_workers, collate_fn=lambda b: collate(b, self.pad_id),
                          persistent_workers=self.loader.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, EpochShuffle(len(self.train), self.loader.seed))

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.validation is None else self._loader(self.validation, None)
