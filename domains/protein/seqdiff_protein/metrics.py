"""Sequence metrics, the repeat guard, novelty against training data, and baselines.

* Repeat metrics: longest homopolymer run and the fraction of the most common residue.
* Repeat guard (a ``Denoise`` validator, DPLM-style): positions of a residue that fills more than
  ``max_fraction`` of a sequence, and of homopolymer runs longer than ``max_run``, are re-masked and
  resampled, for at most ``max_remask_rounds`` rounds.
* Pairwise diversity: mean (1 - identity) over design pairs, identity = identical aligned positions of a
  global alignment (Biopython PairwiseAligner, BLOSUM62, gap open -11 / extend -1) divided by the longer length.
* Identity to the nearest training sequence (approximate, alignment-free shortlist): training-split
  sequences are indexed by their 5-mers; the ``shortlist`` sequences sharing most 5-mers with a design are
  aligned (local alignment, same scoring) and identity = identical aligned positions / design length.
  A design sharing no 5-mer with any indexed sequence gets identity 0 (below ~25%, i.e. unrelated).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from seqdiff_protein.alphabet import ESM_TOKENS, STANDARD_RESIDUES

# Background residue frequencies (UniProtKB/Swiss-Prot release statistics), for the random baseline.
BACKGROUND = {"A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75, "G": 7.07, "H": 2.27,
              "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86, "P": 4.70, "S": 6.56, "T": 5.34, "W": 1.08,
              "Y": 2.92, "V": 6.87}


def longest_run(seq: str) -> int:
    best = run = 0
    prev = None
    for ch in seq:
        run = run + 1 if ch == prev else 1
        prev = ch
        best = max(best, run)
    return best


def top_residue(seq: str) -> tuple[str, float]:
    if not seq:
        return "", float("nan")
    ch, n = Counter(seq).most_common(1)[0]
    return ch, n / len(seq)


def repeat_metrics(seq: str) -> dict:
    ch, frac = top_residue(seq)
    return {"longest_run": longest_run(seq), "top_residue": ch, "top_residue_fraction": round(frac, 4)}


@dataclass(frozen=True)
class RepeatGuard:
    """Denoise validator: canvas [B, L] -> positions to re-mask. Only residue tokens are looked at."""

    max_fraction: float = 0.25
    max_run: int = 6
    mask_id: int = 32

    def __call__(self, x: Tensor) -> Tensor:
        bad = torch.zeros_like(x, dtype=torch.bool)
        residue_ids = torch.tensor([ESM_TOKENS.index(c) for c in STANDARD_RESIDUES], device=x.device)
        is_res = torch.isin(x, residue_ids)
        length = is_res.sum(-1).clamp(min=1)
        for rid in residue_ids.tolist():
            hit = x.eq(rid)
            over = hit.sum(-1) > self.max_fraction * length
            bad |= hit & over[:, None]
        # homopolymer runs longer than max_run: mark the whole run
        same = torch.zeros_like(bad)
        same[:, 1:] = x[:, 1:].eq(x[:, :-1]) & is_res[:, 1:]
        for b in range(x.shape[0]):
            row = same[b].tolist()
            start = None
            for i in range(len(row) + 1):
                if i < len(row) and row[i]:
                    if start is None:
                        start = i - 1
                elif start is not None:
                    if i - start > self.max_run:
                        bad[b, start:i] = True
                    start = None
        return bad & is_res


def guard_problems(seq: str, guard: RepeatGuard | None = None) -> list:
    """The repeat guard as a text check: each flagged stretch of ``seq`` is one problem."""
    from seqdiff.domain import Problem

    guard = guard or RepeatGuard()
    ids = [ESM_TOKENS.index(c) if c in ESM_TOKENS else ESM_TOKENS.index("<unk>") for c in seq]
    flagged = guard(torch.tensor([ids], dtype=torch.long))[0].tolist() if ids else []
    problems, start = [], None
    for i, bad in enumerate(flagged + [False]):
        if bad and start is None:
            start = i
        elif not bad and start is not None:
            problems.append(Problem(start, i, f"repeat: {seq[start:i][:12]} (max run {guard.max_run}, "
                                              f"max residue fraction {guard.max_fraction})"))
            start = None
    return problems


def alphabet_problems(seq: str) -> list:
    """Each character that is not one of the 20 standard residues."""
    from seqdiff.domain import Problem

    return [Problem(i, i + 1, f"{c!r} is not a standard residue") for i, c in enumerate(seq)
            if c not in STANDARD_RESIDUES]


def alignment_identity(a: str, b: str, mode: str = "global", denominator: str = "max") -> float:
    if not a or not b:
        return 0.0
    aligner = _aligner(mode)
    aln = aligner.align(a, b)[0]
    same = aln.counts().identities
    denom = max(len(a), len(b)) if denominator == "max" else len(a)
    return same / denom


_ALIGNERS: dict = {}


def _aligner(mode: str):
    if mode not in _ALIGNERS:
        from Bio.Align import PairwiseAligner, substitution_matrices

        aligner = PairwiseAligner(mode=mode, substitution_matrix=substitution_matrices.load("BLOSUM62"),
                                  open_gap_score=-11.0, extend_gap_score=-1.0)
        _ALIGNERS[mode] = aligner
    return _ALIGNERS[mode]


def pairwise_diversity(seqs: Sequence[str], max_pairs: int = 2000, seed: int = 0) -> float:
    """Mean 1 - global identity over design pairs (a random subset of ``max_pairs`` pairs if more)."""
    pairs = [(i, j) for i in range(len(seqs)) for j in range(i + 1, len(seqs))]
    if not pairs:
        return float("nan")
    if len(pairs) > max_pairs:
        pairs = random.Random(seed).sample(pairs, max_pairs)
    return float(np.mean([1 - alignment_identity(seqs[i], seqs[j]) for i, j in pairs]))


_CODE = np.full(256, -1, dtype=np.int64)
for _k, _c in enumerate(STANDARD_RESIDUES):
    _CODE[ord(_c)] = _k


class NoveltyIndex:
    """5-mer index of reference (training) sequences for approximate nearest-sequence identity."""

    def __init__(self, sequences: Sequence[str], k: int = 5, shortlist: int = 3, description: str = ""):
        self.sequences, self.k, self.shortlist = list(sequences), k, shortlist
        self.description = description or f"{len(self.sequences)} sequences"
        joined = "X".join(self.sequences)  # X is not a standard residue: no k-mer spans two sequences
        kmers, starts = self._kmers(joined, with_positions=True)
        offsets = np.cumsum([0] + [len(q) + 1 for q in self.sequences])
        owners = np.searchsorted(offsets, starts, side="right") - 1
        pairs = _sorted_unique(kmers * len(self.sequences) + owners)  # one entry per (k-mer, sequence)
        self.codes = pairs // max(1, len(self.sequences))
        self.owners = (pairs % max(1, len(self.sequences))).astype(np.int32)

    def _kmers(self, seq: str, with_positions: bool = False):
        arr = _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
        if len(arr) < self.k:
            empty = np.zeros(0, np.int64)
            return (empty, empty) if with_positions else empty
        windows = np.lib.stride_tricks.sliding_window_view(arr, self.k)
        valid = (windows >= 0).all(-1)
        codes = np.zeros(len(windows), np.int64)
        for j in range(self.k):
            codes = codes * 20 + windows[:, j]
        if with_positions:
            return codes[valid], np.nonzero(valid)[0]
        return codes[valid]

    def nearest(self, seq: str) -> tuple[float, int | None]:
        """(identity to the nearest indexed sequence, its index)."""
        kmers = _sorted_unique(self._kmers(seq))
        if not len(kmers) or not len(self.codes):
            return 0.0, None
        lo = np.searchsorted(self.codes, kmers, side="left")
        hi = np.searchsorted(self.codes, kmers, side="right")
        hits = [self.owners[a:b] for a, b in zip(lo, hi) if b > a]
        if not hits:
            return 0.0, None
        counts = np.bincount(np.concatenate(hits))
        candidates = np.argsort(-counts, kind="stable")[: self.shortlist]
        best, best_idx = 0.0, None
        for c in candidates:
            if counts[c] == 0:
                break
            ident = alignment_identity(seq, self.sequences[int(c)], mode="local", denominator="query")
            if ident > best:
                best, best_idx = ident, int(c)
        return best, best_idx


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for int arrays via sort (np.unique's hash path is far slower on large int64 arrays)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def random_like(template: str, fixed: Sequence[bool], rng: random.Random) -> str:
    """Random baseline: generated positions drawn i.i.d. from background frequencies; kept motif residues stay."""
    letters = list(BACKGROUND)
    weights = list(BACKGROUND.values())
    return "".join(t if f else rng.choices(letters, weights)[0] for t, f in zip(template, fixed))


def scrambled_motif(design: str, placements, rng: random.Random) -> str:
    """Scrambled-motif baseline: the design with each motif segment's residues shuffled in place (same
    composition, motif order destroyed). Without motifs the whole design is shuffled."""
    seq = list(design)
    spans = [(p.start_idx0, p.end_idx0) for p in placements] or [(0, len(seq) - 1)]
    for a, b in spans:
        part = seq[a:b + 1]
        for _ in range(10):  # avoid returning the motif unchanged when a shuffle happens to be the identity
            rng.shuffle(part)
            if part != seq[a:b + 1] or len(set(part)) < 2:
                break
        seq[a:b + 1] = part
    return "".join(seq)
