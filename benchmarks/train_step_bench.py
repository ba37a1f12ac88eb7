"""Where a ~5M CPU bf16 training step spends its time, and what the alternatives gain (not a test).

    python benchmarks/train_step_bench.py [--batch-tokens 8192] [--steps 3] [--repeats 2]

For the bench's ~5M model (L4 d320, vocab 4096, context 256) it prints:

* tokens/s of one optimiser step (AdamW fused, clipping) by wall clock and by process CPU time for
  each variant: fp32; bf16 autocast with 16, 32 and 64 sequences per micro-batch (the trainer's
  path; it picks 32 at this vocabulary); pure-bf16 compute weights with fp32 master weights
  (``pure32``: one cast of the weights per step, activations and gradients in bf16); on request
  ``fp32-bf16math`` (fp32 with ``torch.set_float32_matmul_precision("medium")``); each with the
  measured bf16 (or fp32) matmul peak right before and after it, and the MFU by CPU time;
* a torch.profiler breakdown of the autocast step by category (matmuls, attention, casts and
  copies, norms, activations, loss, optimiser, other).

Writes ``out/train_step_bench.json``. On a shared machine use the CPU-time figures, and say so.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab.model.counting import full_training_flops_per_token  # noqa: E402
from scalelab.model.gpt import GPT  # noqa: E402
from scalelab.train.bench import bench_shape  # noqa: E402
from scalelab.train.peak import measure_peak  # noqa: E402

CATEGORIES = [  # (category, substrings of profiler op names), first match wins
    ("attention", ("scaled_dot_product", "flash_attention")),
    ("matmuls", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul")),
    ("casts and copies", ("aten::copy_", "aten::_to_copy", "aten::cat", "aten::clone")),
    ("norms", ("layer_norm",)),
    ("activations", ("gelu", "silu")),
    ("loss (log-softmax, nll)", ("log_softmax", "nll_loss")),
    ("optimiser and clipping", ("adam", "foreach", "lerp", "addcdiv", "sqrt", "vector_norm")),
    ("fills and adds", ("aten::fill_", "aten::zero_", "aten::add", "aten::mul")),
]


def make_step(cfg, kind: str, batch_tokens: int):
    torch.manual_seed(0)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, fused=True)
    micro = int(kind[-2:]) if kind[-2:].isdigit() else 32
    seqs = batch_tokens // cfg.n_ctx
    micro = min(micro, seqs)
    accum = seqs // micro
    g = torch.Generator().manual_seed(0)
    data = [
        torch.randint(0, cfg.vocab_size, (micro, cfg.n_ctx + 1), generator=g) for _ in range(accum)
    ]
    if kind.startswith("pure"):
        low = copy.deepcopy(model).to(torch.bfloat16)
        master, compute = list(model.parameters()), list(low.parameters())

        def step():
            with torch.no_grad():
                torch._foreach_copy_(compute, master)
            for p in compute:
                p.grad = None
            for b in data:
                _, loss = low(b[:, :-1], b[:, 1:])
                (loss / accum).backward()
            for m, c in zip(master, compute):
                m.grad = c.grad.float()
            torch.nn.utils.clip_grad_norm_(master, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return float(loss.detach())

        return step
    amp = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        if kind.startswith("autocast")
        else contextlib.nullcontext
    )

    def step():
        opt.zero_grad(set_to_none=True)
        for b in data:
            with amp():
                _, loss = model(b[:, :-1], b[:, 1:])
            (loss / accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(loss.detach())

    return step


def profile(step, steps: int = 2) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as p:
        for _ in range(steps):
            step()
    totals: dict[str, float] = {}
    for e in p.key_averages():
        cat = next((c for c, keys in CATEGORIES if any(k in e.key for k in keys)), "other")
        totals[cat] = totals.get(cat, 0.0) + e.self_cpu_time_total
    whole = sum(totals.values())
    return {k: v / whole for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-tokens", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over the variants")
    ap.add_argument(
        "--variants", default="fp32,autocast16,autocast32,autocast64,pure32", help="comma-separated"
    )
    ap.add_argument("--out", default="out/train_step_bench.json")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    cfg = bench_shape(5e6)
    fpt = full_training_flops_per_token(cfg)
    threads = torch.get_num_threads()
    print(
        f"{platform.processor() or platform.machine()}, {threads} threads, torch "
        f"{torch.__version__}; L{cfg.n_layer} d{cfg.d_model}; load average {os.getloadavg()}"
    )
    rows = []
    for rep in range(args.repeats):
        for kind in args.variants.split(","):
            precision = "fp32" if kind.startswith("fp32") else "bf16"
            # fp32-bf16math: fp32 tensors, oneDNN's bf16 inner products for fp32 matmuls (AMX)
            torch.set_float32_matmul_precision("medium" if kind.endswith("bf16math") else "highest")
            step = make_step(cfg, kind.removesuffix("-bf16math"), args.batch_tokens)
            step()
            before = measure_peak("cpu", precision, repeats=1)
            t, c = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                loss = step()
            wall, cpu = time.perf_counter() - t, (time.process_time() - c) / threads
            peak = before.merge(measure_peak("cpu", precision, repeats=1))
            tokens = args.steps * args.batch_tokens
            row = {
                "variant": kind,
                "round": rep,
                "tokens_per_s": tokens / wall,
                "tokens_per_s_cpu_time": tokens / cpu,
                "gflops_cpu_time": tokens * fpt / cpu / 1e9,
                "peak_gflops_cpu_time": peak.flops_cpu_time / 1e9,
                "mfu_cpu_time": tokens * fpt / cpu / peak.flops_cpu_time,
                "last_loss": loss,
            }
            rows.append(row)
            print(
                f"{kind:>10}: {row['tokens_per_s']:7,.0f} tok/s wall; by CPU time "
                f"{row['tokens_per_s_cpu_time']:7,.0f} tok/s {row['gflops_cpu_time']:6.1f} GFLOP/s "
                f"= {row['mfu_cpu_time']:.1%} of the {precision} peak "
                f"({row['peak_gflops_cpu_time']:,.0f}); loss {loss:.4f}",
                flush=True,
            )
    torch.set_float32_matmul_precision("highest")
    breakdown = profile(make_step(cfg, "autocast32", args.batch_tokens))
    print("profile of the autocast32 step (share of self CPU time):")
    for k, v in breakdown.items():
        print(f"  {k:<26} {v:6.1%}")
    result = {
        "machine": platform.processor() or platform.machine(),
        "threads": threads,
        "torch": torch.__version__,
        "batch_tokens": args.batch_tokens,
        "rows": rows,
        "profile_autocast32": breakdown,
        "load_average": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
