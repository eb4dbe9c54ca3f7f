"""Code rewards for ``seqdiff tune`` (the domain's ``rewards()`` hook): ``f(texts, canvases) -> list[float]``.

The file a rollout stands for is the canvas task's full ``prefix + middle + suffix`` when the canvas
carries an infill task (``seqdiff bench``'s held-out tasks: their prefix and suffix are cut to fit the
model's context), the middle being the decoded editable span; otherwise the rollout's text.

- ``parses()``: 1.0 when CPython compiles the file (``compile`` in-process: parsing runs nothing), else 0.
  A blank middle often compiles, so alone it rewards saying less; the next two do not.
- ``useful()``: ``parses`` and, where the cursor needs code (``syntax.needs_code``: a line start), a
  middle that holds code (``syntax.holds_code``: not blank, not only comments: a tune on "not blank"
  learnt to write ``#``), or inside a string any text, as the infiller's judge has it
  (``syntax.answers_gap``); without a task, a text that holds code and parses.
- ``reference_match(unit="tokens"|"lines")``: similarity of the middle to the task's own middle (the
  lines cut out of the file, carried by train-split infill canvases): difflib's ratio 2M/T over lexical
  tokens (words, single symbols) or over non-blank lines (runs of whitespace as one space); 1.0 exact,
  0.0 blank. Partial credit, so a one-word middle scores low where the original said more.
- ``unit_tests(tests, ...)``: 1.0 when ``tests`` (Python source that imports the file as module
  ``solution``) exits 0 in the sandbox (``seqdiff_code.sandbox``: separate process, timeout, resource
  limits, writes only in its temporary directory, no network), else 0. Never run in this process.
"""

from __future__ import annotations

import difflib
import re
from typing import Callable

from seqdiff_code.sandbox import SandboxLimits, run_python
from seqdiff_code.indent import scan_prefix
from seqdiff_code.syntax import answers_gap, compiles, holds_code, needs_code

Reward = Callable[[list[str], list[dict]], list[float]]


def filled_source(text: str, canvas: dict) -> str:
    task = canvas.get("task")
    if task is None:
        return text
    return task.prefix + canvas.get("editable_text", "") + task.suffix


def parses() -> Reward:
    return lambda texts, canvases: [float(compiles(filled_source(t, c))) for t, c in zip(texts, canvases)]


def useful() -> Reward:
    def score(text: str, canvas: dict) -> float:
        task = canvas.get("task")
        if task is None:
            return float(holds_code(text) and compiles(text))
        middle = canvas.get("editable_text", "")
        answered = not needs_code(task.prefix, task.suffix) or answers_gap(
            middle, scan_prefix(task.prefix).string_lines is not None)
        return float(answered and compiles(filled_source(text, canvas)))

    return lambda texts, canvases: [score(t, c) for t, c in zip(texts, canvases)]


def units(text: str, unit: str) -> list[str]:
    """What ``reference_match`` compares: lexical tokens, or non-blank lines with whitespace runs collapsed."""
    if unit == "lines":
        return [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    return re.findall(r"\w+|\S", text)


def similarity(got: str, want: str, unit: str = "tokens") -> float:
    a, b = units(got, unit), units(want, unit)
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def reference_match(unit: str = "tokens") -> Reward:
    if unit not in ("tokens", "lines"):
        raise ValueError(f"reference_match unit={unit!r}: choose tokens or lines")

    def reward(texts: list[str], canvases: list[dict]) -> list[float]:
        if any(c.get("task") is None for c in canvases):
            raise ValueError("reference_match needs infill canvases carrying their task (the code domain's "
                             "train/validation canvases); unconditional canvases have no reference middle")
        return [similarity(c.get("editable_text", ""), c["task"].middle, unit) for c in canvases]

    return reward


def unit_tests(tests: str, timeout_s: float = 10.0, memory_mb: int = 1024, cpu_s: int = 10) -> Reward:
    if not tests.strip():
        raise ValueError("unit_tests needs `tests`: Python source that imports `solution` and exits non-zero "
                         "on failure")
    limits = SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu_s)

    def reward(texts: list[str], canvases: list[dict]) -> list[float]:
        return [float(run_python({"solution.py": filled_source(t, c), "run_tests.py": tests}, "run_tests.py",
                                 limits).passed) for t, c in zip(texts, canvases)]

    return reward


FACTORIES = {"parses": parses, "useful": useful, "reference_match": reference_match, "unit_tests": unit_tests}
