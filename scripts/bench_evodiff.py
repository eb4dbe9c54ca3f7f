"""EvoDiff's OADM sampler against seqdiff at the same parameter count, in one process: residues/s and ratios.

* EvoDiff: the ``evodiff`` package (1.1.2, ``pip install --no-deps evodiff==1.1.2 sequence-models seaborn``
  plus scikit-learn; not a seqdiff dependency). Its OADM 38M ByteNet is built from the package's own
  ``config38M.json`` exactly as ``evodiff.pretrained.load_sequence_checkpoint`` builds it, with RANDOM
  weights: ``OA_DM_38M()`` would download the checkpoint, this never does. Sampled by evodiff's own
  ``generate_oaardm`` (one forward per residue, random order).
* seqdiff at equal size: a random-weight Denoiser 12 x 512 (38.1M) decoding ``<cls> masks <eos>`` with the
  ancestral sampler at 32/16/8 steps.
* seqdiff's default path: ``design-protein`` (bundled 6.4M model, ceil(L/8) = 32 ancestral steps at 256,
  repeat guard on; scoring and novelty off, so only generation is timed).

Random weights say nothing about quality: the equal-size rows are a speed comparison only (quality of the
trained default path in float32 and bf16: scripts/check_bf16.py).

    nice -n 19 python scripts/bench_evodiff.py --threads 1 --batch-sizes 1,8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from importlib import resources

import numpy as np
import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def evodiff_oadm_38m():
    """(model, tokenizer, generate) for EvoDiff OADM 38M with random weights, nothing downloaded."""
    # evodiff.pretrained imports pkg_resources (gone from setuptools >= 81); only its download helpers use it
    sys.modules.setdefault("pkg_resources", types.ModuleType("pkg_resources"))
    import evodiff.generate
    from evodiff.model import ByteNetLMTime
    from evodiff.utils import Tokenizer
    from sequence_models.constants import MSA_ALPHABET

    config = json.loads(resources.files("config").joinpath("config38M.json").read_text())
    evodiff.generate.tqdm = lambda steps: steps  # its per-residue progress bar, not part of the sampler
    tokenizer = Tokenizer()
    model = ByteNetLMTime(len(MSA_ALPHABET), config["d_embed"], config["d_model"], config["n_layers"],
                          config["kernel_size"], config["r"], causal=False, padding_idx=tokenizer.mask_id,
                          rank=config.get("rank"), dropout=0.0, tie_weights=False, final_ln=True,
                          slim=config.get("slim", True), activation=config.get("activation", "relu"),
                          timesteps=None)
    return model.eval(), tokenizer, evodiff.generate.generate_oaardm


def time_oadm(model, tokenizer, generate, length: int, batch: int) -> float:
    np.random.seed(0)
    start = time.perf_counter()
    _, seqs = generate(model, tokenizer, length, batch_size=batch, device="cpu")
    wall = time.perf_counter() - start
    assert len(seqs) == batch and all(len(s) == length for s in seqs)
    return wall


def equal_size_denoiser():
    from seqdiff.model import Denoiser, DenoiserConfig
    from seqdiff_protein.alphabet import protein_tokenizer

    tok = protein_tokenizer()
    torch.manual_seed(0)
    config = DenoiserConfig(vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id, d_model=512,
                            n_layers=12, n_heads=8)
    return Denoiser(config).eval(), tok


def time_ancestral(model, tok, steps: int, length: int, batch: int) -> float:
    from seqdiff.samplers import AncestralSampler, Denoise, row_generators
    from seqdiff_protein.alphabet import cls_id, nonstandard_ids

    x = torch.tensor([[cls_id(tok)] + [tok.mask_id] * length + [tok.eos_id]] * batch)
    editable = x.eq(tok.mask_id)
    run = Denoise(AncestralSampler(steps=steps), banned_ids=nonstandard_ids(tok))  # the 20 residues only
    start = time.perf_counter()
    run(model, x, editable, row_generators(list(range(batch))))
    return time.perf_counter() - start


def time_default_path(dtype: str, length: int, batch: int) -> float:
    from seqdiff_protein import ProteinDesigner

    designer = ProteinDesigner.from_pretrained(esm_model="none", dtype=dtype)
    designer.design(length=8, num_designs=1, novelty=None, progress=False)  # warm-up
    start = time.perf_counter()
    designer.design(length=length, num_designs=batch, batch_size=batch, seed=0, novelty=None, progress=False)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--dtypes", default="float32,bfloat16", help="seqdiff dtypes (default float32,bfloat16)")
    ap.add_argument("--oadm-dtypes", default="float32", help="EvoDiff dtypes (default float32, as it ships)")
    ap.add_argument("--steps", default="32,16,8", help="ancestral steps of the 12 x 512 rows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    length, batches = args.length, [int(b) for b in args.batch_sizes.split(",")]
    oadm, evo_tok, generate = evodiff_oadm_38m()
    ours, tok = equal_size_denoiser()
    print(f"EvoDiff OADM ByteNet {sum(p.numel() for p in oadm.parameters()) / 1e6:.1f}M params (random); seqdiff "
          f"Denoiser 12x512 {ours.num_parameters() / 1e6:.1f}M (random); length {length}; torch threads "
          f"{torch.get_num_threads()}", flush=True)
    print(f"{'batch':>5}  {'system':<38} {'dtype':<9} {'wall s':>8} {'residues/s':>11} {'vs OADM':>8}", flush=True)
    for batch in batches:
        reference = None
        rows = []
        for dtype in args.oadm_dtypes.split(","):
            rows.append(("evodiff OADM 38M (1 forward/residue)", dtype,
                         time_oadm(oadm.to(DTYPES[dtype]), evo_tok, generate, length, batch)))
        for dtype in args.dtypes.split(","):
            ours.to(DTYPES[dtype])
            time_ancestral(ours, tok, 2, 16, 1)  # warm-up
            for steps in (int(s) for s in args.steps.split(",")):
                wall = time_ancestral(ours, tok, steps, length, batch)
                rows.append((f"seqdiff 12x512 ancestral-{steps}", dtype, wall))
            rows.append(("seqdiff design-protein default (6.4M)", dtype, time_default_path(dtype, length, batch)))
        for name, dtype, wall in rows:
            rate = batch * length / wall
            reference = reference or rate
            print(f"{batch:>5}  {name:<38} {dtype:<9} {wall:>8.2f} {rate:>11.1f} {rate / reference:>7.1f}x",
                  flush=True)


if __name__ == "__main__":
    main()
