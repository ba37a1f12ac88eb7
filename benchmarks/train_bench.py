"""Training throughput and precision benchmark (not a test): `python benchmarks/train_bench.py`.

Reports, for models of ~0.1M, ~1M and ~5M non-embedding parameters (vocab 4096, context 256,
16,384-token steps, by the shape rule):

* tokens/s, achieved FLOP/s by the full count 6·(N + vocab·d_model) + 6·n_layer·n_ctx·d_model
  per token, and MFU against both measured CPU peaks (large fp32 and bf16 matmuls);
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

from scalelab.train.bench import bench_model, bench_shape, measure_matmul_peak  # noqa: E402
from scalelab.train.config import config_from_dict  # noqa: E402
from scalelab.train.loop import train  # noqa: E402


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
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_flush_denormal(True)
    t0 = time.time()
    peaks = {
        "fp32": max(measure_matmul_peak("cpu", torch.float32, n) for n in (2048, 4096)),
        "bf16": max(measure_matmul_peak("cpu", torch.bfloat16, n) for n in (2048, 4096)),
    }
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads, torch {torch.__version__}"
    )
    print(
        f"measured peaks: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, "
        f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s"
    )
    rows = []
    variants = [("bf16", False), ("fp32", False)] + ([("bf16", True)] if args.compile else [])
    for n in [float(s) for s in args.sizes.split(",")]:
        cfg = bench_shape(n)
        for precision, comp in variants:
            r = bench_model(
                cfg,
                precision=precision,
                steps=args.steps,
                warmup=3 if comp else 2,
                compile=comp,
                micro_batch=16,
            )
            r["compile"] = comp
            r["mfu_vs_fp32_peak"] = r["flops_per_s"] / peaks["fp32"]
            r["mfu_vs_bf16_peak"] = r["flops_per_s"] / peaks["bf16"]
            rows.append(r)
            print(
                f"N={r['N']:>9,} (L{r['n_layer']} d{r['d_model']}) {precision}"
                f"{' compiled' if comp else ''}: "
                f"{r['tokens_per_s']:>8,.0f} tok/s {r['flops_per_s'] / 1e9:7.1f} GFLOP/s "
                f"MFU {r['mfu_vs_fp32_peak']:.1%} of fp32 peak, "
                f"{r['mfu_vs_bf16_peak']:.1%} of bf16 peak; "
                f"by CPU time {r['tokens_per_s_cpu_time']:,.0f} tok/s",
                flush=True,
            )
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
        "peaks": peaks,
        "models": rows,
        "precision_agreement": agree,
        "peak_rss_gib": rss_gib,
        "load_average": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    (out / "train_bench.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
