"""What the editor protocols need from a model: the ``InfillBackend`` protocol, its request/result types, a
deterministic fake for tests and load tests, and the adapter onto the code domain's ``CodeInfiller``.

A backend fills one hole per request: text between ``prefix`` and ``suffix``. The server hands it a
*batch* of requests (concurrent clients grouped by the batcher) and a ``should_stop`` callable that the
backend polls between denoising steps; ``should_stop()`` is true once every client of the batch has gone
away, and ``should_stop.cancelled(i)`` tells whether request ``i`` alone has been abandoned.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from seqdiff.serve.batching import StopSignal

FINISH_REASONS = ("eos", "limit", "word", "cancelled")


@dataclass(frozen=True)
class ExtraChunk:
    """Repository context sent by the editor (llama.cpp ``input_extra``), placed before the prefix."""

    text: str
    filename: str | None = None


@dataclass(frozen=True)
class InfillRequest:
    """One hole to fill, ``n`` times. ``max_tokens`` bounds the middle; ``seed=None`` means random."""

    prefix: str
    suffix: str = ""
    max_tokens: int = 128
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    seed: int | None = None
    stop: tuple[str, ...] = ()
    extra: tuple[ExtraChunk, ...] = ()
    time_budget_s: float | None = None  # llama.cpp t_max_predict_ms: finish early once exceeded
    n_indent: int = 0  # llama.cpp n_indent: a later line indented less than this ends the middle


@dataclass
class Completion:
    """One filled middle. ``valid``: the syntax check of prefix+text+suffix (None when not checked)."""

    text: str
    finish_reason: str = "eos"  # one of FINISH_REASONS
    tokens_predicted: int = 0
    valid: bool | None = None
    nfe: int = 0
    wall_s: float = 0.0
    truncated: bool = False  # the time budget ran out: the best middle found so far

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason {self.finish_reason!r} is not one of {FINISH_REASONS}")


NEVER_STOP = StopSignal([])


@runtime_checkable
class InfillBackend(Protocol):
    model_name: str
    max_context_tokens: int  # prompt + middle must fit in this many tokens

    def count_tokens(self, text: str) -> int: ...

    def complete(self, batch: list[InfillRequest], should_stop: Callable[[], bool]) -> list[list[Completion]]:
        """One list of ``request.n`` completions per request, in order. Runs in a worker thread."""
        ...


def check_syntax(backend: InfillBackend, prefix: str, middle: str, suffix: str) -> bool | None:
    """Re-run the backend's syntax check after the server cut a completion (stop string, n_indent)."""
    fn = getattr(backend, "check_syntax", None)
    if fn is None:
        return None
    try:
        return fn(prefix, middle, suffix)
    except Exception:  # the check is advisory; never fail a completion because of it
        return None


class EchoBackend:
    """Deterministic fake: no model, a simulated denoising loop whose cost is one fixed part per step
    (shared by the batch, like a forward pass) plus a small part per row. Records what it was asked.

    The middle for row ``j`` of a request is ``text`` with ``{j}`` and ``{seed}`` substituted, cut to
    ``max_tokens`` tokens (one token = one character). ``should_stop`` is polled between steps."""

    def __init__(self, text: str = "pass  # {j}\n", *, steps: int = 8, step_s: float = 0.0,
                 row_s: float = 0.0, model_name: str = "seqdiff-fake", max_context_tokens: int = 8192,
                 load_s: float = 0.0):
        if load_s:
            time.sleep(load_s)
        self.text = text
        self.steps = steps
        self.step_s = step_s
        self.row_s = row_s
        self.model_name = model_name
        self.max_context_tokens = max_context_tokens
        self.batches: list[list[InfillRequest]] = []  # every call to complete, in order
        self.stopped_early = 0  # batches abandoned because should_stop() turned true
        self.steps_run = 0
        self.lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(text)

    def check_syntax(self, prefix: str, middle: str, suffix: str) -> bool | None:
        return (prefix + middle + suffix).count("(") == (prefix + middle + suffix).count(")")

    def _middle(self, req: InfillRequest, j: int) -> str:
        seed = "random" if req.seed is None else str(req.seed)
        return self.text.replace("{j}", str(j)).replace("{seed}", seed)

    def complete(self, batch: list[InfillRequest], should_stop: Callable[[], bool]) -> list[list[Completion]]:
        with self.lock:
            self.batches.append(list(batch))
        start = time.perf_counter()
        rows = sum(r.n for r in batch)
        cancelled = False
        nfe = 0
        for _ in range(self.steps):
            if should_stop():
                cancelled = True
                with self.lock:
                    self.stopped_early += 1
                break
            if self.step_s or self.row_s:
                time.sleep(self.step_s + self.row_s * rows)
            nfe += 1
            with self.lock:
                self.steps_run += 1
        wall = time.perf_counter() - start
        out = []
        for req in batch:
            row = []
            for j in range(req.n):
                full = self._middle(req, j)
                text = full[:req.max_tokens]
                if cancelled:
                    reason = "cancelled"
                else:
                    reason = "limit" if len(text) < len(full) else "eos"
                valid = self.check_syntax(req.prefix, text, req.suffix)
                row.append(Completion(text=text, finish_reason=reason, tokens_predicted=len(text), valid=valid,
                                      nfe=nfe, wall_s=wall))
            out.append(row)
        return out


class CodeInfillerBackend:
    """Adapter onto ``seqdiff_code.CodeInfiller``.

    Each of a request's ``n`` completions is one ``seqdiff_code`` request (the best syntax-valid of
    ``candidates`` canvases, seeds apart), and the whole server batch goes through one ``infill_many`` call,
    i.e. shared forward passes. The infiller keeps the context tokens nearest the hole itself, so the server
    passes full prefix and suffix (the syntax check sees the whole file). ``input_extra`` chunks are not
    used: the model was trained on single files. ``top_k``/``top_p``/``stop`` are not sampler options here
    (stop strings are applied by the server). ``time_budget_s`` (llama.cpp ``t_max_predict_ms``) and
    ``n_indent`` go to the infiller; a budget that ran out answers ``truncated``."""

    def __init__(self, path: str | None = None, device: str = "cpu", candidates: int = 2, *, infiller=None,
                 model_name: str | None = None, threads: int | None = None):
        import torch

        from seqdiff_code.infill import MAX_TOKENS_LIMIT, CodeInfiller

        if threads is not None:  # seqdiff serve sets it for the whole process; this is for other hosts
            torch.set_num_threads(threads)
        self.infiller = infiller if infiller is not None else CodeInfiller.from_pretrained(path, device=device)
        self.tokenizer = self.infiller.tokenizer
        self.candidates = candidates
        self.max_middle = MAX_TOKENS_LIMIT
        self.model_name = model_name or (Path(path).name if path else "seqdiff-code")
        # the infiller cuts context to its own window; this only bounds what the server hands it
        self.max_context_tokens = 32768

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text)) if text else 0

    def check_syntax(self, prefix: str, middle: str, suffix: str) -> bool | None:
        from seqdiff_code.syntax import infill_errors

        return not infill_errors(prefix, middle, suffix, "python")

    def complete(self, batch: list[InfillRequest], should_stop: Callable[[], bool]) -> list[list[Completion]]:
        from seqdiff_code.infill import InfillCancelled
        from seqdiff_code.infill import InfillRequest as CodeRequest

        slots: list[tuple[int, int]] = []  # (request, completion) of each code request
        code_reqs = []
        out: list[list[Completion | None]] = [[None] * r.n for r in batch]
        for i, r in enumerate(batch):
            for j in range(r.n):
                if not r.prefix and not r.suffix:  # nothing to infill against (e.g. an empty buffer)
                    out[i][j] = Completion(text="", finish_reason="eos")
                    continue
                base = (r.seed if r.seed is not None else seed_for(None, j)) % (2 ** 31)
                code_reqs.append(CodeRequest(prefix=r.prefix, suffix=r.suffix,
                                             max_tokens=max(1, min(r.max_tokens, self.max_middle)),
                                             candidates=self.candidates, seed=base + j * self.candidates,
                                             temperature=r.temperature, time_budget_s=r.time_budget_s,
                                             n_indent=max(0, r.n_indent)))
                slots.append((i, j))
        if code_reqs:
            start = time.perf_counter()
            try:
                results = self.infiller.infill_many(code_reqs, should_stop=should_stop)
            except InfillCancelled:
                wall = time.perf_counter() - start
                results = [None] * len(code_reqs)
            eos = self.tokenizer.eos_id
            for (i, j), res in zip(slots, results):
                if res is None:
                    out[i][j] = Completion(text="", finish_reason="cancelled", wall_s=wall)
                    continue
                canvas = list(getattr(res, "canvas_tokens", []) or [])
                reason = "limit" if res.truncated or (canvas and eos not in canvas) else "eos"
                out[i][j] = Completion(text=res.text, finish_reason=reason, tokens_predicted=self.count_tokens(res.text),
                                       valid=bool(res.valid), nfe=int(res.nfe), wall_s=float(res.wall_s),
                                       truncated=bool(res.truncated))
        return out  # type: ignore[return-value]


def seed_for(request_seed: int | None, row: int) -> int:
    """Per-row seed: row ``j`` of a request seeded from ``(seed, j)`` so it never depends on the batch."""
    if request_seed is None:
        return int.from_bytes(hashlib.blake2b(f"{time.time_ns()}-{row}".encode(), digest_size=8).digest(), "little")
    return int.from_bytes(hashlib.blake2b(f"{request_seed}-{row}".encode(), digest_size=8).digest(), "little") >> 1


__all__ = ["Completion", "ExtraChunk", "InfillRequest", "InfillBackend", "StopSignal", "EchoBackend",
           "CodeInfillerBackend", "check_syntax", "seed_for"]
