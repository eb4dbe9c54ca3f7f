"""DesignConfig: Python errors name the field, the CLI names the flag, bounds refuse before any work, layouts
stream, and ``--resume`` never removes a design."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff.cli import main
from seqdiff.config import ConfigError
from seqdiff_protein import DesignConfig, ProteinDesigner
from seqdiff_protein.designer import length_batches
from seqdiff_protein.layout import ContigSpec


class NoCalls:
    """A generator model that must never run: a refused config does no work."""

    def to(self, device):
        return self

    def eval(self):
        return self

    def __call__(self, *args, **kwargs):
        raise AssertionError("the model was called")


@pytest.mark.parametrize("fields,message", [
    ({"num_designs": 0}, "num_designs=0 must be >= 1"),
    ({"num_designs": 10**9}, "num_designs=1000000000 must be <= 100000"),
    ({"temperature": math.nan}, "temperature=nan must be a finite number"),
    ({"temperature": math.inf}, "temperature=inf must be a finite number"),
    ({"max_residue_fraction": -0.5}, "max_residue_fraction=-0.5 must be >= 0.0"),
    ({"max_run": -1}, "max_run=-1 must be >= 1"),
    ({"repeat_rounds": -2}, "repeat_rounds=-2 must be >= 0"),
    ({"sampler": "greedy"}, "sampler='greedy' must be one of 'ancestral', 'confidence'"),
    ({"length": 0}, "length=0 must be >= 1"),
    ({"num_design": 3}, "num_design=3 is not a DesignConfig field; known: baselines, batch_size,"),
])
def test_python_errors_name_the_field_before_any_work(fields, message):
    designer = ProteinDesigner(NoCalls(), esm_model="none")
    with pytest.raises(ConfigError) as err:
        designer.design(**{"length": 20, **fields})
    assert str(err.value).startswith(message)


def test_design_takes_a_config_or_fields_not_both():
    designer = ProteinDesigner(NoCalls(), esm_model="none")
    with pytest.raises(TypeError, match="not both"):
        designer.design(DesignConfig(length=20), seed=1)


@settings(max_examples=30, deadline=None)
@given(st.builds(DesignConfig, length=st.integers(1, 500), num_designs=st.integers(1, 100),
                 temperature=st.floats(0, 5), top_p=st.none() | st.floats(0.01, 1),
                 sampler=st.sampled_from(["ancestral", "confidence"]), novelty=st.none() | st.just("auto")))
def test_config_round_trips_through_a_dict(config):
    assert DesignConfig.from_dict(asdict(config)) == config


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 60), batch=st.integers(1, 7))
def test_layouts_stream_in_equal_length_batches(n, batch):
    spec = ContigSpec.parse("2-9/seq:MK/0-3")
    batches = list(length_batches((spec.layout(0, i) for i in range(n)), batch))
    assert sorted(lay.index for b in batches for lay in b) == list(range(n))
    assert all(1 <= len(b) <= batch and len({lay.length for lay in b}) == 1 for b in batches)


@pytest.mark.parametrize("argv,needle", [
    (["-n", "0"], "-n/--num-designs 0 must be >= 1"),
    (["--temperature", "nan"], "--temperature nan must be a finite number"),
    (["--max-residue-fraction", "-0.5"], "--max-residue-fraction -0.5 must be >= 0.0"),
    (["--repeat-rounds", "-2"], "--repeat-rounds -2 must be >= 0"),
    (["--threads", "-1"], "--threads -1 must be >= 1"),
    (["--device", "tpu9"], "--device 'tpu9' is not a torch device"),
    (["--motif", "1-100000"], "100000 residues is over the model's 1022-residue limit"),
    (["--out", "/proc/seqdiff-x"], "cannot"),
    (["--out", "{tmp}/a-file/sub"], "is not a writable folder"),
])
def test_cli_names_the_flag_and_writes_nothing(argv, needle, tmp_path, tiny_model_dir, capsys):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as err:
        main(["design-protein", "--length", "20", "--model", str(tiny_model_dir), "--esm-model", "none",
              "--train-fasta", "none", "--out", str(tmp_path / "out"), *[a.replace("{tmp}", str(tmp_path))
                                                                           for a in argv]])
    assert err.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_resume_with_fewer_designs_keeps_every_design(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "run"
    base = ["design-protein", "--motif", "3-6/seq:MKT/3-6", "--model", str(tiny_model_dir), "--esm-model", "none",
            "--train-fasta", "none", "--quiet", "--seed", "2", "--out", str(out)]
    assert main([*base, "-n", "5"]) == 0
    before = {f: (out / f).read_bytes() for f in ("designs.fasta", "scores.csv", "run.json")}
    with pytest.raises(SystemExit) as err:
        main([*base, "-n", "2", "--resume"])
    assert err.value.code == 2
    stderr = capsys.readouterr().err
    assert "-n/--num-designs 2 is fewer than the 5 designs the run already holds" in stderr and "at least 5" in stderr
    assert {f: (out / f).read_bytes() for f in before} == before
    assert main([*base, "-n", "5", "--resume"]) == 0  # nothing to add: the same designs
    assert (out / "designs.fasta").read_bytes() == before["designs.fasta"]
    with pytest.raises(SystemExit):
        main([*base, "-n", "6", "--resume", "--max-run", "3"])  # a setting that changes designs
    assert "max_run" in capsys.readouterr().err


def test_resume_refuses_corrupt_files(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "run"
    base = ["design-protein", "--length", "12", "--model", str(tiny_model_dir), "--esm-model", "none",
            "--train-fasta", "none", "--quiet", "--out", str(out)]
    assert main([*base, "-n", "2"]) == 0
    scores = (out / "scores.csv").read_text().splitlines()
    header = scores[0].split(",")
    row = scores[1].split(",")
    row[header.index("length")] = "abc"
    (out / "scores.csv").write_text("\n".join([scores[0], ",".join(row), *scores[2:]]) + "\n")
    with pytest.raises(SystemExit) as err:
        main([*base, "-n", "3", "--resume"])
    assert err.value.code == 2 and "length='abc'" in capsys.readouterr().err
