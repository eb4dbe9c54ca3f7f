"""``seqdiff serve`` as a user runs it: ``--model`` goes to the domain its config.json names, ``--domain``
restricts, and a model that cannot load stops the server with exit status 2 instead of 503 forever."""

from __future__ import annotations

import json
import logging

import pytest

pytest.importorskip("uvicorn")

from seqdiff.cli import build_parser, main  # noqa: E402
from seqdiff.serve.command import select  # noqa: E402


def _exit_2(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["serve", *argv])
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_model_goes_to_the_domain_its_folder_names(tiny_model_dir):
    args = build_parser().parse_args(["serve", "--model", str(tiny_model_dir), "--candidates", "3"])
    contributions, options = select(args)
    assert "code" in [c.name for c in contributions]
    assert options["code"].model == tiny_model_dir and options["code"].args.candidates == 3
    assert all(o.model is None for name, o in options.items() if name != "code")


def test_usage_errors_exit_2(capsys, tiny_model_dir, tmp_path):
    assert "add --domain code" in _exit_2(capsys, "--domain", "protein", "--model", str(tiny_model_dir))
    assert "--domain nosuch" in _exit_2(capsys, "--domain", "nosuch")
    assert "no config.json" in _exit_2(capsys, "--model", str(tmp_path))
    assert "pass one per domain" in _exit_2(capsys, "--model", str(tiny_model_dir), "--model", str(tiny_model_dir))
    assert "--candidates" in _exit_2(capsys, "--candidates", "0")


def test_a_model_that_cannot_load_exits_2(capsys, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format": "seqdiff", "version": 1, "domain": "code"}))
    err = _exit_2(capsys, "--domain", "code", "--port", "0", "--log-level", "critical", "--model", str(tmp_path))
    assert "failed to load" in err and "code:" in err
    ours = logging.getLogger("seqdiff.serve")  # the server's logging set-up is undone when it stops
    assert ours.propagate and ours.level == logging.NOTSET
