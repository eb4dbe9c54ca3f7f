"""``POST /v1/protein/designs`` on the tiny model: the same designs as the Python API, FASTA on request,
a 400 naming the field for every bad input, and a server holding only the protein contribution."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from seqdiff.serve.app import create_app  # noqa: E402
from seqdiff.serve.command import describe  # noqa: E402
from seqdiff.serve.server import ThreadedServer  # noqa: E402
from seqdiff_protein import ProteinDesigner  # noqa: E402
from seqdiff_protein.records import CSV_COLUMNS  # noqa: E402
from seqdiff_protein.routes import MAX_DESIGNS, contribution  # noqa: E402

BODY = {"motif": "3-6/seq:FSLFDKDG/3-6", "num_designs": 2, "seed": 7, "steps": 2}


@pytest.fixture(scope="module")
def designer(tiny_model_dir, tiny_scorer_dir):
    return ProteinDesigner.from_pretrained(tiny_model_dir, esm_model=str(tiny_scorer_dir))


@pytest.fixture(scope="module")
def protein_only(designer):
    only = contribution(lambda options: designer)
    with ThreadedServer(create_app([only])) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield only, client


def test_designs_match_the_python_api(protein_only, designer):
    _, client = protein_only
    r = client.post("/v1/protein/designs", json=BODY)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = designer.design(**BODY, progress=False)
    assert [d["sequence"] for d in body["designs"]] == expected.sequences
    assert all(set(CSV_COLUMNS) <= set(d) for d in body["designs"])
    assert body["run"]["config"]["num_designs"] == 2 and body["run"]["config"]["seed"] == 7
    assert all("FSLFDKDG" in d["sequence"] for d in body["designs"])


def test_fasta_on_request(protein_only, designer):
    _, client = protein_only
    r = client.post("/v1/protein/designs", json={**BODY, "num_designs": 1}, headers={"Accept": "text/x-fasta"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/x-fasta")
    header, sequence = r.text.splitlines()
    assert header.startswith(">") and sequence == designer.design(**BODY, progress=False).sequences[0]


@pytest.mark.parametrize("fields, param", [
    ({"colour": "blue"}, "colour"),
    ({"pdb": "/etc/passwd"}, "pdb"),
    ({"esm_model": "/tmp/x.pt"}, "esm_model"),
    ({"num_designs": MAX_DESIGNS + 1}, "num_designs"),
    ({"num_designs": 0}, "num_designs"),
    ({"num_designs": "2"}, "num_designs"),
    ({"length": "1-100000"}, "length"),
    ({"length": "abc"}, "length"),
    ({"length": 0}, "length"),
    ({"motif": "1-100000"}, "motif"),
    ({"motif": "10-1000/seq:ACDEFGH/10-1000"}, "motif"),
    ({"motif": ""}, "motif"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": 1e308}, "temperature"),
    ({"sampler": "magic"}, "sampler"),
    ({"repeat_guard": "yes"}, "repeat_guard"),
])
def test_bad_fields_are_400_naming_the_field(protein_only, fields, param):
    _, client = protein_only
    r = client.post("/v1/protein/designs", json={**BODY, **fields})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and param in error["message"]


def test_pdb_refusal_says_why(protein_only):
    r = protein_only[1].post("/v1/protein/designs", json={"pdb": "x.pdb", "motif": "A1-5"})
    assert "not accepted over HTTP" in r.json()["error"]["message"]


def test_design_errors_and_bad_bodies_are_400(protein_only):
    _, client = protein_only
    r = client.post("/v1/protein/designs", json={"motif": "seq:ZZZ"})  # rejected by the design call itself
    assert r.status_code == 400 and r.json()["error"]["message"]
    for raw in (b"", b"[1]", b'{"seed": NaN}', b"\xff"):
        assert client.post("/v1/protein/designs", content=raw).status_code == 400


def test_protein_only_server_says_what_it_serves(protein_only):
    only, client = protein_only
    assert client.get("/health").json() == {"status": "ok"}
    assert client.post("/infill", json={"input_prefix": "x"}).status_code == 404
    assert describe([only]) == ("  protein: protein design: POST /v1/protein/designs (JSON, or FASTA with "
                                "Accept: text/x-fasta)\n    POST /v1/protein/designs")
