"""Step 2 of :func:`scalelab.data.prepare.prepare`: assign each kept document its split.

By document, never by token offset: the kept training-pool documents get a seeded permutation per
source (stratified, so the held-out mixture matches the training mixture) and the first
``validation`` and ``test`` fractions go to those splits, the rest to ``train``; each evaluation
source is its own split, whole. The records are prepare's (``source``, ``status``, ``split``).
"""

from __future__ import annotations

import numpy as np

from scalelab.data.dedup import KEEP
from scalelab.data.spec import DataSpec
from scalelab.errors import InputError


def split_documents(spec: DataSpec, docs: list) -> tuple[list[str], int]:
    """Assign each kept document its split (sets its ``split``); return the split names and
    the size of the training pool."""
    pool_idx = [
        j for j, d in enumerate(docs) if d.status == KEEP and spec.sources[d.source].role == "train"
    ]
    n = len(pool_idx)
    fr_val, fr_test = spec.split.validation, spec.split.test
    need = 1 + (fr_val > 0) + (fr_test > 0)
    if n < need:
        raise InputError(
            f"the training pool has only {n} document(s) after dedup; a document-level "
            f"split into train/validation/test needs at least {need} "
            f"(add data, set split.validation / split.test to 0, or for text files a "
            f"smaller max_doc_bytes: a file is cut into documents at paragraph breaks)"
        )
    n_val, n_test = stratified_split(spec, docs, pool_idx)
    n_val, n_test = at_least_one_held_out(spec, docs, pool_idx, n_val, n_test)
    for d in docs:
        if d.status == KEEP and spec.sources[d.source].role == "eval":
            d.split = spec.sources[d.source].name
    split_names = (
        ["train"]
        + (["validation"] if n_val else [])
        + (["test"] if n_test else [])
        + [s.name for s in spec.sources if s.role == "eval"]
    )
    empty_eval = [s for s in split_names[3:] if not any(d.split == s for d in docs)]
    if empty_eval:
        raise InputError(
            f"eval source {empty_eval[0]!r} has no documents left after dedup and the "
            f"overlap check against the training pool"
        )
    return split_names, n


def stratified_split(spec: DataSpec, docs: list, pool_idx: list[int]) -> tuple[int, int]:
    """Split the pool stratified by source: each training source gives the same fractions of its
    documents, so the held-out mixture matches the training mixture (a few long plays cannot all
    land in one split). Returns the validation and test counts."""
    fr_val, fr_test = spec.split.validation, spec.split.test
    n_val = n_test = 0
    by_source: dict[int, list[int]] = {}
    for j in pool_idx:
        by_source.setdefault(docs[j].source, []).append(j)
    for i, members in sorted(by_source.items()):
        m = len(members)
        perm = np.random.default_rng([int(spec.split.seed), 0x5B117, i]).permutation(m)
        v = int(round(fr_val * m))
        t = int(round(fr_test * m))
        if v + t >= m:
            v, t = min(v, max(0, m - 1)), 0
        for rank, p in enumerate(perm):
            docs[members[p]].split = (
                "validation" if rank < v else "test" if rank < v + t else "train"
            )
        n_val, n_test = n_val + v, n_test + t
    return n_val, n_test


def at_least_one_held_out(
    spec: DataSpec, docs: list, pool_idx: list[int], n_val: int, n_test: int
) -> tuple[int, int]:
    """Tiny pools: make sure a requested held-out split gets at least one document."""
    fr_val, fr_test = spec.split.validation, spec.split.test
    for name, frac, count in (("validation", fr_val, n_val), ("test", fr_test, n_test)):
        if frac > 0 and count == 0:
            train_docs = [j for j in pool_idx if docs[j].split == "train"]
            pick = train_docs[
                int(
                    np.random.default_rng([int(spec.split.seed), 0x5B118, len(name)]).integers(
                        len(train_docs)
                    )
                )
            ]
            docs[pick].split = name
            n_val, n_test = (n_val + 1, n_test) if name == "validation" else (n_val, n_test + 1)
    return n_val, n_test
