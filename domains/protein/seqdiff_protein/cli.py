"""``seqdiff design-protein``: thin argparse layer over ``ProteinDesigner.design``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from seqdiff_protein.design_config import DEFAULTS as D

DESCRIPTION = """\
Design protein sequences with a masked-diffusion model: unconditionally (--length) or around motifs
given as an RFdiffusion contig (--motif, verbatim) with residues from a structure (--pdb) or written
literally (seq:RESIDUES). Writes DIR/designs.fasta, DIR/scores.csv and DIR/run.json (atomically)."""

EPILOG = """\
motif grammar (RFdiffusion contigs, plus seq: literals):
  N | N-M          generated residues (length drawn uniformly per design; 0 allowed)
  A163-181 | A38   residues 163..181 (inclusive, PDB author numbering) of chain A of --pdb
  seq:FSLFDKDG     literal motif residues (20 standard amino acids), no structure file needed
  separators "/" or "," (benchmark.csv rows paste as is); 'contigmap.contigs=[...]' is accepted.
  Segment order is the output order. Linker lengths are sampled independently per design (RFdiffusion
  semantics, not EvoDiff's native spacing); to keep a native gap write it as a fixed number:
  A16-35/16/A52-71. Multi-chain contigs (a space, "/0 B1-100") are not supported yet.
  --length LO-HI bounds the total length; --redesign (RFdiffusion inpaint_seq syntax, e.g.
  A163-168/A170-171/A179) regenerates the identity of those motif residues.

outputs: motif_start_idxs/motif_end_idxs are 0-based inclusive; esm_pppl = exp(-PLL/L) with every residue
masked once; read it next to longest_run/top_residue_fraction (weak scorers like homopolymers).
Design i uses seed design_seed(--seed, i): any single design is reproducible at any batch size.

examples:
  seqdiff design-protein --length 100-150 -n 20 --seed 0 --out runs/uncond
  seqdiff design-protein --motif "5-20/seq:FSLFDKDGDGTITTKELGTV/10-25/seq:INEVDADGNGTIDFPEFLTM/5-20" -n 50 --out runs/ef_hands
  seqdiff design-protein --pdb 5TPN.pdb --motif "10-40/A163-181/10-40" --length 50-75 -n 100 --out runs/5tpn
  seqdiff design-protein --pdb 5TPN.pdb --motif 'contigmap.contigs=[10-40/A163-181/10-40]' --redesign "A163-168/A170-171/A179" -n 20 --out runs/5tpn_inpaint
  seqdiff design-protein --pdb 1PRW.pdb --motif "5-20,A16-35,10-25,A52-71,5-20" -n 50 --out runs/1prw
  seqdiff design-protein --length 80 --model esm2_t6_8M_UR50D --esm-model none -n 4 --out runs/esm2_zero_shot
"""

def add_design_command(sub: argparse._SubParsersAction) -> None:
    from seqdiff.precision import add_dtype_argument

    p = sub.add_parser("design-protein", help="design proteins (unconditional or motif scaffolding)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to design")
    g.add_argument("--motif", help="RFdiffusion contig, e.g. '10-40/A163-181/10-40' or '5-20/seq:FSLFDKDGDG/10-25'")
    g.add_argument("--pdb", help="PDB or mmCIF file the contig's chain segments are read from")
    g.add_argument("--length", help="total length LO-HI (or N); alone = unconditional design, e.g. 100-150")
    g.add_argument("--redesign", help="motif residues to regenerate (inpaint_seq syntax), e.g. A163-168/A179")
    g.add_argument("-n", "--num-designs", type=int, default=D.num_designs,
                   help=f"number of designs (default {D.num_designs})")
    g.add_argument("--seed", type=int, default=D.seed,
                   help=f"run seed; design i uses design_seed(seed, i) (default {D.seed})")
    s = p.add_argument_group("sampling")
    s.add_argument("--sampler", default=D.sampler, choices=("ancestral", "confidence"),
                   help="ancestral = random-order MDLM unmasking (default); confidence = LLaDA-style "
                        "most-confident-first (prone to repeats; kept behind the repeat guard)")
    s.add_argument("--steps", type=int, default=D.steps, help="denoising steps (default ceil(generated residues / 8))")
    s.add_argument("--temperature", type=float, default=D.temperature,
                   help=f"sampling temperature (0 = greedy; default {D.temperature})")
    s.add_argument("--top-k", type=int, default=D.top_k, help="sample from the k most likely residues")
    s.add_argument("--top-p", type=float, default=D.top_p, help="nucleus sampling threshold in (0, 1]")
    s.add_argument("--remasking", default=D.remasking, choices=("low_confidence", "random"),
                   help="confidence sampler: which positions to commit first")
    s.add_argument("--no-repeat-guard", action="store_true",
                   help="do not re-mask runaway repeats (a residue over the share limit, runs over --max-run)")
    s.add_argument("--max-residue-fraction", type=float, default=D.max_residue_fraction,
                   help=f"repeat guard: residue share limit (default {D.max_residue_fraction})")
    s.add_argument("--max-run", type=int, default=D.max_run,
                   help=f"repeat guard: longest allowed homopolymer run (default {D.max_run})")
    s.add_argument("--repeat-rounds", type=int, default=D.repeat_rounds,
                   help=f"repeat guard: re-mask rounds at most (default {D.repeat_rounds})")
    m = p.add_argument_group("models and scoring")
    m.add_argument("--model", help="seqdiff model folder (default: the bundled model), or a fair-esm ESM-2 name "
                                   "(esm2_t6_8M_UR50D, from the torch hub cache) or .pt checkpoint (zero-shot)")
    m.add_argument("--esm-model", default="bundled",
                   help="scorer for pseudo-perplexity: bundled (the bundled ESM-2-architecture scorer, default), a "
                        "fair-esm name or .pt, a Hugging Face EsmForMaskedLM folder/id, or none")
    m.add_argument("--esm-download", action="store_true",
                   help="allow downloading fair-esm / Hugging Face weights that are not cached")
    m.add_argument("--train-fasta", default="auto",
                   help="FASTA for the nearest-training-identity column (default: the training split of the "
                        "model's data when present; none to skip)")
    m.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, mps)")
    add_dtype_argument(m)
    m.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice; 1 is often fastest on a busy machine)")
    m.add_argument("--batch-size", type=int, default=D.batch_size,
                   help=f"designs per model call (default {D.batch_size})")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, metavar="DIR", help="output folder")
    o.add_argument("--resume", action="store_true", help="keep the designs already in DIR and make the rest")
    o.add_argument("--baselines", action="store_true",
                   help="also write random and scrambled-motif baselines (baselines.fasta/.csv), scored the same way")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_design)


def _usage(message: str):
    from seqdiff.cli import UsageError

    return UsageError(message)


def design_config(args: argparse.Namespace):
    """The ``DesignConfig`` the flags describe (errors name the flag)."""
    from seqdiff.config import ConfigError
    from seqdiff_protein.design_config import DesignConfig, translate

    novelty = None if args.train_fasta == "none" else args.train_fasta
    fields = dict(motif=args.motif, pdb=args.pdb, length=args.length, redesign=args.redesign,
                  num_designs=args.num_designs, seed=args.seed, steps=args.steps, temperature=args.temperature,
                  sampler=args.sampler, top_k=args.top_k, top_p=args.top_p, remasking=args.remasking,
                  batch_size=args.batch_size, baselines=args.baselines, repeat_guard=not args.no_repeat_guard,
                  max_residue_fraction=args.max_residue_fraction, max_run=args.max_run,
                  repeat_rounds=args.repeat_rounds, novelty=novelty, progress=not args.quiet)
    try:
        return DesignConfig.from_dict(fields)
    except ConfigError as err:
        raise _usage(translate(err)) from None


def _check_machine(args: argparse.Namespace) -> None:
    import torch

    from seqdiff.cli import set_threads

    set_threads(args.threads)
    try:
        torch.device(args.device)
    except (RuntimeError, ValueError):
        raise _usage(f"--device {args.device!r} is not a torch device; e.g. --device cpu or --device cuda") from None


def _check_out(args: argparse.Namespace, out: Path) -> None:
    from seqdiff_protein.design_config import DesignInputError

    if out.exists() and not out.is_dir():
        raise DesignInputError(f"--out {args.out!r} is a file; give a folder, e.g. --out runs/design1")
    if (out / "designs.fasta").exists() and not args.resume:
        raise DesignInputError(f"--out {args.out!r} already holds designs; pass --resume to keep them and make the "
                               f"rest, or choose a new folder, e.g. --out {args.out.rstrip('/')}_2")
    if args.train_fasta not in ("none", "auto") and not Path(args.train_fasta).is_file():
        raise DesignInputError(f"--train-fasta {args.train_fasta!r} does not exist; give a FASTA file or none")
    base = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise DesignInputError(f"--out {args.out!r} cannot be created ({str(base)!r} is not a writable folder); "
                               f"e.g. --out runs/design1")


def run_design(args: argparse.Namespace) -> int:
    from seqdiff.config import ConfigError
    from seqdiff_protein.design_config import DesignInputError, translate
    from seqdiff_protein.designer import ProteinDesigner
    from seqdiff_protein.esm_io import ESMLoadError
    from seqdiff_protein.contig import MotifError

    out = Path(args.out)
    config = design_config(args)
    _check_machine(args)
    kept: list = []  # designs on disk, for the interrupt message
    try:
        _check_out(args, out)
        designer = ProteinDesigner.from_pretrained(args.model, device=args.device, esm_model=args.esm_model,
                                                   esm_download=args.esm_download, dtype=args.dtype)
        previous = load_previous(out, config, designer) if args.resume and (out / "designs.fasta").exists() else []

        def write(result):
            try:
                result.write(out)
            except OSError as err:
                raise DesignInputError(f"cannot write to --out {args.out!r}: {err.strerror or err}; give a "
                                       f"writable folder, e.g. --out runs/design1") from None
            kept[:] = result.designs

        result = designer.design(config, previous=previous, on_batch=write)
        write(result)
    except ConfigError as err:
        raise _usage(translate(err)) from None
    except (DesignInputError, MotifError, ESMLoadError) as err:
        raise _usage(str(err)) from None
    except KeyboardInterrupt:
        if kept:
            print(f"seqdiff: interrupted: {len(kept)} designs kept in {str(out)!r}; continue with --resume",
                  file=sys.stderr)
        raise
    print_summary(result, out)
    return 0


def print_summary(result, out: Path) -> None:
    rows = [("designs", result.summary.get("designs", {}))]
    rows += [(k, result.summary[k]) for k in ("random", "scrambled_motif") if k in result.summary]
    print(f"wrote {out}/designs.fasta, scores.csv, run.json" + (" (+ baselines.*)" if result.baselines else ""))
    print(f"scorer: {result.config.get('scorer')}   model: {result.config.get('model')}")
    print(f"{'set':<16}{'n':>4}{'pppl_mean':>11}{'longest_run':>13}{'top_res_frac':>14}{'train_ident':>13}"
          f"{'diversity':>11}")

    def f(v):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    for name, s in rows:
        print(f"{name:<16}{s.get('n', 0):>4}{f(s.get('esm_pppl_mean')):>11}{f(s.get('longest_run_mean')):>13}"
              f"{f(s.get('top_residue_fraction_mean')):>14}{f(s.get('nearest_train_identity_mean')):>13}"
              f"{f(s.get('pairwise_diversity')):>11}")


def load_previous(out: Path, config, designer) -> list:
    """Designs (and baselines) already written to ``out``, after checking they were made with these settings."""
    from seqdiff_protein.designer import check_previous
    from seqdiff_protein.records import check_resume, read_run

    old, designs, baselines = read_run(out)
    spec = designer.prepare(config)
    check_resume(old, designer.run_config(config, spec, designer.scorer(config.esm_model),
                                          designer.novelty.get(config.novelty, designer.model_path)), out)
    check_previous({int(r.mapping["index"]): r for r in designs}, config.num_designs)
    return designs + baselines


if __name__ == "__main__":  # pragma: no cover
    from seqdiff.cli import main

    sys.exit(main(["design-protein", *sys.argv[1:]]))
