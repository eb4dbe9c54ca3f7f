"""Hugging Face text diffusion LMs (LLaDA, Dream-Coder, DiffuCoder) through the code domain: the infiller,
``seqdiff infill`` and ``seqdiff serve`` take their folders (tiny random ones in each family's own layout)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from seqdiff.cli import build_parser, main  # noqa: E402
from seqdiff.families.testing import make_dream, make_llada  # noqa: E402
from seqdiff_code.infill import CodeInfiller  # noqa: E402

PREFIX, SUFFIX = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module", params=["llada", "dream"])
def hf_folder(request, tmp_path_factory):
    build = {"llada": make_llada, "dream": make_dream}[request.param]
    return build(tmp_path_factory.mktemp(request.param))[0]


def test_the_infiller_fills_a_gap_with_a_hugging_face_model(hf_folder):
    infiller = CodeInfiller.from_pretrained(hf_folder)
    result = infiller.infill(PREFIX, SUFFIX, max_tokens=8, candidates=2, seed=0)
    tok = infiller.tokenizer
    assert 1 <= result.canvas_length <= 8 and result.nfe >= 1
    assert tok.mask_id not in result.canvas_tokens
    assert "<|mdm_mask|>" not in result.text and "<|pad|>" not in result.text
    # the canvas' token bytes are what the middle decodes to (error spans map back onto tokens)
    content = [i for i in result.canvas_tokens if i not in tok.special_ids]
    assert b"".join(tok.token_bytes[i] for i in content).decode("utf-8", "replace") == tok.decode(content)


def test_seqdiff_infill_takes_the_folder(hf_folder, tmp_path, capsys):
    (tmp_path / "head.py").write_text(PREFIX)
    (tmp_path / "tail.py").write_text(SUFFIX)
    code = main(["infill", "--model", str(hf_folder), "--prefix-file", str(tmp_path / "head.py"),
                 "--suffix-file", str(tmp_path / "tail.py"), "--max-tokens", "6", "--candidates", "1", "--json"])
    assert code == 0
    assert "text" in json.loads(capsys.readouterr().out)


def test_seqdiff_serve_routes_a_text_model_to_the_named_domain(hf_folder, capsys):
    from seqdiff.serve.command import select

    contributions, options = select(build_parser().parse_args(["serve", "--domain", "code", "--model",
                                                                str(hf_folder)]))
    assert [c.name for c in contributions] == ["code"] and options["code"].model == hf_folder
    with pytest.raises(SystemExit) as exc:  # several domains could serve it: the user says which
        main(["serve", "--model", str(hf_folder)])
    assert exc.value.code == 2 and "--domain" in capsys.readouterr().err
