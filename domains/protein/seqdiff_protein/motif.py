"""Motif specifications: RFdiffusion contig strings (verbatim), ``seq:`` literal motifs, ``--length`` and
``--redesign`` (RFdiffusion ``inpaint_seq`` syntax).

Grammar (see ``seqdiff design-protein --help``)::

    motif    := [ "contigmap.contigs=" ] [ "[" ] chain [ "]" ]        (one chain; multi-chain is rejected)
    chain    := segment ( SEP segment )* [ "/0" ]                      SEP := "/" | ","
    segment  := INT | INT "-" INT                                      generated residues (0 allowed)
              | CHAIN INT [ "-" INT ]                                  residues of --pdb, author numbering, inclusive
              | "seq:" AA+                                             literal motif (no structure file needed)

Segment order is the output order. Scaffold lengths are sampled per design, uniformly over all length
tuples whose total lies in ``--length`` (exactly RFdiffusion's rejection sampling, but computed by
counting, so an impossible ``--length`` fails at once and a narrow one never spins). Design ``i`` of a run
with seed ``s`` draws everything from ``design_seed(s, i)``, so any single design is reproducible.

All indices written to outputs are 0-based and inclusive into the designed sequence (EvoDiff/DPLM
convention); PDB residue numbers appear only in ``con_ref_pdb_idx``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from seqdiff_protein.alphabet import STANDARD_RESIDUES

MAX_LENGTH = 1022  # residues: ESM's limit (1024 tokens with <cls> and <eos>)

EXAMPLES = ("10-40/A163-181/10-40 (with --pdb 5TPN.pdb)",
            "5-20/seq:FSLFDKDGDGTITTKELGTV/10-25",
            "100-150 (unconditional)")
EXAMPLE = "5-20/seq:FSLFDKDGDGTITTKELGTV/10-25"


class MotifError(ValueError):
    """A bad motif, length or redesign specification; the message names the bad token and shows a fix."""


@dataclass(frozen=True)
class Scaffold:
    """Generated residues; the length is drawn from [lo, hi] per design."""

    lo: int
    hi: int

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"

    @property
    def min_len(self) -> int:
        return self.lo

    @property
    def max_len(self) -> int:
        return self.hi


@dataclass(frozen=True)
class PdbMotif:
    """Residues ``start..end`` (inclusive, author numbering) of ``chain`` of the --pdb file; ``sequence`` is
    filled by ``ContigSpec.with_structure``."""

    chain: str
    start: int
    end: int
    sequence: str | None = None

    def __str__(self) -> str:
        return f"{self.chain}{self.start}-{self.end}"

    @property
    def min_len(self) -> int:
        return self.end - self.start + 1

    max_len = min_len

    def residue_ids(self) -> list[tuple[str, int]]:
        return [(self.chain, r) for r in range(self.start, self.end + 1)]


@dataclass(frozen=True)
class SeqMotif:
    sequence: str

    def __str__(self) -> str:
        return f"seq:{self.sequence}"

    @property
    def min_len(self) -> int:
        return len(self.sequence)

    max_len = min_len


Segment = Scaffold | PdbMotif | SeqMotif


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

    # ----- parsing -------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, motif: str | None = None, length: str | int | None = None,
              redesign: str | None = None) -> "ContigSpec":
        """Parse ``--motif``/``--length``/``--redesign``; at least one of motif and length is needed."""
        if motif is None or not str(motif).strip():
            if length is None:
                raise MotifError("give --motif or --length; e.g. --length 100-150 for unconditional design, or "
                                 f"--motif {EXAMPLE!r}")
            lo, hi = parse_length(length)
            spec = cls(segments=(Scaffold(lo, hi),), length=None, source=f"{lo}-{hi}" if lo != hi else str(lo))
        else:
            spec = cls(segments=parse_contig(str(motif)), source=str(motif))
            if length is not None:
                spec = replace(spec, length=parse_length(length))
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
                f"use e.g. --length {max(lo_c, 1)}-{hi_c}, or widen the scaffold ranges")
        if hi < 1:
            raise MotifError(f"impossible length: contig {str(self)!r} makes 0 residues; e.g. {EXAMPLE!r}")
        if lo > MAX_LENGTH:
            raise MotifError(f"impossible length: contig {str(self)!r} makes at least {lo} residues, over the "
                             f"{MAX_LENGTH}-residue limit (ESM's 1024 tokens); e.g. --length 100-{MAX_LENGTH}")

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


# ----- parsing helpers ------------------------------------------------------------------------------------
_INT = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")
_CHAIN = re.compile(r"^([A-Za-z])(-?\d+)(?:-(-?\d+))?$")
_SEQ = re.compile(r"^seq:(.*)$", re.IGNORECASE)


def _unwrap(text: str, key: str) -> str:
    text = text.strip().strip("'\"").strip()
    if text.startswith(key + "="):
        text = text[len(key) + 1:].strip().strip("'\"").strip()
    if text.startswith("[") != text.endswith("]"):
        raise MotifError(f"unbalanced brackets in {text!r}; e.g. 'contigmap.contigs=[10-40/A163-181/10-40]'")
    if text.startswith("["):
        text = text[1:-1].strip()
    return text


def parse_contig(text: str) -> tuple[Segment, ...]:
    body = _unwrap(text, "contigmap.contigs")
    if not body:
        raise MotifError(f"empty motif {text!r}; e.g. --motif {EXAMPLE!r} or --length 100-150")
    chains = body.split()
    if len(chains) > 1:
        raise MotifError(f"multi-chain contigs are not supported yet: chain {chains[1]!r} (after a space) in "
                         f"{text!r}; design one chain, e.g. {chains[0].removesuffix('/0')!r}")
    tokens = re.split(r"[/,]", chains[0])
    if len(tokens) > 1 and tokens[-1].strip() == "0":
        tokens = tokens[:-1]  # "/0" terminates a chain in RFdiffusion; harmless for a single chain
    segments = []
    for raw in tokens:
        segments.append(parse_segment(raw.strip(), text))
    return tuple(segments)


def parse_segment(token: str, context: str = "") -> Segment:
    where = f" in {context!r}" if context and context != token else ""
    if not token:
        raise MotifError(f"empty segment{where} (two separators in a row?); e.g. {EXAMPLE!r}")
    if _INT.match(token):
        n = int(token)
        return Scaffold(n, n)
    m = _RANGE.match(token)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise MotifError(f"segment {token!r}{where}: range {lo}-{hi} is reversed; e.g. {hi}-{lo}")
        return Scaffold(lo, hi)
    m = _SEQ.match(token)
    if m:
        seq = m.group(1).strip()
        if not seq:
            raise MotifError(f"segment {token!r}{where} has no residues; e.g. 'seq:FSLFDKDGDG'")
        upper = seq.upper()
        for k, ch in enumerate(upper):
            if ch not in STANDARD_RESIDUES:
                fixed = "".join(c for c in upper if c in STANDARD_RESIDUES) or "FSLFDKDGDG"
                raise MotifError(f"segment {token!r}{where}: {seq[k]!r} at motif position {k + 1} is not one of "
                                 f"the 20 standard residues {STANDARD_RESIDUES}; e.g. 'seq:{fixed}'")
        return SeqMotif(upper)
    m = _CHAIN.match(token)
    if m:
        chain, start = m.group(1), int(m.group(2))
        end = int(m.group(3)) if m.group(3) is not None else start
        if start > end:
            raise MotifError(f"segment {token!r}{where}: residue range {start}-{end} is reversed; "
                             f"e.g. {chain}{end}-{start} (reorder segments to change motif order)")
        return PdbMotif(chain, start, end)
    hint = EXAMPLE
    if re.match(r"^[A-Za-z]{2,}", token):
        hint = f"seq:{token.upper()}" if all(c in STANDARD_RESIDUES for c in token.upper()) else EXAMPLE
    raise MotifError(f"cannot read segment {token!r}{where}: expected N, N-M (generated residues), "
                     f"A163-181 (residues of chain A of --pdb) or seq:RESIDUES; e.g. {hint!r}")


def parse_length(value: str | int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, tuple):
        lo, hi = value
    elif isinstance(value, int):
        lo = hi = value
    else:
        text = _unwrap(str(value), "contigmap.length")
        m = _RANGE.match(text) or (re.match(r"^(\d+)$", text))
        if not m:
            raise MotifError(f"cannot read --length {value!r}: expected LO-HI or N, e.g. --length 100-150")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.lastindex and m.lastindex >= 2 else lo
    if lo > hi:
        raise MotifError(f"--length {value!r} is reversed; e.g. --length {hi}-{lo}")
    if hi < 1:
        raise MotifError(f"--length {value!r} allows no residues; e.g. --length 100-150")
    if lo > MAX_LENGTH:
        raise MotifError(f"--length {value!r} is over the {MAX_LENGTH}-residue limit; e.g. --length 100-{MAX_LENGTH}")
    return lo, hi


def parse_redesign(text: str, segments: tuple[Segment, ...]) -> frozenset[tuple[str, int]]:
    """RFdiffusion inpaint_seq: ``A163-168/A170-171/A179`` (``,`` also accepted): motif residues whose
    identity is redesigned (they stay at their motif positions but are generated)."""
    body = _unwrap(text, "contigmap.inpaint_seq")
    motif_ids = {rid for s in segments if isinstance(s, PdbMotif) for rid in s.residue_ids()}
    example = next((f"{s.chain}{s.start}-{min(s.start + 2, s.end)}" for s in segments if isinstance(s, PdbMotif)),
                   None)
    out: set[tuple[str, int]] = set()
    for token in re.split(r"[/,\s]+", body):
        if not token:
            continue
        m = _CHAIN.match(token)
        if not m:
            raise MotifError(f"cannot read --redesign item {token!r}: expected chain+residues like A163-168 or "
                             f"A179 (RFdiffusion inpaint_seq syntax), e.g. --redesign 'A163-168/A170-171/A179'")
        chain, start = m.group(1), int(m.group(2))
        end = int(m.group(3)) if m.group(3) is not None else start
        if start > end:
            raise MotifError(f"--redesign item {token!r} is reversed; e.g. {chain}{end}-{start}")
        for r in range(start, end + 1):
            if (chain, r) not in motif_ids:
                hint = (f"e.g. --redesign {example}" if example else
                        "--redesign needs PDB motif segments (A163-181 with --pdb); seq: motifs are kept as written")
                raise MotifError(f"--redesign item {token!r}: residue {chain}{r} is not in a motif segment of the "
                                 f"contig; {hint}")
            out.add((chain, r))
    return frozenset(out)


# ----- structures -----------------------------------------------------------------------------------------
def read_structure(path: str | Path) -> dict[tuple[str, int], str]:
    """(chain, author resnum) -> one-letter residue for the first model of a PDB or mmCIF file.

    Insertion-code residues are skipped; modified residues map to their parent (MSE -> M) where
    Biopython knows it; residues that are not amino acids (waters, ligands) are ignored."""
    import warnings

    from Bio.Data.PDBData import protein_letters_3to1_extended
    from Bio.PDB import MMCIFParser, PDBParser

    path = Path(path)
    if not path.is_file():
        raise MotifError(f"--pdb {str(path)!r} does not exist; give a PDB or mmCIF file, e.g. --pdb 5TPN.pdb")
    name = path.name.lower().removesuffix(".gz")
    cif = name.endswith((".cif", ".mmcif"))
    try:
        text = _read_text(path)
        import io

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = MMCIFParser(QUIET=True) if cif else PDBParser(QUIET=True)
            structure = parser.get_structure(path.stem, io.StringIO(text))
        model = next(iter(structure))
    except Exception as err:  # Biopython raises many types for malformed files
        raise MotifError(f"cannot read --pdb {str(path)!r} as {'mmCIF' if cif else 'PDB'}: "
                         f"{type(err).__name__}: {err}; give a PDB or mmCIF file, e.g. --pdb 5TPN.pdb or --pdb 5tpn.cif") from None
    residues: dict[tuple[str, int], str] = {}
    for chain in model:
        for res in chain:
            het, resnum, icode = res.id
            if icode.strip():
                continue
            letter = protein_letters_3to1_extended.get(res.get_resname().strip().upper().capitalize()) or \
                protein_letters_3to1_extended.get(res.get_resname().strip().upper())
            if letter is None:
                continue
            residues[(chain.id, int(resnum))] = letter
    if not residues:
        raise MotifError(f"--pdb {str(path)!r} has no amino-acid residues; give a protein structure, e.g. --pdb 5TPN.pdb")
    return residues


def _read_text(path: Path) -> str:
    import gzip

    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")
