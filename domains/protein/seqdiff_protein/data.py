"""Protein training data: FASTA (plain or gzip) through Biopython, a hash split, length filter and crops.

Split (documented in the model card): a sequence goes to ``validation`` when
int(md5(sequence), 16) % 100 < 2 (the rule ../shared/data/proteins/README.md suggests), to ``test`` when
that value is 2 or 3, and to ``train`` otherwise. Exact duplicates are already removed in that data.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from seqdiff_protein.alphabet import frame

SPLITS = ("train", "validation", "test")
DEFAULT_DATA = "../shared/data/proteins"


@dataclass(frozen=True)
class ProteinDataConfig:
    paths: tuple[str, ...] = (DEFAULT_DATA,)  # FASTA files or folders holding *.fasta[.gz]
    max_length: int = field(default=256, metadata={"min": 1, "max": 1022})  # longer sequences are randomly cropped
    min_length: int = field(default=20, metadata={"min": 1, "max": 1022})
    max_sequences: int | None = field(default=None, metadata={"min": 1})  # per split, for quick runs

    @classmethod
    def from_dict(cls, data: dict) -> "ProteinDataConfig":
        """The ``data:`` section of a training YAML (``paths`` may be one string)."""
        from seqdiff.config import from_dict

        if isinstance(data, dict) and isinstance(data.get("paths"), str):
            data = {**data, "paths": [data["paths"]]}
        return from_dict(cls, data)


def split_of(sequence: str) -> str:
    bucket = int(hashlib.md5(sequence.encode()).hexdigest(), 16) % 100
    return "validation" if bucket < 2 else "test" if bucket < 4 else "train"


def fasta_files(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.name.endswith((".fasta", ".fasta.gz", ".fa", ".fa.gz"))
                            and p.name != "proteins_mini.fasta")
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"protein data path {raw!r} does not exist (give FASTA files or folders)")
    if not files:
        raise FileNotFoundError(f"no FASTA files under {list(paths)}")
    return files


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """(id, sequence) records, upper-cased; unreadable files raise ValueError naming the file."""
    from Bio import SeqIO

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt") as handle:
            return [(r.id, str(r.seq).upper()) for r in SeqIO.parse(handle, "fasta")]
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"cannot read FASTA file {str(path)!r}: {err}") from None


def iter_fasta(path: Path):
    """Fast (id, SEQUENCE) iteration (Biopython's SimpleFastaParser; gzip by name); ValueError names the file."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt") as handle:
            for title, seq in SimpleFastaParser(handle):
                yield title.split(None, 1)[0] if title else "", seq.upper().replace("*", "")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"cannot read FASTA file {str(path)!r}: {err}") from None


def find_data(relative: str | Path) -> Path | None:
    """``relative`` found from the working directory or one of its parents (so a notebook in a subfolder of
    the project finds the project's data); ``None`` if nowhere. Absolute paths are only checked."""
    relative = Path(relative).expanduser()
    if relative.is_absolute():
        return relative if relative.exists() else None
    cwd = Path.cwd()
    return next((p.resolve() for p in (base / relative for base in (cwd, *cwd.parents)) if p.exists()), None)


def reference_sequences(n: int = 100, max_length: int | None = 256, split: str = "test", min_length: int = 20,
                        paths: tuple[str, ...] | None = None, standard_only: bool = True) -> list[str]:
    """The first ``n`` natural sequences of ``split`` (files in order), ``min_length <= L <= max_length``,
    made only of the 20 standard residues when ``standard_only``. ``paths`` default: ``find_data()``."""
    from seqdiff_protein.alphabet import STANDARD_RESIDUES

    paths = paths or (str(find_data(DEFAULT_DATA) or DEFAULT_DATA),)
    allowed = set(STANDARD_RESIDUES)
    out: list[str] = []
    for path in fasta_files(paths):
        for _, seq in iter_fasta(path):
            if len(seq) < min_length or (max_length and len(seq) > max_length) or split_of(seq) != split:
                continue
            if standard_only and not set(seq) <= allowed:
                continue
            out.append(seq)
            if len(out) >= n:
                return out
    return out


def load_split(config: ProteinDataConfig, split: str) -> list[str]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    sequences = []
    for path in fasta_files(config.paths):
        for _, seq in read_fasta(path):
            if len(seq) >= config.min_length and split_of(seq) == split:
                sequences.append(seq)
                if config.max_sequences and len(sequences) >= config.max_sequences:
                    return sequences
    return sequences


class ProteinDataset(Dataset):
    """``<cls> residues <eos>`` examples; sequences over ``max_length`` get a random crop (no cls/eos at a
    cut end, so the model does not learn that every protein ends after max_length residues)."""

    def __init__(self, sequences: list[str], tokenizer, max_length: int):
        self.sequences, self.tokenizer, self.max_length = sequences, tokenizer, max_length

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seq = self.sequences[index]
        ids = frame(self.tokenizer, seq)
        limit = self.max_length + 2
        if len(ids) > limit:
            start = int(torch.randint(0, len(ids) - limit + 1, ()))
            ids = ids[start:start + limit]
        tokens = torch.tensor(ids, dtype=torch.long)
        return {"tokens": tokens, "maskable": torch.ones_like(tokens, dtype=torch.bool)}
