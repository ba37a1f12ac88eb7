"""Shape insensitivity, the analysis: at fixed N (and D), how much does the loss move across model
shapes, against the noise of a seed; and what do extreme aspect ratios cost?

Kaplan et al. 2020 (§3.1) found the loss depends only weakly on the shape at fixed N: within a few
percent over a wide range of aspect ratios d_model/n_layer. Here:

* rows are put in *cells* of the same N and D (within 10%); a cell holds the shapes trained at that
  size;
* small differences of N and D inside a cell are taken out with a law of the comparison's form
  fitted to all rows (each row's residual log L - log L_hat is compared, not its raw loss); without
  enough sizes for that fit, raw log losses are compared;
* the *spread* of a cell is the largest relative difference of loss between its shapes (seeds
  averaged);
* the *noise* is the seed-to-seed scatter: rows of the same shape in the same cell with different
  seeds (pooled standard deviation of log L); when the table has no replicates the noise is
  unknown and the verdict falls back to a tolerance (1% of loss);
* the test: between-shape variance in the cells against the seed variance (a pooled one-way F
  test), a shape effect when p < 0.05;
* the aspect-ratio penalty: each shape's loss above its cell's best shape, by aspect ratio, and
  the fit excess = c * ln(aspect / best aspect)^2, reported as the penalty 4x away from the best.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from scalelab.compare.groups import with_shape
from scalelab.errors import InputError, NumericalError
from scalelab.laws.fit import fit_form
from scalelab.laws.formkit import Form
from scalelab.laws.options import FitOptions
from scalelab.runs.table import RunTable

CELL_RTOL = 0.10
TOLERANCE = 0.01
SIGNIFICANCE = 0.05
NO_EFFECT, EFFECT, UNCLEAR = "no shape effect", "shape effect", "not distinguishable from noise"


@dataclass
class ShapeAnalysis:
    cells: list[dict]
    spread: Optional[float]  # largest relative loss difference between shapes in any cell
    noise_sd: Optional[float]  # seed-to-seed sd of log L
    noise_reason: Optional[str]
    F: Optional[float]
    p_value: Optional[float]
    verdict: str
    by_aspect: list[dict] = field(default_factory=list)
    penalty: Optional[dict] = None
    adjusted: bool = False  # residuals of a pooled law (True) or raw log losses
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _clusters(values: np.ndarray, rtol: float) -> np.ndarray:
    order = np.argsort(values)
    labels = np.empty(len(values), dtype=int)
    label, prev = -1, None
    for i in order:
        if prev is None or values[i] > prev * (1 + rtol):
            label += 1
        labels[i] = label
        prev = values[i]
    return labels


def analyse(
    table: RunTable, form: Form, options: FitOptions, tolerance: float = TOLERANCE
) -> ShapeAnalysis:
    table = with_shape(table)
    sel = table.select(eval_set=options.eval_set, task=options.task, points="final")
    frame = _frame(table, sel, options)
    notes = []
    adjusted = _residuals(frame, table.source, form, options, notes)
    if table.has("n_layer") and table.has("d_model"):
        frame["aspect"] = (
            sel.data["d_model"].astype(float).to_numpy()
            / sel.data["n_layer"].astype(float).to_numpy()
        )
    else:
        frame["aspect"] = np.nan
    cells, spreads, excess_rows, anova = _compare_cells(frame)
    if not cells:
        raise InputError(
            f"{table.source}: --by shape: no model size (N and D within 10%) has two shapes to "
            "compare"
        )
    spread = float(max(spreads))
    noise_sd, noise_reason, F, p, verdict = _verdict(spread, tolerance, notes, *anova)
    by_aspect, penalty = _aspect(excess_rows)
    return ShapeAnalysis(
        cells, spread, noise_sd, noise_reason, F, p, verdict, by_aspect, penalty, adjusted, notes
    )


def _frame(table: RunTable, sel: RunTable, options: FitOptions) -> pd.DataFrame:
    """One row per final point: shape, N, D, C, loss, seed, and its cell (N and D clustered)."""
    variables = options.conventions.variables(sel)
    frame = pd.DataFrame(
        {
            "shape": sel.data["shape"].astype(str).to_numpy(),
            "N": variables["N"],
            "D": variables["D"],
            "C": variables["C"],
            "loss": sel["loss"].astype(float),
            "seed": sel.data["seed"].to_numpy() if sel.has("seed") else 0,
        }
    )
    if frame["shape"].nunique() < 2:
        raise InputError(f"{table.source}: --by shape: a single shape; nothing to compare")
    frame["nc"] = _clusters(frame["N"].to_numpy(), CELL_RTOL)
    frame["cell"] = -1
    for _, part in frame.groupby("nc"):
        frame.loc[part.index, "cell"] = part["nc"] * 10_000 + _clusters(
            part["D"].to_numpy(), CELL_RTOL
        )
    return frame


def _residuals(
    frame: pd.DataFrame, source: str, form: Form, options: FitOptions, notes: list
) -> bool:
    """Set ``frame["r"]``: log loss over a law pooled across shapes where one can be fitted
    (returns True), else the raw log loss (compared within each cell)."""
    logy = np.log(frame["loss"].to_numpy())
    adjusted = False
    if frame["nc"].nunique() >= 2 and len(frame) > len(form.params) + 1:
        data = frame[["N", "D", "C", "loss"]].copy()
        data["run_id"] = [str(i) for i in range(len(data))]
        try:
            law = fit_form(
                RunTable(data, source),
                form,
                options=options.replace(
                    bootstrap=0,
                    points="all",
                    eval_set=None,
                    task=None,
                    params="non-embedding",
                    flops="table",
                ),
            )
            pred = law.predict(**{v: data[v].to_numpy() for v in form.variables})
            logy = logy - np.log(pred)
            adjusted = True
        except (NumericalError, InputError) as exc:
            notes.append(f"raw losses compared: no pooled law ({exc.problems[0]})")
    else:
        notes.append("raw losses compared within each cell (too few sizes for a pooled law)")
    frame["r"] = logy
    return adjusted


def _compare_cells(frame: pd.DataFrame):
    """Per cell with two shapes or more: each shape's loss, aspect and excess over the best; the
    spreads, the (aspect, best aspect, excess) rows, and the one-way ANOVA's sums of squares
    (between, its df, within, its df) over every cell."""
    cells, ss_between, df_between = [], 0.0, 0
    ss_within, df_within = 0.0, 0
    spreads, excess_rows = [], []
    for _, cell in frame.groupby("cell"):
        by = cell.groupby("shape")
        means = by["r"].mean()
        counts = by["r"].count()
        ss_within += float(((cell["r"] - cell.groupby("shape")["r"].transform("mean")) ** 2).sum())
        df_within += int((counts - 1).sum())
        if len(means) < 2:
            continue
        grand = float((means * counts).sum() / counts.sum())
        ss_between += float((counts * (means - grand) ** 2).sum())
        df_between += len(means) - 1
        best = float(means.min())
        spread = float(np.exp(means.max() - best) - 1.0)
        spreads.append(spread)
        shapes = {}
        for s, m in means.items():
            aspect = float(cell.loc[cell["shape"] == s, "aspect"].iloc[0])
            excess = float(np.exp(m - best) - 1.0)
            shapes[s] = {
                "loss": float(cell.loc[cell["shape"] == s, "loss"].mean()),
                "aspect": None if np.isnan(aspect) else aspect,
                "excess": excess,
                "runs": int(counts[s]),
            }
            if not np.isnan(aspect):
                best_aspect = float(cell.loc[cell["shape"] == means.idxmin(), "aspect"].iloc[0])
                excess_rows.append((aspect, best_aspect, excess))
        cells.append(
            {
                "N": float(cell["N"].median()),
                "D": float(cell["D"].median()),
                "shapes": shapes,
                "spread": spread,
                "best": str(means.idxmin()),
            }
        )
    return cells, spreads, excess_rows, (ss_between, df_between, ss_within, df_within)


def _verdict(spread, tolerance, notes, ss_between, df_between, ss_within, df_within):
    """(noise sd, why no noise, F, p, verdict): an F test against the seed noise where there are
    replicates, else the spread against ``tolerance``."""
    from scipy import stats

    noise_sd, noise_reason, F, p = None, None, None, None
    if df_within > 0:
        noise_sd = float(np.sqrt(ss_within / df_within))
    else:
        noise_reason = "no seed replicates (same shape and size, several seeds) to measure noise"
    if noise_sd is not None and noise_sd > 0 and df_between > 0:
        F = float((ss_between / df_between) / noise_sd**2)
        p = float(stats.f.sf(F, df_between, df_within))
        verdict = EFFECT if p < SIGNIFICANCE else NO_EFFECT
    elif spread <= tolerance:
        verdict = NO_EFFECT
        if noise_reason:
            notes.append(f"noise unknown: shapes agree within {tolerance:.0%} of loss")
    else:
        verdict = EFFECT if noise_sd == 0 else UNCLEAR
        if noise_reason:
            notes.append(
                f"noise unknown: shapes differ by up to {spread:.2%}, above the {tolerance:.0%} "
                "tolerance"
            )
    return noise_sd, noise_reason, F, p, verdict


def _aspect(rows):
    if not rows:
        return [], None
    arr = np.array(rows, dtype=float)
    keys = np.array([float(f"{a:.3g}") for a in arr[:, 0]])
    table = [
        {
            "aspect": float(k),
            "mean_excess": float(arr[keys == k, 2].mean()),
            "n": int((keys == k).sum()),
        }
        for k in np.unique(keys)
    ]
    x = np.log(arr[:, 0] / arr[:, 1]) ** 2
    if not np.any(x > 0):
        return table, None
    c = float(np.sum(x * arr[:, 2]) / np.sum(x * x))
    return table, {
        "model": "excess = c * ln(aspect / best aspect)^2",
        "c": c,
        "at_4x": float(c * np.log(4.0) ** 2),
        "aspect_range": [float(arr[:, 0].min()), float(arr[:, 0].max())],
    }
