import hashlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff_code.corpus import collect, snapshot, split_files, split_of_hash, split_of_text
from seqdiff_code.data import CodeDataConfig, CodeDataset, cut_middle, span_example


def _write_corpus(root, n=30):
    for i in range(n):
        sub = root / ("pkg" if i % 2 else "") / ("test" if i % 7 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n\n\nclass C{i}:\n    y = {i}\n" * 3)
    (root / "dup.py").write_text((root / "m1.py").read_text() if (root / "m1.py").exists()
                                 else (root / "pkg" / "m1.py").read_text())
    (root / "latin1.py").write_bytes(b"x = '\xe9'\n")


def test_split_rule_is_the_documented_hash_rule():
    for text in ["a = 1\n", "b = 2\n", "", "é"]:
        digest = hashlib.sha256(text.encode()).hexdigest()
        bucket = int(digest[:8], 16) % 100
        assert split_of_text(text) == ("validation" if bucket < 5 else "test" if bucket < 10 else "train")
    assert split_of_hash("00000000") == "validation"


def test_collect_dedups_skips_tests_and_non_utf8(tmp_path):
    _write_corpus(tmp_path)
    files = collect([str(tmp_path)])
    names = {f.relpath for f in files}
    assert not any("test/" in n for n in names)
    assert "latin1.py" not in names
    assert len({f.sha256 for f in files}) == len(files)
    assert ("dup.py" in names) != ("pkg/m1.py" in names)  # same bytes: only the first in sorted order stays


def test_snapshot_keeps_split(tmp_path):
    _write_corpus(tmp_path / "src")
    manifest = snapshot(tmp_path / "snap", [str(tmp_path / "src")])
    a, b = collect([str(tmp_path / "src")]), collect([str(tmp_path / "snap")])
    for split in ("train", "validation", "test"):
        assert sorted(f.sha256 for f in split_files(a, split)) == sorted(f.sha256 for f in split_files(b, split))
    assert sum(manifest["counts"].values()) == len(a)


def test_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        collect([str(tmp_path / "nowhere")])


def test_span_example_layout(tokenizer):
    ex = span_example(tokenizer, "def f(x):\n", "    return x\n", "\nprint(f(1))\n", max_length=64, canvas=10)
    tokens, maskable = ex["tokens"], ex["maskable"]
    idx = maskable.nonzero().squeeze(-1)
    assert len(idx) == 10 and (idx == torch.arange(idx[0], idx[0] + 10)).all()  # one contiguous canvas
    canvas = tokens[idx].tolist()
    n_mid = len(tokenizer.encode("    return x\n"))
    assert canvas[n_mid:] == [tokenizer.eos_id] * (10 - n_mid)  # filler at the end of the middle
    assert tokenizer.decode(tokens[: idx[0]].tolist()) == "def f(x):\n"
    assert tokenizer.decode(tokens[idx[-1] + 1:].tolist()) == "\nprint(f(1))\n"
    assert span_example(tokenizer, "", "x" * 200, "", max_length=64, canvas=10) is None


def test_dataset_examples(tokenizer):
    import random

    text = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(200))
    cfg = CodeDataConfig(max_length=64, max_canvas=32, span_fraction=0.5)
    ds = CodeDataset([text], tokenizer, cfg, deterministic=True)
    kinds = set()
    for i in range(min(len(ds), 40)):
        ex = ds[i]
        assert len(ex["tokens"]) <= 64 and ex["tokens"].shape == ex["maskable"].shape
        kinds.add(bool((~ex["maskable"]).any()))
        eos = ex["tokens"] == tokenizer.eos_id
        assert not (eos & ~ex["maskable"]).any()
    assert kinds == {True, False}
    assert torch.equal(ds[3]["tokens"], ds[3]["tokens"])  # validation examples are fixed
    rng = random.Random(0)
    for _ in range(50):
        a, b = cut_middle(text, rng)
        assert 0 <= a < b <= len(text)


def test_data_config_errors():
    with pytest.raises(ValueError, match="unknown code data key"):
        CodeDataConfig.from_dict({"max_len": 3})
    with pytest.raises(ValueError, match="span_fraction"):
        CodeDataConfig(span_fraction=2)
    assert CodeDataConfig.from_dict({"paths": "x"}).paths == ("x",)


# --- installed packages as a corpus source -------------------------------------------------------------

def test_spdx_expressions():
    from seqdiff_code.packages import spdx_permissive

    assert spdx_permissive("MIT") and spdx_permissive("BSD-3-Clause") and spdx_permissive("PSF-2.0")
    assert spdx_permissive("Apache-2.0 OR BSD-3-Clause")
    assert spdx_permissive("Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-2-Clause AND BSL-1.0 AND MIT")
    assert spdx_permissive("GPL-3.0-only OR MIT")  # an OR lets us take the permissive side
    assert not spdx_permissive("MPL-2.0 AND MIT")  # an AND binds us to both
    assert not spdx_permissive("(MIT OR Apache-2.0) AND LGPL-2.1-or-later")
    assert not spdx_permissive("LicenseRef-Biopython-License-Agreement")
    assert not spdx_permissive("")


def _meta(text: str):
    import email

    return email.message_from_string(text)


def test_licence_from_fields_and_classifiers():
    from seqdiff_code.packages import licence_of

    assert licence_of(_meta("License-Expression: MIT\nLicense: GPL\n")) == ("MIT", True)  # the expression decides
    assert licence_of(_meta("License: Dual License\nClassifier: License :: OSI Approved :: BSD License\n"))[1]
    gpl = "License: BSD\nClassifier: License :: OSI Approved :: GNU General Public License (GPL)\n"
    assert not licence_of(_meta(gpl))[1]  # any copyleft name skips the package
    pasted = "License: Copyright (c) 2003 Someone" + " words" * 30 + "\n"
    assert licence_of(_meta(pasted)) == ("unknown", False)  # a pasted licence text is not read as a name
    assert licence_of(_meta("Classifier: License :: OSI Approved :: MIT License\n")) == ("MIT License", True)
    assert licence_of(_meta("Name: x\n")) == ("unknown", False)


def test_acceptable_bounds():
    from seqdiff_code.packages import MAX_FILE_BYTES, acceptable

    assert acceptable(b"def f(x):\n    return x\n", "a.py") == "def f(x):\n    return x\n"
    assert acceptable(b"x = '\xe9'\n", "a.py") is None  # not UTF-8
    assert acceptable(b"def f(:\n", "a.py") is None  # CPython cannot compile it
    assert acceptable(b"return 1\n", "a.py") is None  # parses, but compile() rejects it
    assert acceptable(b"# Generated by the protocol buffer compiler.  DO NOT EDIT!\nx = 1\n", "a.py") is None
    assert acceptable(b"x = [" + b"1, " * 400 + b"]\n", "a.py") is None  # a data table
    assert acceptable(b"x = 1\n" * (MAX_FILE_BYTES // 6 + 1), "a.py") is None
    assert acceptable(b"x = '\\d'\n", "a.py") is not None  # a SyntaxWarning is not an error


def _package(root, name, licence_ok, files):
    from seqdiff_code.packages import Package

    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return Package(name=name, version="1.0", licence="MIT" if licence_ok else "GPL-3.0", permissive=licence_ok,
                   root=root, files=tuple(sorted(files)))


def test_package_sources_licence_and_cap(tmp_path):
    from seqdiff_code.packages import licence_table, package_sources

    ok = _package(tmp_path, "okpkg", True, {f"okpkg/m{i}.py": f"x = {i}\n" * 10 for i in range(6)})
    bad = _package(tmp_path, "gplpkg", False, {"gplpkg/m.py": "y = 1\n"})
    got = package_sources([ok, bad])
    assert {rel.split("/")[0] for _, rel, _, _ in got} == {"okpkg"} and len(got) == 6
    assert all(rel.startswith("okpkg/okpkg/m") for _, rel, _, _ in got)
    capped = package_sources([ok], max_package_bytes=130)
    assert len(capped) == 2 and {r for _, r, _, _ in capped} < {r for _, r, _, _ in got}
    table = licence_table([ok, bad])
    assert "| okpkg | 1.0 | MIT | 6 |" in table and "GPL-3.0 (not permissive: skipped) | 0 |" in table


def test_installed_packages_skip_our_own_and_test_folders():
    from seqdiff_code.packages import SKIP_DIRS, installed_packages

    packages = installed_packages()
    assert packages and not any(p.name.lower().startswith("seqdiff") for p in packages)
    assert not any(SKIP_DIRS & set(f.split("/")[:-1]) for p in packages for f in p.files)


def test_packages_source_splits_by_content_and_drops_heldout_copies(tmp_path, monkeypatch):
    import seqdiff_code.corpus as corpus
    import seqdiff_code.packages as packages

    heldout = "def long_enough_line_number_one(argument):\n    return argument + 'long enough suffix'\n"
    texts = {f"p/m{i}.py": f"def function_number_{i}(argument_value):\n    return argument_value * {i}\n"
             for i in range(40)}
    pkg = _package(tmp_path, "p", True, {**texts, "p/copy.py": heldout + "x = 1\n"})
    monkeypatch.setattr(packages, "installed_packages", lambda: [pkg])
    monkeypatch.setattr(corpus, "heldout_stdlib_lines", lambda: corpus._distinctive(heldout))
    files = collect([corpus.PACKAGES])
    assert len(files) == 40 and not any(f.relpath.endswith("copy.py") for f in files)
    assert all(f.split == split_of_text(f.text) for f in files)
    # the corpus grows: every file keeps its split
    grown = _package(tmp_path, "p", True, {**texts, **{f"p/n{i}.py": f"z = {i}\n" for i in range(20)}})
    monkeypatch.setattr(packages, "installed_packages", lambda: [grown])
    before = {f.sha256: f.split for f in files}
    after = {f.sha256: f.split for f in collect([corpus.PACKAGES])}
    assert all(after[h] == s for h, s in before.items())


# --- line-aligned spans --------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.text("abc:=(", max_size=8)), min_size=1, max_size=12),
       st.integers(0, 10**6), st.booleans())
def test_cut_lines_is_an_editor_gap(lines, seed, keep_indent):
    import random

    from seqdiff_code.data import cut_lines

    text = "\n".join("    " * depth + body for depth, body in lines) + "\n"
    span = cut_lines(text, random.Random(seed), keep_indent)
    if span is None:
        return
    a, b = span
    middle, before, after = text[a:b], text[:a], text[b:]
    assert middle.strip() and not middle.endswith("\n")
    assert after.startswith("\n")  # the last line's newline stays in the suffix
    line_start = before.rfind("\n") + 1
    indent = before[line_start:]
    if keep_indent:
        assert not indent.strip() and not middle[0].isspace()
    else:
        assert indent == ""


def test_dataset_line_examples(tokenizer):
    text = "".join(f"def f{i}(x):\n    if x:\n        return x * {i}\n    return 0\n\n" for i in range(100))
    cfg = CodeDataConfig(max_length=96, max_canvas=48, span_fraction=1.0, line_fraction=1.0)
    ds = CodeDataset([text], tokenizer, cfg, deterministic=True)
    kept_indent = 0
    for i in range(min(len(ds), 40)):
        ex = ds[i]
        idx = ex["maskable"].nonzero().squeeze(-1)
        canvas = [t for t in ex["tokens"][idx].tolist() if t != tokenizer.eos_id]
        middle = tokenizer.decode(canvas)
        suffix = tokenizer.decode(ex["tokens"][idx[-1] + 1:].tolist())
        prefix = tokenizer.decode(ex["tokens"][: idx[0]].tolist())
        assert middle.strip() and not middle.endswith("\n") and suffix.startswith("\n")
        kept_indent += prefix.endswith(" ")
    assert 0 < kept_indent < 40  # both variants are drawn


def test_line_fraction_zero_keeps_the_old_draws(tokenizer):
    """With line_fraction 0 the examples are those of the mix before line spans existed (digest taken from
    that code), so older runs' validation figures stay comparable."""
    text = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(200))
    ds = CodeDataset([text], tokenizer, CodeDataConfig(max_length=64, max_canvas=32, keep_indent_fraction=0.9),
                     deterministic=True)
    digest = hashlib.sha256()
    for i in range(20):
        digest.update(f"{ds[i]['tokens'].tolist()}{ds[i]['maskable'].tolist()}".encode())
    assert digest.hexdigest()[:16] == "92a458d68975acda"
    with pytest.raises(ValueError, match="line_fraction"):
        CodeDataConfig(line_fraction=1.5)


def test_infill_tasks_never_take_a_whole_file(tmp_path):
    """A one-line file would make a task with no prefix and no suffix (an infill no one can request)."""
    from seqdiff_code.corpus import split_of_text
    from seqdiff_code.tasks import infill_tasks

    def test_split(template: str) -> str:
        return next(t for t in (template.format(i) for i in range(10_000)) if split_of_text(t) == "test")

    (tmp_path / "one.py").write_text(test_split("x = {}\n"))
    (tmp_path / "two.py").write_text(test_split("def f():\n    return {}\n\n\nprint(f())\n"))
    tasks = infill_tasks(3, 0, seed=0, paths=[str(tmp_path)])  # the three code lines of two.py
    assert tasks and all(t.prefix or t.suffix for t in tasks)
    assert {t.file for t in tasks} == {"two.py"}


def test_tune_canvases_come_from_the_train_split_of_the_named_corpora(tmp_path, tokenizer):
    """``rollout.canvas_options: {paths: [...]}`` widens what ``seqdiff tune`` rolls out on, never onto
    the held-out split the eval scripts measure."""
    from seqdiff_code.corpus import split_of_text
    from seqdiff_code.domain import CodeDomain

    def of_split(template: str, split: str) -> str:
        return next(t for t in (template.format(i) for i in range(10_000)) if split_of_text(t) == split)

    (tmp_path / "train.py").write_text(of_split("def f():\n    return {}\n\n\nprint(f())\n", "train"))
    (tmp_path / "held.py").write_text(of_split("def g():\n    return {}\n\n\nprint(g())\n", "test"))
    spec = CodeDomain().bench_spec(tokenizer)
    canvases = spec.canvases(16, 2, 0, paths=[str(tmp_path)])
    assert len(canvases) == 2 and {c["task"].file for c in canvases} == {"train.py"}
    assert all(sum(c["editable"]) == 16 for c in canvases)
    with pytest.raises(ValueError, match="paths"):
        spec.canvases(16, 2, 0, paths=str(tmp_path))
