"""Motif-scaffolding canvases for ``seqdiff tune`` rollouts (the tune config's ``rollout.canvas_options``).

Each canvas is laid out as ``design-protein --motif`` lays out a design (``<cls>``, the sampled contig's
template, ``<eos>``): motif residues are written in and non-editable, scaffold positions are masks, so
every rollout keeps the motif by construction (a constraint, not a reward). Canvas ``i`` of a run with
seed ``s`` is design ``i``'s layout (``ContigSpec.layout(s, i)``): its linker lengths are sampled per
canvas, as the designer samples them per design. ``layout`` rides along for rewards that want it.
"""

from __future__ import annotations

from seqdiff_protein.alphabet import cls_id
from seqdiff_protein.layout import ContigSpec, Layout


def layout_canvas(tokenizer, layout: Layout) -> dict:
    """``<cls> template <eos>`` with masks at generated positions; editable exactly there."""
    ids = [tokenizer.mask_id if not fixed else tokenizer.encode(ch)[0]
           for ch, fixed in zip(layout.template, layout.fixed)]
    return {"tokens": [cls_id(tokenizer)] + ids + [tokenizer.eos_id],
            "editable": [False] + [not f for f in layout.fixed] + [False], "layout": layout}


def motif_canvases(tokenizer, length: int, n: int, seed: int = 0, *, motif: str, pdb: str | None = None,
                   total_length: str | int | None = None, redesign: str | None = None) -> list[dict]:
    """``n`` canvases of ``motif`` (an RFdiffusion contig or ``seq:`` motifs, as ``--motif`` takes; ``pdb``,
    ``total_length`` and ``redesign`` as ``--pdb``, ``--length``, ``--redesign``). ``length`` (the rollout
    length) is not used: the contig sets each canvas' length."""
    spec = ContigSpec.parse(motif, total_length, redesign).with_structure(pdb)
    return [layout_canvas(tokenizer, spec.layout(seed, i)) for i in range(n)]
