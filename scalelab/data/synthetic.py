"""A seeded synthetic language: a probabilistic grammar over a Zipfian lexicon.

It gives unlimited, reproducible English-like text for fast tests and smoke runs: sentences have
noun phrases with determiners and adjectives, subject-verb number agreement, prepositional phrases
and coordination; word frequencies inside each part of speech follow a Zipf law
(p(rank r) ∝ r^-s). The same ``seed`` always gives the same lexicon and the same documents; document
``i`` depends only on ``(seed, i)``, so a slice of documents can be generated without the others.

The text is *not* natural language: a loss fitted on it says nothing about English. It exists so the
pipeline (tokenise, dedup, split, shard, load) and a small training run can be tested in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_ONSETS = [
    "b",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "st",
    "tr",
    "sh",
    "ch",
    "th",
    "pl",
    "gr",
    "kl",
    "sn",
    "",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ee", "oa"]
_CODAS = ["", "", "", "n", "r", "l", "s", "t", "m", "k", "nd", "rt"]

# Parts of speech and how many words each gets in the lexicon.
_CLASS_SIZES = {"noun": 2000, "verb": 600, "adj": 500, "adv": 150}
_DETERMINERS = {
    "sg": ["the", "a", "this", "that", "every", "one"],
    "pl": ["the", "these", "those", "some", "many", "two", "all"],
}
_PREPOSITIONS = ["in", "on", "under", "with", "near", "from", "beyond", "across", "of", "before"]
_CONJUNCTIONS = ["and", "but", "because", "while", "so", "although"]


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic language (the defaults are what the tests and the demo use)."""

    seed: int = 0
    zipf_s: float = 1.1  # Zipf exponent inside each word class
    min_sentences: int = 4  # sentences per document (uniform in [min, max])
    max_sentences: int = 24
    max_depth: int = 3  # recursion limit of the grammar


class SyntheticLanguage:
    """A seeded lexicon plus grammar; :meth:`document` makes document ``i`` deterministically."""

    def __init__(self, config: SyntheticConfig | None = None):
        self.config = config or SyntheticConfig()
        rng = np.random.default_rng([self.config.seed, 0x5CA1E])
        used: set[str] = set(_PREPOSITIONS) | set(_CONJUNCTIONS)
        for words in _DETERMINERS.values():
            used |= set(words)
        self.lexicon: dict[str, list[str]] = {}
        for cls, size in _CLASS_SIZES.items():
            words: list[str] = []
            while len(words) < size:
                n_syll = int(rng.choice([1, 2, 2, 3, 3, 4]))
                w = "".join(
                    _ONSETS[rng.integers(len(_ONSETS))]
                    + _VOWELS[rng.integers(len(_VOWELS))]
                    + _CODAS[rng.integers(len(_CODAS))]
                    for _ in range(n_syll)
                )
                if len(w) >= 2 and w not in used:
                    used.add(w)
                    words.append(w)
            self.lexicon[cls] = words
        self._cdf = {}
        for cls, words in self.lexicon.items():
            p = 1.0 / np.arange(1, len(words) + 1) ** self.config.zipf_s
            self._cdf[cls] = np.cumsum(p / p.sum())

    # -- sampling helpers -------------------------------------------------------------------------
    def _word(self, rng: np.random.Generator, cls: str) -> str:
        i = int(np.searchsorted(self._cdf[cls], rng.random(), side="right"))
        return self.lexicon[cls][min(i, len(self.lexicon[cls]) - 1)]

    def _np(self, rng: np.random.Generator, depth: int) -> tuple[list[str], bool]:
        plural = rng.random() < 0.35
        out = [_DETERMINERS["pl" if plural else "sg"][rng.integers(7 if plural else 6)]]
        while rng.random() < 0.4 and len(out) < 4:
            out.append(self._word(rng, "adj"))
        noun = self._word(rng, "noun")
        out.append(noun + "s" if plural else noun)
        if depth < self.config.max_depth and rng.random() < 0.25:
            out += self._pp(rng, depth + 1)
        return out, plural

    def _pp(self, rng: np.random.Generator, depth: int) -> list[str]:
        return [_PREPOSITIONS[rng.integers(len(_PREPOSITIONS))]] + self._np(rng, depth)[0]

    def _clause(self, rng: np.random.Generator, depth: int) -> list[str]:
        subj, plural = self._np(rng, depth)
        verb = self._word(rng, "verb")
        out = subj + [verb if plural else verb + "s"]
        r = rng.random()
        if r < 0.55:
            out += self._np(rng, depth + 1)[0]
        elif r < 0.8:
            out += self._pp(rng, depth + 1)
        if rng.random() < 0.2:
            out.append(self._word(rng, "adv"))
        if depth < self.config.max_depth and rng.random() < 0.3:
            out += [_CONJUNCTIONS[rng.integers(len(_CONJUNCTIONS))]] + self._clause(rng, depth + 1)
        return out

    def sentence(self, rng: np.random.Generator) -> str:
        words = self._clause(rng, 0)
        text = " ".join(words)
        return text[0].upper() + text[1:] + ("?" if rng.random() < 0.08 else ".")

    def document(self, index: int) -> str:
        """Document ``index``: a few paragraphs; depends only on ``(seed, index)``."""
        rng = np.random.default_rng([self.config.seed, 0xD0C, int(index)])
        n = int(rng.integers(self.config.min_sentences, self.config.max_sentences + 1))
        paragraphs, current = [], []
        for _ in range(n):
            current.append(self.sentence(rng))
            if rng.random() < 0.2:
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
        return "\n\n".join(paragraphs) + "\n"

    def documents(self, n_docs: int, start: int = 0) -> Iterator[str]:
        for i in range(start, start + n_docs):
            yield self.document(i)


def synthetic_text(n_docs: int, seed: int = 0) -> str:
    """Convenience: ``n_docs`` synthetic documents joined by blank lines."""
    lang = SyntheticLanguage(SyntheticConfig(seed=seed))
    return "\n".join(lang.documents(n_docs))
