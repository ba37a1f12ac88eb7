"""Data pipeline benchmark: BPE tokenisation throughput and loader speed vs the trainer's need.

    .venv/bin/python benchmarks/data_bench.py [--vocab-size 2048] [--batch-size 32] [--context 256]
                                              [--trainer-tokens-per-s 15000] [--json]

1. Trains byte-level BPE on the built-in training corpus (Shakespeare + World English Bible) and
   tokenises all of it with ``encode_batch``: MB/s of UTF-8 text (also the byte tokenizer).
2. Runs the whole ``prepare`` (read, exact + MinHash dedup, split, BPE, shards) and reports its time.
3. Times ``TrainLoader.batch(step)`` on the prepared shards: batches/s and tokens/s, against the
   trainer's need for a ~1M-parameter model (~15k tokens/s on 2 CPU cores). The loader must be at
   least 20x faster; the script exits with status 1 if it is not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab.data.corpora import iter_source  # noqa: E402
from scalelab.data.loader import TokenData  # noqa: E402
from scalelab.data.prepare import prepare  # noqa: E402
from scalelab.data.spec import SourceSpec, spec_from_dict  # noqa: E402
from scalelab.data.tokenize import ByteTokenizer, train_bpe  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--trainer-tokens-per-s", type=float, default=15_000.0)
    ap.add_argument("--loader-seconds", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    texts = [d.text for k in ("shakespeare", "bible") for d in iter_source(SourceSpec(kind=k))]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6

    t0 = time.perf_counter()
    tok = train_bpe(iter(texts), args.vocab_size)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_tokens = 0
    for i in range(0, len(texts), 256):
        n_tokens += sum(len(a) for a in tok.encode_batch(texts[i : i + 256]))
    t_bpe = time.perf_counter() - t0
    t0 = time.perf_counter()
    ByteTokenizer().encode_batch(texts)
    t_bytes = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        spec = spec_from_dict(
            {
                "name": "bench",
                "sources": [
                    {"kind": "shakespeare"},
                    {"kind": "bible"},
                    {"kind": "wiki", "role": "eval"},
                ],
                "tokenizer": {"kind": "bpe", "vocab_size": args.vocab_size},
            }
        )
        t0 = time.perf_counter()
        prepare(spec, Path(tmp) / "d")
        t_prepare = time.perf_counter() - t0
        data = TokenData.open(Path(tmp) / "d")
        loader = data.train_loader(args.batch_size, args.context, seed=0)
        step, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.loader_seconds:
            loader.batch(step)
            step += 1
        t_loader = time.perf_counter() - t0
    batches_per_s = step / t_loader
    tokens_per_s = batches_per_s * loader.tokens_per_step
    ratio = tokens_per_s / args.trainer_tokens_per_s
    result = {
        "machine": f"{os.cpu_count()} CPU(s), shared with other jobs (timings pessimistic)",
        "corpus_mb": round(mb, 2),
        "bpe_vocab": args.vocab_size,
        "bpe_train_s": round(t_train, 2),
        "bpe_tokens": n_tokens,
        "bpe_encode_mb_per_s": round(mb / t_bpe, 2),
        "bytes_encode_mb_per_s": round(mb / t_bytes, 2),
        "bpe_bytes_per_token": round(mb * 1e6 / n_tokens, 3),
        "prepare_builtin_s": round(t_prepare, 2),
        "loader_batch": [args.batch_size, args.context + 1],
        "loader_batches_per_s": round(batches_per_s, 1),
        "loader_tokens_per_s": round(tokens_per_s),
        "trainer_need_tokens_per_s": args.trainer_tokens_per_s,
        "loader_over_need": round(ratio, 1),
        "ok": ratio >= 20,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"built-in corpus: {mb:.2f} MB (Shakespeare + World English Bible); {result['machine']}"
        )
        print(
            f"BPE vocab {args.vocab_size}: train {t_train:.2f} s; encode {result['bpe_encode_mb_per_s']} MB/s "
            f"({n_tokens:,} tokens, {result['bpe_bytes_per_token']} bytes/token); "
            f"bytes tokenizer {result['bytes_encode_mb_per_s']} MB/s"
        )
        print(
            f"prepare (read + dedup + split + BPE + shards, incl. wiki eval set): {t_prepare:.2f} s"
        )
        print(
            f"loader ({args.batch_size} x {args.context + 1}): {batches_per_s:,.0f} batches/s = "
            f"{tokens_per_s:,.0f} tokens/s = {ratio:,.0f}x the trainer's ~{args.trainer_tokens_per_s:,.0f} "
            f"tokens/s for a 1M-parameter model ({'OK' if ratio >= 20 else 'TOO SLOW'}: need >= 20x)"
        )
    return 0 if ratio >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
