"""Shared helpers of the task tests: small prepared corpora (bytes tokenizer) in a temporary folder.

``counting_corpus``: documents of sentences such as "Qbxa counts six seven eight." -- the final
word of a sentence follows from the word before it (a tiny model learns that in a few hundred
steps), the random names make every passage unique (so none occurs verbatim in training), and the
answers are spread evenly over 18 number words (the majority baseline stays low).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scalelab.data.prepare import prepare
from scalelab.data.spec import spec_from_dict, synthetic_spec

NUMBERS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()


def counting_text(rng: np.random.Generator, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        end = int(rng.integers(2, len(NUMBERS)))
        start = max(0, end - int(rng.integers(2, 5)))
        name = "".join(chr(97 + int(c)) for c in rng.integers(0, 26, 4)).capitalize()
        out.append(f"{name} counts {' '.join(NUMBERS[start : end + 1])}.")
    return " ".join(out)


def counting_corpus(folder: Path, docs: int = 240, seed: int = 0) -> Path:
    """Prepare the counting corpus (bytes tokenizer, 10% validation, 10% test) in ``folder``."""
    rng = np.random.default_rng(seed)
    src = folder / "counting.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "w", encoding="utf-8") as fh:
        for _ in range(docs):
            fh.write(json.dumps({"text": counting_text(rng, 12)}) + "\n")
    spec = spec_from_dict(
        {
            "name": "counting",
            "seed": 0,
            "sources": [{"kind": "jsonl", "path": str(src)}],
            "tokenizer": {"kind": "bytes"},
            "split": {"validation": 0.1, "test": 0.1},
            "dedup": {"exact": False, "near": False},
        }
    )
    out = folder / "data"
    prepare(spec, out)
    return out


def synthetic_corpus(folder: Path, docs: int = 200) -> Path:
    """The synthetic language, bytes tokenizer (natural-looking sentences, for generation tests)."""
    out = folder / "syn"
    prepare(synthetic_spec(n_docs=docs, tokenizer="bytes"), out)
    return out
