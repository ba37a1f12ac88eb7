"""Training throughput and precision benchmark (not a test): `python benchmarks/train_bench.py`.

Reports, for models of ~0.1M, ~1M and ~5M non-embedding parameters (vocab 4096, context 256,
16,384-token steps, by the shape rule):

* tokens/s, achieved FLOP/s by the full count 6·(N + vocab·d_model) + 6·n_layer·n_ctx·d_model
  per token, and MFU against the measured peak of the run's precision (bf16 runs against the bf16
  matmul peak, fp32 runs against the fp32 one: :mod:`scalelab.train.peak`, best of 4 sizes x 3
  repeats, measured before and after the models, spread printed), by wall-clock and by process CPU
  time (the fairer figure on a loaded machine);
* bf16 vs fp32 agreement of the training-loss curve over the first few hundred steps of a real run
  (synthetic Markov data, same seed, same batches);
* peak resident memory of the process.

Writes ``out/train_bench.json``. On a shared machine the figures are pessimistic: say so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab.train.bench import bench_model, bench_shape  # noqa: E402
from scalelab.train.config import config_from_dict  # noqa: E402
from scalelab.train.loop import train  # noqa: E402
from scalelab.train.peak import measure_peak, mfu  # noqa: E402


def precision_agreement(steps: int, out: Path) -> dict:
    """Train the same ~1M model in bf16 and fp32; compare the training-loss curves."""
    curves = {}
    for precision in ("fp32", "bf16"):
        cfg = config_from_dict(
            {
                "run_id": f"agree-{precision}",
                "out_dir": str(out / f"agree-{precision}"),
                "seed": 0,
                "device": "cpu",
                "precision": precision,
                "model": {"vocab_size": 256, "n_ctx": 64, "n_layer": 2, "d_model": 96, "n_head": 3},
                "data": {"train": "synthetic", "synthetic_tokens": 2_000_000},
                "train": {
                    "tokens": steps * 2048,
                    "batch_tokens": 2048,
                    "lr": 3e-3,
                    "schedule": "cosine",
                    "warmup_frac": 0.05,
                },
                "eval": {"points": 4, "tokens": 8192},
                "checkpoint": {"every_steps": 10**9},
            },
            "bench",
        )
        for p in (out / f"agree-{precision}").glob("*"):
            p.unlink()
        summary = train(cfg)
        log = np.genfromtxt(out / f"agree-{precision}" / "train_log.csv", delimiter=",", names=True)
        curves[precision] = {"loss": log["loss"], "summary": summary}
    a, b = curves["fp32"]["loss"], curves["bf16"]["loss"]
    k = 10  # compare 10-step moving averages (per-step noise is not the question)
    sa, sb = np.convolve(a, np.ones(k) / k, "valid"), np.convolve(b, np.ones(k) / k, "valid")
    rel = np.abs(sa - sb) / sa
    return {
        "steps": steps,
        "model": "L2 d96 ctx64 vocab256 (0.22M non-embedding), 2048-token steps",
        "final_val_loss": {p: c["summary"]["final_loss"]["val"] for p, c in curves.items()},
        "max_rel_diff_smoothed": float(rel.max()),
        "mean_rel_diff_smoothed": float(rel.mean()),
        "tolerance": 0.02,
        "agree": bool(rel.max() < 0.02),
        "tokens_per_s": {p: c["summary"]["tokens_per_s_this_session"] for p, c in curves.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8, help="timed steps per model")
    ap.add_argument(
        "--agree-steps", type=int, default=300, help="steps of the bf16-vs-fp32 comparison"
    )
    ap.add_argument("--sizes", default="1e5,1e6,5e6")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    ap.add_argument("--micro-batch", type=int, default=16, help="sequences per forward pass")
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_flush_denormal(True)
    t0 = time.time()
    variants = [("bf16", False), ("fp32", False)] + ([("bf16", True)] if args.compile else [])
    before = {p: measure_peak("cpu", p) for p in ("fp32", "bf16")}
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads, torch {torch.__version__}; load average {os.getloadavg()}"
    )
    rows = []
    for n in [float(s) for s in args.sizes.split(",")]:
        cfg = bench_shape(n)
        for precision, comp in variants:
            r = bench_model(
                cfg,
                precision=precision,
                steps=args.steps,
                warmup=3 if comp else 2,
                compile=comp,
                micro_batch=args.micro_batch,
            )
            r["compile"] = comp
            rows.append(r)
    peaks = {p: before[p].merge(measure_peak("cpu", p)) for p in before}  # the best of before/after
    for p in peaks.values():
        print(f"peak {p.describe()}; by CPU time {p.flops_cpu_time / 1e9:,.0f} GFLOP/s")
    for r in rows:
        peak = peaks[r["precision"]]
        r.update(mfu(r["flops_per_s"], peak))
        cpu_rate = r["tokens_per_s_cpu_time"] * r["flops_per_token_full"]
        r["mfu_cpu_time"] = cpu_rate / peak.flops_cpu_time
        print(
            f"N={r['N']:>9,} (L{r['n_layer']} d{r['d_model']}) {r['precision']}"
            f"{' compiled' if r['compile'] else ''}: "
            f"{r['tokens_per_s']:>8,.0f} tok/s {r['flops_per_s'] / 1e9:7.1f} GFLOP/s "
            f"MFU {r['mfu']:.1%} of the {r['precision']} peak{' (!)' if r['mfu_note'] else ''}; "
            f"by CPU time {r['tokens_per_s_cpu_time']:,.0f} tok/s {cpu_rate / 1e9:.1f} GFLOP/s "
            f"MFU {r['mfu_cpu_time']:.1%}",
            flush=True,
        )
        if r["mfu_note"]:
            print(f"  (!) {r['mfu_note']}")
    agree = precision_agreement(args.agree_steps, out)
    print(
        f"bf16 vs fp32 over {agree['steps']} steps: max rel. diff of smoothed loss "
        f"{agree['max_rel_diff_smoothed']:.4f} "
        f"(tolerance {agree['tolerance']}), final val loss {agree['final_val_loss']}"
    )
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"peak RSS {rss_gib:.2f} GiB; total {time.time() - t0:.0f} s; "
        f"load average {os.getloadavg()}"
    )
    result = {
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "peaks": {p: v.to_dict() for p, v in peaks.items()},
        "models": rows,
        "precision_agreement": agree,
        "peak_rss_gib": rss_gib,
        "load_average": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    (out / "train_bench.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
