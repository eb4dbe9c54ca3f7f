"""The denoiser: a bidirectional pre-norm transformer that maps a partly masked sequence to logits.

The architecture mirrors ESM-2 exactly (pre-LayerNorm blocks, rotary positions, biased projections, erf
GELU, tied RoBERTa-style LM head, ESM's token-dropout rescaling), so any ESM-2 state dict converts into
it and every ESM-2 checkpoint becomes a zero-shot denoiser. It knows nothing of noise schedules,
tokenizers or Lightning: tokens in, logits out.

Key/value caching is explicit: ``new_cache()`` makes a ``KVCache`` the sampling loop owns and passes to
``forward``. A forward with ``cache`` and ``refresh=True`` runs the whole sequence and stores every
layer's keys/values; a forward with ``window=(start, end)`` recomputes only those positions and reads
the keys/values of all other positions from the cache (an approximation: they are from the last refresh).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class DenoiserConfig:
    """Shape of the transformer. The defaults match nothing in particular; ``esm2_config`` mirrors ESM-2."""

    vocab_size: int
    pad_id: int
    mask_id: int
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    ffn_dim: int | None = None  # default 4 * d_model, as in ESM-2
    token_dropout: bool = True  # ESM-2's rescaling of embeddings by the observed mask ratio
    layer_norm_eps: float = 1e-5
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(f"head dim {self.d_model // self.n_heads} must be even for rotary positions")
        for name in ("pad_id", "mask_id"):
            if not 0 <= getattr(self, name) < self.vocab_size:
                raise ValueError(f"{name}={getattr(self, name)} is outside the vocabulary of {self.vocab_size}")

    @property
    def ffn(self) -> int:
        return self.ffn_dim or 4 * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DenoiserConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}; known keys: {sorted(known)}")
        return cls(**data)


@dataclass
class KVCache:
    """Per-layer keys and values for a whole canvas, shape [B, H, L, D] each. Owned by the sampling loop."""

    keys: list[Tensor]
    values: list[Tensor]

    @property
    def filled(self) -> bool:
        return bool(self.keys)


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Rotary(nn.Module):
    """Rotary position embedding (NeoX layout, as fair-esm uses), applied at absolute positions."""

    def __init__(self, head_dim: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        freqs = torch.outer(positions.to(self.inv_freq.dtype), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.d_model // cfg.n_heads
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.rotary = Rotary(self.head_dim, cfg.rope_base)

    def _heads(self, x: Tensor) -> Tensor:  # [B, T, C] -> [B, H, T, D]
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        key_mask: Tensor | None,
        cached: tuple[Tensor, Tensor] | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x: [B, T, C] at ``positions``; ``cached`` holds full-length keys/values to splice into."""
        q = self.rotary(self._heads(self.q_proj(x)), positions)
        k = self.rotary(self._heads(self.k_proj(x)), positions)
        v = self._heads(self.v_proj(x))
        if cached is not None:  # write the window's fresh keys/values into the cache, attend to all
            full_k, full_v = cached
            full_k[:, :, positions[0] : positions[-1] + 1] = k
            full_v[:, :, positions[0] : positions[-1] + 1] = v
            k, v = full_k, full_v
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        b, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1)), k, v


class Block(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.self_attn = Attention(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.d_model, cfg.ffn)
        self.fc2 = nn.Linear(cfg.ffn, cfg.d_model)

    def forward(self, x, positions, key_mask, cached):
        h, k, v = self.self_attn(self.self_attn_layer_norm(x), positions, key_mask, cached)
        x = x + h
        x = x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
        return x, k, v


class LMHead(nn.Module):
    """Dense → GELU → LayerNorm → projection onto the (tied) token embeddings, plus a bias."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)
        self.layer_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, x: Tensor, embedding_weight: Tensor) -> Tensor:
        x = self.layer_norm(F.gelu(self.dense(x)))
        return F.linear(x, embedding_weight) + self.bias


class Denoiser(nn.Module):
    """Bidirectional transformer: ``forward(tokens) -> logits [B, L, V]`` (or [B, window, V])."""

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.emb_layer_norm_after = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.lm_head = LMHead(config)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_cache(self) -> KVCache:
        """An empty cache; the first forward with ``refresh=True`` fills it."""
        return KVCache(keys=[], values=[])

    def _embed(self, tokens: Tensor) -> Tensor:
        x = self.embed_tokens(tokens)
        padding = tokens.eq(self.config.pad_id)
        if self.config.token_dropout:
            is_mask = tokens.eq(self.config.mask_id)
            x = x.masked_fill(is_mask.unsqueeze(-1), 0.0)
            lengths = (~padding).sum(-1).clamp(min=1)
            observed = is_mask.sum(-1).to(x.dtype) / lengths
            x = x * (1 - 0.15 * 0.8) / (1 - observed).clamp(min=1e-6)[:, None, None]
        return x * (~padding).unsqueeze(-1).to(x.dtype)

    def forward(
        self,
        tokens: Tensor,
        cache: KVCache | None = None,
        window: tuple[int, int] | None = None,
        refresh: bool = False,
    ) -> Tensor:
        """Logits for ``tokens`` [B, L]; with ``window`` only for positions start..end-1.

        ``refresh=True`` (with a cache) computes everything and stores keys/values. A ``window`` without
        refresh needs a filled cache and recomputes only the window, attending to cached keys elsewhere.
        """
        if window is not None and cache is None:
            raise ValueError("a window needs a KVCache: pass cache=model.new_cache() and refresh first")
        if cache is not None and not refresh and not cache.filled:
            raise ValueError("the KVCache is empty: the first cached forward must use refresh=True")
        length = tokens.shape[1]
        padding = tokens.eq(self.config.pad_id)
        key_mask = (~padding)[:, None, None, :]  # [B, 1, 1, L]: True = may attend; no host sync (CUDA graphs)
        x = self._embed(tokens)
        start, end = (0, length) if (window is None or refresh) else window
        positions = torch.arange(start, end, device=tokens.device)
        x = x[:, start:end]
        use_cached = cache is not None and not refresh
        if refresh and cache is not None:
            cache.keys.clear()
            cache.values.clear()
        for i, layer in enumerate(self.layers):
            cached = (cache.keys[i], cache.values[i]) if use_cached else None
            x, k, v = layer(x, positions, key_mask, cached)
            if refresh and cache is not None:
                cache.keys.append(k)
                cache.values.append(v)
        logits = self.lm_head(self.emb_layer_norm_after(x), self.embed_tokens.weight)
        if refresh and window is not None:
            logits = logits[:, window[0] : window[1]]
        return logits


def esm2_config(num_layers: int, embed_dim: int, attention_heads: int, vocab_size: int = 33,
                pad_id: int = 1, mask_id: int = 32, token_dropout: bool = True) -> DenoiserConfig:
    """The Denoiser configuration that reproduces fair-esm's ``ESM2`` of the same size."""
    return DenoiserConfig(vocab_size=vocab_size, pad_id=pad_id, mask_id=mask_id, d_model=embed_dim,
                          n_layers=num_layers, n_heads=attention_heads, ffn_dim=4 * embed_dim,
                          token_dropout=token_dropout)


def from_esm2_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a fair-esm ``ESM2`` state dict to Denoiser keys (contact head, rotary buffers and the tied
    ``lm_head.weight`` are dropped; a ``encoder.``/``sentence_encoder.`` prefix from older files is stripped)."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("encoder.").removeprefix("sentence_encoder.")
        if key.startswith("contact_head.") or key.endswith("rot_emb.inv_freq") or key == "lm_head.weight":
            continue
        out[key] = value
    return out


def to_esm2_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of ``from_esm2_state_dict``: Denoiser keys to the keys fair-esm's ``ESM2`` loads."""
    return {**state, "lm_head.weight": state["embed_tokens.weight"]}
