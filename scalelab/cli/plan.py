"""Planning commands: plan, catalog, devices (watch: ``scalelab.cli.watch``)."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli.common import (
    JsonOpt,
    _interval,
    _money,
    _num,
    _print_kv,
    _ratio,
    _resolve_law,
    _si,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.usage import PlainUsage


@app.command(cls=PlainUsage)
def plan(
    law: Optional[str] = typer.Option(
        None,
        "--law",
        metavar="LAW",
        help="A law JSON file or a published law name (see `scalelab published`).",
    ),
    flops: Optional[str] = typer.Option(
        None, "--flops", metavar="FLOPS", help="Budget in training FLOPs (e.g. 1e23)."
    ),
    gpus: Optional[str] = typer.Option(None, "--gpus", metavar="COUNT", help="Number of devices."),
    hours: Optional[str] = typer.Option(
        None, "--hours", metavar="HOURS", help="Wall-clock time (with --gpus): 12h, 2d, or hours."
    ),
    days: Optional[str] = typer.Option(
        None, "--days", metavar="DAYS", help="Wall-clock time (with --gpus): 30d, 12h, or days."
    ),
    money: Optional[str] = typer.Option(
        None, "--money", metavar="AMOUNT", help="Budget in money (with --price)."
    ),
    price: Optional[str] = typer.Option(
        None, "--price", metavar="PRICE", help="Price per device-hour."
    ),
    device: Optional[str] = typer.Option(
        None,
        "--device",
        metavar="NAME",
        help="A100, H100, H100-PCIe, H200, B200, GB200, MI300X, TPU-v4, TPU-v5p.",
    ),
    peak_flops: Optional[str] = typer.Option(
        None,
        "--peak-flops",
        metavar="FLOP/S",
        help="Peak FLOP/s per device, for a device not in the table.",
    ),
    mfu: Optional[str] = typer.Option(
        None, "--mfu", metavar="FRACTION", help="Model FLOPs utilisation, a fraction (default 0.4)."
    ),
    inference_tokens: Optional[str] = typer.Option(
        None,
        "--inference-tokens",
        metavar="TOKENS",
        help="Tokens the model will serve: minimise training + inference FLOPs (Sardana et al. "
        "2024).",
    ),
    unique_tokens: Optional[str] = typer.Option(
        None,
        "--unique-tokens",
        metavar="TOKENS",
        help="Unique training tokens available: plan with repeated data (Muennighoff et al. 2023).",
    ),
    N: Optional[str] = typer.Option(
        None,
        "--N",
        metavar="PARAMS",
        help="Converse: parameters of a given model (active for MoE).",
    ),
    D: Optional[str] = typer.Option(
        None, "--D", metavar="TOKENS", help="Converse: its training tokens."
    ),
    claim_days: Optional[str] = typer.Option(
        None,
        "--claim-days",
        metavar="DAYS",
        help="Converse: a claimed training time to check (needs --gpus): 26d, 600h, or days.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """From a budget to a model (N, D, loss, time, cost); or, with --N and --D, time and cost of
    a given model."""
    from scalelab.plan import planner
    from scalelab.units import duration

    times = {"hours": (hours, "h"), "days": (days, "d"), "claim_days": (claim_days, "d")}
    q = {
        k: None if v is None else duration(v, "--" + k.replace("_", "-"), unit)
        for k, (v, unit) in times.items()
    }
    q |= {
        k: _num(v, "--" + k.replace("_", "-"))
        for k, v in dict(
            flops=flops,
            gpus=gpus,
            money=money,
            price=price,
            peak_flops=peak_flops,
            mfu=mfu,
            inference_tokens=inference_tokens,
            unique_tokens=unique_tokens,
            N=N,
            D=D,
        ).items()
    }
    result = planner.plan(law, device=device, **q)
    if as_json:
        emit_json(result)
    elif "recommended" in result:
        _print_plan(result, law)
    else:
        _print_converse(result, law)
    for flag in result.get("flags", []) + result.get("warnings", []):
        err.print(f"warning: {flag}", markup=False, highlight=False)
    for note in result.get("budget", {}).get("notes", []):
        err.print(f"note: {note}", markup=False, highlight=False)


def _print_converse(result: dict, law: Optional[str]) -> None:
    rows = [
        ("N (parameters)", f"{result['N']:.4g}"),
        ("D (tokens)", f"{result['D']:.4g}"),
        ("tokens / parameter", f"{result['tokens_per_param']:.3g}"),
        ("C = 6ND (FLOPs)", f"{result['C']:.4g}"),
        (
            "device",
            f"{result['device']['name']} ({result['device']['peak_flops']:.4g} FLOP/s bf16 dense)",
        ),
        ("MFU", f"{result['mfu']:.0%}"),
        ("device-hours", f"{result['gpu_hours']:,.0f}"),
    ]
    if result["wall_days"] is not None:
        rows.append((f"wall time on {result['gpus']:g} devices", f"{result['wall_days']:.1f} days"))
    if result["cost"] is not None:
        rows.append(("cost", _money(result["cost"])))
    if result["required_mfu"] is not None:
        rows.append(
            (f"MFU needed for {result['claimed_days']:g} days", f"{result['required_mfu']:.0%}")
        )
    if "frontier" in result:
        f = result["frontier"]
        rows += [
            (
                f"under {law}",
                f"{f['verdict']} (optimum {f['optimal_tokens_per_param']:.3g} tokens/param)",
            ),
            (
                "predicted loss",
                f"{f['predicted_loss']:.4f} (optimum at this C: {f['optimal_loss']:.4f})",
            ),
        ]
    _print_kv("time and cost of a given model", rows)


def _print_plan(result: dict, law: Optional[str]) -> None:
    b, r = result["budget"], result["recommended"]
    rows = [("budget C (FLOPs)", f"{b['C']:.4g} (given as {b['given_as']})")]
    if b["device"]:
        rows.append(
            (
                "device",
                f"{b['device']['name']} ({b['device']['peak_flops']:.4g} FLOP/s bf16 dense), "
                f"MFU {b['mfu']:.0%}",
            )
        )
    rows += [
        ("N (parameters)", f"{r['N']:.4g}"),
        ("D (tokens)", f"{r['D']:.4g}"),
        ("tokens / parameter", f"{r['tokens_per_param']:.3g}"),
        (
            "predicted loss",
            f"{r['loss']:.4f}"
            + (
                f"  {r['level']:.0%} interval {_interval(r['loss_interval'])}"
                if r.get("loss_interval")
                else "  (no interval: law has no bootstrap samples)"
            ),
        ),
    ]
    if "gpu_hours" in r:
        rows.append(("device-hours", f"{r['gpu_hours']:,.0f}"))
    if "wall_days" in r:
        rows.append(("wall time", f"{r['wall_days']:.1f} days"))
    if "cost" in r:
        rows.append(("cost", _money(r["cost"])))
    _print_kv(f"{r['kind']} plan under {law}", rows)
    if "note" in r:
        out.print(r["note"], highlight=False)


@app.command(cls=PlainUsage)
def catalog(
    law: str = typer.Option(
        "besiroglu-2024",
        "--law",
        metavar="LAW",
        help="Law whose compute-optimal frontier to measure against.",
    ),
    model: Optional[list[str]] = typer.Option(
        None, "--model", metavar="NAME", help="Only these models (repeatable)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Well-known models (parameters, tokens, FLOPs, with citations) and their distance from
    compute-optimal."""
    from scalelab.plan import catalog as cat

    fitted = _resolve_law(law)
    rows = cat.table(fitted, model)
    if as_json:
        emit_json({"law": law, "models": rows})
        return
    from rich.table import Table

    t = Table(
        title=f"published models against the compute-optimal frontier of {law} (C = 6 N_active D)",
        title_justify="left",
    )
    for col in ("model", "params", "active", "tokens", "D/N", "C", "opt D/N", "verdict"):
        t.add_column(col, justify="left" if col in ("model", "verdict") else "right", no_wrap=True)
    for r in rows:
        f = r["frontier"]
        t.add_row(
            r["name"],
            _si(r["params"]),
            _si(r["active_params"]) if r["active_params"] else "",
            _si(r["tokens"]),
            _ratio(r["tokens_per_param"]),
            f"{r['flops_6ND']:.1e}".replace("e+", "e"),
            _ratio(f["optimal_tokens_per_param"]),
            f["verdict"].replace("-trained", ""),
        )
    out.print(t)
    out.print(
        "sources: `scalelab catalog --json` lists the citation of every figure", highlight=False
    )


@app.command(name="devices", cls=PlainUsage)
def list_devices(as_json: bool = JsonOpt) -> None:
    """Accelerators known to `plan`: dense bf16 peak FLOP/s and the source of each figure."""
    from scalelab.plan import devices as dev

    table = [dev.get(n).to_dict() for n in dev.names()]
    if as_json:
        emit_json(table)
        return
    for d in table:
        out.print(
            f"[bold]{d['name']}[/bold]: {d['peak_flops'] / 1e12:,.1f} TFLOP/s bf16 dense, "
            f"{d['description']} "
            f"(source: {d['source']})",
            highlight=False,
        )
