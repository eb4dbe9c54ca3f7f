import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdiff_protein.alphabet import STANDARD_RESIDUES
from seqdiff_protein.contig import MotifError, PdbMotif, Scaffold, SeqMotif, parse_contig
from seqdiff_protein.layout import ContigSpec

scaffold = st.builds(lambda a, b: Scaffold(min(a, b), max(a, b)), st.integers(0, 40), st.integers(0, 40))
pdbmotif = st.builds(lambda c, a, n: PdbMotif(c, a, a + n), st.sampled_from("ABCP"), st.integers(1, 500),
                     st.integers(0, 30))
seqmotif = st.builds(SeqMotif, st.text(alphabet=STANDARD_RESIDUES, min_size=1, max_size=25))
# a trailing bare "0" is RFdiffusion's chain terminator ("/0"), so it is dropped on parsing: leave it out here
segments = st.lists(st.one_of(scaffold, pdbmotif, seqmotif), min_size=1, max_size=7).filter(
    lambda s: len(s) == 1 or s[-1] != Scaffold(0, 0))


@settings(max_examples=150, deadline=None)
@given(segments, st.sampled_from(["/", ","]), st.sampled_from(["{}", "[{}]", "contigmap.contigs=[{}]"]))
def test_contig_round_trip(segs, sep, wrap):
    text = wrap.format(sep.join(str(s) for s in segs))
    assert parse_contig(text) == tuple(segs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(scaffold, seqmotif), min_size=1, max_size=5), st.integers(0, 2**31), st.integers(0, 50))
def test_layout_respects_bounds_and_motifs(segs, seed, i):
    spec = ContigSpec(segments=tuple(segs))
    lo, hi = spec.bounds()
    if hi < 1:
        return
    lay = spec.layout(seed, i)
    assert lo <= lay.length <= hi
    assert lay == spec.layout(seed, i)  # design i is a function of (seed, i)
    for p in lay.placements:
        assert lay.template[p.start_idx0:p.end_idx0 + 1] == p.sequence
    assert parse_contig(lay.contig)  # the sampled contig is itself a valid contig


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ACDEFGHIKLMNPQRSTVWYBJOUXZ", min_size=1, max_size=12).filter(
    lambda s: any(c not in STANDARD_RESIDUES for c in s)))
def test_unknown_residue_rejected_naming_it(seq):
    bad = next(c for c in seq if c not in STANDARD_RESIDUES)
    with pytest.raises(MotifError, match=f"'{bad}'") as err:
        parse_contig(f"5/seq:{seq}/5")
    assert "e.g." in str(err.value)


@pytest.mark.parametrize("text,needle", [
    ("10-40/A163-181/10-40 B1-100", "B1-100"), ("5-x/10", "'5-x'"), ("40-10/seq:AAA", "40-10"),
    ("A20-10", "A20-10"), ("5//10", "empty segment"), ("[10-40", "unbalanced"), ("", "--length"),
    ("5/seq:/5", "seq:"), ("5/?/5", "'?'")])
def test_malformed_contigs_name_the_bad_token(text, needle):
    with pytest.raises(MotifError) as err:
        ContigSpec.parse(text)
    assert needle in str(err.value) and "e.g." in str(err.value)


def test_impossible_length_fails_at_once():
    with pytest.raises(MotifError, match="impossible length.*--length 25-85"):
        ContigSpec.parse("10-40/seq:AAAAA/10-40", length="200-300")
    with pytest.raises(MotifError, match="reversed"):
        ContigSpec.parse(length="150-100")


def test_total_length_constraint_is_exact_and_uniform():
    spec = ContigSpec.parse("10-40/seq:EVNKIKSALLSTNKAVVSL/10-40", length="50-75")
    lengths = [spec.layout(3, i).length for i in range(400)]
    assert min(lengths) >= 50 and max(lengths) <= 75
    # narrow windows never spin: a single feasible total
    narrow = ContigSpec.parse("0-300/seq:AAAA/0-300", length="600-600")
    assert narrow.bounds() == (600, 600) and narrow.layout(0, 0).length == 600


@pytest.mark.parametrize("motif,length,needle", [
    ("1-100000", None, "'1-100000': 100000 residues is over the model's 1022-residue limit"),
    (None, "1-100000", "--length '1-100000' is over the model's 1022-residue limit"),
    ("10-1000/seq:ACDEFGH/10-1000", None, "makes up to 2007 residues, over the model's 1022-residue limit"),
    ("5/seq:MK/5", "1-2000", "over the model's 1022-residue limit"),
    ("5-50", None, "over the model's 40-residue limit"),
])
def test_lengths_are_bounded_at_both_ends_of_every_range(motif, length, needle):
    limit = 40 if motif == "5-50" else 1022
    with pytest.raises(MotifError, match=re.escape(needle)):
        ContigSpec.parse(motif, length=length, max_length=limit)


def test_a_bounded_total_makes_wide_linkers_fine():
    spec = ContigSpec.parse("10-1000/seq:ACDEFGH/10-1000", length="100-200")
    assert spec.bounds() == (100, 200) and 100 <= spec.layout(0, 0).length <= 200


def test_bench_csv_and_wrapper_forms_equal():
    a = ContigSpec.parse("5-20/A16-35/10-25/A52-71/5-20")
    b = ContigSpec.parse("5-20,A16-35,10-25,A52-71,5-20")
    c = ContigSpec.parse("contigmap.contigs=[5-20/A16-35/10-25/A52-71/5-20]")
    assert a.segments == b.segments == c.segments
    assert ContigSpec.parse("A38").segments == (PdbMotif("A", 38, 38),)
    assert ContigSpec.parse("10/A5-9/0").segments == (Scaffold(10, 10), PdbMotif("A", 5, 9))  # "/0" terminator


def test_redesign_and_missing_pdb():
    spec = ContigSpec.parse("10-40/A163-181/10-40", redesign="contigmap.inpaint_seq=[A163-168/A170-171/A179]")
    assert len(spec.redesign) == 9
    with pytest.raises(MotifError, match="A200"):
        ContigSpec.parse("10-40/A163-181/10-40", redesign="A200")
    with pytest.raises(MotifError, match="--pdb is required"):
        spec.with_structure(None)


def test_examples_json_contigs(motif_examples):
    for prob in motif_examples:
        spec = ContigSpec.parse(prob["contig"], length=f"{prob['total_length']['min']}-{prob['total_length']['max']}")
        assert spec.bounds() == (prob["effective_length"]["min"], prob["effective_length"]["max"])


def test_structure_errors_say_what_the_file_is(tmp_path):
    from seqdiff_protein.structure import read_structure

    with pytest.raises(MotifError, match="is a folder"):
        read_structure(tmp_path)
    (tmp_path / "notes.pdb").write_text("just some text\n")
    with pytest.raises(MotifError, match="cannot read --pdb .*notes.pdb.*no atoms"):
        read_structure(tmp_path / "notes.pdb")
