"""Spec → token shards + manifest: read, deduplicate, split by document, tokenise, write.

The pipeline reads every source as a stream three times (documents come in the same deterministic
order each time), so a corpus larger than memory works:

1. **read + dedup**: exact and near-duplicate removal over the training pool (in source order; the
   first copy is kept), and for each evaluation source its own dedup plus removal of documents that
   overlap the training pool (so an out-of-distribution set is never trained on);
2. **split**: the kept pool documents get a seeded permutation and the first ``validation`` and
   ``test`` fractions go to those splits, the rest to ``train`` — by document, never by token offset;
   the assignment is written to ``documents.tsv`` and the seed to the manifest;
3. **tokenizer**: bytes, a file, or byte-level BPE trained on train documents only;
4. **encode**: every assigned document is tokenised once, followed by the end-of-text id, and
   appended to its split's flat token file ``<split>.bin`` (uint16 or uint32; memory-mapped by the
   loader).

Everything is built in a temporary sibling directory that is renamed onto the output only when it is
complete: a failure (bad input, a vocabulary the data cannot support, Ctrl-C) leaves no
half-written directory.

Output directory::

    manifest.json      sources (files, hashes, licences), tokenizer hash, splits, token and dedup counts
    tokenizer.json     the tokenizer (HF format; for bytes a one-line description)
    documents.tsv      one row per document read: source, key, status, split, token offset and count
    train.bin  validation.bin  test.bin  <eval source>.bin
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from scalelab.atomic import atomic_dir, check_writable
from scalelab.data.corpora import SourceStats, describe_source, iter_source
from scalelab.data.dedup import CONTAMINATED, Deduplicator
from scalelab.data.docsplit import split_documents
from scalelab.data.manifest import info, read_manifest
from scalelab.data.manifest_record import manifest_record
from scalelab.data.spec import DataSpec
from scalelab.data.tokenize import ByteTokenizer, load_tokenizer_file, token_dtype, train_bpe
from scalelab.errors import InputError

SPLITS = ("train", "validation", "test")

Progress = Callable[[str, int, Optional[int]], None]  # (stage, done, total)


@dataclass(slots=True)
class _Doc:
    source: int  # index into spec.sources
    key: str
    bytes: int
    status: str
    dup_of: str | None = None
    split: str | None = None
    offset: int = -1  # first token in its split file
    tokens: int = 0


def _global_key(spec: DataSpec, i: int, key: str) -> str:
    return f"{spec.sources[i].name}/{key}"


def _check_out(out: Path) -> None:
    check_writable(out, "data directory")
    if out.exists():
        if not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / "manifest.json").exists():
            raise InputError(
                f"{out}: exists, is not empty and is not a scalelab data directory; "
                f"choose another --out"
            )


def prepare(spec: DataSpec, out: str | Path, progress: Progress | None = None) -> dict[str, Any]:
    """Build the data directory ``out`` from ``spec`` and return its manifest."""
    out = Path(out).expanduser()
    _check_out(out)
    tick = progress or (lambda stage, done, total: None)
    order = [i for i, s in enumerate(spec.sources) if s.role == "train"] + [
        i for i, s in enumerate(spec.sources) if s.role == "eval"
    ]
    read = _read_and_dedup(spec, order, tick)
    split_names, n_pool = split_documents(spec, read.docs)
    again = _Reread(spec, order, read.docs)
    tok, trained = _tokenizer(spec, again, tick)
    dtype = token_dtype(tok.vocab_size)
    with atomic_dir(out) as tmp:
        shards = _encode(spec, read.docs, split_names, tok, dtype, again, tick, tmp)
        tok_file = tok.save(tmp)
        _write_documents(tmp / "documents.tsv", spec, read.docs)
        manifest = manifest_record(
            spec,
            read.docs,
            read.stats,
            read.pool,
            read.eval_dedup,
            tok,
            tok_file,
            dtype,
            split_names,
            shards.counts,
            shards.ndocs,
            shards.nbytes,
            shards.hashes,
            trained.bytes,
            trained.docs,
            n_pool,
        )
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for fh_name in list(split_names):
            os.chmod(tmp / f"{fh_name}.bin", 0o444)
    return manifest


@dataclass
class _Read:
    """Step 1's product: one record per document read, the sources' and the dedups' counts."""

    docs: list[_Doc]
    stats: list[SourceStats]
    pool: Deduplicator
    eval_dedup: dict[str, Deduplicator]


def _read_and_dedup(spec: DataSpec, order: list[int], tick: Progress) -> _Read:
    """1. Read every source (training sources first) and deduplicate: the training pool together,
    each evaluation source on its own and against the pool (an overlap is ``contaminated``)."""
    errors = spec.decode_errors
    docs: list[_Doc] = []
    stats = [SourceStats() for _ in spec.sources]
    pool = Deduplicator(spec.dedup, seed=1)
    eval_dedup: dict[str, Deduplicator] = {}
    done = 0
    for i in order:
        src = spec.sources[i]
        dd = (
            pool
            if src.role == "train"
            else eval_dedup.setdefault(src.name, Deduplicator(spec.dedup, seed=1))
        )
        for doc in iter_source(src, errors, stats[i]):
            size = len(doc.text.encode("utf-8"))
            gkey = _global_key(spec, i, doc.key)
            if src.role == "eval" and spec.dedup.check_eval and (hit := pool.overlaps(doc.text)):
                docs.append(_Doc(i, doc.key, size, CONTAMINATED, hit))
                dd.stats.docs_in += 1
                dd.stats.bytes_in += size
                dd.stats.bytes_removed += size
                dd.stats.overlaps_train_pool += 1
            else:
                status, of = dd.add(gkey, doc.text)
                docs.append(_Doc(i, doc.key, size, status, of))
            done += size
            tick("read+dedup", done, None)
        if stats[i].docs == 0:
            raise InputError(f"source {src.name!r} has no non-empty documents")
    return _Read(docs, stats, pool, eval_dedup)


@dataclass
class _Reread:
    """The sources read again, in step 1's order, checked against step 1's records."""

    spec: DataSpec
    order: list[int]
    docs: list[_Doc]

    def __call__(self, stage: str, want: Callable[[_Doc], bool]) -> Iterator[tuple[_Doc, str]]:
        """Re-read the sources, yielding (record, text) for the documents ``want`` accepts."""
        j = 0
        for i in self.order:
            for doc in iter_source(self.spec.sources[i], self.spec.decode_errors, SourceStats()):
                rec = self.docs[j]
                if rec.key != doc.key or rec.source != i:
                    raise InputError(
                        f"source {self.spec.sources[i].name!r} changed while it was being read "
                        f"(document {doc.key!r}); prepare again"
                    )
                j += 1
                if want(rec):
                    yield rec, doc.text


@dataclass
class _Trained:
    """What a trained tokenizer saw: bytes and documents of the train split."""

    bytes: int = 0
    docs: int = 0


def _tokenizer(spec: DataSpec, assigned: _Reread, tick: Progress):
    """3. The tokenizer: bytes, a file, or byte-level BPE trained on train documents only (up to
    ``tokenizer.train_bytes``). Returns it and what it was trained on."""
    tspec = spec.tokenizer
    trained = _Trained()
    if tspec.kind == "bytes":
        return ByteTokenizer(), trained
    if tspec.kind == "file":
        return load_tokenizer_file(tspec.path, tspec.eot_token), trained

    def train_texts() -> Iterator[str]:
        for rec, text in assigned("train tokenizer", lambda r: r.split == "train"):
            if trained.bytes >= tspec.train_bytes:
                break
            trained.bytes += rec.bytes
            trained.docs += 1
            tick("train tokenizer", trained.bytes, None)
            yield text

    tok = train_bpe(train_texts(), tspec.vocab_size, tspec.min_frequency, tspec.eot_token)
    if tok.vocab_size < tspec.vocab_size:  # pragma: no cover - train_bpe already raises
        raise InputError("vocabulary too large for the data")
    return tok, trained


@dataclass
class _Shards:
    """Step 4's counts per split: tokens, documents, bytes and the token file's hash."""

    counts: dict[str, int]
    ndocs: dict[str, int]
    nbytes: dict[str, int]
    hashes: dict[str, Any]


def _encode(spec, docs, split_names, tok, dtype, assigned: _Reread, tick: Progress, tmp: Path):
    """4. Tokenise every assigned document once, in batches, each followed by the end-of-text id,
    appended to its split's ``<split>.bin`` in ``tmp`` (sets ``_Doc.offset`` and ``.tokens``)."""
    total = sum(d.bytes for d in docs if d.split is not None)
    files = {s: open(tmp / f"{s}.bin", "wb") for s in split_names}
    shards = _Shards(
        counts={s: 0 for s in split_names},
        ndocs={s: 0 for s in split_names},
        nbytes={s: 0 for s in split_names},
        hashes={s: hashlib.sha256() for s in split_names},
    )
    try:
        batch: list[tuple[_Doc, str]] = []
        batch_bytes = 0
        done = 0

        def flush() -> None:
            nonlocal done, batch_bytes
            ids = tok.encode_batch([t for _, t in batch])
            for (rec, _), arr in zip(batch, ids):
                s = rec.split
                chunk = np.empty(len(arr) + 1, dtype=dtype)
                chunk[:-1] = arr
                chunk[-1] = tok.eot_id
                raw = chunk.tobytes()
                files[s].write(raw)
                shards.hashes[s].update(raw)
                rec.offset, rec.tokens = shards.counts[s], len(chunk)
                shards.counts[s] += len(chunk)
                shards.ndocs[s] += 1
                shards.nbytes[s] += rec.bytes
                done += rec.bytes
            tick("tokenise", done, total)
            batch.clear()
            batch_bytes = 0

        for rec, text in assigned("tokenise", lambda r: r.split is not None):
            batch.append((rec, text))
            batch_bytes += rec.bytes
            if len(batch) >= spec.encode_batch_docs or batch_bytes >= spec.encode_batch_bytes:
                flush()
        if batch:
            flush()
    finally:
        for fh in files.values():
            fh.close()
    return shards


def _write_documents(path: Path, spec: DataSpec, docs: list[_Doc]) -> None:
    """``documents.tsv``: one row per document read, its status, split and tokens."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("source\tkey\tstatus\tduplicate_of\tsplit\tbytes\ttoken_offset\ttokens\n")
        for d in docs:
            key = d.key.replace("\t", " ").replace("\n", " ")
            fh.write(
                f"{spec.sources[d.source].name}\t{key}\t{d.status}\t{d.dup_of or ''}\t"
                f"{d.split or ''}\t{d.bytes}\t{d.offset}\t{d.tokens}\n"
            )


def ensure_prepared(
    spec: DataSpec, out: str | Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Reuse ``out`` if it was prepared from the same spec (and is intact), else :func:`prepare` it.

    The comparison is on the resolved spec and the installed versions of built-in corpus packages;
    user files are not re-hashed (prepare again after changing them).
    """
    out = Path(out).expanduser()
    if (out / "manifest.json").is_file():
        try:
            m = read_manifest(out)
            info(out)  # files present with the sizes the manifest says
        except InputError:
            m = None
        if m is not None and _same_build(m, spec):
            return m
    return prepare(spec, out, progress)


def _same_build(manifest: dict[str, Any], spec: DataSpec) -> bool:
    def strip(d: dict) -> dict:
        return {k: v for k, v in d.items() if k != "out"}

    if strip(manifest.get("spec", {})) != strip(spec.resolved()):
        return False
    now = [describe_source(s).get("package_version") for s in spec.sources]
    then = [s.get("package_version") for s in manifest.get("sources", [])]
    return now == then
