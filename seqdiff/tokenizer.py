"""Tokenizers share one small protocol; special ids always come from the tokenizer object, never literals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

TOKENIZER_FILE = "tokenizer.json"


@runtime_checkable
class Tokenizer(Protocol):
    """What the core needs from a domain's tokenizer."""

    @property
    def vocab_size(self) -> int: ...
    @property
    def pad_id(self) -> int: ...  # batch padding: never attended to, never predicted
    @property
    def mask_id(self) -> int: ...
    @property
    def eos_id(self) -> int: ...  # learned filler for variable-length canvases
    @property
    def special_ids(self) -> frozenset[int]: ...  # ids a sampler must never emit (eos excepted where allowed)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]: ...  # True: BOS etc., if any
    def decode(self, ids: Sequence[int]) -> str: ...
    def save(self, directory: Path) -> None: ...


MAX_CHAR_TOKENS = 1 << 20  # a char tokenizer file's token list (the embedding table has one row each)


@dataclass(frozen=True)
class CharTokenizer:
    """One token per character of an alphabet, after a list of named special tokens.

    Used by the core demo and, with ESM's exact token list, by the protein domain."""

    tokens: tuple[str, ...]
    pad: str = "<pad>"
    mask: str = "<mask>"
    eos: str = "<eos>"
    unk: str | None = "<unk>"
    specials: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("tokenizer tokens must be unique")
        for name in ("pad", "mask", "eos"):
            if getattr(self, name) not in self.tokens:
                raise ValueError(f"special token {getattr(self, name)!r} ({name}) is not in the token list")

    @classmethod
    def from_alphabet(cls, alphabet: str) -> "CharTokenizer":
        specials = ("<pad>", "<mask>", "<eos>", "<unk>")
        return cls(tokens=specials + tuple(dict.fromkeys(alphabet)), specials=specials)

    @property
    def _index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return self.tokens.index(self.pad)

    @property
    def mask_id(self) -> int:
        return self.tokens.index(self.mask)

    @property
    def eos_id(self) -> int:
        return self.tokens.index(self.eos)

    @property
    def special_ids(self) -> frozenset[int]:
        return frozenset(self.tokens.index(t) for t in self.specials)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """One id per character; a character alphabet has no special tokens to add."""
        index = self._index
        unk = index.get(self.unk) if self.unk else None
        ids = []
        for pos, ch in enumerate(text):
            if ch in index:
                ids.append(index[ch])
            elif unk is not None:
                ids.append(unk)
            else:
                raise ValueError(f"character {ch!r} at position {pos} is not in the alphabet")
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        special = self.special_ids
        return "".join(self.tokens[i] for i in ids if i not in special)

    def to_dict(self) -> dict:
        return {"type": "char", "tokens": list(self.tokens), "pad": self.pad, "mask": self.mask,
                "eos": self.eos, "unk": self.unk, "specials": list(self.specials)}

    @classmethod
    def from_dict(cls, data: dict) -> "CharTokenizer":
        """The tokenizer a file describes; ValueError names the first field of the wrong type or size."""
        if not isinstance(data, dict) or data.get("type") != "char":
            kind = data.get("type") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a char tokenizer file (type={kind!r})")
        for name in ("tokens", "specials"):
            value = data.get(name)
            if not isinstance(value, list) or len(value) > MAX_CHAR_TOKENS or \
                    not all(isinstance(t, str) for t in value):
                raise ValueError(f"{name}={str(value)[:40]!r} must be a list of at most {MAX_CHAR_TOKENS} strings")
        for name in ("pad", "mask", "eos", "unk"):
            if not isinstance(data.get(name), str) and not (name == "unk" and data.get(name) is None):
                raise ValueError(f"{name}={str(data.get(name))[:40]!r} must be a token string")
        return cls(tokens=tuple(data["tokens"]), pad=data["pad"], mask=data["mask"], eos=data["eos"],
                   unk=data["unk"], specials=tuple(data["specials"]))

    def save(self, directory: Path) -> None:
        from seqdiff.io import atomic_write_text

        atomic_write_text(Path(directory) / TOKENIZER_FILE, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, directory: Path) -> "CharTokenizer":
        return cls.from_dict(json.loads((Path(directory) / TOKENIZER_FILE).read_text()))


def byte_level_chars() -> dict[int, str]:
    """The reversible byte -> printable character map of byte-level BPE (GPT-2's, what ``tokenizers``'
    ByteLevel uses): printable Latin-1 bytes map to themselves, the other 68 bytes to code points from 256."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(others)}}


class HFTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer (a folder's ``tokenizer.json``) as a seqdiff Tokenizer.

    Special ids come from the folder (config.json, else the tokenizer's special tokens). ``special_ids`` holds
    the tokenizer's special tokens plus every model row beyond the tokenizer's vocabulary (padding rows of the
    embedding matrix), so a sampler that bans them never emits a token that does not decode."""

    def __init__(self, tokenizer, vocab_size: int, pad_id: int, mask_id: int, eos_id: int):
        self._tok, self._vocab_size = tokenizer, int(vocab_size)
        self._pad_id, self._mask_id, self._eos_id = int(pad_id), int(mask_id), int(eos_id)
        added = [i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special]
        beyond = range(tokenizer.get_vocab_size(with_added_tokens=True), self._vocab_size)
        # ids a trained model never emits: embedding rows with no token, batch padding (when it is not eos)
        self.unused_ids = frozenset({*beyond, *([self._pad_id] if self._pad_id != self._eos_id else [])})
        self._special = frozenset({*added, *beyond, self._pad_id, self._mask_id, self._eos_id})

    @classmethod
    def from_file(cls, path: Path, **ids) -> "HFTokenizer":
        from tokenizers import Tokenizer as RustTokenizer

        return cls(RustTokenizer.from_file(str(path)), **ids)

    def token_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @property
    def mask_id(self) -> int:
        return self._mask_id

    @property
    def eos_id(self) -> int:
        return self._eos_id

    @property
    def special_ids(self) -> frozenset[int]:
        return self._special

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """Bytes of each id (special and unused ids: empty), so a decoded text's byte offsets map back to
        tokens. Byte-level BPE vocabularies map exactly; others decode token by token (a token that holds part
        of a multi-byte character is then approximate)."""
        byte_level = json.loads(self._tok.to_str()).get("decoder", {}) or {}
        inverse = {c: b for b, c in byte_level_chars().items()} if byte_level.get("type") == "ByteLevel" else None
        table = [b""] * self._vocab_size
        for index in range(min(self._vocab_size, self._tok.get_vocab_size(with_added_tokens=True))):
            if index in self._special:
                continue
            token = self._tok.id_to_token(index)
            if inverse is not None and token is not None and all(c in inverse for c in token):
                table[index] = bytes(inverse[c] for c in token)
            else:
                table[index] = self._tok.decode([index], skip_special_tokens=False).encode("utf-8")
        return table

    def save(self, directory: Path) -> None:
        from seqdiff.io import atomic_write_text

        atomic_write_text(Path(directory) / TOKENIZER_FILE, self._tok.to_str())
