"""Offline downstream tasks built from the held-out documents of a prepared data directory.

    task = make_task_set("data/builtin-bytes", "cloze", examples=300, seed=0)
    write_task_set(task, "cloze.jsonl")        # + cloze.manifest.json (scalelab.data.taskfile)

Only documents of the held-out splits (role ``heldout``: ``validation`` and ``test``, split by
document and deduplicated against the training pool by :mod:`scalelab.data.prepare`) are used; their
text is decoded from the split's token file with the directory's own tokenizer. As a second guard,
a passage (context plus answer, whitespace collapsed) that occurs verbatim in the training text is
dropped (counted in the manifest as ``dropped_in_training``).

Text is whitespace-normalised (runs of spaces and newlines become one space) and cut into
sentences after ``.``, ``!`` or ``?``. Two kinds:

* **cloze** (LAMBADA-style): a passage of whole sentences (at most ``max_context_chars``) whose
  final word is the answer: ``context`` is the passage up to that word, ``target`` the word with
  its leading space (``" said"``; trailing punctuation dropped; alphabetic words of 2+ letters).
  Buckets by the answer's frequency in the held-out text (case-folded), in equal-sized quartiles:
  ``freq-q1`` (the most frequent answers: the easiest) to ``freq-q4`` (the rarest).
* **mc** (continuation): a passage as context, the true next sentence against ``choices - 1``
  sentences of other documents of similar length (0.5-2x), in a seeded order; ``label`` is the true
  one's index. Buckets by the passage's mean unigram surprisal (nats per word, unigram frequencies
  of the held-out text), quartiles ``surprisal-q1`` (most predictable) to ``surprisal-q4``.

Generation is a pure function of (data directory, kind, examples, seed, settings): the same inputs
give the same bytes (the manifest records the data hash and the sha256 of the JSON-lines).
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from scalelab.data.manifest import read_manifest
from scalelab.data.taskfile import KINDS, TaskSet
from scalelab.data.tokenize import load_saved
from scalelab.errors import InputError

GENERATOR_VERSION = 1
BUILTIN_TASKS = KINDS  # the names a run config's [eval] tasks may use for generated sets
MAX_CONTEXT_CHARS = 300
MIN_CONTEXT_CHARS = 40
MAX_CHOICE_CHARS = 120
MIN_CHOICE_CHARS = 12
N_CHOICES = 4
PER_DOC = 4  # at most this many examples from one document
_SENT = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z]+")
_FINAL = re.compile(r"^(.*\S)\s+([A-Za-z]{2,})[.!?;:,'\")\]]*$", re.S)
_KIND_CODE = {"cloze": 1, "mc": 2}


BUILTIN_CORPUS_DIR = "out/data/builtin-bytes"


def builtin_corpus(out: str | Path = BUILTIN_CORPUS_DIR) -> Path:
    """The built-in corpus (Shakespeare + Bible, Wikipedia OOD; bytes) prepared in ``out``
    (reused while unchanged): the default source of ``scalelab tasks make``."""
    from scalelab.data.prepare import ensure_prepared
    from scalelab.data.spec import builtin_spec

    ensure_prepared(builtin_spec(tokenizer="bytes"), out)
    return Path(out)


def data_directory(path: str | Path) -> Path:
    """A prepared data directory from itself, or from a token file inside it (``train.bin``)."""
    p = Path(path).expanduser()
    if p.is_file() and (p.parent / "manifest.json").is_file():
        return p.parent
    read_manifest(p)  # InputError naming what is wrong
    return p


def _split_tokens(d: Path, manifest: dict, split: str) -> np.ndarray:
    s = manifest["splits"][split]
    return np.memmap(d / s["file"], dtype=np.dtype(manifest["dtype"]), mode="r")


@lru_cache(maxsize=4)
def _texts(directory: str, data_hash: str) -> tuple[list[tuple[str, str]], str]:
    """(held-out documents as (key, normalised text), normalised training text) of a directory."""
    d = Path(directory)
    m = read_manifest(d)
    tok = load_saved(d, m["tokenizer"])
    heldout = [s for s, v in m["splits"].items() if v["role"] == "heldout"]
    if not heldout:
        raise InputError(f"{d}: no held-out split (validation/test) to build tasks from")
    arrays = {s: _split_tokens(d, m, s) for s in heldout}
    docs = []
    with open(d / "documents.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["split"] in arrays and int(row["tokens"]) > 1:
                off, n = int(row["token_offset"]), int(row["tokens"])
                ids = arrays[row["split"]][off : off + n - 1]  # without the end-of-text id
                text = " ".join(tok.decode(ids.tolist()).split())
                docs.append((f"{row['source']}/{row['key']}", text))
    train = _split_tokens(d, m, "train")
    train_text = " ".join(tok.decode(np.asarray(train).tolist()).split())
    return docs, train_text


def _quartile_buckets(scores: list[float], prefix: str) -> list[str]:
    """Equal-sized quartiles by rank (ties broken by position): q1 = the lowest scores."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    out = [""] * len(scores)
    for rank, i in enumerate(order):
        out[i] = f"{prefix}-q{1 + (4 * rank) // max(1, len(scores))}"
    return out


def _passage(sents: list[str], end: int) -> str:
    """The longest run of whole sentences ending with ``sents[end]`` within MAX_CONTEXT_CHARS."""
    text = sents[end]
    j = end - 1
    while j >= 0 and len(sents[j]) + 1 + len(text) <= MAX_CONTEXT_CHARS:
        text = sents[j] + " " + text
        j -= 1
    return text


def _cloze_candidates(docs, rng) -> list[dict]:
    out = []
    for key, text in docs:
        sents = [s for s in _SENT.split(text) if s]
        picks = []
        for i in range(len(sents)):
            if len(sents[i]) > MAX_CONTEXT_CHARS:
                continue
            m = _FINAL.match(_passage(sents, i))
            if m and len(m.group(1)) >= MIN_CONTEXT_CHARS:
                picks.append({"context": m.group(1), "target": " " + m.group(2), "doc": key})
        if len(picks) > PER_DOC:
            picks = [picks[k] for k in sorted(rng.choice(len(picks), PER_DOC, replace=False))]
        out.extend(picks)
    return out


def _mc_candidates(docs, rng) -> list[dict]:
    pool: list[tuple[int, str]] = []  # (doc index, sentence) usable as a choice
    per_doc = []
    for di, (_, text) in enumerate(docs):
        sents = [s for s in _SENT.split(text) if s]
        per_doc.append(sents)
        pool.extend((di, s) for s in sents if MIN_CHOICE_CHARS <= len(s) <= MAX_CHOICE_CHARS)
    lengths = np.array([len(s) for _, s in pool])
    out = []
    for di, sents in enumerate(per_doc):
        picks = []
        for i in range(len(sents) - 1):
            nxt = sents[i + 1]
            if not MIN_CHOICE_CHARS <= len(nxt) <= MAX_CHOICE_CHARS or len(sents[i]) > 250:
                continue
            ctx = _passage(sents, i)
            if len(ctx) >= MIN_CONTEXT_CHARS:
                picks.append((ctx, nxt))
        if len(picks) > PER_DOC:
            picks = [picks[k] for k in sorted(rng.choice(len(picks), PER_DOC, replace=False))]
        for ctx, nxt in picks:
            near = np.flatnonzero((lengths >= len(nxt) / 2) & (lengths <= 2 * len(nxt)))
            others: list[str] = []
            for k in rng.permutation(near)[: 8 * N_CHOICES]:
                d2, s2 = pool[int(k)]
                if d2 != di and s2 != nxt and s2 not in others:
                    others.append(s2)
                if len(others) == N_CHOICES - 1:
                    break
            if len(others) < N_CHOICES - 1:
                continue
            label = int(rng.integers(N_CHOICES))
            choices = [" " + s for s in others]
            choices.insert(label, " " + nxt)
            out.append({"context": ctx, "choices": choices, "label": label, "doc": docs[di][0]})
    return out


def make_task_set(
    data_dir: str | Path, kind: str, examples: int = 300, seed: int = 0, name: str | None = None
) -> TaskSet:
    """Build a ``cloze`` or ``mc`` task set of up to ``examples`` examples (see the module doc)."""
    if kind not in KINDS:
        raise InputError(f"task kind {kind!r}: expected one of {', '.join(KINDS)}")
    if examples < 1:
        raise InputError(f"examples: expected at least 1, got {examples}")
    d = data_directory(data_dir).resolve()
    m = read_manifest(d)
    docs, train_text = _texts(str(d), m["data_hash"])
    rng = np.random.default_rng([int(seed), _KIND_CODE[kind], GENERATOR_VERSION])
    cands = (_cloze_candidates if kind == "cloze" else _mc_candidates)(docs, rng)
    order = rng.permutation(len(cands))
    chosen, dropped = [], 0
    for k in order:
        c = cands[int(k)]
        answer = c["target"] if kind == "cloze" else c["choices"][c["label"]]
        if (c["context"] + answer) in train_text:
            dropped += 1
            continue
        chosen.append(c)
        if len(chosen) == examples:
            break
    if not chosen:
        raise InputError(
            f"{d}: the held-out documents give no {kind} example (too few or too short sentences)"
        )
    words = Counter(w.lower() for _, text in docs for w in _WORD.findall(text))
    total = sum(words.values())
    if kind == "cloze":
        scores = [-words[c["target"].strip().lower()] for c in chosen]
        buckets = _quartile_buckets(scores, "freq")
    else:
        scores = []
        for c in chosen:
            ws = _WORD.findall(c["context"] + c["choices"][c["label"]])
            scores.append(
                float(np.mean([-math.log(words[w.lower()] / total) for w in ws or ["a"]]))
            )
        buckets = _quartile_buckets(scores, "surprisal")
    exs = []
    for i, (c, b) in enumerate(zip(chosen, buckets, strict=True)):
        ex = {"id": f"{kind}-{i:05d}", "context": c["context"], "bucket": b}
        ex.update({"target": c["target"]} if kind == "cloze" else
                  {"choices": c["choices"], "label": c["label"]})  # fmt: skip
        exs.append(ex)
    manifest_sha = hashlib.sha256((d / "manifest.json").read_bytes()).hexdigest()
    manifest = {
        "generator": "scalelab.data.tasksets",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "examples_requested": int(examples),
        "source": {
            "data_dir": str(d),
            "data_name": m["name"],
            "data_hash": m["data_hash"],
            "manifest_sha256": manifest_sha,
            "splits": [s for s, v in m["splits"].items() if v["role"] == "heldout"],
            "documents": len(docs),
        },
        "counts": {
            "examples": len(exs),
            "candidates": len(cands),
            "dropped_in_training": dropped,
            "buckets": dict(sorted(Counter(buckets).items())),
        },
        "bucket_rule": (
            "quartiles of the answer's frequency in the held-out text (freq-q1: most frequent)"
            if kind == "cloze"
            else "quartiles of the passage's mean unigram surprisal (surprisal-q1: lowest)"
        ),
        "settings": {
            "max_context_chars": MAX_CONTEXT_CHARS,
            "min_context_chars": MIN_CONTEXT_CHARS,
            "choice_chars": [MIN_CHOICE_CHARS, MAX_CHOICE_CHARS],
            "choices": N_CHOICES if kind == "mc" else None,
            "per_document": PER_DOC,
        },
    }
    return TaskSet(name=name or kind, kind=kind, examples=exs, source=str(d), manifest=manifest)
