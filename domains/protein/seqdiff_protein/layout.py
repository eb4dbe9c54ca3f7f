"""A parsed motif specification (``ContigSpec``) and the per-design layouts sampled from it.

Segment order is the output order. Scaffold lengths are sampled per design, uniformly over all length
tuples whose total lies in ``--length`` (exactly RFdiffusion's rejection sampling, but computed by
counting, so an impossible ``--length`` fails at once and a narrow one never spins). Design ``i`` of a run
with seed ``s`` draws everything from ``design_seed(s, i)``, so any single design is reproducible.

All indices written to outputs are 0-based and inclusive into the designed sequence (EvoDiff/DPLM
convention); PDB residue numbers appear only in ``con_ref_pdb_idx``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from seqdiff_protein.contig import (
    EXAMPLE, MAX_LENGTH, MotifError, PdbMotif, Scaffold, Segment, parse_contig, parse_length, parse_redesign)


@dataclass(frozen=True)
class MotifPlacement:
    """Where one motif segment landed in a design (0-based inclusive)."""

    segment: str
    start_idx0: int
    end_idx0: int
    sequence: str
    pdb_residues: tuple[tuple[str, int], ...] = ()  # (chain, resnum) per residue, PDB motifs only

    def to_dict(self) -> dict:
        return {"segment": self.segment, "start_idx0": self.start_idx0, "end_idx0": self.end_idx0,
                "sequence": self.sequence, "pdb_residues": [f"{c}{r}" for c, r in self.pdb_residues]}


@dataclass(frozen=True)
class Layout:
    """One design's sampled contig: the template (``-`` = generated) and the motif index mapping."""

    index: int
    seed: int
    contig: str  # sampled, e.g. "12/A163-181/25"
    template: str  # residues with "-" at generated positions
    fixed: tuple[bool, ...]  # True = residue kept (motif, not redesigned)
    placements: tuple[MotifPlacement, ...]
    inpaint_seq: tuple[int, ...] = ()  # 0-based indices of motif residues whose identity is redesigned

    @property
    def length(self) -> int:
        return len(self.template)

    @property
    def motif_start_idxs(self) -> list[int]:
        return [p.start_idx0 for p in self.placements]

    @property
    def motif_end_idxs(self) -> list[int]:
        return [p.end_idx0 for p in self.placements]

    @property
    def fixed_idx0(self) -> list[int]:
        return [i for i, f in enumerate(self.fixed) if f]

    def mapping(self) -> dict:
        """RFdiffusion ``.trb``-style mapping (JSON-safe)."""
        ref, hal = [], []
        for p in self.placements:
            for k, (chain, resnum) in enumerate(p.pdb_residues):
                ref.append([chain, resnum])
                hal.append(p.start_idx0 + k)
        return {"index": self.index, "seed": self.seed, "sampled_contig": self.contig, "length": self.length,
                "motif_start_idxs": self.motif_start_idxs, "motif_end_idxs": self.motif_end_idxs,
                "con_ref_pdb_idx": ref, "con_hal_idx0": hal, "inpaint_seq": list(self.inpaint_seq),
                "fixed_idx0": self.fixed_idx0, "motifs": [p.to_dict() for p in self.placements]}


def design_seed(seed: int, index: int) -> int:
    """The seed of design ``index`` in a run seeded ``seed``: a stable 63-bit mix of both (numpy SeedSequence)."""
    import numpy as np

    state = np.random.SeedSequence([int(seed) % 2**63, int(index)]).generate_state(1, np.uint64)
    return int(state[0]) & (2**63 - 1)


@dataclass(frozen=True)
class ContigSpec:
    segments: tuple[Segment, ...]
    length: tuple[int, int] | None = None  # total-length constraint (inclusive)
    redesign: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    source: str = ""  # the string as given
    max_length: int = MAX_LENGTH  # residues a design may have: the model's position limit

    # ----- parsing -------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, motif: str | None = None, length: str | int | None = None, redesign: str | None = None,
              max_length: int = MAX_LENGTH) -> "ContigSpec":
        """Parse ``--motif``/``--length``/``--redesign``; at least one of motif and length is needed. Every
        range is checked against ``max_length`` at both ends."""
        if motif is None or not str(motif).strip():
            if length is None:
                raise MotifError("give --motif or --length; e.g. --length 100-150 for unconditional design, or "
                                 f"--motif {EXAMPLE!r}")
            lo, hi = parse_length(length, max_length)
            spec = cls(segments=(Scaffold(lo, hi),), length=None, source=f"{lo}-{hi}" if lo != hi else str(lo),
                       max_length=max_length)
        else:
            spec = cls(segments=parse_contig(str(motif), max_length), source=str(motif), max_length=max_length)
            if length is not None:
                spec = replace(spec, length=parse_length(length, max_length))
        if redesign:
            spec = replace(spec, redesign=parse_redesign(redesign, spec.segments))
        spec.check()
        return spec

    def __str__(self) -> str:
        return "/".join(str(s) for s in self.segments)

    @property
    def needs_pdb(self) -> bool:
        return any(isinstance(s, PdbMotif) for s in self.segments)

    @property
    def resolved(self) -> bool:
        return all(s.sequence is not None for s in self.segments if isinstance(s, PdbMotif))

    @property
    def has_motif(self) -> bool:
        return any(not isinstance(s, Scaffold) for s in self.segments)

    def contig_bounds(self) -> tuple[int, int]:
        return sum(s.min_len for s in self.segments), sum(s.max_len for s in self.segments)

    def bounds(self) -> tuple[int, int]:
        """The total lengths a design can have (contig range ∩ --length)."""
        lo, hi = self.contig_bounds()
        if self.length is not None:
            lo, hi = max(lo, self.length[0]), min(hi, self.length[1])
        return lo, hi

    def check(self) -> None:
        lo_c, hi_c = self.contig_bounds()
        lo, hi = self.bounds()
        if self.length is not None and lo > hi:
            a, b = self.length
            raise MotifError(
                f"impossible length: --length {a}-{b} but contig {str(self)!r} makes {lo_c}-{hi_c} residues; "
                f"use e.g. --length {max(lo_c, 1)}-{hi_c}, or widen the scaffold ranges", field="length")
        if hi < 1:
            raise MotifError(f"impossible length: contig {str(self)!r} makes 0 residues; e.g. {EXAMPLE!r}")
        if hi > self.max_length:
            raise MotifError(f"contig {str(self)!r} makes up to {hi} residues, over the model's {self.max_length}-"
                             f"residue limit; narrow its ranges or bound the total, e.g. --length "
                             f"{max(lo, 1)}-{max(min(self.max_length, hi), max(lo, 1))}",
                             field="motif" if self.has_motif else "length")

    # ----- structure -----------------------------------------------------------------------------------
    def with_structure(self, pdb: str | Path | None) -> "ContigSpec":
        """Fill PDB motif sequences from ``pdb`` (PDB or mmCIF via Biopython)."""
        if not self.needs_pdb:
            return self
        first = next(s for s in self.segments if isinstance(s, PdbMotif))
        if pdb is None:
            raise MotifError(f"segment {str(first)!r} copies residues from a structure file, so --pdb is "
                             f"required: e.g. --pdb 5TPN.pdb --motif '10-40/A163-181/10-40', or give the residues "
                             f"literally: --motif '10-40/seq:EVNKIKSALLSTNKAVVSL/10-40'")
        from seqdiff_protein.structure import read_structure

        residues = read_structure(pdb)
        segments = []
        for s in self.segments:
            if isinstance(s, PdbMotif):
                letters = []
                for chain, resnum in s.residue_ids():
                    if (chain, resnum) not in residues:
                        raise MotifError(_missing_residue(s, chain, resnum, residues, pdb))
                    letters.append(residues[(chain, resnum)])
                s = replace(s, sequence="".join(letters))
            segments.append(s)
        return replace(self, segments=tuple(segments))

    # ----- sampling ------------------------------------------------------------------------------------
    def layout(self, seed: int, index: int) -> Layout:
        """Design ``index``'s segment lengths, drawn from ``design_seed(seed, index)``."""
        if not self.resolved:
            raise MotifError("PDB motif residues are not loaded: call with_structure(pdb) first")
        dseed = design_seed(seed, index)
        rng = random.Random(dseed)
        lengths = self._sample_lengths(rng)
        template, fixed, placements, parts, inpaint = [], [], [], [], []
        pos = 0
        for seg, n in zip(self.segments, lengths):
            if isinstance(seg, Scaffold):
                template.append("-" * n)
                fixed += [False] * n
                parts.append(str(n))
            else:
                seq = seg.sequence
                ids = tuple(seg.residue_ids()) if isinstance(seg, PdbMotif) else ()
                keep = [rid not in self.redesign for rid in ids] if ids else [True] * len(seq)
                template.append(seq)
                fixed += keep
                inpaint += [pos + k for k, kept in enumerate(keep) if not kept]
                placements.append(MotifPlacement(str(seg), pos, pos + len(seq) - 1, seq, ids))
                parts.append(str(seg))
            pos += n
        return Layout(index=index, seed=dseed, contig="/".join(parts), template="".join(template),
                      fixed=tuple(fixed), placements=tuple(placements), inpaint_seq=tuple(inpaint))

    def _sample_lengths(self, rng: random.Random) -> list[int]:
        """Uniform over scaffold-length tuples with total in bounds (RFdiffusion's distribution), exactly."""
        lo, hi = self.bounds()
        ranges = [(s.min_len, s.max_len) for s in self.segments]
        # ways[k][t]: number of length tuples for segments k.. summing to t
        ways: list[dict[int, int]] = [dict() for _ in range(len(ranges) + 1)]
        ways[-1] = {0: 1}
        for k in range(len(ranges) - 1, -1, -1):
            a, b = ranges[k]
            nxt = ways[k + 1]
            cur: dict[int, int] = {}
            for t, w in nxt.items():
                for n in range(a, b + 1):
                    if t + n <= hi:
                        cur[t + n] = cur.get(t + n, 0) + w
            ways[k] = cur
        totals = [(t, w) for t, w in sorted(ways[0].items()) if lo <= t <= hi]
        if not totals:
            raise MotifError(f"impossible length for contig {str(self)!r}")
        remaining = _weighted(rng, totals)
        out = []
        for k, (a, b) in enumerate(ranges):
            options = [(n, ways[k + 1].get(remaining - n, 0)) for n in range(a, b + 1)]
            n = _weighted(rng, [(n, w) for n, w in options if w])
            out.append(n)
            remaining -= n
        return out


def _missing_residue(seg, chain, resnum, residues, pdb) -> str:
    have = sorted(r for c, r in residues if c == chain)
    if have:
        return (f"segment {str(seg)!r}: residue {chain}{resnum} is not in {str(pdb)!r} (chain {chain} has "
                f"residues {have[0]}-{have[-1]}); e.g. {chain}{have[0]}-{min(have[0] + 9, have[-1])}")
    chains = sorted({c for c, _ in residues})
    first = min(r for c, r in residues if c == chains[0])
    return (f"segment {str(seg)!r}: chain {chain} is not in {str(pdb)!r} (it has chains {', '.join(chains)}); "
            f"e.g. {chains[0]}{first}-{first + 9}")


def _weighted(rng: random.Random, items: list[tuple[int, int]]) -> int:
    total = sum(w for _, w in items)
    r = rng.randrange(total)
    for value, w in items:
        if r < w:
            return value
        r -= w
    raise AssertionError("unreachable")


