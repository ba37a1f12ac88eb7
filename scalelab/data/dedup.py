"""Exact and near-duplicate detection over a stream of documents.

* exact: sha256 of the document after whitespace normalisation and lowercasing; a later document
  with the same digest is an exact duplicate of the first.
* near: MinHash signatures (``datasketch``) over word ``shingle``-grams (hashed in numpy), indexed in an LSH table at
  Jaccard ``threshold``; a later document whose estimated Jaccard similarity with an earlier kept
  document reaches the threshold is a near duplicate. The first occurrence is always the one kept,
  so the result depends only on document order (which is deterministic).

Only signatures are kept in memory (``num_perm`` 64-bit values per kept document), never texts.
Dedup runs over the whole training pool *before* the split, so two copies of one text can never
land on both sides of the train/held-out boundary.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalelab.data.spec import DedupSpec

KEEP, EXACT, NEAR, CONTAMINATED = "kept", "exact_dup", "near_dup", "overlaps_train_pool"


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


_POS_MULT = np.random.default_rng(0x5CA1AB).integers(1, 1 << 63, size=32, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def shingle_hashes(text: str, k: int) -> np.ndarray:
    """32-bit hashes of the word ``k``-shingles of the normalised text (vectorised, deterministic).

    Each word is hashed with CRC-32; a shingle's hash is a position-weighted sum of its words'
    hashes modulo 2^64 (odd multipliers), folded to 32 bits. datasketch then mixes these with the
    MurmurHash3 finaliser before its permutations.
    """
    words = normalise(text).split(" ")
    w = np.fromiter((zlib.crc32(x.encode("utf-8")) for x in words), dtype=np.uint64, count=len(words))
    n = max(1, len(w) - k + 1)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(min(k, len(w))):
        h += w[j:j + n] * _POS_MULT[j]
    return ((h >> np.uint64(32)) ^ (h & np.uint64(0xFFFFFFFF))).astype(np.uint64)


def _identity(x: int) -> int:
    return x


@dataclass
class DedupStats:
    docs_in: int = 0
    kept: int = 0
    exact: int = 0
    near: int = 0
    bytes_in: int = 0
    bytes_removed: int = 0
    overlaps_train_pool: int = 0        # eval sets: documents dropped for overlapping the training pool
    examples: list[dict[str, str]] = field(default_factory=list)   # a few (removed, kept) pairs

    def as_dict(self) -> dict[str, Any]:
        return {"docs_in": self.docs_in, "docs_kept": self.kept, "exact_duplicates": self.exact,
                "near_duplicates": self.near, "bytes_in": self.bytes_in,
                "bytes_removed": self.bytes_removed, "overlaps_train_pool": self.overlaps_train_pool,
                "examples": self.examples}


class Deduplicator:
    """Feed documents in order with :meth:`add`; it returns KEEP, EXACT or NEAR for each."""

    def __init__(self, spec: DedupSpec, seed: int = 1):
        self.spec = spec
        self.seed = seed
        self._exact: dict[bytes, str] = {}
        self._lsh = None
        self._n = 0
        self.stats = DedupStats()
        if spec.near:
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(threshold=spec.threshold, num_perm=spec.num_perm)

    def signature(self, text: str):
        from datasketch import MinHash

        m = MinHash(num_perm=self.spec.num_perm, seed=self.seed, hashfunc=_identity)
        m.update_batch(shingle_hashes(text, self.spec.shingle).tolist())
        return m

    def add(self, key: str, text: str) -> tuple[str, str | None]:
        """Classify one document; returns (status, key of the document it duplicates)."""
        size = len(text.encode("utf-8"))
        self.stats.docs_in += 1
        self.stats.bytes_in += size
        digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
        if self.spec.exact and digest in self._exact:
            return self._removed(EXACT, key, self._exact[digest], size)
        if self._lsh is not None:
            sig = self.signature(text)
            hits = self._lsh.query(sig)
            if hits:
                return self._removed(NEAR, key, min(hits), size)
            self._lsh.insert(key, sig)
        self._exact.setdefault(digest, key)
        self.stats.kept += 1
        return KEEP, None

    def overlaps(self, text: str) -> str | None:
        """Does ``text`` (e.g. an eval document) exactly or nearly duplicate a document seen so far?"""
        digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
        if digest in self._exact:
            return self._exact[digest]
        if self._lsh is not None:
            hits = self._lsh.query(self.signature(text))
            if hits:
                return min(hits)
        return None

    def _removed(self, status: str, key: str, of: str, size: int) -> tuple[str, str]:
        if status == EXACT:
            self.stats.exact += 1
        else:
            self.stats.near += 1
        self.stats.bytes_removed += size
        if len(self.stats.examples) < 10:
            self.stats.examples.append({"removed": key, "duplicate_of": of, "kind": status})
        return status, of
