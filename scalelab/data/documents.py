"""What every corpus reader shares: the :class:`Document` stream, its :class:`SourceStats`, file
records (size and SHA-256), and UTF-8 decoding that reports the exact offset of a bad byte.

The readers are in :mod:`scalelab.data.builtin` (built-in corpora) and :mod:`scalelab.data.userfiles`
(the user's files); :mod:`scalelab.data.corpora` dispatches between them.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalelab.errors import InputError


@dataclass
class Document:
    """One document: the unit of dedup and of the train/validation/test split."""

    source: str
    key: str  # stable id inside its source (file path, chapter, record number)
    text: str


@dataclass
class SourceStats:
    """What reading a source found; goes into the manifest."""

    docs: int = 0
    bytes: int = 0
    empty_docs: int = 0
    empty_files: int = 0
    replaced: int = 0  # undecodable bytes replaced by U+FFFD (decode_errors="replace")
    replaced_files: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "docs": self.docs,
            "bytes": self.bytes,
            "empty_docs_skipped": self.empty_docs,
            "empty_files_skipped": self.empty_files,
            "replaced_bytes": self.replaced,
            "replaced_by_file": dict(self.replaced_files),
            "files": list(self.files),
        }


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _file_record(path: Path, root: Path | None = None) -> dict[str, Any]:
    name = str(path.relative_to(root)) if root is not None and root in path.parents else str(path)
    return {"path": name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


# ------------------------------------------------------------------------------------------------
# Decoding with exact error offsets.


class _Decoder:
    """Incremental UTF-8 decoder that reports the byte offset of the first bad byte (strict) or
    counts replacements (replace)."""

    def __init__(self, path: str, errors: str, stats: SourceStats):
        self.path, self.errors, self.stats = path, errors, stats
        self.count = 0
        handler = "strict"
        if errors == "replace":
            handler = "scalelab_count_replace"
        self._dec = codecs.getincrementaldecoder("utf-8")(errors=handler)
        self.offset = 0  # bytes fed so far

    def decode(self, data: bytes, final: bool = False) -> str:
        pending = len(self._dec.getstate()[0])
        try:
            if self.errors == "replace":
                _COUNTER[0] = 0
                text = self._dec.decode(data, final)
                self._note(_COUNTER[0])
            else:
                text = self._dec.decode(data, final)
        except UnicodeDecodeError as exc:
            at = self.offset - pending + exc.start
            raise InputError(
                f"{self.path}: undecodable UTF-8 at byte offset {at} "
                f"(byte 0x{exc.object[exc.start]:02x}); fix the file or use "
                f'decode_errors = "replace" (--decode-errors replace)'
            ) from None
        self.offset += len(data)
        return text

    def _note(self, n: int) -> None:
        if n:
            self.stats.replaced += n
            self.stats.replaced_files[self.path] = self.stats.replaced_files.get(self.path, 0) + n


_COUNTER = [0]


def _count_replace(exc: UnicodeError):
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _COUNTER[0] += exc.end - exc.start
    return ("\ufffd", exc.end)


codecs.register_error("scalelab_count_replace", _count_replace)


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()
