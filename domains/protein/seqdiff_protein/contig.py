"""The motif grammar: RFdiffusion contig strings (verbatim), ``seq:`` literal motifs, ``--length`` and
``--redesign`` (RFdiffusion ``inpaint_seq`` syntax). Parsing only; ``layout.py`` samples designs from it.

Grammar (see ``seqdiff design-protein --help``)::

    motif    := [ "contigmap.contigs=" ] [ "[" ] chain [ "]" ]        (one chain; multi-chain is rejected)
    chain    := segment ( SEP segment )* [ "/0" ]                      SEP := "/" | ","
    segment  := INT | INT "-" INT                                      generated residues (0 allowed)
              | CHAIN INT [ "-" INT ]                                  residues of --pdb, author numbering, inclusive
              | "seq:" AA+                                             literal motif (no structure file needed)

Every number that sizes a design (both ends of each range) is checked against the residue limit here, so
a huge range fails at once instead of being sampled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seqdiff_protein.alphabet import STANDARD_RESIDUES

MAX_LENGTH = 1022  # residues: ESM's limit (1024 tokens with <cls> and <eos>)

EXAMPLES = ("10-40/A163-181/10-40 (with --pdb 5TPN.pdb)",
            "5-20/seq:FSLFDKDGDGTITTKELGTV/10-25",
            "100-150 (unconditional)")
EXAMPLE = "5-20/seq:FSLFDKDGDGTITTKELGTV/10-25"


class MotifError(ValueError):
    """A bad motif, length or redesign specification; the message names the bad token and shows a fix, and
    ``field`` names the ``DesignConfig`` field it is about (so the HTTP route can point at it)."""

    def __init__(self, message: str, field: str = "motif"):
        super().__init__(message)
        self.field = field


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



# ----- parsing helpers ------------------------------------------------------------------------------------
_INT = re.compile(r"^(\d+)$")
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


def parse_contig(text: str, max_length: int = MAX_LENGTH) -> tuple[Segment, ...]:
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
        segments.append(parse_segment(raw.strip(), text, max_length))
    return tuple(segments)


def parse_segment(token: str, context: str = "", max_length: int = MAX_LENGTH) -> Segment:
    where = f" in {context!r}" if context and context != token else ""
    if not token:
        raise MotifError(f"empty segment{where} (two separators in a row?); e.g. {EXAMPLE!r}")
    m = _INT.match(token) or _RANGE.match(token)
    if m:
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.lastindex == 2 else lo
        if lo > hi:
            raise MotifError(f"segment {token!r}{where}: range {lo}-{hi} is reversed; e.g. {hi}-{lo}")
        if hi > max_length:
            raise MotifError(f"segment {token!r}{where}: {hi} residues is over the model's {max_length}-residue "
                             f"limit; e.g. {min(lo, max_length)}-{max_length}")
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


def parse_length(value: str | int | tuple[int, int], max_length: int = MAX_LENGTH) -> tuple[int, int]:
    if isinstance(value, tuple):
        lo, hi = value
    elif isinstance(value, int):
        lo = hi = value
    else:
        text = _unwrap(str(value), "contigmap.length")
        m = _RANGE.match(text) or (re.match(r"^(\d+)$", text))
        if not m:
            raise MotifError(f"cannot read --length {value!r}: expected LO-HI or N, e.g. --length 100-150", field="length")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.lastindex and m.lastindex >= 2 else lo
    if lo > hi:
        raise MotifError(f"--length {value!r} is reversed; e.g. --length {hi}-{lo}", field="length")
    if hi < 1:
        raise MotifError(f"--length {value!r} allows no residues; e.g. --length 100-150", field="length")
    if hi > max_length:
        raise MotifError(f"--length {value!r} is over the model's {max_length}-residue limit; e.g. --length "
                         f"{min(lo, max_length)}-{max_length}", field="length")
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
                             f"A179 (RFdiffusion inpaint_seq syntax), e.g. --redesign 'A163-168/A170-171/A179'", field="redesign")
        chain, start = m.group(1), int(m.group(2))
        end = int(m.group(3)) if m.group(3) is not None else start
        if start > end:
            raise MotifError(f"--redesign item {token!r} is reversed; e.g. {chain}{end}-{start}", field="redesign")
        for r in range(start, end + 1):
            if (chain, r) not in motif_ids:
                hint = (f"e.g. --redesign {example}" if example else
                        "--redesign needs PDB motif segments (A163-181 with --pdb); seq: motifs are kept as written")
                raise MotifError(f"--redesign item {token!r}: residue {chain}{r} is not in a motif segment of the "
                                 f"contig; {hint}", field="redesign")
            out.add((chain, r))
    return frozenset(out)


