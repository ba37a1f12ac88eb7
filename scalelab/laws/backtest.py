"""Backtests: fit on the small runs, predict the large ones the fit never saw, and score it.

Two ways of holding runs out (Hoffmann et al. 2022 and OpenAI 2023 predict large runs from small
ones; Gadre et al. 2024 and Bhagia et al. 2024 score those predictions):

* ``split="compute"`` -- fit on the runs whose training compute is at most a threshold (default:
  the largest run's compute / ``ratio``) and predict every run above it;
* ``split="size"`` -- leave one model size out at a time, the largest first: fold k holds out the
  k-th largest size and fits on every *smaller* size (always an extrapolation in N), for ``folds``
  folds or until too few sizes remain;
* ``split="largest"`` -- one fold: hold out the ``folds`` largest sizes together and fit on the
  smaller ones (a longer extrapolation than ``size``'s first fold).

With ``points="all"`` the fit uses every evaluation of each held-in run after the warm-up cut
(``skip_first``); held-out runs are scored on their final point only, so final-point and all-point
fits are compared on the same predictions.

For every held-out run: the predicted loss, the relative error (pred - true) / true, the
prediction interval (:mod:`scalelab.laws.intervals`) and whether the truth lies in it, and the
compute ratio between the run and the largest fitted run. Any registered form can be backtested, so forms are compared
on the same runs by their out-of-sample error -- which is what
:func:`scalelab.laws.select.select_form` (and ``fit(form="auto")``) does, on the fitting runs alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

from scalelab.errors import InputError, NumericalError
from scalelab.laws import forms, intervals
from scalelab.laws.conventions import Conventions
from scalelab.laws.fit import fit_form
from scalelab.laws.law import Law
from scalelab.laws.options import FitOptions
from scalelab.runs.table import Runs, as_table

SPLITS = ("compute", "size", "largest")
DEFAULT_RATIO = 10.0
DEFAULT_FOLDS = 3


@dataclass
class Fold:
    held_out: str  # "C > 1.2e20" or "N = 6.9e9"
    fit_runs: int
    fit_points: int
    max_fit_flops: float
    params: dict[str, float]
    in_sample_mean_abs_rel_error: float
    predictions: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sigma: Optional[float] = None  # scatter of single runs about the fold's law (log scale)
    form: Optional[str] = None  # the fold's form (with form="auto": the one chosen)


@dataclass
class Backtest:
    form: str
    split: str
    folds: list[Fold]
    summary: dict[str, Any]
    options: dict[str, Any]

    def to_dict(self) -> dict:
        return asdict(self)


def _run_frame(
    table, conventions: Conventions, points: str, eval_set=None, task=None, skip_first=0.0
):
    """Selected rows with the convention's variables, plus each row's run compute (its largest
    C) and whether it is the run's final point."""
    from scalelab.laws.points import skip_warmup

    selected = skip_warmup(
        table.select(eval_set=eval_set, task=task, points=points), points, skip_first
    )
    variables = conventions.variables(selected)
    frame = selected.data.copy()
    for name, values in variables.items():
        frame[f"_{name}"] = values
    frame["_run_C"] = frame.groupby("run_id")["_C"].transform("max")
    frame["_run_N"] = frame.groupby("run_id")["_N"].transform("max")
    frame["_final"] = frame["_C"] >= frame["_run_C"] * (1 - 1e-12)
    return selected, frame


def backtest(
    runs: Runs,
    form: str,
    *,
    split: str = "compute",
    threshold: Optional[float] = None,
    ratio: float = DEFAULT_RATIO,
    folds: int = DEFAULT_FOLDS,
    predictive: bool = True,
    options: Optional[FitOptions] = None,
    auto_fitter: Optional[Callable[..., Law]] = None,
    **overrides,
) -> Backtest:
    """Fit ``form`` on held-in runs and score its predictions of the held-out ones (see module doc).

    ``options`` (or keyword arguments of :class:`~scalelab.laws.options.FitOptions`' names) are
    the fit of every fold. Each prediction gets an interval: when ``predictive`` the prediction
    interval of a new run (:func:`scalelab.laws.intervals.prediction_interval`: parameter
    uncertainty, from the bootstrap with ``bootstrap > 0`` or else the delta method, plus the
    scatter of single runs), else the bootstrap laws' percentile interval (parameter uncertainty
    only; needs ``bootstrap > 0``).
    """
    opts = FitOptions.make(options, **overrides)
    bootstrap, level = opts.bootstrap, opts.level
    table = as_table(runs)
    auto = form == "auto"  # the automatic choice, made afresh on each fold's fitting runs
    if auto and auto_fitter is None:
        raise InputError(
            "form 'auto' is chosen afresh on each fold: use scalelab.laws.select.backtest"
        )
    law_form = None if auto else forms.get(form)
    conventions = opts.conventions
    _check_split(split, threshold, ratio, folds)
    points = opts.points or (law_form.points if law_form else "final")
    opts = opts.replace(points=points)
    selected, frame = _run_frame(
        table, conventions, points, opts.eval_set, opts.task, opts.skip_first
    )

    results: list[Fold] = []
    for description, held in _plans(frame, split, threshold, ratio, folds):
        if split in ("size", "largest"):
            size = frame["_run_N"].to_numpy()[held].min()
            fit_mask = frame["_run_N"].to_numpy() < size
        else:
            fit_mask = ~held
        if not held.any():
            raise InputError(
                f"{table.source}: no run is held out by '{description}' (largest run C = "
                f"{frame['_run_C'].max():.3g}); lower the threshold"
            )
        fit_ids = set(frame.loc[fit_mask, "run_id"].astype(str))
        if not fit_ids:
            if split == "size" and results:
                break
            raise NumericalError(f"{table.source}: no run left to fit below '{description}'")
        fit_table = table.with_data(
            table.data[table.data["run_id"].astype(str).isin(fit_ids)],
            f"backtest fold: fit runs outside {description}",
        )
        try:
            if auto:
                law = auto_fitter(fit_table, options=opts)
            else:
                law = fit_form(fit_table, law_form.name, options=opts)
        except NumericalError as exc:
            if split == "size" and results:  # ran out of sizes to fit on: stop folding
                break
            raise NumericalError(
                [f"backtest fold '{description}': {p}" for p in exc.problems]
            ) from None
        fold = _fold(law, description, len(fit_ids), frame[fit_mask])
        rows = frame[held & frame["_final"].to_numpy()]
        fold.predictions += _predictions(
            law, rows, fold.max_fit_flops, level, predictive, bootstrap
        )
        results.append(fold)
    return Backtest(
        form if auto else law_form.name,
        split,
        results,
        _summary(results, level if (bootstrap or predictive) else None),
        _settings(opts, split, threshold, ratio, folds, predictive, table.source),
    )


def _check_split(split: str, threshold: Optional[float], ratio: float, folds: int) -> None:
    if split not in SPLITS:
        raise InputError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if threshold is not None and not threshold > 0:
        raise InputError(f"threshold: expected a positive number of FLOPs, got {threshold}")
    if not ratio > 1:
        raise InputError(f"ratio: expected a number above 1, got {ratio}")
    if folds < 1:
        raise InputError(f"folds: expected at least 1, got {folds}")


def _plans(
    frame, split: str, threshold: Optional[float], ratio: float, folds: int
) -> list[tuple[str, np.ndarray]]:
    """The folds: (description, held-out mask over the frame's rows)."""
    plans: list[tuple[str, np.ndarray]] = []
    if split == "compute":
        limit = threshold if threshold is not None else frame["_run_C"].max() / ratio
        held = frame["_run_C"].to_numpy() > limit * (1 + 1e-9)
        plans.append((f"C > {limit:.3g}", held))
    elif split == "largest":
        sizes = np.sort(frame["_run_N"].unique())[::-1][:folds]
        shown = ", ".join(f"{s:.4g}" for s in sizes)
        plans.append((f"N in {{{shown}}}", frame["_run_N"].to_numpy() >= sizes[-1]))
    else:
        sizes = np.sort(frame["_run_N"].unique())[::-1]
        for s in sizes[:folds]:
            plans.append((f"N = {s:.4g}", frame["_run_N"].to_numpy() == s))
    return plans


def _fold(law: Law, description: str, n_fit_runs: int, fit_rows) -> Fold:
    """A fold's record of its fitted law, with the law's mean error on its own fitting rows."""
    variables = law.law_form.variables
    in_pred = law.predict(**{v: fit_rows[f"_{v}"].to_numpy() for v in variables})
    in_err = float(np.mean(np.abs(in_pred / fit_rows["loss"].to_numpy() - 1.0)))
    return Fold(
        description,
        n_fit_runs,
        int(law.n_points or 0),
        float(fit_rows["_run_C"].max()),
        {k: float(v) for k, v in law.params.items()},
        in_err,
        warnings=list(law.warnings),
        sigma=law.scatter.get("sigma"),
        form=law.form,
    )


def _predictions(
    law: Law, rows, max_fit_C: float, level: float, predictive: bool, bootstrap: int
) -> list[dict[str, Any]]:
    """The law's prediction of each held-out row, with its interval and whether it covers."""
    X = {v: rows[f"_{v}"].to_numpy() for v in law.law_form.variables}
    pred = np.atleast_1d(law.predict(**X))
    lo_hi = None
    if predictive:
        lo_hi = np.array(intervals.prediction_interval(law, X, level))
    elif bootstrap and law.samples is not None and len(law.samples):
        values = law.law_form.predict(law.samples, **X)  # (K, n)
        tail = 50.0 * (1.0 - level)
        lo_hi = np.nanpercentile(values, [tail, 100.0 - tail], axis=0)
    truth = rows["loss"].to_numpy(dtype=float)
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        p = {
            "run_id": str(row["run_id"]),
            "N": float(row["_N"]),
            "D": float(row["_D"]),
            "C": float(row["_C"]),
            "loss": float(truth[i]),
            "predicted": float(pred[i]),
            "rel_error": float(pred[i] / truth[i] - 1.0),
            "compute_ratio": float(row["_C"] / max_fit_C),
        }
        if "S" in X:
            p["step"] = float(row["_S"])
        if lo_hi is not None:
            p["interval"] = [float(lo_hi[0, i]), float(lo_hi[1, i])]
            p["covered"] = bool(lo_hi[0, i] <= truth[i] <= lo_hi[1, i])
        out.append(p)
    return out


def _settings(
    opts: FitOptions,
    split: str,
    threshold: Optional[float],
    ratio: float,
    folds: int,
    predictive: bool,
    source: str,
) -> dict[str, Any]:
    """The backtest's settings, as its record states them."""
    bootstrap, points = opts.bootstrap, opts.points
    return {
        "split": split,
        "threshold": threshold,
        "ratio": ratio if split == "compute" and threshold is None else None,
        "folds": folds if split in ("size", "largest") else None,
        "bootstrap": bootstrap,
        "seed": opts.seed,
        "level": opts.level,
        "interval": (
            "prediction interval of a new run (parameter uncertainty, run scatter, tied "
            "forms, misspecification; laws.intervals)"
            if predictive
            else ("bootstrap laws (parameter uncertainty only)" if bootstrap else None)
        ),
        "params": opts.params,
        "flops": opts.flops,
        "points": points,
        "skip_first": opts.skip_first if points == "all" else None,
        "source": source,
    }


def _summary(folds: Sequence[Fold], level: Optional[float]) -> dict[str, Any]:
    preds = [p for f in folds for p in f.predictions]
    err = np.array([p["rel_error"] for p in preds])
    out: dict[str, Any] = {
        "n_folds": len(folds),
        "n_predictions": int(err.size),
        "mean_abs_rel_error": float(np.mean(np.abs(err))),
        "median_abs_rel_error": float(np.median(np.abs(err))),
        "max_abs_rel_error": float(np.max(np.abs(err))),
        "mean_rel_error": float(np.mean(err)),
        "rmse_log": float(np.sqrt(np.mean(np.log1p(err) ** 2))),
        "in_sample_mean_abs_rel_error": float(
            np.mean([f.in_sample_mean_abs_rel_error for f in folds])
        ),
        "max_compute_ratio": float(max(p["compute_ratio"] for p in preds)),
    }
    if level is not None:
        covered = [p["covered"] for p in preds if "covered" in p]
        out["coverage"] = float(np.mean(covered)) if covered else None
        widths = [p["interval"][1] / p["interval"][0] - 1 for p in preds if "interval" in p]
        out["mean_rel_width"] = float(np.mean(widths)) if widths else None
        out["level"] = level
    return out
