"""The data interface of the training loop, and a minimal implementation over token-id arrays.

The loop needs only :class:`TokenSource`: ``batch(step, micro, batch_size, n_ctx)`` returns a
(batch_size, n_ctx + 1) int64 tensor of windows; it must be a pure function of its arguments (and
the source's fixed seed), so a resumed run sees exactly the batches it would have seen. Held-out
evaluation uses fixed arrays through :func:`eval_windows`. The real pipeline (``scalelab.data``:
corpora, tokenizers, shards with a manifest) plugs in by providing a ``TokenSource`` and eval
arrays.

Here: :class:`ArrayTokens` over any 1-D integer array (in memory or memory-mapped), token files
(``.npy``, or raw ``.bin`` of a given dtype), and a seeded synthetic Markov source for tests.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from scalelab.errors import InputError
from scalelab.train.config import MAX_SYNTHETIC_TOKENS


@runtime_checkable
class TokenSource(Protocol):
    n_tokens: int

    def batch(self, step: int, micro: int, batch_size: int, n_ctx: int) -> torch.Tensor: ...


class ArrayTokens:
    """Random windows of a token array, keyed on (seed, step, micro): deterministic and
    resumable."""

    def __init__(self, tokens: np.ndarray, seed: int = 0):
        self.tokens = tokens
        self.n_tokens = int(len(tokens))
        self.seed = int(seed)

    def batch(self, step: int, micro: int, batch_size: int, n_ctx: int) -> torch.Tensor:
        if self.n_tokens < n_ctx + 2:
            raise ValueError(
                f"token array of {self.n_tokens} tokens is shorter than a window of {n_ctx + 1}"
            )
        rng = np.random.default_rng([self.seed, int(step), int(micro)])
        starts = rng.integers(0, self.n_tokens - n_ctx - 1, size=batch_size)
        idx = starts[:, None] + np.arange(n_ctx + 1)[None, :]
        return torch.from_numpy(np.asarray(self.tokens[idx], dtype=np.int64))


def eval_windows(tokens: np.ndarray, n_tokens: int, n_ctx: int) -> torch.Tensor:
    """The fixed evaluation windows: the first ``n_tokens`` predicted tokens, as consecutive
    non-overlapping (n_ctx + 1)-token windows sharing one boundary token (stride n_ctx)."""
    n_win = min(max(1, n_tokens // n_ctx), (len(tokens) - 1) // n_ctx)
    if n_win < 1:
        raise ValueError(
            f"eval array of {len(tokens)} tokens is shorter than one window of {n_ctx + 1}"
        )
    idx = np.arange(n_win)[:, None] * n_ctx + np.arange(n_ctx + 1)[None, :]
    return torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))


def load_token_file(path: Path, dtype: str = "uint16", where: str = "") -> np.ndarray:
    """Memory-map a token file: ``.npy`` (its own dtype; pickles refused) or raw binary of
    ``dtype``. A file that is not one is an InputError line naming it (after ``where``, the
    config and key it came from)."""
    prefix = f"{where}: " if where else ""
    if path.suffix == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # a pickle, or not an .npy file at all
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(
                f"{prefix}{path}: not a readable .npy array of token ids ({reason[:160]})"
            ) from None
        if not isinstance(arr, np.ndarray):  # an .npz archive loads as a mapping
            raise InputError(f"{prefix}{path}: not a single .npy array of token ids")
    else:
        size, item = path.stat().st_size, np.dtype(dtype).itemsize
        if size == 0:
            raise InputError(f"{prefix}{path}: empty token file")
        if size % item:
            raise InputError(
                f"{prefix}{path}: {size} bytes is not a whole number of {dtype} tokens "
                f"({item} bytes each); is [data] dtype right?"
            )
        arr = np.memmap(path, dtype=np.dtype(dtype), mode="r")
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{prefix}{path}: expected a 1-D array of integer token ids, got shape {arr.shape} "
            f"{arr.dtype}"
        )
    return arr


@functools.lru_cache(maxsize=8)
def synthetic_markov(
    n_tokens: int, vocab_size: int, seed: int = 1234, flat: bool = False
) -> np.ndarray:
    """A seeded Markov token stream: each token has 8 possible successors (a fixed random table),
    chosen with Zipf weights 1/j, j = 1..8 (entropy 1.82 nats/token) (``flat=True``: uniform
    weights — a shifted distribution for out-of-distribution evaluation). Read-only; cached."""
    chain = np.random.default_rng(1234)  # the chain is fixed; ``seed`` only changes the sample
    k = 8
    succ = chain.integers(0, vocab_size, size=(vocab_size, k)).tolist()
    w = np.ones(k) if flat else 1.0 / np.arange(1, k + 1)
    rng = np.random.default_rng(seed)
    choice = rng.choice(k, size=n_tokens, p=w / w.sum()).tolist()
    out = [0] * n_tokens
    cur = 0
    for t in range(n_tokens):
        cur = succ[cur][choice[t]]
        out[t] = cur
    arr = np.asarray(out, dtype=np.int32 if vocab_size > 65535 else np.uint16)
    arr.setflags(write=False)
    return arr


def open_data(cfg, source: str = "<config>") -> tuple[ArrayTokens, dict[str, np.ndarray]]:
    """The training source and the eval arrays named by a RunConfig's ``[data]`` (InputError if
    missing)."""
    data, vocab = cfg.data, cfg.model.vocab_size
    if data.train == "synthetic":
        train = synthetic_markov(data.synthetic_tokens, vocab, seed=1)
        n_eval = max(cfg.eval.tokens + cfg.model.n_ctx + 1, 4096)
        n_eval = min(n_eval, MAX_SYNTHETIC_TOKENS)  # [eval] tokens may ask for more: windows cap
        evals = {
            "val": synthetic_markov(n_eval, vocab, seed=2),
            "ood": synthetic_markov(n_eval, vocab, seed=3, flat=True),
        }
    else:
        path = cfg.resolve(data.train)
        if not path.exists():
            raise InputError(f"{source}: [data] train: no such file or folder: {path}")
        evals = {}
        if path.is_dir():
            folder = path
            path = next(
                (
                    folder / f"train{s}"
                    for s in (".npy", ".bin")
                    if (folder / f"train{s}").is_file()
                ),
                None,
            )
            if path is None:
                raise InputError(
                    f"{source}: [data] train: folder {folder} has no train.npy or train.bin"
                )
            for s in (".npy", ".bin"):
                if (folder / f"val{s}").is_file() and "val" not in evals:
                    evals["val"] = load_token_file(
                        folder / f"val{s}", data.dtype, f"{source}: [data] train"
                    )
        train = load_token_file(path, data.dtype, f"{source}: [data] train")
    for name, file in data.eval.items():
        p = cfg.resolve(file)
        if not p.is_file():
            raise InputError(f"{source}: [data] eval.{name}: no such file: {p}")
        evals[name] = load_token_file(p, data.dtype, f"{source}: [data] eval.{name}")
    if not evals:
        raise InputError(
            f"{source}: [data] eval: no held-out set; name at least one, "
            'e.g. eval = { val = "val.npy" }'
        )
    n_ctx = cfg.model.n_ctx
    for name, arr in [("train", train), *evals.items()]:
        if len(arr) < n_ctx + 2:
            raise InputError(
                f"{source}: [data] {name}: {len(arr)} tokens, fewer than one window of "
                f"n_ctx + 1 = {n_ctx + 1}"
            )
        top = int(np.max(arr)) if len(arr) else 0
        if top >= vocab or int(np.min(arr)) < 0:
            raise InputError(
                f"{source}: [data] {name}: token id {top} outside the vocabulary "
                f"(model.vocab_size = {vocab})"
            )
    return ArrayTokens(train, seed=cfg.seed), evals
