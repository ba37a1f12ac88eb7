"""The manifest a :func:`scalelab.data.prepare.prepare` writes: the sources (files, hashes,
licences, what was read), the tokenizer, each split's file, token count and hash, the document
split, the dedup counts, warnings, and the checklist lines a report quotes.

:mod:`scalelab.data.manifest` reads it back (``read_manifest``, ``info``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

from scalelab.data.corpora import SourceStats, describe_source
from scalelab.data.dedup import Deduplicator
from scalelab.data.manifest import FORMAT
from scalelab.data.spec import DataSpec


def manifest_record(
    spec,
    docs,
    stats,
    pool,
    eval_dedup,
    tok,
    tok_file,
    dtype,
    split_names,
    counts,
    ndocs,
    nbytes,
    hashes,
    trained_bytes,
    trained_docs,
    n_pool,
) -> dict[str, Any]:
    """The ``manifest.json`` of a prepared data directory (see :mod:`scalelab.data.prepare`)."""
    from scalelab import __version__

    sources = []
    for i, s in enumerate(spec.sources):
        d = describe_source(s)
        d["read"] = stats[i].as_dict()
        sources.append(d)
    splits: dict[str, Any] = {}
    for s in split_names:
        role = "train" if s == "train" else "heldout" if s in ("validation", "test") else "ood"
        splits[s] = {
            "file": f"{s}.bin",
            "role": role,
            "docs": ndocs[s],
            "tokens": counts[s],
            "bytes": nbytes[s],
            "sha256": hashes[s].hexdigest(),
        }
    train_tpb = counts["train"] / max(1, nbytes["train"])
    pool_stats = pool.stats.as_dict()
    pool_stats["tokens_removed_estimate"] = int(round(pool.stats.bytes_removed * train_tpb))
    tok_info = _tokenizer_record(spec, tok, tok_file, dtype, trained_bytes, trained_docs)
    data_hash = hashlib.sha256(
        json.dumps(
            {"tokenizer": tok.hash, "splits": {s: splits[s]["sha256"] for s in split_names}},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    warnings = _decode_warnings(spec, stats)
    dedup_desc = _dedup_description(spec, pool)
    return {
        "format": FORMAT,
        "name": spec.name,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "scalelab_version": __version__,
        "data_hash": data_hash,
        "spec": spec.resolved(),
        "sources": sources,
        "tokenizer": tok_info,
        "dtype": str(dtype),
        "splits": splits,
        "split_assignment": {
            "method": (
                "by document, stratified by source: a seeded permutation of each training "
                "source's kept documents; eval sources whole"
            ),
            "seed": spec.split.seed,
            "fractions": {"validation": spec.split.validation, "test": spec.split.test},
            "pool_docs": n_pool,
            "documents_file": "documents.tsv",
        },
        "dedup": {
            "settings": spec.dedup.model_dump(),
            "pool": pool_stats,
            "eval": {name: dd.stats.as_dict() for name, dd in eval_dedup.items()},
        },
        "effective_tokens": {
            "train": counts["train"],
            "note": "training tokens after exact and near dedup",
        },
        "warnings": warnings,
        "checklist": {
            "data": spec.name,
            "data_hash": data_hash,
            "sources": [
                f"{s['name']} ({s['role']}): {s.get('title', s.get('path', s['kind']))} — licence: {s['licence']}; "
                f"attribution: {s['attribution']}"
                for s in sources
            ],
            "train_tokens_after_dedup": counts["train"],
            "heldout_tokens": {s: counts[s] for s in split_names if s != "train"},
            "dedup": dedup_desc,
            "split": f"by document, seed {spec.split.seed}, validation {spec.split.validation}, test {spec.split.test}",
            "tokenizer": f"{tok.kind}, vocab {tok.vocab_size}, sha256 {tok.hash[:16]}",
        },
    }


def _tokenizer_record(spec: DataSpec, tok, tok_file, dtype, trained_bytes: int, trained_docs: int):
    """The manifest's ``tokenizer`` entry: kind, vocabulary, end-of-text, hash, file and dtype,
    with what a BPE tokenizer was trained on or where a tokenizer file came from."""
    tok_info = {
        "kind": tok.kind,
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "eot_token": getattr(tok, "eot_token", "\\x03"),
        "hash": tok.hash,
        "file": tok_file,
        "dtype": str(dtype),
    }
    if tok.kind == "bpe":
        tok_info.update(
            min_frequency=spec.tokenizer.min_frequency,
            trained_on_bytes=trained_bytes,
            trained_on_docs=trained_docs,
            trained_on="train split only",
        )
    if tok.kind == "file":
        tok_info["source_path"] = str(Path(spec.tokenizer.path).expanduser().resolve())
    return tok_info


def _decode_warnings(spec: DataSpec, stats: list[SourceStats]) -> list[str]:
    """One warning per source whose undecodable bytes were replaced."""
    warnings = []
    for src, st in zip(spec.sources, stats):
        if st.replaced:
            warnings.append(
                f"source {src.name!r}: {st.replaced} undecodable byte(s) replaced by U+FFFD "
                f"in {len(st.replaced_files)} file(s)"
            )
    return warnings


def _dedup_description(spec: DataSpec, pool: Deduplicator) -> str:
    """The checklist's one line on deduplication: its settings and what it removed."""
    d = spec.dedup
    near = (
        f"MinHash LSH J>={d.threshold}, {d.shingle}-word shingles, {d.num_perm} perms"
        if d.near
        else "off"
    )
    return (
        f"exact={'on' if d.exact else 'off'}, near={near}; "
        f"removed {pool.stats.exact} exact + {pool.stats.near} near of {pool.stats.docs_in} pool documents"
    )
