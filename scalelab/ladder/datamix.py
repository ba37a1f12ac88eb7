"""Data variants: a ``[[variants]]`` entry that trains on another mixture of the ladder's data.

A data variant re-weights the training sources of the ladder's ``[data]``::

    [[variants]]
    name = "shakespeare-heavy"
    data.mix = { shakespeare = 3, bible = 1 }   # weights over [data]'s training sources
    data.mix_seed = 0                           # which documents are drawn (default 0)

Its training split is drawn, document by document, from the ladder's own prepared *training*
split: each source with weight w_s contributes w_s / Σw of the mixture's tokens, and the mixture is
as large as its scarcest source allows (a source left out, or with weight 0, is not trained on).
Built in ``<out_dir>/data-mix-<hash>``, named by the hash of the base folder, the normalised
weights and the seed: variants with equal mixtures share one prepared folder, which is reused while
the base data is unchanged.

Why a mixture of the base data, not any data spec: the comparison is fair by construction.

* **The same held-out sets.** Every variant is evaluated on the base ``[data]``'s held-out and
  out-of-distribution sets (or its ``[eval] sets``): losses measured on different eval sets are
  not comparable.
* **The same tokenizer.** A mixture keeps the base's tokenizer, so its vocabulary, the model's
  embedding parameters and every N, D and C are those of the base, and losses in nats per token
  compare directly. A variant that changes the tokenizer (``data.tokenizer``, ``data.vocab_size``)
  is refused: losses per token under two tokenizers measure different units.
* **No leakage.** A separately prepared corpus is split into train/validation/test on its own, so
  its training split may hold the base's held-out documents; a mixture of the base's training
  split never does. Another corpus, or dedup on/off, is therefore a second ladder for now.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from scalelab.errors import InputError

DATA_KEYS = ("mix", "mix_seed")
MIX_DIR = "data-mix-"
MIX_FORMAT = "scalelab-datamix/1"

_WHY = {
    "tokenizer": "a variant cannot change the tokenizer: losses per token under two tokenizers "
    "are not comparable (run a second ladder and compare in bits per byte)",
    "vocab_size": "a variant cannot change the vocabulary: losses per token under two tokenizers "
    "are not comparable (run a second ladder and compare in bits per byte)",
}
_OTHER = (
    "a variant's data is a mixture of the ladder's [data] (give data.mix); another corpus would be "
    "split and tokenised on its own, so its training split could hold the ladder's held-out "
    "documents and its tokenizer would differ (run a second ladder)"
)


def check_override(data: dict, where: str) -> list[str]:
    """One line per problem of a variant's ``data`` table (the source names are checked when the
    ladder is planned, against the base data)."""
    problems = []
    for key in data:
        if key not in DATA_KEYS:
            problems.append(f"{where}: data.{key}: {_WHY.get(key, _OTHER)}")
    if problems or not data:
        return problems
    mix = data.get("mix")
    if not isinstance(mix, dict) or not mix:
        return [f"{where}: data.mix: expected a table of weights, e.g. {{ shakespeare = 3 }}"]
    for name, w in mix.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            problems.append(f"{where}: data.mix.{name}: expected a weight >= 0, got {w!r}")
    if not problems and not any(w > 0 for w in mix.values()):
        problems.append(f"{where}: data.mix: every weight is 0; give one source a positive weight")
    seed = data.get("mix_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(f"{where}: data.mix_seed: expected an integer >= 0, got {seed!r}")
    return problems


def weights(mix: dict[str, float]) -> dict[str, float]:
    """The mixture's weights, normalised to sum 1, zero weights dropped, sorted by name."""
    total = sum(mix.values())
    return {k: round(mix[k] / total, 12) for k in sorted(mix) if mix[k] > 0}


def train_sources(base, source: str) -> list[str]:
    """The training sources of a planned base data (a :class:`DataPlan`)."""
    if base.train == "synthetic":
        raise InputError(
            f"{source}: [[variants]] data.mix: [data] preset = 'markov' has no sources to mix; "
            "use a text data set (preset builtin or synthetic, spec or prepared)"
        )
    if base.prepare_spec is not None:
        return [s["name"] for s in base.prepare_spec["sources"] if s["role"] == "train"]
    from scalelab.data.manifest import read_manifest  # noqa: PLC0415

    m = read_manifest(Path(base.train).parent)
    return [s["name"] for s in m.get("sources", []) if s.get("role") == "train"]


def variant_data(base, data: dict, name: str, out_dir: str | Path, source: str):
    """The :class:`DataPlan` of a variant with ``data.mix``: the base's vocabulary, dtype and eval
    sets, its own training file in ``<out_dir>/data-mix-<hash>``."""
    known = train_sources(base, source)
    w = weights(data["mix"])
    unknown = [k for k in data["mix"] if k not in known]
    if unknown:
        raise InputError(
            [
                f"{source}: [[variants]] {name}: data.mix.{k}: no training source {k!r} in the "
                f"ladder's [data] (its training sources: {', '.join(known)})"
                for k in unknown
            ]
        )
    base_dir = str(Path(base.train).parent)
    seed = int(data.get("mix_seed", 0))
    key = json.dumps({"base": base_dir, "weights": w, "seed": seed}, sort_keys=True)
    folder = Path(out_dir).expanduser().resolve() / (
        MIX_DIR + hashlib.sha256(key.encode()).hexdigest()[:12]
    )
    train_tokens = None
    if (folder / "manifest.json").is_file():
        try:
            train_tokens = json.loads((folder / "manifest.json").read_text())["splits"]["train"][
                "tokens"
            ]
        except (ValueError, KeyError, TypeError):
            train_tokens = None
    elif (Path(base_dir) / "documents.tsv").is_file():  # not built yet: its size, to a document
        have = _tokens_by_source(_train_docs(Path(base_dir)))
        if all(have.get(s) for s in w):
            train_tokens = round(min(have[s] / w[s] for s in w))
    return replace(
        base,
        train=str(folder / "train.bin"),
        eval=dict(base.eval),
        prepare_dir=str(folder),
        prepare_spec=None,
        train_tokens=train_tokens,
        mix={"base": base_dir, "weights": w, "seed": seed},
    )


# ------------------------------------------------------------------------------------------------
# building a mixture (when the ladder runs, after the base data is prepared)
# ------------------------------------------------------------------------------------------------


def _train_docs(base_dir: Path) -> list[tuple[str, int, int, int]]:
    """(source, token offset, tokens, bytes) of every document of the base's training split."""
    path = base_dir / "documents.tsv"
    if not path.is_file():
        raise InputError(
            f"{path}: missing; a data mixture needs the per-document index that `scalelab data "
            "prepare` writes (prepare the base data again)"
        )
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["split"] == "train":
                out.append(
                    (row["source"], int(row["token_offset"]), int(row["tokens"]), int(row["bytes"]))
                )
    return out


def _tokens_by_source(docs: list[tuple[str, int, int, int]]) -> dict[str, int]:
    have: dict[str, int] = {}
    for s, _, t, _ in docs:
        have[s] = have.get(s, 0) + t
    return have


def build_mix(folder: str | Path, mix: dict[str, Any]) -> dict[str, Any]:
    """Build (or reuse, when built from the same base data and weights) a mixture folder; return
    its manifest (``scalelab-data/1``: the base's, with its own training split and hash)."""
    import numpy as np  # noqa: PLC0415

    from scalelab.atomic import atomic_dir  # noqa: PLC0415
    from scalelab.data.manifest import read_manifest  # noqa: PLC0415

    folder = Path(folder)
    base_dir = Path(mix["base"])
    base = read_manifest(base_dir)
    record = {
        "format": MIX_FORMAT,
        "base_dir": str(base_dir),
        "base_data_hash": base["data_hash"],
        "weights": dict(mix["weights"]),
        "seed": int(mix["seed"]),
    }
    if (folder / "manifest.json").is_file():
        try:
            old = read_manifest(folder)
            size = (folder / "train.bin").stat().st_size
            itemsize = np.dtype(old["dtype"]).itemsize
            same = {k: old.get("mix", {}).get(k) for k in record} == record
            if same and size == old["splits"]["train"]["tokens"] * itemsize:
                return old
        except (InputError, OSError, KeyError, TypeError):
            pass
    docs = _train_docs(base_dir)
    have = _tokens_by_source(docs)
    w = record["weights"]
    empty = [s for s in w if not have.get(s)]
    if empty:
        raise InputError(
            f"{base_dir}: source {empty[0]!r} has no documents in the training split to mix"
        )
    total = min(have[s] / w[s] for s in w)  # as large as the scarcest source allows
    rng = np.random.default_rng([record["seed"], 0x313A])
    chosen: list[tuple[str, int, int, int]] = []
    per_source: dict[str, dict[str, int]] = {}
    for s in sorted(w):
        mine = [d for d in docs if d[0] == s]
        quota, got = w[s] * total, 0
        for i in rng.permutation(len(mine)):
            if got >= quota - 0.5:
                break
            chosen.append(mine[i])
            got += mine[i][2]
        per_source[s] = {"docs": sum(d[0] == s for d in chosen), "tokens": got}
    order = rng.permutation(len(chosen))
    dtype = np.dtype(base["dtype"])
    src = np.memmap(base_dir / base["splits"]["train"]["file"], dtype=dtype, mode="r")
    sha = hashlib.sha256()
    n_tokens = n_bytes = 0
    with atomic_dir(folder) as tmp, open(tmp / "train.bin", "wb") as fh:
        for i in order:
            _, off, t, b = chosen[i]
            raw = np.ascontiguousarray(src[off : off + t]).tobytes()
            fh.write(raw)
            sha.update(raw)
            n_tokens, n_bytes = n_tokens + t, n_bytes + b
        fh.flush()
        manifest = _manifest(base, record, per_source, sha.hexdigest(), n_tokens, n_bytes, order)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _manifest(base, record, per_source, sha, n_tokens, n_bytes, order) -> dict[str, Any]:
    w = record["weights"]
    label = ", ".join(f"{s} {v:.3g}" for s, v in w.items())
    name = f"{base['name']} mix ({label})"
    data_hash = hashlib.sha256(
        json.dumps(
            {"tokenizer": base["tokenizer"]["hash"], "splits": {"train": sha}, "mix": record},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    chk = dict(base.get("checklist") or {})
    chk.update(
        data=name,
        data_hash=data_hash,
        sources=[s for s in chk.get("sources", []) if s.split(" ")[0] in w or "(eval)" in s],
        train_tokens_after_dedup=n_tokens,
        split=f"training documents drawn from {base['name']}'s training split by weight "
        f"({label}; seed {record['seed']}); held-out sets: {base['name']}'s",
    )
    return {
        **{k: base[k] for k in ("format", "scalelab_version", "tokenizer", "dtype", "dedup")},
        "name": name,
        "created_utc": base.get("created_utc"),
        "data_hash": data_hash,
        "spec": base.get("spec"),
        "sources": [s for s in base.get("sources", []) if s.get("name") in w],
        "splits": {
            "train": {
                "file": "train.bin",
                "role": "train",
                "docs": len(order),
                "tokens": n_tokens,
                "bytes": n_bytes,
                "sha256": sha,
            }
        },
        "mix": {**record, "sources": per_source},
        "effective_tokens": {"train": n_tokens, "note": "the mixture's training tokens"},
        "warnings": [],
        "checklist": chk,
    }
