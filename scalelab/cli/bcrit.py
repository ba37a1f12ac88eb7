"""``scalelab bcrit``: the critical batch size B_crit(L) = B*/L^(1/alpha_B) from batch-size sweeps
(Kaplan et al. 2020 §5.1), with the per-loss S_min / E_min / B_crit table behind it."""

from __future__ import annotations

from typing import Optional

import typer

from scalelab.atomic import check_file
from scalelab.cli.common import (
    ColumnOpt,
    ExampleOpt,
    JsonOpt,
    RunsArg,
    WhereOpt,
    _interval,
    _load_runs,
    _real,
    app,
    emit_json,
    err,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.usage import PlainUsage
from scalelab.errors import InputError


@app.command(cls=PlainUsage)
def bcrit(
    runs: Optional[str] = RunsArg,
    losses: Optional[str] = typer.Option(
        None,
        "--losses",
        metavar="L1,L2,...",
        help="Target losses (default: spread over what every sweep reaches).",
    ),
    n_levels: int = typer.Option(8, "--levels", help="Number of target losses when not given."),
    min_batches: int = typer.Option(
        3, "--min-batches", help="Fewest batch sizes that must reach a loss."
    ),
    eval_set: Optional[str] = option("--eval-set", "bcrit", help="Evaluation set (default: val)."),
    bootstrap: int = option(
        "--bootstrap", "bcrit", help="Resamples of runs (within each size) for the intervals."
    ),
    seed: int = option("--seed", "bcrit"),
    level: float = option("--level", "bcrit"),
    output: Optional[str] = typer.Option(
        None, "-o", "--output", help="Write the fit as JSON (for fit --bcrit, [hparams] bcrit)."
    ),
    ladder: Optional[str] = typer.Option(
        None, "--ladder", metavar="SPEC", help="Compare this ladder's batches with B_crit."
    ),
    law: Optional[str] = typer.Option(
        None, "--law", help="With --ladder: law file or published name giving each rung's loss."
    ),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Critical batch size B_crit(L) = B*/L^(1/alpha_B) from runs that sweep the batch size."""
    from scalelab.laws.batch import critical_batch

    level = _real(level, "--level", 0.0, 1.0)
    check_file(output, "fit file")
    if n_levels < 1 or bootstrap < 0:
        raise InputError("--levels must be at least 1 and --bootstrap at least 0")
    targets = None
    if losses is not None:
        try:
            targets = [float(x) for x in losses.split(",") if x.strip()]
        except ValueError:
            raise InputError(
                f"--losses: expected numbers separated by commas, got {losses!r}"
            ) from None
        if not targets:
            raise InputError("--losses: expected at least one loss")
    if (ladder is None) != (law is None):
        raise InputError("--ladder and --law go together (the spec, and each rung's loss)")
    table = _load_runs(runs, example, column, where)
    with err.status(f"fitting B_crit(L) to {table.n_runs} runs"):
        result = critical_batch(
            table,
            losses=targets,
            n_levels=n_levels,
            min_batches=min_batches,
            bootstrap=bootstrap,
            seed=seed,
            level=level,
            eval_set=eval_set,
        )
    if output:
        result.save(output)
    d = result.to_dict()
    d.pop("samples")
    if ladder is not None:
        from scalelab.ladder.bcrit_check import compare_spec

        d["ladder"] = compare_spec(ladder, law, result.B_star, result.alpha_B)
    if as_json:
        emit_json(d)
        return
    from rich.table import Table

    t = Table(
        title=f"B_crit(L) = B*/L^(1/alpha_B): {result.n_runs} runs, {result.n_sizes} size(s)",
        title_justify="left",
    )
    for col in ("N", "loss", "batches", "S_min", "E_min", "B_crit", f"{level:.0%} interval", "fit"):
        t.add_column(col, justify="right")
    for lv in result.levels:
        t.add_row(
            f"{lv['N']:.3g}",
            f"{lv['loss']:.4g}",
            str(len(lv["batch"])),
            f"{lv['S_min']:.4g}",
            f"{lv['E_min']:.4g}",
            f"{lv['B_crit']:.4g}",
            _interval(lv["B_crit_ci"]) if result.bootstrap else "",
            "yes" if lv["used"] else "no",
        )
    out.print(t)
    ci = result.ci if result.bootstrap else {}
    out.print(
        f"B* = {result.B_star:.4g} tokens {_interval(ci.get('B_star'))}, alpha_B = "
        f"{result.alpha_B:.4g} {_interval(ci.get('alpha_B'))}"
        + (f" ({level:.0%}, {result.bootstrap} resamples)" if result.bootstrap else "")
        + "; Kaplan et al. 2020: B* = 2e8, alpha_B = 0.21 (WebText2, nats)",
        highlight=False,
    )
    if ladder is not None:
        _print_ladder(ladder, d["ladder"])
    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False)


def _print_ladder(spec: str, rows: list[dict]) -> None:
    from rich.table import Table

    t = Table(
        title=f"{spec}: its batches against B_crit at each run's expected final loss",
        title_justify="left",
    )
    for col in ("run", "N", "D", "loss", "batch", "B_crit", "B/B_crit", "S/S_min", "E/E_min"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            r["run_id"],
            f"{r['N']:.3g}",
            f"{r['D']:.3g}",
            f"{r['expected_loss']:.4g}",
            str(r["batch_tokens"]),
            f"{r['B_crit']:.4g}",
            f"{r['batch_over_bcrit']:.3g}",
            f"{r['steps_over_min']:.3g}",
            f"{r['tokens_over_min']:.3g}",
        )
    out.print(t)
