"""scalelab curves: fit a schedule-aware learning-curve law to every evaluation point."""

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
    _fmt,
    _interval,
    _load_runs,
    app,
    emit_json,
    err,
    json_text,
    out,
)
from scalelab.cli.options import option
from scalelab.cli.usage import PlainUsage


@app.command(cls=PlainUsage)
def curves(
    runs: Optional[str] = RunsArg,
    law: str = typer.Option(
        "annealing",
        "--law",
        help="annealing (Tissue et al. 2024), multipower (Luo et al. 2025), or auto: the law "
        "and lambda that extrapolated best on held-out folds of these runs.",
    ),
    predict: Optional[list[str]] = typer.Option(
        None,
        "--predict-schedule",
        "--predict",
        metavar="SPEC",
        help="Final loss of another schedule or length, e.g. N=400k,kind=cosine,steps=3000 "
        "(also lr, warmup, min_lr_ratio, cooldown_frac, cooldown_shape; the rest from the "
        "fitted runs' own hyper-parameter rule at that N and length, and said). Repeatable.",
    ),
    bootstrap: int = option(
        "--bootstrap", "curves", min=0, max=10_000, help="Bootstrap resamples over runs."
    ),
    skip_first: float = option(
        "--skip-first", "curves", help="Drop each run's first fraction of steps (warm-up cut)."
    ),
    decay: str = typer.Option(
        "0.999",
        "--decay",
        help="Momentum lambda of the annealing area S2 (0 < lambda <= 1), or 'auto': chosen "
        "by profile likelihood on the fitted curves.",
    ),
    eval_set: Optional[str] = option(
        "--eval-set", "curves", help="Evaluation set to fit (default: val)."
    ),
    seed: int = option("--seed", "curves"),
    output: Optional[str] = typer.Option(
        None, "-o", "--output", help="Write the law as JSON here (for watch --forecast)."
    ),
    example: Optional[str] = ExampleOpt,
    column: Optional[list[str]] = ColumnOpt,
    where: Optional[list[str]] = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit a schedule-aware learning-curve law to every evaluation point of each run."""
    from scalelab.laws.curve_decay import parse_decay
    from scalelab.laws.curve_predict import curves_analysis

    check_file(output, "law file")
    table = _load_runs(runs, example, column, where)
    with err.status(f"fitting {law} to the curves of {len(table)} rows"):
        fitted, predictions = curves_analysis(
            table,
            law,
            predict=predict,
            eval_set=eval_set,
            skip_first=skip_first,
            decay=parse_decay(decay),
            bootstrap=bootstrap,
            seed=seed,
        )
    if output:
        from scalelab import atomic

        atomic.write_text(output, json_text(fitted.to_dict()))
    summary = fitted.to_dict()
    summary.pop("samples")
    summary["predictions"] = predictions
    if as_json:
        emit_json(summary)
    else:
        out.print(f"{fitted.law}: {summary['formula']}", markup=False, highlight=False)
        out.print(
            f"{fitted.n_points} points of {fitted.n_runs} runs, residual sigma "
            f"{fitted.sigma:.4f} (log), fit {fitted.fit_s:.1f} s",
            markup=False,
        )
        auto = fitted.data.get("auto")
        if auto:
            out.print(f"--law auto chose {auto['reason']} ({auto['method']})", markup=False)
        tau = fitted.misspec.get("tau")
        if tau:
            out.print(
                f"misspecification from {fitted.misspec['n']} held-out runs: tau {tau:.4f} (log) "
                "per (1 + decades beyond the fitted runs), in the prediction bands",
                markup=False,
            )
        for name, value in fitted.params.items():
            out.print(f"  {name:8s} {_fmt(value)}  {_interval(fitted.ci.get(name))}", markup=False)
        for p in predictions:
            out.print(
                f"predict {p['spec']}: final loss {_fmt(p['loss'])} "
                f"[{_fmt(p['lo'])}, {_fmt(p['hi'])}]",
                markup=False,
            )
            if p["assumed"]:
                out.print(f"  assumed: {'; '.join(p['assumed'])}", markup=False, highlight=False)
        if output:
            out.print(f"law written to {output}")
    for warning in fitted.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
