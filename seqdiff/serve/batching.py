"""Group concurrent requests into shared model calls (diffusion canvases batch naturally).

One worker task owns the batch function: it takes every queued job that fits in ``max_batch`` rows (the
caller says how many rows a request is, e.g. ``n`` completions; a single job larger than that still runs,
alone), runs the batch in a dedicated thread, and resolves each job's future. The queue is bounded:
``enqueue`` raises ``QueueFull`` at once rather than letting latency grow without limit. Each job carries a ``threading.Event`` set when its
client disconnects; the batch function sees it through ``should_stop`` between denoising steps, and jobs
cancelled while still queued never run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

from seqdiff.serve.contribution import BatchFn


class StopSignal:
    """``should_stop`` handed to a batch function: call it between steps; true when all clients left, and
    ``cancelled(i)`` tells whether request ``i`` alone has been abandoned."""

    def __init__(self, flags: Sequence[threading.Event]):
        self._flags = list(flags)

    def __call__(self) -> bool:
        return bool(self._flags) and all(f.is_set() for f in self._flags)

    def cancelled(self, i: int) -> bool:
        return self._flags[i].is_set()


class QueueFull(Exception):
    """The batcher's queue is at capacity (answered 503)."""


class Cancelled(Exception):
    """The job's client went away before it ran."""


@dataclass
class _Job:
    request: Any
    cancel: threading.Event
    future: asyncio.Future
    rows: int = 1
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    batches: int = 0
    rows: int = 0
    requests: int = 0
    cancelled_in_queue: int = 0
    max_rows: int = 0
    sizes: list[int] = field(default_factory=list)  # requests per batch (last 1000)


class Batcher:
    def __init__(self, run_batch: BatchFn, *, max_batch: int = 16, max_queue: int = 128,
                 batch_wait_s: float = 0.0):
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch} must be >= 1")
        if max_queue < 1:
            raise ValueError(f"max_queue={max_queue} must be >= 1")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.batch_wait_s = batch_wait_s
        self.stats = BatchStats()
        self._queue: deque[_Job] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqdiff-batch")
        self.running_rows = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._worker is None:
            self._wakeup = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="seqdiff-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
            self._worker = None
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(Cancelled())
        self._executor.shutdown(wait=False, cancel_futures=True)

    def enqueue(self, request: Any, cancel: threading.Event, rows: int = 1) -> asyncio.Future:
        """Queue one request of ``rows`` rows; the future gives its result (or raises Cancelled).
        Raises QueueFull at once when the queue is at capacity."""
        if self._worker is None or self._wakeup is None:
            raise RuntimeError("Batcher.start() was not called")
        if len(self._queue) >= self.max_queue:
            raise QueueFull(f"{len(self._queue)} requests are already queued (limit {self.max_queue})")
        job = _Job(request, cancel, asyncio.get_running_loop().create_future(), rows)
        self._queue.append(job)
        self._wakeup.set()
        return job.future

    def _take_batch(self) -> list[_Job]:
        batch: list[_Job] = []
        rows = 0
        while self._queue:
            job = self._queue[0]
            if job.cancel.is_set() or job.future.done():
                self._queue.popleft()
                self.stats.cancelled_in_queue += 1
                if not job.future.done():
                    job.future.set_exception(Cancelled())
                continue
            if batch and rows + job.rows > self.max_batch:
                break
            self._queue.popleft()
            batch.append(job)
            rows += job.rows
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.batch_wait_s > 0 and sum(j.rows for j in self._queue) < self.max_batch:
                await asyncio.sleep(self.batch_wait_s)
            batch = self._take_batch()
            if not batch:
                continue
            rows = sum(j.rows for j in batch)
            stop = StopSignal([j.cancel for j in batch])
            self.stats.batches += 1
            self.stats.rows += rows
            self.stats.requests += len(batch)
            self.stats.max_rows = max(self.stats.max_rows, rows)
            self.stats.sizes = (self.stats.sizes + [len(batch)])[-1000:]
            self.running_rows = rows
            try:
                results = await loop.run_in_executor(
                    self._executor, self.run_batch, [j.request for j in batch], stop)
                if len(results) != len(batch):
                    raise RuntimeError(f"the batch function returned {len(results)} results for {len(batch)} requests")
            except asyncio.CancelledError:
                for j in batch:
                    j.cancel.set()
                    if not j.future.done():
                        j.future.set_exception(Cancelled())
                raise
            except Exception as err:  # a failure fails this batch, not the server
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(err)
                continue
            finally:
                self.running_rows = 0
            for j, res in zip(batch, results):
                if not j.future.done():
                    j.future.set_result(res)
