"""Budgets: FLOPs, or devices x time x peak x MFU, or money / price per device-hour -- and back.

A budget can be given three ways, and each resolves to training FLOPs C:

* ``flops`` -- C directly;
* ``gpus`` x ``hours`` (or ``days``) on a ``device`` at ``mfu``: C = gpus x seconds x peak x MFU;
* ``money`` at ``price`` per device-hour: device-hours = money / price, C = device-hours x 3600 x
peak x MFU.

With a device (or ``peak_flops``) and MFU, a FLOP budget also gets device-hours; with a device
count,
wall time; with a price, cost. :func:`converse` answers the other way round: for N parameters on D
tokens (C = 6 N D), how many device-hours, days and how much money -- and, given a claimed duration,
the MFU that claim needs (flagged when above 100%).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

from scalelab.errors import InputError
from scalelab.plan import devices

FLOPS_PER_PARAM_TOKEN = 6.0
SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0
DEFAULT_MFU = 0.4


@dataclass
class Budget:
    """A resolved training budget. ``C`` is always set; the rest where the inputs allow."""

    C: float
    given_as: str  # "flops", "gpu-time" or "money"
    device: Optional[dict] = None  # name, peak_flops, source
    mfu: Optional[float] = None
    gpus: Optional[float] = None
    gpu_hours: Optional[float] = None
    wall_hours: Optional[float] = None
    wall_days: Optional[float] = None
    price_per_gpu_hour: Optional[float] = None
    cost: Optional[float] = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(name: str, value, problems: list[str], integer: bool = False) -> None:
    if value is None:
        return
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        problems.append(f"{name}: expected a positive number, got {value}")
    elif integer and float(value) != int(float(value)):
        problems.append(f"{name}: expected a whole number of devices, got {value}")


def _device(device: Optional[str], peak_flops: Optional[float]) -> Optional[dict]:
    if peak_flops is not None:
        return {
            "name": device or "custom",
            "peak_flops": float(peak_flops),
            "source": "given by the user (--peak-flops)",
        }
    if device is None:
        return None
    d = devices.get(device)
    return {"name": d.name, "peak_flops": d.peak_flops, "source": d.source}


def check_mfu(mfu, problems: list[str]) -> None:
    _positive("mfu", mfu, problems)
    if mfu is not None and not problems and float(mfu) > 1:
        problems.append(
            f"mfu: expected a fraction in (0, 1] (0.4 means 40%), got {mfu}; "
            "an MFU above 100% is impossible"
        )


def resolve(
    *,
    flops: Optional[float] = None,
    gpus: Optional[float] = None,
    hours: Optional[float] = None,
    days: Optional[float] = None,
    device: Optional[str] = None,
    peak_flops: Optional[float] = None,
    mfu: Optional[float] = None,
    money: Optional[float] = None,
    price: Optional[float] = None,
) -> Budget:
    """Turn one of the three ways of giving a budget into FLOPs (and time and cost where possible).

    Raises :class:`InputError` listing every problem: a negative or missing quantity, two budgets
    at once, an unknown device, an MFU above 100%.
    """
    problems: list[str] = []
    for name, value in (
        ("flops", flops),
        ("hours", hours),
        ("days", days),
        ("peak-flops", peak_flops),
        ("money", money),
        ("price", price),
    ):
        _positive(name, value, problems)
    _positive("gpus", gpus, problems, integer=True)
    check_mfu(mfu, problems)
    if hours is not None and days is not None:
        problems.append("give the duration as --hours or --days, not both")
    duration = (
        None
        if problems
        else (hours if hours is not None else (days * HOURS_PER_DAY if days is not None else None))
    )
    ways = [
        w
        for w, given in (
            ("flops", flops is not None),
            ("gpu-time", hours is not None or days is not None),
            ("money", money is not None),
        )
        if given
    ]
    if not ways:
        problems.append(
            "no budget: give --flops C, or --gpus G with --hours/--days and --device, "
            "or --money M with --price P and --device"
        )
    elif len(ways) > 1:
        problems.append(f"give one budget, not {' and '.join(ways)}")
    if "gpu-time" in ways and gpus is None:
        problems.append("a duration (--hours/--days) needs --gpus (how many devices)")
    if "money" in ways and price is None:
        problems.append("a money budget needs --price (per device-hour)")
    needs_device = ways and ways[0] in ("gpu-time", "money")
    dev = None
    try:
        dev = _device(device, peak_flops)
    except InputError as exc:
        problems.extend(exc.problems)
    if needs_device and dev is None and not any(p.startswith("unknown device") for p in problems):
        problems.append(
            f"a {ways[0]} budget needs --device (one of {', '.join(devices.names())}) or "
            "--peak-flops"
        )
    if problems:
        raise InputError(problems)

    notes: list[str] = []
    if dev is not None and mfu is None:
        mfu = DEFAULT_MFU
        notes.append(f"MFU not given: assumed {DEFAULT_MFU:.0%}")
    rate = dev["peak_flops"] * mfu if dev is not None else None  # model FLOP/s per device
    way = ways[0]
    b = Budget(
        C=0.0,
        given_as=way,
        device=dev,
        mfu=mfu,
        gpus=float(gpus) if gpus is not None else None,
        price_per_gpu_hour=price,
        notes=notes,
    )
    if way == "flops":
        b.C = float(flops)
        if rate is not None:
            b.gpu_hours = b.C / rate / SECONDS_PER_HOUR
    elif way == "gpu-time":
        b.gpu_hours = float(gpus) * duration
        b.C = b.gpu_hours * SECONDS_PER_HOUR * rate
    else:
        b.gpu_hours = float(money) / float(price)
        b.C = b.gpu_hours * SECONDS_PER_HOUR * rate
    if b.gpu_hours is not None:
        if gpus is not None:
            b.wall_hours = b.gpu_hours / float(gpus)
            b.wall_days = b.wall_hours / HOURS_PER_DAY
        if price is not None:
            b.cost = b.gpu_hours * float(price)
    return b


@dataclass
class Converse:
    """Time and cost of training N parameters on D tokens (C = 6 N D)."""

    N: float
    D: float
    C: float
    tokens_per_param: float
    device: dict
    mfu: float
    gpu_hours: float
    gpus: Optional[float] = None
    wall_hours: Optional[float] = None
    wall_days: Optional[float] = None
    price_per_gpu_hour: Optional[float] = None
    cost: Optional[float] = None
    claimed_days: Optional[float] = None
    required_mfu: Optional[float] = None  # the MFU the claimed duration needs
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def converse(
    N: float,
    D: float,
    *,
    device: Optional[str] = None,
    peak_flops: Optional[float] = None,
    mfu: Optional[float] = None,
    gpus: Optional[float] = None,
    price: Optional[float] = None,
    claimed_days: Optional[float] = None,
    claimed_hours: Optional[float] = None,
) -> Converse:
    """How long and how much for N parameters on D tokens; the MFU a claimed duration would need.

    Example (seed 000): 27e9 parameters on 14e12 tokens on 1,000 H100s at 40% MFU is
    C = 6 x 27e9 x 14e12 = 2.268e24 FLOPs, 2.268e24 / (1000 x 989.4e12 x 0.4) s = 66.3 days;
    finishing it in 26 days would need an MFU of 102%.
    """
    problems: list[str] = []
    _positive("params", N, problems)
    _positive("tokens", D, problems)
    _positive("gpus", gpus, problems, integer=True)
    _positive("price", price, problems)
    _positive("peak-flops", peak_flops, problems)
    _positive("claimed days", claimed_days, problems)
    _positive("claimed hours", claimed_hours, problems)
    check_mfu(mfu, problems)
    if N is None:
        problems.append(
            "params: missing (how many parameters; active parameters for a mixture of experts)"
        )
    if D is None:
        problems.append("tokens: missing (how many training tokens)")
    dev = None
    try:
        dev = _device(device, peak_flops)
    except InputError as exc:
        problems.extend(exc.problems)
    if dev is None and not any(p.startswith("unknown device") for p in problems):
        problems.append(
            f"time and cost need --device (one of {', '.join(devices.names())}) or --peak-flops"
        )
    if (claimed_days is not None or claimed_hours is not None) and gpus is None:
        problems.append("checking a claimed duration needs --gpus")
    if claimed_days is not None and claimed_hours is not None:
        problems.append("give the claimed duration in days or hours, not both")
    if problems:
        raise InputError(problems)
    flags: list[str] = []
    if mfu is None:
        mfu = DEFAULT_MFU
        flags.append(f"MFU not given: assumed {DEFAULT_MFU:.0%}")
    C = FLOPS_PER_PARAM_TOKEN * float(N) * float(D)
    gpu_hours = C / (dev["peak_flops"] * mfu) / SECONDS_PER_HOUR
    out = Converse(
        N=float(N),
        D=float(D),
        C=C,
        tokens_per_param=float(D) / float(N),
        device=dev,
        mfu=float(mfu),
        gpu_hours=gpu_hours,
        gpus=float(gpus) if gpus is not None else None,
        price_per_gpu_hour=price,
        flags=flags,
    )
    if gpus is not None:
        out.wall_hours = gpu_hours / float(gpus)
        out.wall_days = out.wall_hours / HOURS_PER_DAY
    if price is not None:
        out.cost = gpu_hours * float(price)
    if claimed_days is not None or claimed_hours is not None:
        hours = (
            float(claimed_hours)
            if claimed_hours is not None
            else float(claimed_days) * HOURS_PER_DAY
        )
        out.claimed_days = hours / HOURS_PER_DAY
        out.required_mfu = C / (float(gpus) * dev["peak_flops"] * hours * SECONDS_PER_HOUR)
        if out.required_mfu > 1.0:
            out.flags.append(
                f"impossible claim: {float(gpus):g} x {dev['name']} finishing C = {C:.3g} FLOPs in "
                f"{out.claimed_days:.3g} days needs an MFU of {out.required_mfu:.0%} (> 100% of "
                "the "
                f"dense bf16 peak {dev['peak_flops']:.4g} FLOP/s)"
            )
        elif out.required_mfu > 0.6:
            out.flags.append(
                f"optimistic claim: finishing in {out.claimed_days:.3g} days needs an MFU of "
                f"{out.required_mfu:.0%}; large runs typically reach 30-50%"
            )
    return out
