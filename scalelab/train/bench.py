"""Training throughput: tokens/s, achieved FLOP/s and model-FLOP utilisation (MFU).

Achieved FLOP/s use the *full* training count per token,
6·(N + vocab·d_model) + 6·n_layer·n_ctx·d_model (Kaplan's 6N plus the attention term plus the
output head; :func:`full_training_flops_per_token`). MFU divides it by the device's peak: on CPU a
*measured* large matmul (fp32 and bf16 are both measured; MFU is reported against each), on CUDA
the datasheet dense bf16 peak looked up by device name (the highest variant when the name is
ambiguous, so MFU is never overstated).
"""

from __future__ import annotations

import contextlib
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
from scalelab.train.plan import bf16_supported

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from NVIDIA datasheets. Most specific first.
CUDA_BF16_PEAKS = [
    ("GB200", 2.5e15),
    ("B200", 2.25e15),
    ("B100", 1.75e15),
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("V100", 125e12),
    ("T4", 65e12),
]

BENCH_VOCAB = 4096
BENCH_CTX = 256
BENCH_BATCH_TOKENS = 16384


def cuda_peak(name: str) -> tuple[float, str]:
    for key, peak in CUDA_BF16_PEAKS:
        if key.lower() in name.lower():
            return peak, f"datasheet dense bf16 peak for {key}"
    return measure_matmul_peak(
        "cuda", torch.bfloat16
    ), "measured bf16 matmul (device not in the table)"


def measure_matmul_peak(
    device: str = "cpu", dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 1.0
) -> float:
    """Best observed FLOP/s of an n×n×n matmul in ``dtype`` (a few repetitions, best of 3
    timings)."""
    if device == "cpu":
        torch.set_flush_denormal(True)
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a @ b
    sync()
    t = time.perf_counter()
    a @ b
    sync()
    one = max(time.perf_counter() - t, 1e-6)
    reps = max(1, int(seconds / 3 / one))
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync()
        best = max(best, 2.0 * n**3 * reps / (time.perf_counter() - t))
    return best


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
        (lambda: torch.autocast(device_type=device, dtype=torch.bfloat16))
        if precision == "bf16"
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
) -> dict:
    """Peak(s) of the device, then tokens/s, FLOP/s and MFU for a model of each size."""
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
        peak, source = cuda_peak(name)
        peaks = {"bf16": peak}
    else:
        name = (
            f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
        peaks = {
            "fp32": measure_matmul_peak("cpu", torch.float32, 2048),
            "bf16": measure_matmul_peak("cpu", torch.bfloat16, 2048),
        }
        peak, source = peaks["fp32"], "measured 2048^3 fp32 matmul"
    if precision == "auto":
        precision = "bf16" if bf16_supported(device) else "fp32"
    models = []
    for cfg in shapes:
        r = bench_model(
            cfg,
            device=device,
            precision=precision,
            steps=steps,
            batch_tokens=batch_tokens,
            micro_batch=micro_batch,
            compile=compile,
        )
        r["mfu"] = r["flops_per_s"] / peak
        r["mfu_vs"] = {k: r["flops_per_s"] / v for k, v in peaks.items()}
        models.append(r)
    return {
        "device": device,
        "device_name": name,
        "peak_flops": peak,
        "peak_source": source,
        "peaks": peaks,
        "flops_convention": "6*(N + vocab*d_model) + 6*n_layer*n_ctx*d_model per trained token",
        "models": models,
    }
