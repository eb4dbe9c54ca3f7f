"""Code rewards for ``seqdiff tune`` (the domain's ``rewards()`` hook): ``f(texts, canvases) -> list[float]``.

The file a rollout stands for is the canvas task's full ``prefix + middle + suffix`` when the canvas
carries an infill task (``seqdiff bench``'s held-out tasks: their prefix and suffix are cut to fit the
model's context), the middle being the decoded editable span; otherwise the rollout's text.

- ``parses()``: 1.0 when CPython compiles the file (``compile`` in-process: parsing runs nothing), else 0.
- ``unit_tests(tests, ...)``: 1.0 when ``tests`` (Python source that imports the file as module
  ``solution``) exits 0 in the sandbox (``seqdiff_code.sandbox``: separate process, timeout, resource
  limits, writes only in its temporary directory, no network), else 0. Never run in this process.
"""

from __future__ import annotations

from typing import Callable

from seqdiff_code.sandbox import SandboxLimits, run_python
from seqdiff_code.syntax import compiles

Reward = Callable[[list[str], list[dict]], list[float]]


def filled_source(text: str, canvas: dict) -> str:
    task = canvas.get("task")
    if task is None:
        return text
    return task.prefix + canvas.get("editable_text", "") + task.suffix


def parses() -> Reward:
    return lambda texts, canvases: [float(compiles(filled_source(t, c))) for t, c in zip(texts, canvases)]


def unit_tests(tests: str, timeout_s: float = 10.0, memory_mb: int = 1024, cpu_s: int = 10) -> Reward:
    if not tests.strip():
        raise ValueError("unit_tests needs `tests`: Python source that imports `solution` and exits non-zero "
                         "on failure")
    limits = SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu_s)

    def reward(texts: list[str], canvases: list[dict]) -> list[float]:
        return [float(run_python({"solution.py": filled_source(t, c), "run_tests.py": tests}, "run_tests.py",
                                 limits).passed) for t, c in zip(texts, canvases)]

    return reward


FACTORIES = {"parses": parses, "unit_tests": unit_tests}
