"""Training throughput: tokens/s, achieved FLOP/s and model-FLOP utilisation (MFU).

Achieved FLOP/s use the *full* training count per token,
6·(N + vocab·d_model) + 6·n_layer·n_ctx·d_model (Kaplan's 6N plus the attention term plus the
output head; :func:`full_training_flops_per_token`). MFU divides it by the peak of the precision
the run computes in (:mod:`scalelab.train.peak`): on CPU the best of several measured matmul sizes
and repeats in that dtype, measured right before and right after the models (back to back in the
same process, so a loaded machine slows both alike), with its spread; on CUDA the datasheet dense
bf16 peak by device name for bf16/fp16 runs. A figure above 100% carries a note saying why.
On CPU the same is also given by process CPU time (``mfu_cpu_time``): on a shared machine the
figure our threads would have reached with the cores to themselves.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time

import torch

from scalelab.errors import InputError
from scalelab.model.config import GPTConfig
from scalelab.model.counting import (
    count_params,
    full_training_flops_per_token,
    training_flops_per_token,
)
from scalelab.model.gpt import GPT
from scalelab.model.shapes import shape_for
from scalelab.train.peak import (  # noqa: F401 - CUDA_BF16_PEAKS and cuda_peak re-exported
    CUDA_BF16_PEAKS,
    DTYPES,
    Peak,
    cuda_peak,
    measure_peak,
    mfu,
    peak_for,
)
from scalelab.train.plan import bf16_supported

BENCH_VOCAB = 4096
BENCH_CTX = 256
BENCH_BATCH_TOKENS = 16384


def measure_matmul_peak(
    device: str = "cpu", dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 1.0
) -> float:
    """Best observed FLOP/s of an n×n×n matmul in ``dtype`` (3 timings); prefer
    :func:`scalelab.train.peak.measure_peak`, which takes the best of several sizes."""
    precision = {v: k for k, v in DTYPES.items()}[dtype]
    return measure_peak(device, precision, sizes=(n,), seconds=seconds / 3).flops


def bench_model(
    cfg: GPTConfig,
    *,
    device: str = "cpu",
    precision: str = "bf16",
    batch_tokens: int = BENCH_BATCH_TOKENS,
    micro_batch: int | None = None,
    steps: int = 20,
    warmup: int = 3,
    compile: bool = False,
    seed: int = 0,
) -> dict:
    """Train ``cfg`` on random tokens for ``warmup`` + ``steps`` steps; time the last ``steps``."""
    if device == "cpu":
        torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    model = GPT(cfg).to(device)
    run = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=1e-3,
        weight_decay=0.1,
        betas=(0.9, 0.95),
        fused=device == "cuda" or None,
    )
    seqs = batch_tokens // cfg.n_ctx
    micro = micro_batch or seqs
    accum = max(1, seqs // micro)
    amp = (
        (lambda: torch.autocast(device_type=device, dtype=DTYPES[precision]))
        if precision in ("bf16", "fp16")
        else contextlib.nullcontext
    )
    g = torch.Generator().manual_seed(seed)
    data = [
        torch.randint(0, cfg.vocab_size, (micro, cfg.n_ctx + 1), generator=g).to(device)
        for _ in range(accum)
    ]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        for batch in data:
            with amp():
                _, loss = run(batch[:, :-1], batch[:, 1:])
            (loss / accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    sync()
    t, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    sync()
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    tokens = steps * accum * micro * cfg.n_ctx
    tps = tokens / wall
    counts = count_params(cfg)
    return {
        "N": counts.non_embedding,
        "N_total": counts.total,
        "n_layer": cfg.n_layer,
        "d_model": cfg.d_model,
        "n_head": cfg.n_head,
        "d_ff": cfg.ff,
        "vocab_size": cfg.vocab_size,
        "n_ctx": cfg.n_ctx,
        "precision": precision,
        "batch_tokens": accum * micro * cfg.n_ctx,
        "micro_batch": micro,
        "steps": steps,
        "wall_s": wall,
        "tokens_per_s": tps,
        "cpu_s": cpu,
        # on a shared CPU: throughput if our threads had had the cores to themselves (process CPU
        # time divided among the threads); an estimate, only meaningful for device == "cpu"
        "tokens_per_s_cpu_time": tokens / (cpu / torch.get_num_threads()) if cpu > 0 else None,
        "flops_per_token_full": full_training_flops_per_token(cfg),
        "flops_per_token_kaplan": training_flops_per_token(cfg),
        "flops_per_s": tps * full_training_flops_per_token(cfg),
    }


def bench_shape(
    n_params: float, vocab_size: int = BENCH_VOCAB, n_ctx: int = BENCH_CTX
) -> GPTConfig:
    return shape_for(n_params, GPTConfig(vocab_size=vocab_size, n_ctx=n_ctx))


def run_bench(
    device: str = "cpu",
    sizes=(1e5, 1e6, 5e6),
    steps: int = 20,
    precision: str = "auto",
    batch_tokens: int = BENCH_BATCH_TOKENS,
    micro_batch: int | None = None,
    compile: bool = False,
    measure_peak_fn=None,
) -> dict:
    """The peak of the run's precision, tokens/s, FLOP/s and MFU for a model of each size, and
    the peak again (its best over both measurements is the one MFU uses).

    ``measure_peak_fn(device, precision, device_name)`` replaces :func:`peak_for` (tests fake a
    peak with it)."""
    shapes = []
    for n in sizes:
        try:
            shapes.append(bench_shape(n))
        except ValueError as exc:
            raise InputError(f"--sizes: {exc}") from None
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available")
        name = torch.cuda.get_device_name()
    else:
        name = (
            f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
    if precision == "auto":
        precision = "bf16" if bf16_supported(device) else "fp32"
    measure = measure_peak_fn or peak_for
    peak: Peak = measure(device, precision, name)
    models = []
    for cfg in shapes:
        models.append(
            bench_model(
                cfg,
                device=device,
                precision=precision,
                steps=steps,
                batch_tokens=batch_tokens,
                micro_batch=micro_batch,
                compile=compile,
            )
        )
    peak = peak.merge(measure(device, precision, name))  # back to back: the best of before, after
    for r in models:
        r.update(mfu(r["flops_per_s"], peak))
        r["mfu_vs"] = {precision: r["mfu"]}
        if device == "cpu" and peak.flops_cpu_time and r["tokens_per_s_cpu_time"]:
            by_cpu = r["tokens_per_s_cpu_time"] * r["flops_per_token_full"]
            r["flops_per_s_cpu_time"] = by_cpu
            cpu_peak = Peak(precision, peak.flops_cpu_time, peak.source + ", by CPU time")
            figure = mfu(by_cpu, cpu_peak)
            r["mfu_cpu_time"], r["mfu_cpu_time_note"] = figure["mfu"], figure["mfu_note"]
    return {
        "device": device,
        "device_name": name,
        "precision": precision,
        "peak_flops": peak.flops,
        "peak_source": peak.source,
        "peak": peak.to_dict(),
        "peaks": {precision: peak.flops},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "flops_convention": "6*(N + vocab*d_model) + 6*n_layer*n_ctx*d_model per trained token",
        "models": models,
    }


def fastest_precision(cfg, steps: int = 8, warmup: int = 2, margin: float = 0.1) -> dict:
    """Time a few optimiser steps of the run ``cfg`` (a :class:`RunConfig`: its shape, batch,
    micro-batch and threads) in fp32 and, where the device supports it, bf16; return
    ``{"precision", "rates", "line"}`` with the faster one (by process CPU time, which other load
    on a shared machine disturbs least). bf16 must win by ``margin`` (10%) to be chosen: within
    the noise, fp32 (the exact one) stays. Chosen by measurement, not by CPU name: on CPUs without
    AMX bf16 autocast is slower than fp32 for small models, and even with AMX it can be."""
    from scalelab.train.plan import plan_run

    plan = plan_run(cfg.model_copy(update={"precision": "fp32"}))
    before = torch.get_num_threads()
    candidates = ["fp32"] + (["bf16"] if bf16_supported(plan.device) else [])
    rates = {}
    try:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        for precision in candidates:
            r = bench_model(
                plan.gpt,
                device=plan.device,
                precision=precision,
                batch_tokens=plan.batch_tokens,
                micro_batch=plan.micro_batch,
                steps=steps,
                warmup=warmup,
            )
            by_cpu = r["tokens_per_s_cpu_time"]
            rates[precision] = by_cpu if plan.device == "cpu" and by_cpu else r["tokens_per_s"]
    finally:
        torch.set_num_threads(before)
    best = "fp32"
    if "bf16" in rates and rates["bf16"] > (1 + margin) * rates["fp32"]:
        best = "bf16"
    shown = ", ".join(f"{p} {v:,.0f}" for p, v in rates.items())
    why = "bf16 not supported here" if len(rates) == 1 else f"tokens/s by CPU time: {shown}"
    line = (
        f"precision: {best} (measured on N = {plan.counts.non_embedding:,}, "
        f"{plan.batch_tokens}-token steps: {why})"
    )
    return {"precision": best, "rates": rates, "line": line}
