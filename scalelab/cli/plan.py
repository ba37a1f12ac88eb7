"""Planning commands: plan, catalog, devices, watch."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.cli.common import (
    ColumnOpt,
    JsonOpt,
    _interval,
    _money,
    _num,
    _pairs,
    _print_kv,
    _ratio,
    _resolve_law,
    _si,
    app,
    emit_json,
    err,
    out,
)


@app.command()
def plan(
    law: Optional[str] = typer.Option(
        None, "--law", help="A law JSON file or a published law name (see `scalelab published`)."
    ),
    flops: Optional[str] = typer.Option(
        None, "--flops", help="Budget in training FLOPs (e.g. 1e23)."
    ),
    gpus: Optional[str] = typer.Option(None, "--gpus", help="Number of devices."),
    hours: Optional[str] = typer.Option(None, "--hours", help="Wall-clock hours (with --gpus)."),
    days: Optional[str] = typer.Option(None, "--days", help="Wall-clock days (with --gpus)."),
    money: Optional[str] = typer.Option(None, "--money", help="Budget in money (with --price)."),
    price: Optional[str] = typer.Option(None, "--price", help="Price per device-hour."),
    device: Optional[str] = typer.Option(
        None, "--device", help="A100, H100, H100-PCIe, H200, B200, GB200, MI300X, TPU-v4, TPU-v5p."
    ),
    peak_flops: Optional[str] = typer.Option(
        None, "--peak-flops", help="Peak FLOP/s per device, for a device not in the table."
    ),
    mfu: Optional[str] = typer.Option(
        None, "--mfu", help="Model FLOPs utilisation, a fraction (default 0.4)."
    ),
    inference_tokens: Optional[str] = typer.Option(
        None,
        "--inference-tokens",
        help="Tokens the model will serve: minimise training + inference FLOPs (Sardana et al. "
        "2024).",
    ),
    unique_tokens: Optional[str] = typer.Option(
        None,
        "--unique-tokens",
        help="Unique training tokens available: plan with repeated data (Muennighoff et al. 2023).",
    ),
    N: Optional[str] = typer.Option(
        None, "--N", help="Converse: parameters of a given model (active for MoE)."
    ),
    D: Optional[str] = typer.Option(None, "--D", help="Converse: its training tokens."),
    claim_days: Optional[str] = typer.Option(
        None, "--claim-days", help="Converse: a claimed training time to check (needs --gpus)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """From a budget to a model (N, D, loss, time, cost); or, with --N and --D, time and cost of
    a given model."""
    from scalelab.plan import planner

    q = {
        k: _num(v, "--" + k.replace("_", "-"))
        for k, v in dict(
            flops=flops,
            gpus=gpus,
            hours=hours,
            days=days,
            money=money,
            price=price,
            peak_flops=peak_flops,
            mfu=mfu,
            inference_tokens=inference_tokens,
            unique_tokens=unique_tokens,
            N=N,
            D=D,
            claim_days=claim_days,
        ).items()
    }
    result = planner.plan(law, device=device, **q)
    if as_json:
        emit_json(result)
    elif "recommended" in result:
        _print_plan(result, law)
    else:
        _print_converse(result, law)
    for flag in result.get("flags", []):
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


@app.command()
def catalog(
    law: str = typer.Option(
        "besiroglu-2024", "--law", help="Law whose compute-optimal frontier to measure against."
    ),
    model: Optional[list[str]] = typer.Option(
        None, "--model", help="Only these models (repeatable)."
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


@app.command(name="devices")
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


@app.command()
def watch(
    run: str = typer.Argument(
        ..., help="A run table with the run's learning curve (one row per evaluation)."
    ),
    law: str = typer.Option(..., "--law", help="A law JSON file or a published law name."),
    run_id: Optional[str] = typer.Option(
        None, "--run", help="Which run, when the table has several."
    ),
    tolerance: float = typer.Option(
        0.03, "--tolerance", help="Relative slack around the law's interval."
    ),
    spike: float = typer.Option(
        0.05, "--spike", help="Relative rise between evaluations flagged as a spike."
    ),
    skip: float = typer.Option(
        0.1, "--skip", help="Fraction of the run's tokens not judged (warm-up)."
    ),
    patience: int = typer.Option(
        2, "--patience", help="Consecutive points outside the band that make a departure."
    ),
    params: str = typer.Option("non-embedding", "--params"),
    flops: str = typer.Option("6ND", "--flops"),
    column: Optional[list[str]] = ColumnOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Compare a run's learning curve with its law's prediction and flag departures (divergence,
    spikes, drift)."""
    from scalelab.plan.watch import read_curve
    from scalelab.plan.watch import watch as run_watch

    fitted = _resolve_law(law)
    table, nonfinite = read_curve(run, _pairs(column, "--column"))
    result = run_watch(
        table,
        fitted,
        run_id=run_id,
        nonfinite=nonfinite,
        tolerance=tolerance,
        spike=spike,
        skip=skip,
        patience=patience,
        params=params,
        flops=flops,
        law_name=law,
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        from rich.table import Table

        t = Table(
            title=f"run {result.run_id} against {law}: {result.verdict}", title_justify="left"
        )
        for col in ("D", "loss", "predicted", "band", "error", "status"):
            t.add_column(col, justify="right")
        for p in result.points:
            t.add_row(
                f"{p['D']:.4g}",
                f"{p['loss']:.4f}",
                f"{p['predicted']:.4f}",
                _interval(p["band"]),
                "" if p["rel_error"] is None else f"{p['rel_error']:+.2%}",
                p["status"],
            )
        out.print(t)
    if result.verdict != "ok":
        f = result.first_departure
        err.print(
            f"warning: run {result.run_id} {result.verdict} at D={f['D']:.4g} (loss "
            f"{f['loss']:.4g}, "
            f"law {f['predicted']:.4g})",
            markup=False,
            highlight=False,
        )
