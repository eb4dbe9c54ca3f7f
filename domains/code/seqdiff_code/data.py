"""Training examples for code: uniform-masking chunks mixed with infill-shaped span examples.

Canvas layout (the SAME at inference, see infill.py)::

    prefix tokens | middle tokens, then k <eos> filler | suffix tokens
    not maskable  |           maskable                 | not maskable

Prefix, middle and suffix are tokenized separately (as an editor request is), in natural order; the
model is bidirectional, so no FIM reordering or sentinels are needed. The filler teaches the model to
pad a middle canvas that is longer than the text it wants to put there (variable-length infill).

* ``uniform`` examples (probability ``1 - span_fraction``): a window of up to ``max_length`` tokens of
  a file, every token maskable (plain MDLM/LLaDA training).
* ``span`` examples: a middle cut from a file — whole lines (one line, or several), or a character span
  starting and ending inside lines (a cursor-style cut) — then ``k`` fillers with ``k`` uniform in
  ``[0, len(middle)]`` or in ``[0, max_canvas - len(middle)]`` (half each), then as much prefix (left-cut)
  and suffix (right-cut) context as fits in ``max_length``.
* ``line`` span examples (share ``line_fraction`` of the span examples): the gap an editor leaves, whole
  lines — one line (60%) or 2-6 — starting at a non-blank line. Half of them (``keep_indent_fraction``)
  keep the first line's leading indentation in the prefix (the cursor sits after it, as llama.cpp's
  ``n_indent``); the others put it in the middle. Either way the middle ends before the last line's
  newline, which starts the suffix, as when the cursor is on a line of its own.

Each example is drawn from a random place in its file: item ``i`` maps to file ``i % n_files``-ish
through chunk offsets, so long files give more items. Training draws use torch's global RNG (seeded per
worker by Lightning); validation/test draws are a fixed function of the index.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from seqdiff_code.corpus import STDLIB, collect, split_files

CHARS_PER_TOKEN = 3.0  # rough, for cutting a text window before tokenizing


@dataclass(frozen=True)
class CodeDataConfig:
    paths: tuple[str, ...] = (STDLIB,)  # folders/files of .py; "stdlib" = this interpreter's standard library
    max_length: int = 256  # tokens per example
    span_fraction: float = 0.6  # share of infill-shaped examples
    max_canvas: int = 128  # longest middle canvas (middle + filler) in span examples
    max_files: int | None = None  # per split, for quick runs
    line_fraction: float = 0.0  # share of span examples cut as editor lines (0 keeps older runs' draws)
    keep_indent_fraction: float = 0.5  # share of those whose indentation stays in the prefix

    def __post_init__(self) -> None:
        for name in ("span_fraction", "line_fraction", "keep_indent_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"data.{name}={getattr(self, name)} must be in [0, 1]")
        if not 8 <= self.max_canvas <= self.max_length - 8:
            raise ValueError(f"data.max_canvas={self.max_canvas} must be in [8, max_length - 8]")

    @classmethod
    def from_dict(cls, data: dict) -> "CodeDataConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown code data key(s) {sorted(unknown)}; known: {sorted(known)}")
        if "paths" in data:
            paths = data["paths"]
            data = {**data, "paths": tuple([paths] if isinstance(paths, str) else paths)}
        return cls(**data)


def span_example(tokenizer, prefix: str, middle: str, suffix: str, max_length: int, canvas: int,
                 prefix_share: float = 0.5) -> dict[str, torch.Tensor] | None:
    """Build ``prefix | middle + eos filler (canvas tokens) | suffix`` with only the canvas maskable.
    Returns None when the middle does not fit in the canvas."""
    mid = tokenizer.encode(middle)
    if len(mid) > canvas or canvas > max_length:
        return None
    budget = max_length - canvas
    window = int(budget * 1.6 * CHARS_PER_TOKEN) + 64
    pre = tokenizer.encode(prefix[-window:]) if prefix else []
    suf = tokenizer.encode(suffix[:window]) if suffix else []
    n_pre = min(len(pre), int(budget * prefix_share))
    n_suf = min(len(suf), budget - n_pre)
    n_pre = min(len(pre), budget - n_suf)
    pre = pre[len(pre) - n_pre:]
    suf = suf[:n_suf]
    ids = pre + mid + [tokenizer.eos_id] * (canvas - len(mid)) + suf
    maskable = [False] * len(pre) + [True] * canvas + [False] * len(suf)
    return {"tokens": torch.tensor(ids, dtype=torch.long), "maskable": torch.tensor(maskable, dtype=torch.bool)}


def cut_middle(text: str, rng: random.Random) -> tuple[int, int]:
    """Character span [a, b) of a middle: whole line(s) or a cursor-style span."""
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n" and i + 1 < len(text)]
    kind = rng.random()
    line = rng.randrange(len(starts))
    if kind < 0.4:  # one whole line (with its newline)
        a = starts[line]
        b = starts[line + 1] if line + 1 < len(starts) else len(text)
    elif kind < 0.75:  # 2..12 whole lines
        last = min(len(starts), line + rng.randint(2, 12))
        a = starts[line]
        b = starts[last] if last < len(starts) else len(text)
    else:  # from inside a line to inside a line up to 4 lines down
        a = starts[line] + rng.randrange(max(1, _line_len(text, starts, line)))
        end_line = min(len(starts) - 1, line + rng.randint(0, 4))
        b = starts[end_line] + rng.randint(0, _line_len(text, starts, end_line))
        if b <= a:
            b = min(len(text), a + rng.randint(1, 40))
    return a, b


def cut_lines(text: str, rng: random.Random, keep_indent: bool) -> tuple[int, int] | None:
    """Character span [a, b) of an editor-line middle (see the module docstring): non-blank first and
    last lines, no final newline. None when the drawn first line is blank."""
    lines = text.split("\n")
    n_lines = len(lines) - text.endswith("\n")  # a final newline ends the last line, it starts none
    first = rng.randrange(max(1, n_lines))
    if not lines[first].strip():
        return None
    last = min(n_lines, first + (1 if rng.random() < 0.6 else rng.randint(2, 6)))
    while not lines[last - 1].strip():  # end on written code, not on blank lines
        last -= 1
    a = sum(len(line) + 1 for line in lines[:first])
    b = a + sum(len(line) + 1 for line in lines[first:last]) - 1
    if keep_indent:
        a += len(lines[first]) - len(lines[first].lstrip())
    return a, b


def _line_len(text: str, starts: list[int], line: int) -> int:
    end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
    return max(0, end - starts[line])


class CodeDataset(Dataset):
    def __init__(self, texts: list[str], tokenizer, config: CodeDataConfig, deterministic: bool = False):
        self.texts, self.tokenizer, self.config, self.deterministic = texts, tokenizer, config, deterministic
        window = int(config.max_length * CHARS_PER_TOKEN)
        counts = [max(1, len(t) // window) for t in texts]  # items per file ~ its length in windows
        self.offsets = [0]
        for c in counts:
            self.offsets.append(self.offsets[-1] + c)

    def __len__(self) -> int:
        return self.offsets[-1]

    def _rng(self, index: int) -> random.Random:
        seed = index * 1_000_003 + 17 if self.deterministic else int(torch.randint(0, 2**62, ()))
        return random.Random(seed)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        text = self.texts[bisect.bisect_right(self.offsets, index) - 1]
        cfg = self.config
        if rng.random() < cfg.span_fraction:
            for _ in range(8):
                example = self._span(text, rng)
                if example is not None:
                    return example
        return self._uniform(text, rng)

    def _uniform(self, text: str, rng: random.Random) -> dict[str, torch.Tensor]:
        cfg = self.config
        window = int(cfg.max_length * CHARS_PER_TOKEN * 1.6) + 64
        start = rng.randrange(max(1, len(text) - window // 2))
        if start:  # start at a line boundary, like a real file chunk
            nl = text.find("\n", start)
            start = nl + 1 if 0 <= nl < len(text) - 1 else 0
        ids = self.tokenizer.encode(text[start:start + window])[: cfg.max_length]
        tokens = torch.tensor(ids, dtype=torch.long)
        return {"tokens": tokens, "maskable": torch.ones_like(tokens, dtype=torch.bool)}

    def _span(self, text: str, rng: random.Random) -> dict[str, torch.Tensor] | None:
        cfg = self.config
        if len(text) > 6000:  # work on a local window: context beyond it would not fit anyway
            centre = rng.randrange(len(text))
            lo = max(0, centre - 3000)
            text = text[lo:lo + 6000]
        if cfg.line_fraction and rng.random() < cfg.line_fraction:
            span = cut_lines(text, rng, keep_indent=rng.random() < cfg.keep_indent_fraction)
            if span is None:
                return None
            a, b = span
        else:
            a, b = cut_middle(text, rng)
        middle = text[a:b]
        n_mid = len(self.tokenizer.encode(middle))
        if n_mid > cfg.max_canvas or n_mid == 0:
            return None
        top = n_mid if rng.random() < 0.5 else cfg.max_canvas
        canvas = rng.randint(n_mid, max(n_mid, top))
        return span_example(self.tokenizer, text[:a], middle, text[b:], cfg.max_length, canvas,
                            prefix_share=rng.uniform(0.3, 0.8))


def load_texts(config: CodeDataConfig, split: str) -> list[str]:
    files = split_files(collect(config.paths), split)
    if config.max_files:
        files = files[: config.max_files]
    return [f.text for f in files]
