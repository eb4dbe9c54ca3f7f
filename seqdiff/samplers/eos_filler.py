"""The ``<eos>`` filler layout: a middle, then ``<eos>`` to the canvas' end (the code infiller's canvases and
``seqdiff tune``'s ``rollout.eos_filler`` rollouts).

A code model is trained with its middle first and ``<eos>`` filler after it, and the infiller decodes
under that rule, so a middle ends where the model puts its first ``<eos>``. Rollouts that ban ``<eos>``
must fill every position with content, which is not what the infiller then asks of the model; under
this layout they end as the infiller's do. A sampler that commits several positions a step can commit
content beside a new ``<eos>`` in the same step, so a finished rollout is read as the infiller reads its
canvas, up to its first ``<eos>`` (``filled``). Positions after it are forced, not chosen, so the policy
gradient leaves them out (``decided``), as the infiller's ranking does."""

from __future__ import annotations

from torch import Tensor

FORBIDDEN = -1e4  # finite, as the infiller's layout hook: a row always keeps a finite logit


def after_first_eos(x: Tensor, editable: Tensor, eos_id: int) -> Tensor:
    """[B, L] bool: editable positions strictly after the row's first editable ``<eos>``."""
    eos = (x == eos_id) & editable
    return ((eos.int().cumsum(-1) - eos.int()) > 0) & editable


def filled(x: Tensor, editable: Tensor, eos_id: int) -> Tensor:
    """``x`` with every editable position after the row's first ``<eos>`` set to ``<eos>``."""
    return x.masked_fill(after_first_eos(x, editable, eos_id), eos_id)


def decided(x: Tensor, editable: Tensor, eos_id: int) -> Tensor:
    """[B, L] bool: the editable positions a rollout chose (up to and including its first ``<eos>``)."""
    return editable & ~after_first_eos(x, editable, eos_id)


class EosFiller:
    """Logits hook: a masked editable position after a committed ``<eos>`` can only become ``<eos>``.
    Edits ``logits`` in place (the denoising loop hands the hook a tensor of its own)."""

    def __init__(self, editable: Tensor, eos_id: int, mask_id: int):
        self.editable, self.eos_id, self.mask_id = editable, eos_id, mask_id

    def __call__(self, step: int, x: Tensor, logits: Tensor) -> Tensor:
        forced = after_first_eos(x, self.editable, self.eos_id) & (x == self.mask_id)
        if bool(forced.any()):
            rows = logits[forced]
            rows.fill_(FORBIDDEN)
            rows[:, self.eos_id] = 0.0
            logits[forced] = rows
        return logits
