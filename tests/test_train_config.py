"""Every way a training config can be wrong is one line naming the bad value, exit status 2, before anything
is trained or written (issue: bad input never crashes)."""

from __future__ import annotations

import pytest

from seqdiff.cli import main


def _train_fails(capsys, tmp_path, *argv: str) -> str:
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["train", *argv, "--set", f"trainer.out_dir={out}"])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    return err


def _yaml(tmp_path, text: str | bytes) -> str:
    path = tmp_path / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize("text, expected", [
    ("domain: toy\ntrainer: {max_steps: [1\n", "not valid YAML"),
    ("- domain: toy\n", "not a mapping"),
    ("domain: nosuchdomain\n", "domain='nosuchdomain' is not installed"),
    ("domain: toy\ntrainer: {max_steps: ten}\n", "trainer.max_steps='ten'"),
    ("domain: toy\nmodel: {d_model: big}\n", "model.d_model='big'"),
    ("domain: toy\nmodel: {d_model: 30, n_heads: 7}\n", "model section"),
    ("domain: toy\nmodel: {d_model: -4}\n", "model.d_model=-4 must be >= 1"),
    ("domain: toy\ntrainer: {max_steps: 0}\n", "trainer.max_steps=0 must be >= 1"),
    ("domain: toy\ndata: [1, 2]\n", "data="),
])
def test_bad_config_files(capsys, tmp_path, text, expected):
    assert expected in _train_fails(capsys, tmp_path, "--config", _yaml(tmp_path, text))


def test_bad_overrides_and_files(capsys, tmp_path):
    assert "not valid YAML" in _train_fails(capsys, tmp_path, "--set", "domain=toy", "--set", "trainer.max_steps=[1")
    assert "'domain' is given a value and sub-keys" in _train_fails(capsys, tmp_path, "--set", "domain=toy",
                                                                    "--set", "domain.x=1")
    assert "domain={'x': 1} must be a string" in _train_fails(capsys, tmp_path, "--set", "domain.x=1")
    assert "is a folder" in _train_fails(capsys, tmp_path, "--config", str(tmp_path))
    err = _train_fails(capsys, tmp_path, "--config", _yaml(tmp_path, b"domain: toy\n# \xff\xfe\n"))
    assert "config.yaml" in err and "UTF-8" in err


def test_a_data_path_that_does_not_exist(capsys, tmp_path):
    err = _train_fails(capsys, tmp_path, "--set", "domain=protein", "--set", f"data.paths={tmp_path / 'nope.fasta'}")
    assert "nope.fasta" in err
