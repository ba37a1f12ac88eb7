"""The peak a run's MFU is measured against: per precision, measured robustly or from a datasheet.

MFU is only meaningful against the peak of the precision the run computes in: a bf16 run on a CPU
with AMX does its matmuls 4-10x faster than fp32 ones, so dividing its FLOP/s by the fp32 peak gives
figures above 100%. :func:`peak_for` returns a :class:`Peak` for ``(device, precision)``:

* CPU (and CUDA without a datasheet entry, or fp32 on CUDA): the best FLOP/s of square matmuls in
  that dtype over several sizes (:data:`PEAK_SIZES`) and ``repeats`` timings each, with the spread
  of the repeats at the best size (on a shared machine the spread says how far to trust it), and
  the same figure by process CPU time (throughput if our threads had had the cores to themselves);
* CUDA bf16/fp16: the datasheet's dense bf16 tensor-core peak by device name (the highest variant
  when ambiguous, so MFU is never overstated).

:func:`mfu` divides an achieved rate by a peak and never returns a bare figure above 100%: such a
figure comes with a note saying why (the peak measurement was slowed, e.g. by other load).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch

PRECISIONS = ("bf16", "fp16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
PEAK_SIZES = (512, 1024, 2048, 4096)
"""Square matmul sizes timed for a measured peak; the best is kept (on CPUs the fastest size
differs by dtype: bf16 on AMX peaked at 1024, fp32 at 4096 on the 2-vCPU host)."""

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from NVIDIA datasheets. Most specific first.
# NVIDIA's dense fp16 tensor-core peak equals the bf16 one on these parts.
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


@dataclass
class Peak:
    """A device's peak FLOP/s in one precision, and how it was obtained."""

    precision: str
    flops: float  # the peak (best observed, or the datasheet's)
    source: str
    flops_cpu_time: Optional[float] = None  # best by process CPU time / threads (CPU only)
    spread: Optional[tuple[float, float]] = None  # min, max of the repeats at the best size
    best_size: Optional[int] = None
    samples: list[dict] = field(default_factory=list)  # {"n", "flops", "flops_cpu_time"} each

    def merge(self, other: Peak) -> Peak:
        """The best of two measurements of the same peak (e.g. before and after the runs)."""
        if not self.samples or not other.samples:
            return self
        samples = self.samples + other.samples
        return _from_samples(self.precision, samples, self.source)

    def describe(self) -> str:
        text = f"{self.precision} {_rate(self.flops)} ({self.source}"
        if self.spread is not None:
            lo, hi = self.spread
            text += (
                f"; best of {len(self.samples)} timings, repeats at {self.best_size}^3 spread "
                f"{_rate(lo, unit=False)}-{_rate(hi)}"
            )
        return text + ")"

    def to_dict(self) -> dict:
        return asdict(self)


def _rate(flops: float, unit: bool = True) -> str:
    if flops >= 1e13:
        return f"{flops / 1e12:,.0f}" + (" TFLOP/s" if unit else "")
    return f"{flops / 1e9:,.0f}" + (" GFLOP/s" if unit else "")


def cuda_peak(name: str) -> tuple[float, str]:
    """Datasheet dense bf16 peak by device name, else a measured bf16 matmul."""
    for key, peak in CUDA_BF16_PEAKS:
        if key.lower() in name.lower():
            return peak, f"datasheet dense bf16 peak for {key}"
    return measure_peak("cuda", "bf16").flops, "measured bf16 matmul (device not in the table)"


def _operands(n: int, dtype: torch.dtype, device: str) -> tuple:
    """Two n×n operands, a warm-up product (oneDNN picks and caches its kernel), and the time of
    one product."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    a @ b
    _sync(device)
    t = time.perf_counter()
    a @ b
    _sync(device)
    return a, b, max(time.perf_counter() - t, 1e-6)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time_matmul(a, b, reps: int, seconds: float, device: str) -> tuple[float, Optional[float]]:
    """(FLOP/s by wall time, by process CPU time / threads) of products ``a @ b``: on CPU as many
    as fit in ``seconds`` (on a loaded machine one product can take far longer than the warm-up
    one did), on CUDA ``reps`` of them (synchronised once)."""
    t, c = time.perf_counter(), time.process_time()
    done = 0
    while True:
        a @ b
        done += 1
        if device == "cuda":
            if done >= reps:
                break
        elif time.perf_counter() - t >= seconds:
            break
    _sync(device)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    flops = 2.0 * a.shape[0] ** 3 * done
    by_cpu = flops / (cpu / torch.get_num_threads()) if device == "cpu" and cpu > 0 else None
    return flops / max(wall, 1e-9), by_cpu


def _from_samples(precision: str, samples: list[dict], source: str) -> Peak:
    best = max(samples, key=lambda s: s["flops"])
    at_best = [s["flops"] for s in samples if s["n"] == best["n"]]
    cpu = [s["flops_cpu_time"] for s in samples if s.get("flops_cpu_time")]
    return Peak(
        precision=precision,
        flops=best["flops"],
        source=source,
        flops_cpu_time=max(cpu) if cpu else None,
        spread=(min(at_best), max(at_best)),
        best_size=best["n"],
        samples=samples,
    )


def measure_peak(
    device: str = "cpu",
    precision: str = "fp32",
    sizes=None,
    repeats: int = 3,
    seconds: float = 0.15,
) -> Peak:
    """Best FLOP/s of square matmuls in ``precision`` over ``sizes`` × ``repeats`` timings of
    about ``seconds`` each (round-robin over the sizes, so a burst of other load hits one timing
    of each size rather than every timing of one)."""
    if device == "cpu":
        torch.set_flush_denormal(True)
    dtype = DTYPES[precision]
    sizes = PEAK_SIZES if sizes is None else sizes
    operands = {}
    for n in sizes:
        a, b, one = _operands(n, dtype, device)
        operands[n] = (a, b, max(1, int(seconds / one)))
    samples = []
    for _ in range(repeats):
        for n, (a, b, reps) in operands.items():
            wall, cpu = _time_matmul(a, b, reps, seconds, device)
            samples.append({"n": n, "flops": wall, "flops_cpu_time": cpu})
    sizes_text = ",".join(str(n) for n in sizes)
    return _from_samples(precision, samples, f"measured {precision} matmuls, n = {sizes_text}")


def peak_for(device: str, precision: str, device_name: str = "", **measure) -> Peak:
    """The peak a ``precision`` run on ``device`` is measured against (see the module doc)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if device == "cuda" and precision in ("bf16", "fp16"):
        flops, source = cuda_peak(device_name)
        return Peak(precision=precision, flops=flops, source=source)
    return measure_peak(device, precision, **measure)


def mfu(achieved: float, peak: Peak) -> dict:
    """``{"mfu", "mfu_note"}``: achieved / peak, with a note when that is above 100%.

    A figure above 100% is impossible as a utilisation; it means the peak was understated (a
    measurement slowed by other processes on a shared machine, or a datasheet entry below the
    device's real peak). It is kept, not clipped, so the numbers still add up, and the note says so.
    """
    value = achieved / peak.flops if peak.flops > 0 else float("inf")
    note = None
    if not value <= 1.0:
        spread = ""
        if peak.spread is not None:
            spread = (
                f", whose repeats spread {peak.spread[0] / 1e9:,.0f}-"
                f"{peak.spread[1] / 1e9:,.0f} GFLOP/s"
            )
        note = (
            f"above 100%: the run's {achieved / 1e9:,.1f} GFLOP/s exceed the {peak.precision} peak "
            f"of {peak.flops / 1e9:,.1f} GFLOP/s ({peak.source}{spread}); the peak is understated "
            "(measured while other work slowed it, or a datasheet figure below this device's), "
            "so this is not a real utilisation"
        )
    return {"mfu": value, "mfu_note": note}
