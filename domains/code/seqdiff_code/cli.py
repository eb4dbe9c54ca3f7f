"""``seqdiff infill``: fill the gap between a prefix and a suffix, or regenerate a line range of a file.

Prints the middle text (or, with ``--json``, one JSON object). Writes no files. Usage errors (bad files,
line ranges, sizes, a missing model) exit 2 with a message naming the bad value.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from seqdiff.precision import add_dtype_argument
from seqdiff_code.infill import DEFAULT_THREADS, MAX_CANDIDATES, MAX_TOKENS_LIMIT

MAX_REMASK_ROUNDS = 64  # each round decodes the candidates again: a bound on the work one command does

EPILOG = """examples:
  seqdiff infill --prefix-file head.py --suffix-file tail.py --max-tokens 48
  seqdiff infill --file mod.py --line 12-14 --candidates 8 --json
  seqdiff infill --file mod.py --line 12 --no-constraints --seed 3"""


def add_infill_command(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "infill", help="fill in code between a prefix and a suffix (the language's parser decides validity)",
        description="Diffusion infilling of code: decodes several candidates (canvas lengths x seeds) in one "
                    "batch, re-masks tokens where CPython (tree-sitter spans) finds errors the middle caused, "
                    "and prints the best valid candidate.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix-file", help="code before the gap (UTF-8)")
    p.add_argument("--suffix-file", help="code after the gap (UTF-8)")
    p.add_argument("--file", help="a source file whose --line range is regenerated (instead of prefix/suffix files)")
    p.add_argument("--line", help="1-based line N or inclusive range N-M of --file to regenerate")
    p.add_argument("--max-tokens", type=int, default=64, help=f"longest middle in tokens, 1..{MAX_TOKENS_LIMIT} "
                                                               f"(default 64; a maximum: short canvases first)")
    p.add_argument("--time-budget-ms", type=int, default=None,
                   help="stop decoding after this long and print the best valid middle so far (default: none)")
    p.add_argument("--n-indent", type=int, default=0, help="llama.cpp n_indent: a later line indented less ends the "
                                                           "middle (default 0: off)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"torch CPU threads (default {DEFAULT_THREADS}: more oversubscribe a busy laptop)")
    p.add_argument("--candidates", type=int, default=4, help=f"candidates decoded in one batch, 1..{MAX_CANDIDATES} "
                                                             f"(default 4)")
    p.add_argument("--no-constraints", action="store_true", help="no syntax-guided remasking; pick by model score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--tokens-per-step", type=int, default=3,
                   help="at least this many tokens committed per step (and every one >= 0.9 sure), in blocks of "
                        "16 (default 3); 0 = the 0.9 threshold rule alone")
    p.add_argument("--remask-rounds", type=int, default=4, help="most validator rounds (default 4)")
    p.add_argument("--language", default=None, help="tree-sitter grammar (default: from the file name, else python)")
    p.add_argument("--model", help="model folder (default: the bundled code model)")
    p.add_argument("--device", default="cpu")
    add_dtype_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (text, valid, nfe, wall_s, ...)")
    p.set_defaults(func=run_infill)


def _read(path: str, flag: str) -> str:
    from seqdiff.cli import UsageError

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{flag} {path!r}: no such file")
    try:
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{flag} {path!r} is not UTF-8 text (byte {err.start}: {err.reason})") from None


def parse_line_range(spec: str, n_lines: int) -> tuple[int, int]:
    """'N' or 'N-M' (1-based, inclusive) → (N, M); ValueError names the problem."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", spec or "")
    if not m:
        raise ValueError(f"--line {spec!r} must look like N or N-M (1-based, inclusive)")
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    if first < 1 or last < first:
        raise ValueError(f"--line {spec!r} is not a valid range (need 1 <= N <= M)")
    if last > n_lines:
        raise ValueError(f"--line {spec!r} is out of bounds: the file has {n_lines} line(s)")
    return first, last


def gather_inputs(args: argparse.Namespace) -> tuple[str, str, str | None]:
    """(prefix, suffix, original middle or None) from the arguments; UsageError on bad input."""
    from seqdiff.cli import UsageError

    if args.file:
        if args.prefix_file or args.suffix_file:
            raise UsageError("give either --file with --line, or --prefix-file/--suffix-file, not both")
        if not args.line:
            raise UsageError(f"--file {args.file!r} needs --line N or --line N-M (the lines to regenerate)")
        text = _read(args.file, "--file")
        lines = text.splitlines(keepends=True)
        try:
            first, last = parse_line_range(args.line, len(lines))
        except ValueError as err:
            raise UsageError(str(err)) from None
        prefix, middle, suffix = "".join(lines[:first - 1]), "".join(lines[first - 1:last]), "".join(lines[last:])
        return prefix, suffix, middle
    if args.line:
        raise UsageError("--line needs --file")
    if not args.prefix_file and not args.suffix_file:
        raise UsageError("give --prefix-file and/or --suffix-file, or --file PATH --line N")
    prefix = _read(args.prefix_file, "--prefix-file") if args.prefix_file else ""
    suffix = _read(args.suffix_file, "--suffix-file") if args.suffix_file else ""
    return prefix, suffix, None


def run_infill(args: argparse.Namespace) -> int:
    from seqdiff.cli import UsageError, check_device, set_threads

    if not 1 <= args.max_tokens <= MAX_TOKENS_LIMIT:
        raise UsageError(f"--max-tokens {args.max_tokens} is out of range (1..{MAX_TOKENS_LIMIT})")
    if not 1 <= args.candidates <= MAX_CANDIDATES:
        raise UsageError(f"--candidates {args.candidates} is out of range (1..{MAX_CANDIDATES})")
    if not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise UsageError(f"--temperature {args.temperature} must be a finite number >= 0 (0 = greedy)")
    if args.tokens_per_step < 0:
        raise UsageError(f"--tokens-per-step {args.tokens_per_step} must be >= 0 (0: threshold rule)")
    if not 0 <= args.remask_rounds <= MAX_REMASK_ROUNDS:
        raise UsageError(f"--remask-rounds {args.remask_rounds} is out of range (0..{MAX_REMASK_ROUNDS})")
    if args.time_budget_ms is not None and args.time_budget_ms < 1:
        raise UsageError(f"--time-budget-ms {args.time_budget_ms} must be >= 1")
    if args.n_indent < 0:
        raise UsageError(f"--n-indent {args.n_indent} must be >= 0")
    set_threads(args.threads)
    check_device(args.device)
    prefix, suffix, original = gather_inputs(args)
    if not prefix and not suffix:
        raise UsageError("the prefix and the suffix are both empty: there is no code around the gap to condition on")
    from seqdiff_code.syntax import language_for_path, languages

    language = args.language or (language_for_path(args.file or args.prefix_file or args.suffix_file or "")
                                 or "python")
    if language not in languages():
        raise UsageError(f"--language {language!r} has no registered grammar; registered: {', '.join(languages())}")
    if args.model is not None and not Path(args.model).is_dir():
        raise UsageError(f"--model {args.model!r}: no such model folder")
    from seqdiff_code.infill import CodeInfiller, InfillDecoding

    try:
        infiller = CodeInfiller.from_pretrained(args.model, device=args.device, dtype=args.dtype,
                                                max_remask_rounds=args.remask_rounds,
                                                decoding=InfillDecoding(tokens_per_step=args.tokens_per_step or None))
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(f"--model {args.model or '(bundled)'}: {err}") from None
    budget = args.time_budget_ms / 1000 if args.time_budget_ms else None
    result = infiller.infill(prefix, suffix, max_tokens=args.max_tokens, candidates=args.candidates,
                             seed=args.seed, constrained=not args.no_constraints, temperature=args.temperature,
                             language=language, time_budget_s=budget, n_indent=args.n_indent)
    if args.json:
        data = result.to_dict()
        if original is not None:
            data["original"] = original
            data["exact_match"] = result.text == original
        print(json.dumps(data, ensure_ascii=False))
    else:
        sys.stdout.write(result.text)
        if not result.text.endswith("\n"):
            sys.stdout.write("\n")
        print(f"# valid={result.valid} candidates={result.candidates} remask_rounds={result.remask_rounds} "
              f"nfe={result.nfe} wall_s={result.wall_s:.2f} truncated={result.truncated}", file=sys.stderr)
    return 0
