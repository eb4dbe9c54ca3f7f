"""Atomic file writes (a temp file in the same folder, fsync, then ``os.replace``) and bounded reads of a
model folder's small files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


MAX_CONFIG_BYTES = 4 << 20  # config.json, tokenizer_config.json, a chat template: a few kB in practice
MAX_TOKENIZER_BYTES = 64 << 20  # tokenizer.json: a 100k-token BPE file is about 10 MB


def read_json_object(path: Path, limit: int = MAX_CONFIG_BYTES) -> dict | None:
    """A model folder's JSON object file (config, tokenizer, index), size-checked before it is read; None
    when it does not exist. ValueError names the file when it is not a JSON object (not JSON, not UTF-8)."""
    path = Path(path)
    check_file_size(path, limit)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def check_file_size(path: Path, limit: int) -> None:
    """A folder's JSON or text file must be a regular file of sane size before it is read (a link to
    /dev/zero, or a file of gigabytes, would be read into memory)."""
    path = Path(path)
    if path.exists() and (not path.is_file() or path.stat().st_size > limit):
        raise ValueError(f"{path} is not a regular file of at most {limit} bytes; re-export the model folder")
