"""Evaluate a GPT on task sets: the NLL of each right answer, cloze and multiple-choice accuracy.

    encoded = encode_task(task, tokenizer)                 # once per task set
    result = evaluate_tasks(model, [encoded], n_ctx=128)   # per example, then aggregate()
    rows = aggregate(result)                               # one dict per (task, bucket)

**Requests.** Every example becomes (context, continuation) requests: a cloze example one (its
``target``), a multiple-choice example one per choice. Context and continuation are tokenised
separately and concatenated; an empty context is the end-of-text id (what precedes a document in
training). The continuation's NLL is the sum of -log p(token | everything before it) over its
tokens, with the context cut on the left to fit ``n_ctx``; a continuation longer than the context
window is scored in consecutive windows of ``n_ctx`` tokens from its end backwards (each token once,
as the held-out loss scores a document).

**Accuracy.** cloze: the target counts as predicted when every one of its tokens is the argmax
given the true tokens before it (greedy decoding would produce it). mc: the choice with the lowest
NLL per character of the choice (lm-evaluation-harness's ``acc_norm``) is the answer
(``accuracy``); ``accuracy_raw`` picks the lowest total NLL (its ``acc``). Ties go to the first.

**Losses.** Per (task, bucket): ``task_loss`` = Σ NLL / Σ tokens of the right answers (nats per
token), ``task_nats_per_char`` = Σ NLL / Σ characters, ``task_bits_per_byte`` = Σ NLL / (ln 2 · Σ
UTF-8 bytes). **Chance**: mc, the mean of 1/len(choices); cloze, 0 (an open answer scored by greedy
decoding, as LAMBADA: a model without skill produces the exact word with probability near 0; a
majority baseline, always answering the bucket's most frequent word, is no floor for step 2's link,
since no model is told the answers).

Batched: all windows of all requests are sorted by length and packed into padded batches of a
fixed token budget (right padding: a causal model's earlier positions do not see it), under
``torch.inference_mode`` on the model's device (CPU or CUDA).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from scalelab.data.taskfile import TaskSet

BATCH_TOKENS = 16384  # tokens per forward pass (capped further by the logits' memory)
LOGITS_BYTES = 1 << 28


@dataclass
class EncodedTask:
    """A task set as token requests (request r belongs to example ``example[r]``)."""

    name: str
    kind: str
    n_examples: int
    context: list[np.ndarray]
    continuation: list[np.ndarray]
    example: np.ndarray  # example index of each request
    chars: np.ndarray  # characters of each request's continuation
    nbytes: np.ndarray  # UTF-8 bytes of each request's continuation
    labels: np.ndarray  # per example: the right request's offset within the example (cloze: 0)
    first: np.ndarray  # per example: its first request
    n_choices: np.ndarray  # per example
    buckets: list[str]
    targets: list[str]  # per example: the right answer's text
    available: Optional[int] = None  # examples the task file holds, when a cap scored fewer


def encode_task(task: TaskSet, tokenizer) -> EncodedTask:
    ctx, cont, ex, chars, nbytes = [], [], [], [], []
    labels, first, nch, buckets, targets = [], [], [], [], []
    eot = np.array([tokenizer.eot_id], dtype=np.int64)
    ctx_cache: dict[str, np.ndarray] = {}
    for i, e in enumerate(task.examples):
        conts = [e["target"]] if task.kind == "cloze" else list(e["choices"])
        c = ctx_cache.get(e["context"])
        if c is None:
            c = np.asarray(tokenizer.encode(e["context"]), dtype=np.int64)
            c = c if len(c) else eot
            ctx_cache[e["context"]] = c
        first.append(len(cont))
        enc = tokenizer.encode_batch(conts)
        for text, ids in zip(conts, enc, strict=True):
            ctx.append(c)
            cont.append(np.asarray(ids, dtype=np.int64))
            ex.append(i)
            chars.append(len(text))
            nbytes.append(len(text.encode("utf-8")))
        labels.append(0 if task.kind == "cloze" else int(e["label"]))
        nch.append(len(conts))
        buckets.append(str(e.get("bucket", "all")))
        targets.append(conts[labels[-1]])
    return EncodedTask(
        name=task.name,
        kind=task.kind,
        n_examples=len(task.examples),
        context=ctx,
        continuation=cont,
        example=np.asarray(ex, dtype=np.int64),
        chars=np.asarray(chars, dtype=np.int64),
        nbytes=np.asarray(nbytes, dtype=np.int64),
        labels=np.asarray(labels, dtype=np.int64),
        first=np.asarray(first, dtype=np.int64),
        n_choices=np.asarray(nch, dtype=np.int64),
        buckets=buckets,
        targets=targets,
    )


def windows(ctx: np.ndarray, cont: np.ndarray, n_ctx: int) -> list[tuple[np.ndarray, int]]:
    """The windows scoring ``cont`` after ``ctx``: (window tokens, number of leading targets not
    scored). A window of L+1 tokens predicts its last L from the ones before."""
    seq = np.concatenate([ctx, cont])
    s, end, out = len(ctx), len(seq), []
    while end > s:
        a = max(0, end - 1 - n_ctx)
        out.append((seq[a:end], max(0, s - (a + 1))))
        end = a + 1
    return out


def _forward(model, x: torch.Tensor, autocast) -> torch.Tensor:
    with autocast():
        return model(x).float()


def request_scores(
    model, tasks: list[EncodedTask], n_ctx: int, device, autocast=None, batch_tokens: int = 0
) -> list[dict[str, np.ndarray]]:
    """Per task: ``nll`` (sum over the continuation), ``tokens`` and ``greedy`` (all argmax) of
    every request."""
    autocast = autocast or contextlib.nullcontext
    vocab = int(model.cfg.vocab_size)
    budget = batch_tokens or min(BATCH_TOKENS, max(n_ctx, LOGITS_BYTES // (8 * vocab)))
    wins, owner, skip = [], [], []
    base = 0
    starts = []
    for t in tasks:
        starts.append(base)
        for r, (c, q) in enumerate(zip(t.context, t.continuation, strict=True)):
            for w, k in windows(c, q, n_ctx):
                wins.append(w)
                owner.append(base + r)
                skip.append(k)
        base += len(t.continuation)
    nll = np.zeros(base)
    ntok = np.zeros(base, dtype=np.int64)
    greedy = np.ones(base, dtype=bool)
    owner_of = np.asarray(owner, dtype=np.int64)
    lengths = np.array([len(w) - 1 for w in wins])
    order = np.argsort(-lengths, kind="stable")
    i = 0
    with torch.inference_mode():
        while i < len(order):
            L = int(lengths[order[i]])
            rows = max(1, budget // max(1, L))
            idx = order[i : i + rows]
            i += len(idx)
            x = np.zeros((len(idx), L), dtype=np.int64)
            y = np.full((len(idx), L), -100, dtype=np.int64)
            for j, w in enumerate(idx):
                tok, k = wins[w], skip[w]
                n = len(tok) - 1
                x[j, :n] = tok[:-1]
                y[j, k:n] = tok[1 + k :]
            xt = torch.from_numpy(x).to(device)
            yt = torch.from_numpy(y).to(device)
            logits = _forward(model, xt, autocast)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, vocab), yt.reshape(-1), ignore_index=-100, reduction="none"
            ).reshape(yt.shape)
            valid = yt != -100
            hit = (logits.argmax(-1) == yt) | ~valid
            owners = owner_of[idx]
            np.add.at(nll, owners, loss.sum(1).double().cpu().numpy())
            np.add.at(ntok, owners, valid.sum(1).cpu().numpy())
            np.logical_and.at(greedy, owners, hit.all(1).cpu().numpy())
    return [
        {
            "nll": nll[s : s + len(t.continuation)],
            "tokens": ntok[s : s + len(t.continuation)],
            "greedy": greedy[s : s + len(t.continuation)],
        }
        for s, t in zip(starts, tasks, strict=True)
    ]


def example_scores(task: EncodedTask, req: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per example: the right answer's ``nll``, ``tokens``, ``chars``, ``bytes``; ``correct``
    (cloze: greedy; mc: lowest NLL per character) and ``correct_raw`` (mc: lowest NLL)."""
    right = task.first + task.labels
    out = {
        "nll": req["nll"][right],
        "tokens": req["tokens"][right],
        "chars": task.chars[right],
        "bytes": task.nbytes[right],
    }
    if task.kind == "cloze":
        out["correct"] = req["greedy"][right]
        out["correct_raw"] = out["correct"]
        return out
    norm = req["nll"] / np.maximum(task.chars, 1)
    correct, raw = np.zeros(task.n_examples, bool), np.zeros(task.n_examples, bool)
    for i, (f, n) in enumerate(zip(task.first, task.n_choices, strict=True)):
        correct[i] = int(np.argmin(norm[f : f + n])) == task.labels[i]
        raw[i] = int(np.argmin(req["nll"][f : f + n])) == task.labels[i]
    out["correct"], out["correct_raw"] = correct, raw
    return out


def aggregate(task: EncodedTask, ex: dict[str, np.ndarray]) -> list[dict]:
    """One dict per bucket (``all`` first) with the run-table task columns."""
    names = ["all"] + sorted(set(task.buckets) - {"all"})
    b = np.asarray(task.buckets)
    rows = []
    for name in names:
        m = np.ones(len(b), bool) if name == "all" else b == name
        n = int(m.sum())
        chance = float(np.mean(1.0 / task.n_choices[m])) if task.kind == "mc" else 0.0
        nll = float(ex["nll"][m].sum())
        rows.append(
            {
                "task": task.name,
                "bucket": name,
                "accuracy": float(ex["correct"][m].mean()),
                "accuracy_raw": float(ex["correct_raw"][m].mean()),
                "chance": chance,
                "task_loss": nll / max(1, int(ex["tokens"][m].sum())),
                "task_loss_unit": "nats/token",
                "task_nats_per_char": nll / max(1, int(ex["chars"][m].sum())),
                "task_bits_per_byte": nll / math.log(2) / max(1, int(ex["bytes"][m].sum())),
                "n_examples": n,
            }
        )
    return rows


def evaluate_tasks(
    model, tasks: list[EncodedTask], n_ctx: int | None = None, autocast=None, batch_tokens: int = 0
) -> list[dict]:
    """The task rows (:func:`aggregate`) of ``model`` on every task, in eval mode (restored after)."""
    n_ctx = int(n_ctx or model.cfg.n_ctx)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        reqs = request_scores(model, tasks, n_ctx, device, autocast, batch_tokens)
    finally:
        model.train(was_training)
    rows = []
    for t, r in zip(tasks, reqs, strict=True):
        rows.extend(aggregate(t, example_scores(t, r)))
    return rows
