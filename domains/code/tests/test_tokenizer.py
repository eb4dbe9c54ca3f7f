from hypothesis import given, settings, strategies as st

from seqdiff.tokenizer import Tokenizer
from seqdiff_code.tokenizer import SPECIAL_TOKENS, CodeTokenizer


def test_protocol_and_stable_special_ids(tokenizer):
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.vocab_size == 4096
    assert [tokenizer.backend.id_to_token(i) for i in range(8)] == list(SPECIAL_TOKENS)
    assert (tokenizer.mask_id, tokenizer.pad_id, tokenizer.eos_id) == (0, 1, 2)
    assert tokenizer.special_ids == frozenset(range(8))
    assert tokenizer.token_id("<fim_middle>") == 5


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_round_trip_any_text(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert not set(ids) & tokenizer.special_ids
    assert tokenizer.backend.decode(ids, skip_special_tokens=False) == text  # the HF decoder agrees


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list(SPECIAL_TOKENS) + ["def ", "\n", "    ", "é", "\U0001F600", "x"]), max_size=20))
def test_literal_special_names_are_text(tokenizer, parts):
    text = "".join(parts)
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_save_and_load(tokenizer, tmp_path):
    tokenizer.save(tmp_path)
    again = CodeTokenizer.load(tmp_path)
    src = "def f(x):\n    return x  # <eos>\n"
    assert again.encode(src) == tokenizer.encode(src)
    from tokenizers import Tokenizer as HF

    assert HF.from_file(str(tmp_path / "tokenizer.json")).get_vocab_size() == 4096  # plain HF format


def test_train_small_and_special_ids_first():
    texts = ["def f(x):\n    return x + 1\n"] * 50 + ["class A:\n    pass\n"] * 50
    tok = CodeTokenizer.train(texts, vocab_size=300)
    assert tok.vocab_size <= 300 and tok.eos_id == 2
    assert tok.decode(tok.encode("class B(A):\n    x = 'ü'\n")) == "class B(A):\n    x = 'ü'\n"


def test_build_tokenizer_options():
    import pytest

    from seqdiff_code.domain import CodeDomain

    assert CodeDomain().build_tokenizer({}).vocab_size == 4096
    with pytest.raises(ValueError, match="unknown code tokenizer key"):
        CodeDomain().build_tokenizer({"vocab": 10})
    with pytest.raises(ValueError, match="only apply with train"):
        CodeDomain().build_tokenizer({"vocab_size": 10})
