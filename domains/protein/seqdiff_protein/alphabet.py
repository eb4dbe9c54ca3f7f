"""The protein tokenizer: fair-esm's ESM-2 alphabet, token for token, so our models, the scorer and real
ESM-2 weights share ids. Sequences are framed ``<cls> residues <eos>`` as in ESM."""

from __future__ import annotations

from seqdiff.tokenizer import CharTokenizer

ESM_TOKENS = ("<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q",
              "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>")
STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def protein_tokenizer() -> CharTokenizer:
    return CharTokenizer(tokens=ESM_TOKENS, pad="<pad>", mask="<mask>", eos="<eos>", unk="<unk>",
                         specials=("<cls>", "<pad>", "<eos>", "<unk>", "<null_1>", "<mask>"))


def cls_id(tokenizer: CharTokenizer) -> int:
    return tokenizer.tokens.index("<cls>")


def nonstandard_ids(tokenizer: CharTokenizer) -> list[int]:
    """Every id that is not one of the 20 standard residues: a design never contains these."""
    return [i for i, t in enumerate(tokenizer.tokens) if t not in STANDARD_RESIDUES]


def frame(tokenizer: CharTokenizer, residues: str) -> list[int]:
    return [cls_id(tokenizer)] + tokenizer.encode(residues) + [tokenizer.eos_id]
