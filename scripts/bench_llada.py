"""Benchmark (not a test): seqdiff's LLaDA path against Fast-dLLM's own LLaDA generate code, same random weights.

At the LLaDA-8B shape on a GPU (or a ~1B LLaDA-style shape on the CPU, said in the output) with random bf16
weights, batch 1: per-step latency and tokens/s for no cache, prefix cache and dual cache (and CUDA graphs on a
GPU, uncached), generation length 256 (and 512), block length 32. Fast-dLLM's ``llada/generate.py`` is loaded at
run time from ``--fastdllm-dir`` (a checkout of github.com/NVlabs/Fast-dLLM, never copied into this repository)
and run on the same weights, prompt and step plan, so the table shows seqdiff/peer ratios.

Random weights are not confident, so a threshold would commit one token per step: both sides run the same
fixed plan (``--steps-per-block`` steps per block of 32, low-confidence remasking, temperature 0).

    python scripts/bench_llada.py --device cuda --fastdllm-dir ~/src/Fast-dLLM --gen-lengths 256 512
    nice -n 19 python scripts/bench_llada.py --threads 1 --fastdllm-dir /path/to/Fast-dLLM   # CPU, ~1B shape
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import torch

from seqdiff.families import llada
from seqdiff.graphs import GraphedDenoiser
from seqdiff.model import Denoiser, DenoiserConfig
from seqdiff.samplers import BlockwiseSampler, CacheOptions, ConfidenceSampler, Denoise, SamplingOptions

# LLaDA-8B's config.json shape, and a ~1B shape with the same vocabulary for CPU runs
SHAPES = {"8b": dict(d_model=4096, n_layers=32, n_heads=32, ffn_dim=12288),
          "1b": dict(d_model=2048, n_layers=8, n_heads=16, ffn_dim=5632),
          "tiny": dict(d_model=64, n_layers=2, n_heads=4, ffn_dim=128)}  # a seconds-long smoke run
VOCAB, MASK_ID, EOS_ID, ROPE_THETA = 126464, 126336, 126081, 500000.0


def llada_config(shape: str) -> DenoiserConfig:
    return DenoiserConfig(vocab_size=VOCAB, pad_id=EOS_ID, mask_id=MASK_ID, **SHAPES[shape], token_dropout=False,
                          rope_base=ROPE_THETA, norm="rmsnorm", mlp="swiglu", qkv_bias=False, out_bias=False,
                          mlp_bias=False, lm_head="linear", tie_embeddings=False, hide_pad=False)


def random_model(cfg: DenoiserConfig, device: str, dtype: torch.dtype, seed: int) -> Denoiser:
    """Random weights made straight in ``dtype`` on ``device``, one tensor at a time (no float32 copy)."""
    with torch.device("meta"):
        model = Denoiser(cfg)
    g = torch.Generator(device=device).manual_seed(seed)
    for name, p in list(model.named_parameters()):
        t = torch.empty(p.shape, dtype=dtype, device=device)
        t.fill_(1.0) if name.endswith("norm.weight") or name.endswith("norm_after.weight") else \
            t.normal_(0, 0.02, generator=g)
        model.load_state_dict({name: t}, strict=False, assign=True)
    return model.eval()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_seqdiff(model, prompt, gen_length, block_length, steps, mode, graphs=False):
    x = torch.cat([prompt, torch.full((1, gen_length), MASK_ID, device=prompt.device)], dim=1)
    editable = torch.zeros_like(x, dtype=torch.bool)
    editable[:, prompt.shape[1]:] = True
    sampler = BlockwiseSampler(ConfidenceSampler(steps=steps, sampling=SamplingOptions(temperature=0.0)),
                               block_length)
    net = GraphedDenoiser(model) if graphs else model
    run = Denoise(sampler, cache=CacheOptions(mode=mode))
    if graphs:  # capture outside the timed run
        run(net, x, editable)
    sync(str(prompt.device))
    start = time.perf_counter()
    out = run(net, x, editable)
    sync(str(prompt.device))
    return time.perf_counter() - start, out.nfe, out.tokens


def load_fastdllm(directory: Path):
    """Fast-dLLM's llada/generate.py and its LLaDA model classes, imported from the user's checkout."""
    llada_dir = directory / "llada"
    if not (llada_dir / "generate.py").is_file():
        raise FileNotFoundError(f"{llada_dir / 'generate.py'} not found: --fastdllm-dir must be a checkout of "
                                f"github.com/NVlabs/Fast-dLLM")
    sys.path.insert(0, str(llada_dir))
    generate = importlib.import_module("generate")
    model_module = importlib.import_module("model")
    return generate, model_module


def fastdllm_model(model_module, cfg: DenoiserConfig, ours: Denoiser, dtype: torch.dtype, device: str):
    """Fast-dLLM's LLaDAModelLM holding our random weights (renamed into LLaDA's layout)."""
    config = model_module.LLaDAConfig(
        d_model=cfg.d_model, n_heads=cfg.n_heads, n_kv_heads=cfg.kv_heads, n_layers=cfg.n_layers,
        mlp_hidden_size=cfg.ffn, mlp_ratio=4, vocab_size=cfg.vocab_size, embedding_size=cfg.vocab_size,
        rope_theta=cfg.rope_base, rms_norm_eps=cfg.layer_norm_eps, weight_tying=False, include_bias=False,
        include_qkv_bias=False, block_type="llama", activation_type="silu", layer_norm_type="rms",
        max_sequence_length=4096, mask_token_id=MASK_ID, pad_token_id=EOS_ID, eos_token_id=EOS_ID,
        flash_attention=False, init_device="cpu", rope=True, alibi=False, attention_layer_norm=False,
        scale_logits=False, bias_for_layer_norm=False, layer_norm_with_affine=True)
    peer = model_module.LLaDAModelLM(config, init_params=False)
    peer.config.use_cache = False  # transformers 5 drops this field from LLaDA's config; generate passes it per call
    state = {llada.KEYS.to_theirs(k): v for k, v in ours.state_dict().items()}
    missing, unexpected = peer.load_state_dict(state, strict=False)
    if unexpected or any("weight" in k for k in missing):
        raise RuntimeError(f"weights did not map onto Fast-dLLM's model: missing {missing}, unexpected {unexpected}")
    return peer.to(device=device, dtype=dtype).eval()


def run_fastdllm(generate, peer, prompt, gen_length, block_length, steps, mode):
    fn = {"none": generate.generate, "prefix": generate.generate_with_prefix_cache,
          "dual": generate.generate_with_dual_cache}[mode]
    sync(str(prompt.device))
    start = time.perf_counter()
    x, nfe = fn(peer, prompt, steps=steps, gen_length=gen_length, block_length=block_length, temperature=0.0,
                remasking="low_confidence", mask_id=MASK_ID, threshold=None)
    sync(str(prompt.device))
    return time.perf_counter() - start, nfe, x


def row(impl, mode, gen, steps, wall, nfe, ratio="", agree=""):
    print(f"{impl:<9} {mode:<12} {gen:>5} {steps:>5} {nfe:>4} {wall:>8.2f} {1000 * wall / max(nfe, 1):>9.1f} "
          f"{gen / wall:>8.2f} {ratio:>7} {agree}", flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--shape", choices=sorted(SHAPES), default=None, help="default: 8b on a GPU, 1b on the CPU")
    p.add_argument("--gen-lengths", type=int, nargs="+", default=[256])
    p.add_argument("--block-length", type=int, default=32)
    p.add_argument("--steps-per-block", type=int, default=None,
                   help="fixed steps per block, the same for both sides (default: the block length on a GPU, "
                        "one token per step; 2 on the CPU)")
    p.add_argument("--prompt-length", type=int, default=32)
    p.add_argument("--modes", nargs="+", default=["none", "prefix", "dual"], choices=["none", "prefix", "dual"])
    p.add_argument("--fastdllm-dir", type=Path, default=None, help="a checkout of github.com/NVlabs/Fast-dLLM")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device.startswith("cuda")
    shape = args.shape or ("8b" if gpu else "1b")
    per_block = args.steps_per_block or (args.block_length if gpu else 2)
    cfg = llada_config(shape)
    model = random_model(cfg, args.device, torch.bfloat16, args.seed)
    where = torch.cuda.get_device_name() if gpu else f"CPU, {torch.get_num_threads()} thread(s), no GPU here"
    print(f"# LLaDA-style denoiser, {shape} shape ({model.num_parameters() / 1e9:.2f}B parameters), random bf16 "
          f"weights, batch 1, block length {args.block_length}, {per_block} steps per block, on {where}")
    print("# random weights are not confident: a threshold would commit one token per step, so both sides run "
          "the same fixed step plan (equal steps, low-confidence remasking, temperature 0)")
    g = torch.Generator().manual_seed(args.seed)
    prompt = torch.randint(0, MASK_ID, (1, args.prompt_length), generator=g).to(args.device)
    peer = generate = None
    if args.fastdllm_dir is not None:
        generate, model_module = load_fastdllm(args.fastdllm_dir)
        peer = fastdllm_model(model_module, cfg, model, torch.bfloat16, args.device)
    with torch.no_grad():
        model(prompt)  # warm-up (allocator, kernels)
        if peer is not None:
            peer(prompt)
    print(f"{'impl':<9} {'mode':<12} {'gen':>5} {'steps':>5} {'nfe':>4} {'wall_s':>8} {'ms/step':>9} {'tok/s':>8} "
          f"{'ratio':>7} tokens-agree")
    for gen in args.gen_lengths:
        steps = per_block * (gen // args.block_length)
        runs = [(m, False) for m in args.modes] + ([("none", True)] if gpu else [])
        for mode, graphs in runs:
            wall, nfe, ours = run_seqdiff(model, prompt, gen, args.block_length, steps, mode, graphs)
            label = mode + ("+graphs" if graphs else "")
            if peer is None or graphs:
                row("seqdiff", label, gen, steps, wall, nfe)
                continue
            peer_wall, peer_nfe, theirs = run_fastdllm(generate, peer, prompt, gen, args.block_length, steps, mode)
            same = int((ours[0, prompt.shape[1]:] == theirs[0, prompt.shape[1]:]).sum())
            row("seqdiff", label, gen, steps, wall, nfe, f"{peer_wall / wall:.2f}x", f"{same}/{gen}")
            row("fastdllm", label, gen, steps, peer_wall, peer_nfe)
    print("# ratio = Fast-dLLM wall time / seqdiff wall time (>1: seqdiff faster); tokens-agree = generated "
          "positions where both chose the same token (bf16 rounding can flip near-ties)")


if __name__ == "__main__":
    main()
