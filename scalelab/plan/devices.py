"""Accelerator peak throughput: dense bf16 matrix FLOP/s per device, each with its source.

Vendors print tensor-core peaks "with sparsity" (2:4 structured sparsity, twice the dense figure)
as the headline number; training uses dense matrix multiplies, so this table keeps the **dense**
bf16 figure and records what the source printed. MFU (model FLOPs utilisation) is measured against
these peaks: MFU = achieved model FLOP/s / (devices x peak).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scalelab.errors import InputError


@dataclass(frozen=True)
class Device:
    name: str
    peak_flops: float  # dense bf16 FLOP/s per device
    description: str
    source: str  # where the figure comes from, and what the source printed

    def to_dict(self) -> dict:
        return asdict(self)


_DEVICES = [
    Device(
        "A100",
        312e12,
        "NVIDIA A100 (SXM4 or PCIe, 40/80 GB), Ampere",
        "NVIDIA A100 Tensor Core GPU datasheet: BF16 Tensor Core 312 TFLOPS | 624 TFLOPS with "
        "sparsity",
    ),
    Device(
        "H100",
        989.4e12,
        "NVIDIA H100 SXM5 80 GB, Hopper",
        "NVIDIA H100 Tensor Core GPU datasheet: BF16 Tensor Core 1,979 TFLOPS *with sparsity* "
        "(dense = 1/2); "
        "NVIDIA H100 architecture whitepaper (2022) lists 989.4 TFLOPS dense BF16 for H100 SXM5",
    ),
    Device(
        "H100-PCIe",
        756e12,
        "NVIDIA H100 PCIe 80 GB, Hopper",
        "NVIDIA H100 Tensor Core GPU datasheet: BF16 Tensor Core 1,513 TFLOPS with sparsity "
        "(dense = 1/2)",
    ),
    Device(
        "H200",
        989.4e12,
        "NVIDIA H200 SXM 141 GB, Hopper (same compute as H100 SXM5, more HBM3e)",
        "NVIDIA H200 Tensor Core GPU datasheet: BF16 Tensor Core 1,979 TFLOPS with sparsity "
        "(dense = 1/2)",
    ),
    Device(
        "B200",
        2250e12,
        "NVIDIA B200 (HGX B200, 1,000 W), Blackwell",
        "NVIDIA HGX B200 datasheet: FP16/BF16 Tensor Core 4.5 PFLOPS per GPU with sparsity (dense "
        "= 1/2)",
    ),
    Device(
        "GB200",
        2500e12,
        "NVIDIA B200 in GB200 NVL72 (1,200 W), Blackwell",
        "NVIDIA GB200 NVL72 datasheet: FP16/BF16 Tensor Core 5 PFLOPS per GPU with sparsity "
        "(dense = 1/2)",
    ),
    Device(
        "MI300X",
        1307.4e12,
        "AMD Instinct MI300X, CDNA 3",
        "AMD Instinct MI300X data sheet: peak BF16 1,307.4 TFLOPS dense (2,614.9 with sparsity)",
    ),
    Device(
        "TPU-v4",
        275e12,
        "Google Cloud TPU v4 chip",
        "Google Cloud TPU v4 documentation: peak compute per chip 275 TFLOPS (bf16)",
    ),
    Device(
        "TPU-v5p",
        459e12,
        "Google Cloud TPU v5p chip",
        "Google Cloud TPU v5p documentation: peak compute per chip 459 TFLOPS (bf16)",
    ),
]
DEVICES = {d.name.lower(): d for d in _DEVICES}
ALIASES = {
    "a100-sxm": "a100",
    "a100-80gb": "a100",
    "h100-sxm": "h100",
    "h100-sxm5": "h100",
    "h200-sxm": "h200",
    "b200-hgx": "b200",
    "tpuv4": "tpu-v4",
    "tpuv5p": "tpu-v5p",
}


def names() -> list[str]:
    return [d.name for d in _DEVICES]


def get(name: str) -> Device:
    """A device by name (case-insensitive): A100, H100, H100-PCIe, H200, B200, GB200, MI300X,
    TPU-v4, TPU-v5p."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in DEVICES:
        raise InputError(
            f"unknown device '{name}'; known devices: {', '.join(names())} "
            "(or give --peak-flops for another accelerator)"
        )
    return DEVICES[key]
