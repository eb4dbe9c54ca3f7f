import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqdiff_protein.alphabet import STANDARD_RESIDUES
from seqdiff_protein import DesignInputError, ProteinDesigner
from seqdiff_protein.domain import BUNDLED_MODEL, BUNDLED_SCORER, ProteinDomain
from seqdiff_protein.metrics import NoveltyIndex, RepeatGuard, longest_run, scrambled_motif

THREE = {"A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS", "I": "ILE", "K": "LYS",
         "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN", "R": "ARG", "S": "SER", "T": "THR", "V": "VAL",
         "W": "TRP", "Y": "TYR"}
MOTIF = "5-10/seq:FSLFDKDGDG/4-8"


def write_pdb(path: Path, problem: dict) -> Path:
    """A backbone-only PDB of a problem's motif residues (from motif_examples.json coordinates)."""
    lines, serial = [], 1
    for seg in problem["segments"]:
        if seg["type"] != "motif":
            continue
        for res in seg["backbone"]:
            for atom in ("N", "CA", "C", "O"):
                x, y, z = res[atom]
                lines.append(f"ATOM  {serial:5d}  {atom:<3} {THREE[res['aa']]} {seg['chain']}{res['resnum']:4d}    "
                             f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           {atom[0]}")
                serial += 1
    path.write_text("\n".join(lines + ["END"]) + "\n")
    return path


@pytest.fixture(scope="module")
def designer(tiny_model_dir, tiny_scorer_dir):
    return ProteinDesigner.from_pretrained(tiny_model_dir, esm_model=str(tiny_scorer_dir))


def test_motif_kept_alphabet_standard_and_batching_invariant(designer):
    kw = dict(motif=MOTIF, num_designs=5, seed=3, novelty=None, progress=False)
    a = designer.design(batch_size=1, **kw)
    b = designer.design(batch_size=4, **kw)
    assert a.sequences == b.sequences  # batching never changes a design
    for rec in a.designs:
        seq, row = rec.sequence, rec.row
        assert set(seq) <= set(STANDARD_RESIDUES)
        (s,), (e,) = row["motif_start_idxs"], row["motif_end_idxs"]
        assert seq[s:e + 1] == "FSLFDKDGDG"
        assert 19 <= len(seq) <= 28
    single = designer.design(motif=MOTIF, num_designs=5, seed=3, novelty=None, progress=False, batch_size=5)
    assert single.sequences[2] == a.sequences[2]


def test_confidence_sampler_and_repeat_guard(designer):
    r = designer.design(length="30", num_designs=2, seed=0, sampler="confidence", steps=30, novelty=None,
                        progress=False, esm_model="none")
    assert all(len(s) == 30 for s in r.sequences)
    assert r.designs[0].row["scorer"] == "none"


def test_repeat_guard_marks_runs_and_dominant_residues():
    guard = RepeatGuard(max_fraction=0.25, max_run=3)
    x = torch.tensor([[0] + [5] * 4 + [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] + [2]])  # AAAA + 11 others
    bad = guard(x)
    assert bad[0, 1:5].all() and not bad[0, 5:].any() and not bad[0, 0]
    x = torch.tensor([[0] + [5, 6] * 6 + [2]])  # A and G each 50%
    assert guard(x)[0, 1:13].all()
    assert longest_run("MKKKKAL") == 4


def test_baselines_and_write(designer, tmp_path):
    r = designer.design(motif=MOTIF, num_designs=3, seed=1, baselines=True, progress=False,
                        novelty=["MKTAYIAKQRQISFVKSHFSRQ", "FSLFDKDGDGTITTKELGTV"])
    kinds = {b.row["kind"] for b in r.baselines}
    assert kinds == {"random", "scrambled_motif"}
    for b in r.baselines:
        if b.row["kind"] == "random":
            (s,) = b.row["motif_start_idxs"]
            assert b.sequence[s:s + 10] == "FSLFDKDGDG"
    r.write(tmp_path)
    fasta = (tmp_path / "designs.fasta").read_text().splitlines()
    assert len(fasta) == 6 and fasta[0].startswith(">design_0000, id=0, T=1.0, seed=")
    df = r.to_dataframe()
    assert list(df["id"]) == ["design_0000", "design_0001", "design_0002"]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["designs"][0]["motif_start_idxs"] == r.designs[0].row["motif_start_idxs"]
    assert "summary" in run and "versions" in run
    assert r.designs[0].row["nearest_train_identity"] > 0.3  # shares the motif with the reference


def test_novelty_index_finds_itself():
    idx = NoveltyIndex(["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMLEDPVDAFQEAL"])
    ident, which = idx.nearest("MKTAYIAKQRQISFVKSHFSRQ")
    assert which == 0 and ident == pytest.approx(1.0)
    assert idx.nearest("WWWW")[0] == 0.0


def test_scrambled_motif_keeps_composition():
    import random

    from seqdiff_protein.layout import ContigSpec

    lay = ContigSpec.parse(MOTIF).layout(0, 0)
    design = lay.template.replace("-", "A")
    s = scrambled_motif(design, lay.placements, random.Random(0))
    assert sorted(s) == sorted(design) and s != design


def test_pdb_and_mmcif_motifs(designer, motif_examples, tmp_path):
    prob = next(p for p in motif_examples if p["name"] == "5TPN")
    pdb = write_pdb(tmp_path / "5tpn_motif.pdb", prob)
    r = designer.design(motif="2-4/A163-181/2-4", pdb=str(pdb), num_designs=2, progress=False, novelty=None,
                        redesign="A163-165")
    for rec in r.designs:
        (s,) = rec.row["motif_start_idxs"]
        assert rec.sequence[s + 3:s + 19] == prob["motif_sequences"][0][3:]
        assert rec.mapping["con_ref_pdb_idx"][0] == ["A", 163] and rec.mapping["inpaint_seq"] == [s, s + 1, s + 2]
    from Bio.PDB import MMCIFIO, PDBParser

    io = MMCIFIO()
    io.set_structure(PDBParser(QUIET=True).get_structure("x", str(pdb)))
    io.save(str(tmp_path / "motif.cif"))
    r = designer.design(motif="A170-175", pdb=str(tmp_path / "motif.cif"), num_designs=1, progress=False,
                        novelty=None)
    assert r.sequences[0] == prob["motif_sequences"][0][7:13]
    with pytest.raises(DesignInputError, match="A180-190.*A182.*163-181"):
        designer.design(motif="A180-190", pdb=str(pdb), num_designs=1, progress=False)


def test_esm2_checkpoint_as_generator(tmp_path, fair_esm_checkpoint):
    path = fair_esm_checkpoint(tmp_path / "esm2_t2_tiny.pt")
    d = ProteinDesigner.from_pretrained(str(path), esm_model="none")
    r = d.design(motif="3/seq:MKT/3", num_designs=2, progress=False, novelty=None)
    assert all(s[3:6] == "MKT" for s in r.sequences) and d.model_name == "esm2:esm2_t2_tiny"


def test_domain_scorers_and_references():
    dom = ProteinDomain()
    refs = dom.reference_sequences(3, max_length=200)
    assert len(refs) == 3 and all(set(s) <= set(STANDARD_RESIDUES) for s in refs)
    scorers = dom.scorers()
    if (BUNDLED_SCORER / "config.json").is_file():
        assert scorers["pppl"](refs[:1])[0] > 1
    else:
        assert scorers == {}
    checks = dom.validators()
    assert checks["repeat_guard"](refs[0]) == [] or all(p.end > p.start for p in checks["repeat_guard"](refs[0]))
    [problem] = checks["repeat_guard"]("MK" + "A" * 8 + "LVIGSTDEKRQNHPFWYC" * 2)
    assert (problem.start, problem.end) == (2, 10)
    assert [(p.start, p.message) for p in checks["alphabet"]("MKXA")] == [(2, "'X' is not a standard residue")]


# ----- CLI ---------------------------------------------------------------------------------------------
def cli(*args, cwd=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "seqdiff", "design-protein", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_cli_help_has_examples():
    out = cli("--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "seq:" in out.stdout


@pytest.mark.parametrize("args,needle", [
    (["--motif", "5-20/seq:FSLZDK/10"], "'Z'"),
    (["--motif", "5-20/Q?/10"], "'Q?'"),
    (["--motif", "10-40/seq:AAAA/10-40", "--length", "200-300"], "impossible length"),
    (["--motif", "10-40/A163-181/10-40"], "--pdb is required"),
    (["--motif", "10/A1-5/10", "--pdb", "{tmp}/missing.pdb"], "missing.pdb"),
    (["--motif", "10/A1-5/10", "--pdb", "{tmp}/garbage.cif"], "garbage.cif"),
    (["--length", "20", "--train-fasta", "{tmp}/garbage.fasta.gz"], "garbage.fasta.gz"),
    (["--length", "20", "--model", "{tmp}/bad_model"], "bad_model"),
    (["--length", "20", "--esm-model", "{tmp}/esm2_t6_broken.pt"], "esm2_t6_broken.pt"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, args, needle, tiny_model_dir):
    (tmp_path / "garbage.cif").write_text("data_x\n_atom_site.bogus\nnonsense 1 2\n")
    (tmp_path / "garbage.fasta.gz").write_bytes(b"\x1f\x8bnot gzip")
    (tmp_path / "bad_model").mkdir()
    (tmp_path / "bad_model" / "config.json").write_text('{"format": "seqdiff-model", "model": {}}')
    (tmp_path / "esm2_t6_broken.pt").write_bytes(b"nope")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args += ["--model", str(tiny_model_dir), "--esm-model", "none"] if "--esm-model" not in args else \
            ["--model", str(tiny_model_dir)]
    out = cli(*args, "--out", str(tmp_path / "out"))
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "e.g." in out.stderr, out.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_resume(tmp_path, tiny_model_dir, tiny_scorer_dir):
    base = ["--motif", MOTIF, "--model", str(tiny_model_dir), "--esm-model", str(tiny_scorer_dir), "--seed", "5",
            "--train-fasta", "none", "--quiet", "--out", str(tmp_path / "r")]
    assert cli(*base, "-n", "2").returncode == 0
    again = cli(*base, "-n", "3")
    assert again.returncode == 2 and "--resume" in again.stderr
    assert cli(*base, "-n", "3", "--resume").returncode == 0
    full = cli(*[a if a != str(tmp_path / "r") else str(tmp_path / "full") for a in base], "-n", "3")
    assert full.returncode == 0
    assert (tmp_path / "r" / "designs.fasta").read_text() == (tmp_path / "full" / "designs.fasta").read_text()
    changed = cli(*[a if a != "5" else "6" for a in base], "-n", "4", "--resume")
    assert changed.returncode == 2 and "seed" in changed.stderr


@pytest.mark.skipif(not (BUNDLED_MODEL / "config.json").is_file() or not (BUNDLED_SCORER / "config.json").is_file(),
                    reason="bundled model or scorer not installed (the lead trains them on a GPU)")
def test_cli_end_to_end_bundled_model(tmp_path):
    out = cli("--motif", "3-6/seq:EVNKIKSALLSTNKAVVSL/3-6", "-n", "2", "--baselines", "--quiet",
              "--train-fasta", "none", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run" / "scores.csv")))
    assert len(rows) == 2 and all("EVNKIKSALLSTNKAVVSL" in r["sequence"] for r in rows)
    assert rows[0]["model"] == "bundled-protein-small" and rows[0]["scorer"] == "bundled-esm2arch-small"
    assert float(rows[0]["esm_pppl"]) > 1 and (tmp_path / "run" / "baselines.csv").exists()


def test_bench_emits_only_standard_residues(tiny_model_dir):
    """``seqdiff bench`` bans what the protein domain bans: its designs hold the 20 standard residues only."""
    from seqdiff.bench import BenchConfig, default_tasks, naive_config, run_config
    from seqdiff.checkpoint import from_pretrained
    from seqdiff.samplers import AncestralSampler
    from seqdiff_protein.alphabet import STANDARD_RESIDUES
    from seqdiff_protein.domain import ProteinDomain

    pre = from_pretrained(tiny_model_dir)
    spec = ProteinDomain().bench_spec(pre.tokenizer)
    tasks = default_tasks(spec, pre.tokenizer, 60, 3)
    assert naive_config(spec).name == "naive-random" and spec.columns()[5] == "scorer_pppl"
    for cfg in (naive_config(spec), BenchConfig("ancestral-4", AncestralSampler(steps=4))):
        run = run_config(cfg, pre.model, tasks, 2, 0, spec.banned_ids, pre.tokenizer.pad_id)
        residues = "".join(pre.tokenizer.decode(out[1:-1]) for out in run["outputs"])
        assert len(residues) == 3 * 60 and set(residues) <= set(STANDARD_RESIDUES)
