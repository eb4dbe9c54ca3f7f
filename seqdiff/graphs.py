"""CUDA-graph replay of the denoiser's uncached forward pass.

Why: at batch 1 a small denoiser is launch-bound on a GPU (each forward is ~10 kernels per layer, each a few
microseconds to launch), so replaying one captured graph per canvas shape cuts a sampler step towards the
GPU's compute time. The wrapper is an explicit object the caller makes and passes to ``Denoise`` in place of
the model; the model itself is untouched and no state hides on its modules.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqdiff.model import Denoiser, KVCache


class GraphedDenoiser:
    """Call-compatible with ``Denoiser`` for decoding: an uncached forward on CUDA under ``no_grad`` replays a
    graph captured at the first call with that canvas shape; everything else (CPU, KV-cached windows,
    gradients) runs the model eagerly. Logits are returned as a fresh tensor, safe to keep."""

    def __init__(self, model: Denoiser, warmup: int = 3) -> None:
        self.model = model
        self.config = model.config
        self.warmup = warmup
        self._graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, Tensor, Tensor]] = {}

    def new_cache(self) -> KVCache:
        return self.model.new_cache()

    def __call__(self, tokens: Tensor, cache: KVCache | None = None, window: tuple[int, int] | None = None,
                 refresh: bool = False) -> Tensor:
        if cache is not None or window is not None or not tokens.is_cuda or torch.is_grad_enabled():
            return self.model(tokens, cache=cache, window=window, refresh=refresh)
        key = (tuple(tokens.shape), tokens.dtype, tokens.device)
        if key not in self._graphs:
            self._graphs[key] = self._capture(tokens)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(tokens)
        graph.replay()
        return static_out.clone()

    def _capture(self, tokens: Tensor) -> tuple[torch.cuda.CUDAGraph, Tensor, Tensor]:
        static_in = tokens.clone()
        side = torch.cuda.Stream(device=tokens.device)
        side.wait_stream(torch.cuda.current_stream(tokens.device))
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(self.warmup):
                self.model(static_in)
        torch.cuda.current_stream(tokens.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.model(static_in)
        return graph, static_in, static_out
