"""The consumer interface: prepared token data for training and evaluation.

This is the whole interface the training engine needs (numpy only, no torch)::

    from scalelab.data.loader import TokenData

    data = TokenData.open("data/shakespeare-bpe2k")      # a directory made by `scalelab data prepare`
    data.vocab_size, data.eot_id                           # model head size, document separator id
    data.tokenizer_hash, data.data_hash                    # for the run record / checklist
    data.checklist                                         # sources, licences, dedup, tokenizer (dict)
    data.describe()                                        # small dict for a run record

    loader = data.train_loader(batch_size=32, context=256, seed=0,
                               unique_tokens=None)          # or an int: data-constrained budget
    x = loader.batch(step)          # np.int64 array, shape (batch_size, context + 1)
    inputs, targets = x[:, :-1], x[:, 1:]
    for step, x in loader.iter(start_step=k): ...          # resume: exactly batch k, k+1, ...
    loader.epoch(step)              # float: passes over the unique tokens after `step` batches
    loader.steps_for(tokens)        # steps needed to consume `tokens` training tokens
    loader.effective_tokens(step)   # Muennighoff effective data D' after `step` batches
    loader.describe()               # dict for the run record (batch, context, seed, unique tokens)

    data.eval_splits                # e.g. ["validation", "test", "wiki"] (wiki: out of distribution)
    data.eval_tokens("validation")  # the fixed held-out token array (read-only memmap)
    data.eval_windows("wiki", context=256, max_tokens=100_000)   # (n, context + 1) int64, fixed

**Determinism.** ``loader.batch(step)`` is a pure function of (data, seed, batch_size, context,
unique_tokens, step): no hidden state, so training resumes at the exact next batch by passing the
saved step. The train split is cut into non-overlapping windows of ``context + 1`` tokens that share
their boundary token (window ``w`` starts at token ``w * context``). A seeded permutation of all
windows fixes which windows form the unique subset (its first ``ceil(unique_tokens / context)``
windows, so with the same seed and context smaller budgets are nested inside larger ones); each
epoch visits the subset in its own seeded order. Sample ``i`` (batch ``i // batch_size``) is
window ``order_e[i mod n]`` of epoch ``e = i // n``. Epochs therefore repeat the same unique
tokens in a fresh order: the repetition of a data-constrained experiment is controlled exactly
(Muennighoff et al. 2023: effective data D' = U + U·R*·(1 − exp(−R/R*))).

**Held-out data.** ``validation`` and ``test`` hold whole documents never seen in training (split by
document, and deduplicated against the training pool before the split); eval sources such as
``wiki`` are out-of-distribution sets, also checked for overlap with the training pool.
``eval_windows`` returns the first ``max_tokens`` tokens of a split cut into consecutive windows, the
same every time, so eval losses are comparable across runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from scalelab.data.manifest import read_manifest
from scalelab.errors import InputError


def effective_tokens(total_tokens: float, unique_tokens: float, r_star: float = 15.4) -> float:
    """Muennighoff et al. 2023: the value of ``total_tokens`` drawn from ``unique_tokens`` repeated.

    D' = U + U·R*·(1 − exp(−R/R*)) with R = total/U − 1 repetitions beyond the first epoch; equal to
    ``total_tokens`` while no token has been repeated.
    """
    if unique_tokens <= 0:
        raise InputError(f"unique_tokens must be positive (got {unique_tokens})")
    if total_tokens <= unique_tokens:
        return float(total_tokens)
    r = total_tokens / unique_tokens - 1.0
    return float(unique_tokens + unique_tokens * r_star * (1.0 - math.exp(-r / r_star)))


class TokenData:
    """A prepared data directory: memory-mapped token arrays plus the manifest."""

    def __init__(self, directory: Path, manifest: dict[str, Any]):
        self.directory = directory
        self.manifest = manifest
        self.dtype = np.dtype(manifest["dtype"])
        self._arrays: dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, directory: str | Path) -> TokenData:
        d = Path(directory).expanduser()
        return cls(d, read_manifest(d))

    # -- identity ----------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return int(self.manifest["tokenizer"]["vocab_size"])

    @property
    def eot_id(self) -> int:
        return int(self.manifest["tokenizer"]["eot_id"])

    @property
    def tokenizer_hash(self) -> str:
        return self.manifest["tokenizer"]["hash"]

    @property
    def data_hash(self) -> str:
        return self.manifest["data_hash"]

    @property
    def checklist(self) -> dict[str, Any]:
        return dict(self.manifest["checklist"])

    def describe(self) -> dict[str, Any]:
        """What a run record needs to name its data."""
        m = self.manifest
        return {
            "data_name": m["name"],
            "data_dir": str(self.directory),
            "data_hash": self.data_hash,
            "tokenizer": m["tokenizer"]["kind"],
            "vocab_size": self.vocab_size,
            "tokenizer_hash": self.tokenizer_hash,
            "split_tokens": {k: v["tokens"] for k, v in m["splits"].items()},
            "effective_train_tokens": m["effective_tokens"]["train"],
        }

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])

    @property
    def eval_splits(self) -> list[str]:
        return [s for s, v in self.manifest["splits"].items() if v["role"] != "train"]

    def tokenizer(self):
        """The tokenizer (for decoding samples); its hash is checked against the manifest."""
        from scalelab.data.tokenize import load_saved

        return load_saved(self.directory, self.manifest["tokenizer"])

    # -- arrays ------------------------------------------------------------------------------------
    def tokens(self, split: str) -> np.ndarray:
        """The whole split as a read-only memory-mapped array of token ids."""
        if split not in self.manifest["splits"]:
            raise InputError(
                f"{self.directory}: no split {split!r} (splits: {', '.join(self.splits)})"
            )
        if split not in self._arrays:
            info = self.manifest["splits"][split]
            path = self.directory / info["file"]
            if not path.is_file():
                raise InputError(f"{path}: missing (listed in manifest.json)")
            if path.stat().st_size != info["tokens"] * self.dtype.itemsize:
                raise InputError(
                    f"{path}: size does not match the manifest ({info['tokens']} tokens)"
                )
            if info["tokens"] == 0:
                self._arrays[split] = np.zeros(0, dtype=self.dtype)
            else:
                self._arrays[split] = np.memmap(path, dtype=self.dtype, mode="r")
        return self._arrays[split]

    def eval_tokens(self, split: str, max_tokens: int | None = None) -> np.ndarray:
        arr = self.tokens(split)
        return arr if max_tokens is None else arr[:max_tokens]

    def eval_windows(self, split: str, context: int, max_tokens: int | None = None) -> np.ndarray:
        """Consecutive (n, context + 1) int64 windows over the first ``max_tokens`` tokens of ``split``."""
        arr = self.eval_tokens(split, max_tokens)
        n = (len(arr) - 1) // context
        if n < 1:
            raise InputError(
                f"split {split!r} has {len(arr)} tokens, fewer than one window of "
                f"context {context} + 1"
            )
        idx = np.arange(n)[:, None] * context + np.arange(context + 1)[None, :]
        return np.asarray(arr[idx], dtype=np.int64)

    def train_loader(
        self, batch_size: int, context: int, seed: int = 0, unique_tokens: int | None = None
    ) -> TrainLoader:
        return TrainLoader(self.tokens("train"), batch_size, context, seed, unique_tokens)


class TrainLoader:
    """Deterministic (batch, context + 1) windows from (seed, step); see the module docstring."""

    def __init__(
        self,
        tokens: np.ndarray,
        batch_size: int,
        context: int,
        seed: int = 0,
        unique_tokens: int | None = None,
    ):
        if batch_size < 1 or context < 1:
            raise InputError(
                f"batch_size and context must be positive (got {batch_size}, {context})"
            )
        self.tokens = tokens
        self.batch_size, self.context, self.seed = int(batch_size), int(context), int(seed)
        n_windows = (len(tokens) - 1) // self.context
        if n_windows < 1:
            raise InputError(
                f"the train split has {len(tokens)} tokens, fewer than one window of "
                f"context {context} + 1"
            )
        self.n_windows = n_windows
        if unique_tokens is None:
            n_sub = n_windows
        else:
            if unique_tokens < self.context:
                raise InputError(f"unique_tokens {unique_tokens} is below one context ({context})")
            n_sub = math.ceil(unique_tokens / self.context)
            if n_sub > n_windows:
                raise InputError(
                    f"unique_tokens {unique_tokens:,} exceeds the train split "
                    f"({n_windows * self.context:,} tokens in windows of {context})"
                )
        self.n_sub = n_sub
        self._subset = np.random.default_rng([self.seed, 0x5B5E7]).permutation(n_windows)[:n_sub]
        self._orders = lru_cache(maxsize=2)(self._epoch_order)
        self._offsets = np.arange(self.context + 1, dtype=np.int64)

    # -- sizes -------------------------------------------------------------------------------------
    @property
    def tokens_per_step(self) -> int:
        """Tokens consumed per step (predicted positions: batch_size * context)."""
        return self.batch_size * self.context

    @property
    def unique_tokens(self) -> int:
        return self.n_sub * self.context

    @property
    def steps_per_epoch(self) -> float:
        return self.n_sub / self.batch_size

    def epoch(self, step: int) -> float:
        """Passes over the unique tokens completed after ``step`` batches."""
        return step * self.batch_size / self.n_sub

    def steps_for(self, tokens: int) -> int:
        return math.ceil(tokens / self.tokens_per_step)

    def effective_tokens(self, step: int, r_star: float = 15.4) -> float:
        """Effective data after ``step`` batches given the repetition (see :func:`effective_tokens`)."""
        return effective_tokens(step * self.tokens_per_step, self.unique_tokens, r_star)

    def describe(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "context": self.context,
            "seed": self.seed,
            "unique_tokens": self.unique_tokens,
            "windows_total": self.n_windows,
            "windows_used": self.n_sub,
            "tokens_per_step": self.tokens_per_step,
        }

    # -- batches -----------------------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, 0xE90C, int(epoch)]).permutation(self.n_sub)
        return self._subset[perm]

    def window_ids(self, step: int) -> np.ndarray:
        """Which windows batch ``step`` holds (window w covers tokens [w*context, w*context+context])."""
        if step < 0:
            raise InputError(f"step must be >= 0 (got {step})")
        samples = np.arange(step * self.batch_size, (step + 1) * self.batch_size, dtype=np.int64)
        epochs, pos = np.divmod(samples, self.n_sub)
        out = np.empty(self.batch_size, dtype=np.int64)
        for e in np.unique(epochs):
            mask = epochs == e
            out[mask] = self._orders(int(e))[pos[mask]]
        return out

    def batch(self, step: int) -> np.ndarray:
        """Batch ``step``: int64 array (batch_size, context + 1); inputs x[:, :-1], targets x[:, 1:]."""
        starts = self.window_ids(step) * self.context
        return np.asarray(self.tokens[starts[:, None] + self._offsets[None, :]], dtype=np.int64)

    def iter(
        self, start_step: int = 0, stop_step: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        step = start_step
        while stop_step is None or step < stop_step:
            yield step, self.batch(step)
            step += 1

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, x in self.iter():
            yield x
