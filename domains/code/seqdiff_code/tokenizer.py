"""Byte-level BPE for source code, trained with Hugging Face ``tokenizers``; saved as a standard
``tokenizer.json`` (loadable by ``tokenizers.Tokenizer.from_file`` and ``transformers``).

Special tokens come first, with stable ids: ``<mask>`` 0, ``<pad>`` 1, ``<eos>`` 2, then StarCoder's FIM
names ``<fim_prefix>`` 3, ``<fim_suffix>`` 4, ``<fim_middle>`` 5, ``<fim_pad>`` 6, ``<file_sep>`` 7; then
the 256 byte symbols, then merges. Text is encoded with special-token matching turned off, so a file that
literally contains ``<eos>`` round-trips exactly: ``decode(encode(s)) == s`` for every ``str`` ``s``
(no normaliser, no prefix space, GPT-2 byte alphabet). Decoding goes through a per-id byte table, which
also gives each token's byte length (used to map tree-sitter byte spans back to tokens).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from seqdiff.tokenizer import TOKENIZER_FILE, byte_level_chars

SPECIAL_TOKENS = ("<mask>", "<pad>", "<eos>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>",
                  "<file_sep>")
DEFAULT_VOCAB_SIZE = 4096
BUNDLED_TOKENIZER = Path(__file__).parent / TOKENIZER_FILE


class CodeTokenizer:
    """Implements seqdiff's ``Tokenizer`` protocol around a ``tokenizers.Tokenizer``.

    ``pad_id`` is batch padding (never attended), ``eos_id`` the learned filler of a variable-length
    middle canvas, ``special_ids`` every special token (samplers must not emit them; infill allows eos)."""

    def __init__(self, backend):
        self.backend = backend
        self.backend.encode_special_tokens = True  # literal "<eos>" in text is text, not a special token
        self.backend.no_padding()
        self.backend.no_truncation()
        for i, name in enumerate(SPECIAL_TOKENS):
            if backend.token_to_id(name) != i:
                raise ValueError(f"tokenizer has {name!r} at id {backend.token_to_id(name)}, expected {i}: "
                                 f"special tokens must come first in the order {SPECIAL_TOKENS}")

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE, min_frequency: int = 2,
              show_progress: bool = False) -> "CodeTokenizer":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        if vocab_size < len(SPECIAL_TOKENS) + 256:
            raise ValueError(f"vocab_size={vocab_size} must be at least {len(SPECIAL_TOKENS) + 256} "
                             f"(special tokens + 256 bytes)")
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(SPECIAL_TOKENS), show_progress=show_progress,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        backend.train_from_iterator(texts, trainer=trainer)
        return cls(backend)

    @classmethod
    def from_file(cls, path: str | Path) -> "CodeTokenizer":
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file {str(path)!r} does not exist")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as err:  # tokenizers raises plain Exception for malformed JSON
            if isinstance(err, ValueError) and "special tokens" in str(err):
                raise
            raise ValueError(f"{path} is not a tokenizers tokenizer.json file ({err})") from None

    @classmethod
    def load(cls, directory: str | Path) -> "CodeTokenizer":
        return cls.from_file(Path(directory) / TOKENIZER_FILE)

    @classmethod
    def bundled(cls) -> "CodeTokenizer":
        return cls.from_file(BUNDLED_TOKENIZER)

    def save(self, directory: str | Path) -> None:
        from seqdiff.io import atomic_write_text

        atomic_write_text(Path(directory) / TOKENIZER_FILE, self.to_json())

    def to_json(self) -> str:
        data = json.loads(self.backend.to_str())
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    # --- protocol -----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def mask_id(self) -> int:
        return 0

    @property
    def pad_id(self) -> int:
        return 1

    @property
    def eos_id(self) -> int:
        return 2

    def token_id(self, name: str) -> int:
        return SPECIAL_TOKENS.index(name)

    @property
    def special_ids(self) -> frozenset[int]:
        return frozenset(range(len(SPECIAL_TOKENS)))

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text``; this tokenizer adds no special tokens (the flag exists for the protocol)."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes str, got {type(text).__name__}")
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """Bytes of each id (special tokens: empty)."""
        inverse = {c: b for b, c in byte_level_chars().items()}
        table = [b""] * self.vocab_size
        for token, index in self.backend.get_vocab(with_added_tokens=True).items():
            if index >= len(SPECIAL_TOKENS):
                table[index] = bytes(inverse[c] for c in token)
        return table

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        table = self.token_bytes
        return b"".join(table[i] for i in ids)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of the ids, special tokens dropped; bytes that do not form UTF-8 become U+FFFD."""
        return self.decode_bytes([int(i) for i in ids]).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"CodeTokenizer(vocab_size={self.vocab_size})"


def iter_texts(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        yield Path(path).read_text(encoding="utf-8")
