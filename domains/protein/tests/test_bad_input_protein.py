"""Issue #14 in the protein domain: ``seqdiff design-protein`` refuses every bad value with exit status 2 and
one line naming the flag, writes nothing, never removes a design on ``--resume``, says how many designs it
kept on Ctrl-C; ``POST /v1/protein/designs`` answers every bad body with a 400, never a 500.

Cases tested elsewhere (see tests/test_bad_input.py for the whole table): ``--motif 1-100000``, ``--threads
-1``, ``--device tpu9``, ``--temperature nan``, ``/proc/x`` and ``<file>/sub`` as ``--out`` in
test_design_config::test_cli_names_the_flag_and_writes_nothing; ``scores.csv`` with ``length=abc`` in
test_design_config::test_resume_refuses_corrupt_files; every contig bound in
test_motif::test_lengths_are_bounded_at_both_ends_of_every_range; ``--pdb`` on a folder or a text file in
test_motif::test_structure_errors_say_what_the_file_is; wrong field types in
test_serve_protein::test_bad_fields_are_400_naming_the_field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqdiff import testing

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
OUTPUTS = ("designs.fasta", "scores.csv", "run.json")


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``seqdiff ARGV`` in-process: (exit status, stderr)."""
    code, _, err = testing.run_cli(argv)
    return code, err


def design(model: Path, out: Path, *argv: str) -> tuple[int, str]:
    return run_cli(["design-protein", "--model", str(model), "--esm-model", "none", "--train-fasta", "none",
                    "--quiet", "--out", str(out), *argv])


def refused(model: Path, out: Path, *argv: str) -> str:
    """Exit 2, the last stderr line an error, no traceback, ``out`` not created."""
    code, err = design(model, out, *argv)
    assert code == 2 and "Traceback" not in err, (argv, code, err)
    assert "error:" in err.strip().splitlines()[-1] and not out.exists(), err
    return err


# ---------------------------------------------------------------- 1: sizes

@pytest.mark.parametrize("argv, needle", [
    (["--length", "1-100000"], "--length '1-100000' is over the model's 1022-residue limit"),
    (["--motif", "10-1000/seq:ACDEFGH/10-1000"], "makes up to 2007 residues, over the model's 1022-residue limit"),
    (["--length", "5", "-n", "100000000"], "-n/--num-designs 100000000 must be <= 100000"),
    (["--length", "100000-1"], "--length"),
])
def test_sizes_are_refused_before_any_work(tiny_model_dir, tmp_path, argv, needle):
    assert needle in refused(tiny_model_dir, tmp_path / "out", *argv)


# ---------------------------------------------------------------- 6: every numeric flag

NUMERIC_FLAGS = ["--num-designs", "--seed", "--steps", "--temperature", "--top-k", "--top-p",
                 "--max-residue-fraction", "--max-run", "--repeat-rounds", "--batch-size", "--threads"]
BAD_NUMBERS = st.sampled_from(["nan", "inf", "-inf", "-1", "-0.5", "1e308", str(10**30), "", "1,5", "0x10"]) | \
    st.integers(max_value=-1).map(str) | st.integers(min_value=2**63).map(str)


@FAST
@given(flag=st.sampled_from(NUMERIC_FLAGS), value=BAD_NUMBERS)
def test_bad_numbers(tiny_model_dir, tmp_path, flag, value):
    out = tmp_path / "out"
    err = refused(tiny_model_dir, out, "--length", "10", f"{flag}={value}")
    assert flag.lstrip("-") in err.strip().splitlines()[-1], err


@pytest.mark.parametrize("argv, needle", [
    (["--threads", "0"], "--threads 0 must be >= 1"),
    (["--temperature", "inf"], "--temperature inf must be a finite number"),
    (["--max-run", "-1"], "--max-run -1 must be >= 1"),
    (["--max-residue-fraction", "nan"], "--max-residue-fraction nan must be a finite number"),
    (["--repeat-rounds", "nan"], "argument --repeat-rounds: invalid int value: 'nan'"),
])
def test_the_issues_values(tiny_model_dir, tmp_path, argv, needle):
    assert needle in refused(tiny_model_dir, tmp_path / "out", "--length", "10", *argv)


# ---------------------------------------------------------------- 3: model folders

def _bad_folder(src: Path, dst: Path, model: dict | None = None, raw: str | None = None) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["model"].update(model or {})
    (dst / "config.json").write_text(raw if raw is not None else json.dumps(config))
    return dst


@pytest.mark.parametrize("model, raw, needle", [
    ({"n_heads": 0}, None, "n_heads=0"),
    ({"d_model": -32}, None, "d_model=-32"),
    ({"ffn_dim": -4}, None, "ffn_dim=-4"),
    ({"d_model": 65536, "n_layers": 1000}, None, "parameters"),
    ({"vocab_size": 1e12}, None, "vocab_size"),
    (None, "[1, 2]", "not a seqdiff model folder"),
])
def test_bad_model_folders(tiny_model_dir, tmp_path, monkeypatch, model, raw, needle):
    def no_tensors(*args, **kwargs):
        raise AssertionError("weights were allocated for a config that should have been refused")

    monkeypatch.setattr("seqdiff.checkpoint.load_weights", no_tensors)
    folder = _bad_folder(tiny_model_dir, tmp_path / "bad", model, raw)
    assert needle in refused(folder, tmp_path / "out", "--length", "10")


def test_serve_bad_model_exits_2(tiny_model_dir, tmp_path):
    folder = _bad_folder(tiny_model_dir, tmp_path / "bad", {"n_heads": 0})
    proc = subprocess.run([sys.executable, "-m", "seqdiff", "serve", "--domain", "protein", "--port", "0",
                           "--protein-esm-model", "none", "--log-level", "critical", "--model", str(folder)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    assert "failed to load" in proc.stderr and "n_heads=0" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- 2, 7: resume

@pytest.fixture(scope="module")
def fifty(tiny_model_dir, tmp_path_factory) -> tuple[Path, list[str]]:
    """A run folder holding 50 short designs, and the arguments that made it."""
    out = tmp_path_factory.mktemp("resume") / "run"
    argv = ["--length", "6", "--seed", "3", "--batch-size", "50"]
    assert design(tiny_model_dir, out, *argv, "-n", "50") == (0, "")
    return out, argv


def test_resume_with_fewer_designs_keeps_all_50(tiny_model_dir, fifty):
    out, argv = fifty
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    assert before["designs.fasta"].count(b">") == 50
    code, err = design(tiny_model_dir, out, *argv, "-n", "10", "--resume")
    assert code == 2 and "Traceback" not in err
    assert "-n/--num-designs 10 is fewer than the 50 designs the run already holds" in err
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before


@pytest.mark.parametrize("edit, needle", [
    (lambda run: run["designs"][0].update(index="zz"), "'zz'"),
    (lambda run: run.update(designs=5), "cannot read the previous run"),
    (lambda run: run.clear(), "rerun with the same settings"),
])
def test_corrupt_run_json_exits_2(tiny_model_dir, fifty, tmp_path, edit, needle):
    src, argv = fifty
    out = tmp_path / "run"
    shutil.copytree(src, out)
    run = json.loads((out / "run.json").read_text())
    edit(run)
    (out / "run.json").write_text(json.dumps(run))
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    code, err = design(tiny_model_dir, out, *argv, "-n", "60", "--resume")
    assert code == 2 and "Traceback" not in err and needle in err, err
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before


def test_run_json_that_is_not_json_exits_2(tiny_model_dir, fifty, tmp_path):
    src, argv = fifty
    out = tmp_path / "run"
    shutil.copytree(src, out)
    (out / "run.json").write_bytes(b'{"config": \xff')
    code, err = design(tiny_model_dir, out, *argv, "-n", "60", "--resume")
    assert code == 2 and "Traceback" not in err and "cannot read the previous run" in err, err


# ---------------------------------------------------------------- 8: Ctrl-C

def test_ctrl_c_says_how_many_designs_are_kept(tiny_model_dir, tmp_path, monkeypatch):
    from seqdiff_protein.designer import ProteinDesigner

    original = ProteinDesigner.design

    def interrupted(self, config=None, on_batch=None, **kw):
        def stop_after_first(result):
            on_batch(result)
            raise KeyboardInterrupt

        return original(self, config, on_batch=stop_after_first, **kw)

    monkeypatch.setattr(ProteinDesigner, "design", interrupted)
    out = tmp_path / "run"
    code, err = design(tiny_model_dir, out, "--length", "6", "-n", "4", "--batch-size", "2")
    assert code == 130 and "Traceback" not in err
    assert f"2 designs kept in {str(out)!r}; continue with --resume" in err
    assert (out / "designs.fasta").read_text().count(">") == 2


# ---------------------------------------------------------------- 4: the HTTP route

starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from seqdiff.serve.app import create_app  # noqa: E402
from seqdiff_protein.routes import contribution  # noqa: E402


@pytest.fixture(scope="module")
def client(tiny_model_dir):
    from seqdiff_protein import ProteinDesigner

    designer = ProteinDesigner.from_pretrained(tiny_model_dir, esm_model="none")
    with TestClient(create_app([contribution(lambda options: designer)]), raise_server_exceptions=False) as c:
        yield c


TEXT_FIELDS = ["motif", "length", "redesign", "sampler", "remasking", "esm_model", "pdb", "novelty"]
TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=30)
ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                        max_leaves=8)
FIELDS = TEXT_FIELDS + ["num_designs", "seed", "steps", "temperature", "top_k", "top_p", "batch_size", "baselines",
                        "repeat_guard", "max_residue_fraction", "max_run", "repeat_rounds", "progress"]


def _answered(r) -> None:
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert r.status_code == 400 and r.json()["error"]["message"], r.text


@FAST
@given(field=st.sampled_from(TEXT_FIELDS), text=TEXT)
def test_any_text_in_any_text_field(client, field, text):
    """Random Unicode (NUL, lone surrogates, astral) in each text field: a design or a 400, never a 500."""
    body = json.dumps({"length": 8, "num_designs": 1, "steps": 2, field: text}).encode()
    _answered(client.post("/v1/protein/designs", content=body))


@FAST
@given(field=st.sampled_from(FIELDS), value=ANY_JSON)
def test_any_json_in_any_field(client, field, value):
    body = json.dumps({"length": 8, "num_designs": 1, "steps": 2, field: value}).encode()  # \u-escaped surrogates
    _answered(client.post("/v1/protein/designs", content=body))


@FAST
@given(body=ANY_JSON)
def test_any_json_body(client, body):
    _answered(client.post("/v1/protein/designs", content=json.dumps(body).encode()))
