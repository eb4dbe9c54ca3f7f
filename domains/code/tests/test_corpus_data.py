import hashlib

import pytest
import torch

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
