"""Exact and near-duplicate detection over a stream of documents.

* exact: a 64-bit digest (blake2b) of the document after whitespace normalisation and lowercasing;
  a later document with the same digest is an exact duplicate of the first.
* near: MinHash signatures (``datasketch``, ``num_perm`` permutations) over word ``shingle``-grams
  (the shingles are hashed in numpy), banded LSH with the band/row split that ``datasketch``'s
  ``MinHashLSH`` picks for the Jaccard ``threshold``; every LSH candidate is then *verified*: the
  document is a near duplicate only if its estimated Jaccard similarity with the candidate reaches
  the threshold (LSH alone also returns some less similar pairs).

The first occurrence is always the one kept, so the result depends only on document order (which
is deterministic). Memory: about 1.5 kB per kept document (a uint32 signature and one small entry
per band), never the texts; for tens of millions of documents turn near-dedup off (``near = false``,
``--no-near-dedup``). Dedup runs over the whole training pool *before* the split, so two copies of
one text can never land on both sides of the train/held-out boundary.
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


_POS_MULT = np.random.default_rng(0x5CA1AB).integers(
    1, 1 << 63, size=32, dtype=np.uint64
) * np.uint64(2) + np.uint64(1)


def shingle_hashes(text: str, k: int) -> np.ndarray:
    """32-bit hashes of the word ``k``-shingles of the normalised text (vectorised, deterministic).

    Each word is hashed with CRC-32; a shingle's hash is a position-weighted sum of its words'
    hashes modulo 2^64 (odd multipliers), folded to 32 bits. datasketch then mixes these with the
    MurmurHash3 finaliser before its permutations.
    """
    words = normalise(text).split(" ")
    w = np.fromiter(
        (zlib.crc32(x.encode("utf-8")) for x in words), dtype=np.uint64, count=len(words)
    )
    n = max(1, len(w) - k + 1)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(min(k, len(w))):
        h += w[j : j + n] * _POS_MULT[j]
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
    overlaps_train_pool: int = 0  # eval sets: documents dropped for overlapping the training pool
    examples: list[dict[str, str]] = field(default_factory=list)  # a few (removed, kept) pairs

    def as_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_kept": self.kept,
            "exact_duplicates": self.exact,
            "near_duplicates": self.near,
            "bytes_in": self.bytes_in,
            "bytes_removed": self.bytes_removed,
            "overlaps_train_pool": self.overlaps_train_pool,
            "examples": self.examples,
        }


class Deduplicator:
    """Feed documents in order with :meth:`add`; it returns KEEP, EXACT or NEAR for each."""

    def __init__(self, spec: DedupSpec, seed: int = 1):
        self.spec = spec
        self.seed = seed
        self.keys: list[str] = []  # kept documents, by index
        self._exact: dict[int, int] = {}  # digest -> index of the first document
        self._bands: list[dict[int, int | list[int]]] = []
        self._sigs = np.zeros((0, spec.num_perm), dtype=np.uint32)
        self.stats = DedupStats()
        self._perms = None
        if spec.near:
            from datasketch import MinHashLSH

            params = MinHashLSH(threshold=spec.threshold, num_perm=spec.num_perm)
            self.b, self.r = int(params.b), int(params.r)
            self._bands = [dict() for _ in range(self.b)]
            self._sigs = np.zeros((1024, spec.num_perm), dtype=np.uint32)

    # -- signatures --------------------------------------------------------------------------------
    def signature(self, text: str) -> np.ndarray:
        from datasketch import MinHash

        if self._perms is None:
            first = MinHash(num_perm=self.spec.num_perm, seed=self.seed, hashfunc=_identity)
            scheme = getattr(first, "scheme", None)  # datasketch >= 2.0 names its hash scheme
            self._perms = {"permutations": first.permutations} | (
                {"scheme": scheme} if scheme else {}
            )
        m = MinHash(num_perm=self.spec.num_perm, seed=self.seed, hashfunc=_identity, **self._perms)
        m.update_batch(shingle_hashes(text, self.spec.shingle).tolist())
        return np.asarray(m.hashvalues & np.uint64(0xFFFFFFFF), dtype=np.uint32)

    def _band_keys(self, sig: np.ndarray) -> list[int]:
        raw = sig[: self.b * self.r].reshape(self.b, self.r)
        return [
            int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
            for row in raw
        ]

    def _near(self, sig: np.ndarray, bands: list[int]) -> int | None:
        cands: set[int] = set()
        for table, h in zip(self._bands, bands):
            hit = table.get(h)
            if hit is not None:
                cands.update(hit if isinstance(hit, list) else (hit,))
        if not cands:
            return None
        idx = np.fromiter(sorted(cands), dtype=np.int64)
        sim = (self._sigs[idx] == sig[None, :]).mean(axis=1)
        ok = idx[sim >= self.spec.threshold]
        return int(ok[0]) if len(ok) else None

    @staticmethod
    def _digest(text: str) -> int:
        return int.from_bytes(
            hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=8).digest(), "little"
        )

    # -- API ---------------------------------------------------------------------------------------
    def add(self, key: str, text: str) -> tuple[str, str | None]:
        """Classify one document; returns (status, key of the document it duplicates)."""
        size = len(text.encode("utf-8"))
        self.stats.docs_in += 1
        self.stats.bytes_in += size
        digest = self._digest(text)
        if self.spec.exact and digest in self._exact:
            return self._removed(EXACT, key, self.keys[self._exact[digest]], size)
        index = len(self.keys)
        if self.spec.near:
            sig = self.signature(text)
            bands = self._band_keys(sig)
            hit = self._near(sig, bands)
            if hit is not None:
                return self._removed(NEAR, key, self.keys[hit], size)
            if index >= len(self._sigs):
                self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)])
            self._sigs[index] = sig
            for table, h in zip(self._bands, bands):
                prev = table.get(h)
                if prev is None:
                    table[h] = index
                elif isinstance(prev, list):
                    prev.append(index)
                else:
                    table[h] = [prev, index]
        self._exact.setdefault(digest, index)
        self.keys.append(key)
        self.stats.kept += 1
        return KEEP, None

    def overlaps(self, text: str) -> str | None:
        """Does ``text`` (e.g. an eval document) exactly or nearly duplicate a document kept so far?"""
        digest = self._digest(text)
        if digest in self._exact:
            return self.keys[self._exact[digest]]
        if self.spec.near and self.keys:
            sig = self.signature(text)
            hit = self._near(sig, self._band_keys(sig))
            if hit is not None:
                return self.keys[hit]
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
