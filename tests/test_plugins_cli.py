import subprocess
import sys
from pathlib import Path

import pytest

from seqdiff.cli import main
from seqdiff.domain import Domain
from seqdiff.plugins import domain_entry_points, load_domain, model_folder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqdiff", *args], capture_output=True, text=True, timeout=300)


def test_third_party_domain_is_discovered_through_its_entry_point():
    assert "toy" in domain_entry_points()
    domain = load_domain("toy")
    assert isinstance(domain, Domain)
    assert domain.build_tokenizer({}).encode("abc") == [4, 5, 6]


def test_unknown_domain_lists_the_installed_ones():
    with pytest.raises(LookupError, match="unknown domain 'nope'.*toy"):
        load_domain("nope")


def test_model_folder_takes_a_path_or_a_domain_name(tmp_path):
    """``--model``/``policy:``/``teacher:``: a folder as given (even a missing one, which the loader then
    names), else a domain's bundled model; a domain that bundles none says so."""
    assert model_folder(tmp_path) == tmp_path
    assert model_folder("no/such/folder") == Path("no/such/folder")
    with pytest.raises(LookupError, match="domain 'toy' ships no bundled model"):
        model_folder("toy")


def test_domains_command_lists_versions(capsys):
    assert main(["domains"]) == 0
    out = capsys.readouterr().out
    assert "toy\t0.1.0\ta toy domain for tests" in out


def test_help_lists_core_and_domain_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("domains", "train", "toy-hello"):
        assert command in result.stdout


def test_domain_command_runs():
    result = run_cli("toy-hello")
    assert result.returncode == 0 and "hello from toy" in result.stdout


def test_train_usage_errors_exit_2_and_write_nothing(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--set", "domain=toy", "--set", "trainer.max_stepz=1", "--set", f"trainer.out_dir={out}")
    assert result.returncode == 2
    assert "trainer.max_stepz" in result.stderr
    assert not out.exists()
    result = run_cli("train", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "missing.yaml" in result.stderr


def test_no_command_prints_help_and_exits_2():
    result = run_cli()
    assert result.returncode == 2 and "usage: seqdiff" in result.stdout
