"""The Python source corpus: discovery, deduplication, the train/validation/test split, snapshots.

Sources: by default the running interpreter's standard library (``sysconfig.get_paths()["stdlib"]``),
skipping folders named ``test``, ``tests``, ``idlelib``, ``site-packages`` and ``__pycache__``; plus any
files or folders a user names (every ``*.py`` below a folder, same skips).
Files that are not UTF-8, are empty, or are over ``max_file_bytes`` are skipped.

``"packages"`` stands for the Python files of the permissively licensed distributions installed in this
environment (see ``seqdiff_code.packages``: licence rule, skipped folders, size/compile/generated bounds).

Deduplication: by SHA-256 of the file's bytes; the first path in sorted order wins. A package file that
is a near copy of a held-out standard-library file (over half of its distinctive lines, those of 30+
characters, appear in the stdlib validation/test files) is dropped, so held-out code is never trained on.

Split (fixed, by content, so it is the same on every machine and whatever folder the files sit in):
``bucket = int(sha256(file bytes).hexdigest()[:8], 16) % 100``; ``validation`` when bucket < 5,
``test`` when 5 <= bucket < 10, ``train`` otherwise.

Snapshot, to train elsewhere on exactly this corpus (e.g. a GPU machine with another Python):
``python -m seqdiff_code.corpus snapshot DIR`` copies the deduplicated files to ``DIR`` (relative paths
kept, ``manifest.json`` with hash and split per file); then train with ``data.paths: [DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "validation", "test")
SKIP_DIRS = frozenset({"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__"})
STDLIB = "stdlib"  # the name that stands for the running interpreter's standard library in `paths`
PACKAGES = "packages"  # the name that stands for the permissively licensed installed distributions
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relpath: str  # relative to the root it was found under
    text: str
    sha256: str

    @property
    def split(self) -> str:
        return split_of_hash(self.sha256)


def split_of_hash(sha256_hex: str) -> str:
    bucket = int(sha256_hex[:8], 16) % 100
    return "validation" if bucket < 5 else "test" if bucket < 10 else "train"


def split_of_text(text: str) -> str:
    return split_of_hash(hashlib.sha256(text.encode("utf-8")).hexdigest())


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _walk(root: Path) -> list[tuple[Path, str]]:
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        raise FileNotFoundError(f"code data path {str(root)!r} does not exist (give folders of .py files, "
                                f"single files, or {STDLIB!r} for this interpreter's standard library)")
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if SKIP_DIRS & set(rel.parts[:-1]) or not path.is_file():
            continue
        found.append((path, rel.as_posix()))
    return found


def _read(root: Path, max_file_bytes: int):
    for path, rel in _walk(root):
        data = path.read_bytes()
        if not data.strip() or len(data) > max_file_bytes:
            continue
        try:
            yield path, rel, data, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def _distinctive(text: str) -> set[str]:
    return {s for s in (line.strip() for line in text.splitlines()) if len(s) >= 30}


def heldout_stdlib_lines() -> set[str]:
    """Distinctive lines of the stdlib validation and test files (see the near-copy rule above)."""
    lines: set[str] = set()
    for f in collect((STDLIB,)):
        if f.split != "train":
            lines |= _distinctive(f.text)
    return lines


def near_heldout_copy(text: str, heldout: set[str]) -> bool:
    mine = _distinctive(text)
    return bool(mine) and 2 * len(mine & heldout) > len(mine)


def _sources(raw: str, max_file_bytes: int):
    if raw != PACKAGES:
        yield from _read(stdlib_root() if raw == STDLIB else Path(raw).expanduser(), max_file_bytes)
        return
    from seqdiff_code.packages import package_sources

    heldout = heldout_stdlib_lines()
    yield from ((p, r, d, t) for p, r, d, t in package_sources() if not near_heldout_copy(t, heldout))


def collect(paths: tuple[str, ...] | list[str] = (STDLIB,), max_file_bytes: int = MAX_FILE_BYTES) -> list[SourceFile]:
    """Deduplicated source files from ``paths`` (``"stdlib"`` = this interpreter's standard library,
    ``"packages"`` = the permissively licensed installed distributions)."""
    seen: set[str] = set()
    files: list[SourceFile] = []
    for raw in paths:
        for path, rel, data, text in _sources(str(raw), max_file_bytes):
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            files.append(SourceFile(path=path, relpath=rel, text=text, sha256=digest))
    if not files:
        raise FileNotFoundError(f"no Python files found under {list(paths)}")
    return files


def split_files(files: list[SourceFile], split: str) -> list[SourceFile]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return [f for f in files if f.split == split]


def snapshot(directory: str | Path, paths: tuple[str, ...] | list[str] = (STDLIB,)) -> dict:
    """Copy the deduplicated corpus to ``directory`` with a ``manifest.json``; returns the manifest."""
    from seqdiff.io import atomic_write_bytes, atomic_write_text

    out = Path(directory)
    files = collect(paths)
    manifest = {"source_paths": [str(stdlib_root()) if p == STDLIB else str(p) for p in paths],
                "python": sys.version.split()[0], "split_rule": "int(sha256(bytes)[:8],16)%100: <5 validation, "
                "<10 test, else train", "files": []}
    used: set[str] = set()
    for f in files:
        rel = f.relpath
        if rel in used:  # same relative path from two roots: disambiguate by hash
            rel = f"{Path(rel).with_suffix('')}.{f.sha256[:8]}.py"
        used.add(rel)
        atomic_write_bytes(out / rel, f.text.encode("utf-8"))
        manifest["files"].append({"path": rel, "sha256": f.sha256, "split": f.split, "bytes": len(f.text.encode())})
    counts = {s: sum(1 for m in manifest["files"] if m["split"] == s) for s in SPLITS}
    manifest["counts"] = counts
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqdiff_code.corpus",
                                     description="Inspect or snapshot the code training corpus.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("snapshot", help="copy the deduplicated corpus to a folder (train with data.paths=[DIR])")
    p.add_argument("directory")
    p.add_argument("--paths", nargs="*", default=[STDLIB], help=f"sources (default: {STDLIB})")
    p = sub.add_parser("stats", help="print file counts and sizes per split")
    p.add_argument("--paths", nargs="*", default=[STDLIB])
    p = sub.add_parser("licences", help=f"write the installed packages' licence table ({PACKAGES!r} source)")
    p.add_argument("output", help="markdown file to write")
    args = parser.parse_args(argv)
    if args.command == "licences":
        from seqdiff.io import atomic_write_text
        from seqdiff_code.packages import licence_table

        atomic_write_text(Path(args.output), licence_table())
        print(f"wrote {args.output}")
    elif args.command == "snapshot":
        manifest = snapshot(args.directory, args.paths)
        print(f"wrote {len(manifest['files'])} files to {args.directory} ({manifest['counts']})")
    else:
        files = collect(args.paths)
        for split in SPLITS:
            chosen = split_files(files, split)
            print(f"{split}\t{len(chosen)} files\t{sum(len(f.text) for f in chosen) / 1e6:.2f}M chars")
    return 0


if __name__ == "__main__":
    sys.exit(main())
