"""The denoiser: one bidirectional pre-norm transformer whose frozen config mirrors each supported family.

With the defaults it is ESM-2 exactly (pre-LayerNorm blocks, rotary positions, biased projections, erf GELU,
tied RoBERTa-style LM head, ESM's token-dropout rescaling), so any ESM-2 state dict converts into it. The
other fields cover the LLaMA-style families (RMSNorm, SwiGLU, grouped-query attention, bias switches, a
plain or untied head, Dream's shifted logits), so LLaDA and the Dream family run through the same code,
caches and samplers; ``seqdiff/families/`` maps each on-disk layout onto it. Tokens in, logits out.

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

NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "swiglu")
LM_HEADS = ("esm", "linear")
MAX_PARAMETERS = 200_000_000_000  # refuse configs beyond any released model before allocating


@dataclass(frozen=True)
class DenoiserConfig:
    """Shape of the transformer. The defaults are ESM-2's choices; families set the rest (families/*.py)."""

    vocab_size: int
    pad_id: int
    mask_id: int
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    ffn_dim: int | None = None  # default 4 * d_model, as in ESM-2
    token_dropout: bool = True  # ESM-2's rescaling of embeddings by the observed mask ratio
    layer_norm_eps: float = 1e-5
    rope_base: float = 10000.0  # rope_theta in Hugging Face configs
    norm: str = "layernorm"  # layernorm (ESM) or rmsnorm (LLaMA, Qwen2)
    mlp: str = "gelu"  # gelu: fc2(gelu(fc1 x)); swiglu: fc2(silu(fc1 x) * fc_up x)
    n_kv_heads: int | None = None  # grouped-query attention; None = n_heads
    qkv_bias: bool = True
    out_bias: bool = True  # attention output projection
    mlp_bias: bool = True
    lm_head: str = "esm"  # esm: dense+GELU+LayerNorm then tied projection + bias; linear: one projection
    tie_embeddings: bool = True  # the projection onto the vocabulary reuses the token embeddings
    logits_shift: bool = False  # Dream: token i is predicted from the output at i-1
    hide_pad: bool = True  # pad tokens are zeroed and never attended; False where pad is also eos (LLaDA, Dream)
    max_positions: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "ffn_dim", "n_kv_heads", "max_positions"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r} must be a positive integer")
        for name, value, choices in (("norm", self.norm, NORMS), ("mlp", self.mlp, MLPS),
                                     ("lm_head", self.lm_head, LM_HEADS)):
            if value not in choices:
                raise ValueError(f"{name}={value!r}: choose one of {', '.join(choices)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(f"head dim {self.d_model // self.n_heads} must be even for rotary positions")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads={self.n_heads} must be divisible by n_kv_heads={self.n_kv_heads}")
        if self.lm_head == "esm" and not self.tie_embeddings:
            raise ValueError("lm_head='esm' projects onto the token embeddings: it needs tie_embeddings=True")
        if not self.layer_norm_eps > 0 or not self.rope_base > 0:
            raise ValueError(f"layer_norm_eps={self.layer_norm_eps} and rope_base={self.rope_base} must be > 0")
        for name in ("pad_id", "mask_id"):
            if not 0 <= getattr(self, name) < self.vocab_size:
                raise ValueError(f"{name}={getattr(self, name)} is outside the vocabulary of {self.vocab_size}")
        if self.estimated_parameters() > MAX_PARAMETERS:
            raise ValueError(f"this config has about {self.estimated_parameters():,} parameters, more than "
                             f"{MAX_PARAMETERS:,}: check d_model, n_layers, ffn_dim and vocab_size")

    @property
    def ffn(self) -> int:
        return self.ffn_dim or 4 * self.d_model

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def estimated_parameters(self) -> int:
        """Parameter count computed from the shape alone (equals ``Denoiser.num_parameters()``)."""
        d, kv = self.d_model, self.kv_heads * self.head_dim
        norm = 2 * d if self.norm == "layernorm" else d
        attn = d * (d + 2 * kv) + d * d + (d + 2 * kv) * self.qkv_bias + d * self.out_bias
        mlp_in = 2 if self.mlp == "swiglu" else 1
        mlp = mlp_in * (d * self.ffn + self.ffn * self.mlp_bias) + self.ffn * d + d * self.mlp_bias
        head = (d * d + d + 2 * d + self.vocab_size) if self.lm_head == "esm" else 0
        head += 0 if self.tie_embeddings else self.vocab_size * d
        return self.vocab_size * d + self.n_layers * (attn + mlp + 2 * norm) + norm + head

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
    """Per-layer keys and values for a whole canvas, shape [B, H_kv, L, D] each. Owned by the sampling loop."""

    keys: list[Tensor]
    values: list[Tensor]

    @property
    def filled(self) -> bool:
        return bool(self.keys)


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rotary_tables(cfg: DenoiserConfig, positions: Tensor) -> tuple[Tensor, Tensor]:
    """cos and sin [T, D] (NeoX layout, as fair-esm, LLaMA and Qwen2 use) in float32, once per forward."""
    dim = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_base ** (torch.arange(0, dim, 2, device=positions.device).float() / dim))
    freqs = torch.outer(positions.float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def _rotate(x: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
    cos, sin = rope
    return x * cos.to(x.dtype) + _rotate_half(x) * sin.to(x.dtype)


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in float32 (as LLaMA, Qwen2 and LLaDA do), scaled by a weight."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x: Tensor) -> Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def _norm(cfg: DenoiserConfig) -> nn.Module:
    if cfg.norm == "rmsnorm":
        return RMSNorm(cfg.d_model, cfg.layer_norm_eps)
    return nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)


class Attention(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.n_heads, self.n_kv, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.d_model, self.n_kv * self.head_dim, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.d_model, self.n_kv * self.head_dim, bias=cfg.qkv_bias)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.out_bias)

    def _heads(self, x: Tensor, n: int) -> Tensor:  # [B, T, n * D] -> [B, n, T, D]
        b, t, _ = x.shape
        return x.view(b, t, n, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, positions: Tensor, rope: tuple[Tensor, Tensor], key_mask: Tensor | None,
                cached: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor, Tensor]:
        """x: [B, T, C] at ``positions``; ``cached`` holds full-length keys/values to splice into."""
        q = _rotate(self._heads(self.q_proj(x), self.n_heads), rope)
        k = _rotate(self._heads(self.k_proj(x), self.n_kv), rope)
        v = self._heads(self.v_proj(x), self.n_kv)
        if cached is not None:  # write the window's fresh keys/values into the cache, attend to all
            full_k, full_v = cached
            full_k[:, :, positions[0] : positions[-1] + 1] = k
            full_v[:, :, positions[0] : positions[-1] + 1] = v
            k, v = full_k, full_v
        groups = self.n_heads // self.n_kv
        k_all, v_all = (k, v) if groups == 1 else (k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1))
        out = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=key_mask)
        b, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1)), k, v


class Block(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.self_attn_layer_norm = _norm(cfg)
        self.self_attn = Attention(cfg)
        self.final_layer_norm = _norm(cfg)
        self.fc1 = nn.Linear(cfg.d_model, cfg.ffn, bias=cfg.mlp_bias)  # the gate, for SwiGLU
        self.fc_up = nn.Linear(cfg.d_model, cfg.ffn, bias=cfg.mlp_bias) if cfg.mlp == "swiglu" else None
        self.fc2 = nn.Linear(cfg.ffn, cfg.d_model, bias=cfg.mlp_bias)

    def forward(self, x, positions, rope, key_mask, cached):
        h, k, v = self.self_attn(self.self_attn_layer_norm(x), positions, rope, key_mask, cached)
        x = x + h
        h = self.final_layer_norm(x)
        h = F.gelu(self.fc1(h)) if self.fc_up is None else F.silu(self.fc1(h)) * self.fc_up(h)
        return x + self.fc2(h), k, v


class LMHead(nn.Module):
    """Dense → GELU → LayerNorm → projection onto the (tied) token embeddings, plus a bias (ESM)."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)
        self.layer_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, x: Tensor, embedding_weight: Tensor) -> Tensor:
        x = self.layer_norm(F.gelu(self.dense(x)))
        return F.linear(x, embedding_weight) + self.bias


class LinearHead(nn.Module):
    """One projection onto the vocabulary: its own weight, or the token embeddings when tied (LLaMA-style)."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.weight = None if cfg.tie_embeddings else nn.Parameter(torch.empty(cfg.vocab_size, cfg.d_model))

    def forward(self, x: Tensor, embedding_weight: Tensor) -> Tensor:
        return F.linear(x, embedding_weight if self.weight is None else self.weight)


class Denoiser(nn.Module):
    """Bidirectional transformer: ``forward(tokens) -> logits [B, L, V]`` (or [B, window, V]); for every
    family ``logits[:, i]`` scores the token at position i."""

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.emb_layer_norm_after = _norm(config)
        self.lm_head = LMHead(config) if config.lm_head == "esm" else LinearHead(config)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, LinearHead) and module.weight is not None:
            nn.init.normal_(module.weight, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_cache(self) -> KVCache:
        """An empty cache; the first forward with ``refresh=True`` fills it."""
        return KVCache(keys=[], values=[])

    def _embed(self, tokens: Tensor) -> Tensor:
        cfg = self.config
        x = self.embed_tokens(tokens)
        real = ~tokens.eq(cfg.pad_id) if cfg.hide_pad else torch.ones_like(tokens, dtype=torch.bool)
        if cfg.token_dropout:
            is_mask = tokens.eq(cfg.mask_id)
            x = x.masked_fill(is_mask.unsqueeze(-1), 0.0)
            lengths = real.sum(-1).clamp(min=1)
            observed = is_mask.sum(-1).to(x.dtype) / lengths
            x = x * (1 - 0.15 * 0.8) / (1 - observed).clamp(min=1e-6)[:, None, None]
        return x * real.unsqueeze(-1).to(x.dtype) if cfg.hide_pad else x

    def _check(self, tokens: Tensor, cache: KVCache | None, window: tuple[int, int] | None, refresh: bool) -> None:
        if window is not None and cache is None:
            raise ValueError("a window needs a KVCache: pass cache=model.new_cache() and refresh first")
        if cache is not None and not refresh and not cache.filled:
            raise ValueError("the KVCache is empty: the first cached forward must use refresh=True")
        limit = self.config.max_positions
        if limit is not None and tokens.shape[1] > limit:
            raise ValueError(f"a canvas of {tokens.shape[1]} positions is longer than this model's "
                             f"max_positions={limit}: shorten the prompt or max_new_tokens")

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
        With ``logits_shift`` a window also recomputes position start-1, whose output scores token start.
        """
        self._check(tokens, cache, window, refresh)
        cfg = self.config
        length = tokens.shape[1]
        # [B, 1, 1, L]: True = may attend; built without a host sync (CUDA graphs)
        key_mask = (~tokens.eq(cfg.pad_id))[:, None, None, :] if cfg.hide_pad else None
        x = self._embed(tokens)
        start, end = (0, length) if (window is None or refresh) else window
        first = start - 1 if (cfg.logits_shift and start > 0) else start
        positions = torch.arange(first, end, device=tokens.device)
        rope = rotary_tables(cfg, positions)
        x = x[:, first:end]
        use_cached = cache is not None and not refresh
        if refresh and cache is not None:
            cache.keys.clear()
            cache.values.clear()
        for i, layer in enumerate(self.layers):
            cached = (cache.keys[i], cache.values[i]) if use_cached else None
            x, k, v = layer(x, positions, rope, key_mask, cached)
            if refresh and cache is not None:
                cache.keys.append(k)
                cache.values.append(v)
        head_only = refresh and window is not None and not cfg.logits_shift
        if head_only:  # a refresh returns the window's logits only: project just those positions
            x = x[:, window[0] : window[1]]
        logits = self.lm_head(self.emb_layer_norm_after(x), self.embed_tokens.weight)
        if cfg.logits_shift:  # output j scores token j + 1; position 0 keeps its own output
            logits = logits[:, :-1] if first < start else torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        if refresh and window is not None and not head_only:
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
