"""Tokenizers: byte-level (vocab 256) and byte-level BPE trained locally with HF ``tokenizers``.

Every tokenizer has a ``hash`` (sha256 of its canonical definition) that identifies it in the
manifest and in every run's checklist, and an end-of-text id ``eot_id`` that separates documents in
the token stream (every document is followed by one ``eot_id``).

* ``bytes``: the UTF-8 bytes of the text, vocab 256; documents are separated by byte 0x03 (ASCII
  "end of text"), which is removed from the text itself.
* ``bpe``: byte-level BPE (GPT-2 style pre-tokenisation, no lowercasing or normalisation) trained on
  the *training split only* at a chosen ``vocab_size`` (256 byte tokens + ``<|endoftext|>`` +
  merges); a literal ``<|endoftext|>`` inside a text is encoded as ordinary text, so only real
  document boundaries carry ``eot_id``. If the data cannot support the requested vocabulary (no
  pair reaches ``min_frequency`` before it is full), that is an :class:`InputError`, never a
  silently smaller vocabulary.
* ``file``: an existing HF ``tokenizer.json`` on disk, used as is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from scalelab.errors import InputError

BYTES_EOT = 3  # ASCII ETX, "end of text"


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id (uint16 up to 65,536 tokens)."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


class ByteTokenizer:
    kind = "bytes"
    vocab_size = 256
    eot_id = BYTES_EOT
    file_name = "tokenizer.json"

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.definition().encode()).hexdigest()

    def definition(self) -> str:
        return json.dumps(
            {"scalelab_tokenizer": "bytes", "version": 1, "vocab_size": 256, "eot_id": BYTES_EOT},
            sort_keys=True,
        )

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.replace("\x03", "").encode("utf-8"), dtype=np.uint8).astype(
            np.uint16
        )

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def save(self, directory: Path) -> str:
        (directory / self.file_name).write_text(self.definition() + "\n", encoding="utf-8")
        return self.file_name


class HFTokenizer:
    """A HF ``tokenizers`` tokenizer (trained BPE or a file) with a named end-of-text token."""

    file_name = "tokenizer.json"

    def __init__(self, tok, kind: str, eot_token: str):
        self._tok = tok
        if hasattr(tok, "encode_special_tokens"):
            # A literal "<|endoftext|>" inside a document is text, not a document boundary.
            tok.encode_special_tokens = True
        self.kind = kind
        self.eot_token = eot_token
        eot = tok.token_to_id(eot_token)
        if eot is None:
            raise InputError(
                f"tokenizer has no end-of-text token {eot_token!r}; "
                f"name the separator it uses with eot_token"
            )
        self.eot_id = int(eot)
        self.vocab_size = int(tok.get_vocab_size(with_added_tokens=True))
        self._json = tok.to_str()
        self.hash = hashlib.sha256(
            json.dumps(json.loads(self._json), sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()

    @property
    def hf(self):
        return self._tok

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text).ids, dtype=np.uint32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        enc = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)(list(texts))
        return [np.asarray(e.ids, dtype=np.uint32) for e in enc]

    def decode(self, ids: Iterable[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def save(self, directory: Path) -> str:
        (directory / self.file_name).write_text(self._json, encoding="utf-8")
        return self.file_name


Tokenizer = ByteTokenizer | HFTokenizer


def train_bpe(
    texts: Iterator[str],
    vocab_size: int,
    min_frequency: int = 2,
    eot_token: str = "<|endoftext|>",
    n_bytes: int | None = None,
) -> HFTokenizer:
    """Train byte-level BPE on ``texts``; fail clearly when the data cannot fill ``vocab_size``."""
    from tokenizers import Tokenizer as _Tok
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = _Tok(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[eot_token],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    got = tok.get_vocab_size(with_added_tokens=True)
    if got < vocab_size:
        seen = f" in {n_bytes:,} bytes of training text" if n_bytes is not None else ""
        raise InputError(
            f"tokenizer vocab_size {vocab_size} is larger than the data supports: byte-level BPE "
            f"found only {got} tokens (256 bytes + 1 special + {got - 257} merges with "
            f"min_frequency {min_frequency}){seen}; use vocab_size <= {got}, more data, or a "
            f"lower min_frequency"
        )
    return HFTokenizer(tok, "bpe", eot_token)


def load_tokenizer_file(
    path: str | Path, eot_token: str = "<|endoftext|>", kind: str = "file"
) -> HFTokenizer:
    from tokenizers import Tokenizer as _Tok

    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{p}: no such tokenizer file")
    try:
        tok = _Tok.from_file(str(p))
    except Exception as exc:
        raise InputError(
            f"{p}: not a HF tokenizers tokenizer.json ({str(exc).splitlines()[0]})"
        ) from None
    return HFTokenizer(tok, kind, eot_token)


def load_saved(directory: str | Path, info: dict) -> Tokenizer:
    """Load the tokenizer saved beside prepared data (``info`` is the manifest's ``tokenizer``)."""
    if info["kind"] == "bytes":
        return ByteTokenizer()
    tok = load_tokenizer_file(
        Path(directory) / info["file"], info.get("eot_token", "<|endoftext|>"), kind=info["kind"]
    )
    if tok.hash != info["hash"]:
        raise InputError(
            f"{Path(directory) / info['file']}: tokenizer hash {tok.hash[:12]} does not match "
            f"the manifest ({info['hash'][:12]}); the data directory was modified"
        )
    return tok
